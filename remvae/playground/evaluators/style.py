"""Class-independent style measures of images, from intensity moments.

For an image I (grey, or the mean of its channels) with ink mass m = sum I, centroid (x_c, y_c) and central
second moments mu_20, mu_02, mu_11 (divided by m):

    slant      = mu_11 / mu_02            (horizontal shear per unit of height: italic strokes)
    thickness  = m / (sum |grad I| / 2)   (ink per unit of edge length: the mean stroke width, in pixels)

Neither names a class: two sevens (or two shirts) differ in them as a style. :func:`deviations` expresses each
image's style relative to its class, so styles of different classes can be compared.
"""

from __future__ import annotations

import torch
from torch import Tensor

FEATURES = ("slant", "thickness")


def style_features(images: Tensor) -> Tensor:
    """``[N, 2]`` (slant, thickness) of images ``[N, C, H, W]`` (uint8 or float in [0, 1])."""
    x = images.double()
    x = x / 255.0 if images.dtype == torch.uint8 else x
    ink = x.mean(1)  # [N, H, W]
    n, height, width = ink.shape
    mass = ink.sum((1, 2)).clamp(min=1e-8)
    ys = torch.arange(height, dtype=ink.dtype).view(1, height, 1)
    xs = torch.arange(width, dtype=ink.dtype).view(1, 1, width)
    cy = (ink * ys).sum((1, 2)) / mass
    cx = (ink * xs).sum((1, 2)) / mass
    dy, dx = ys - cy.view(n, 1, 1), xs - cx.view(n, 1, 1)
    mu02 = (ink * dy * dy).sum((1, 2)) / mass
    mu11 = (ink * dx * dy).sum((1, 2)) / mass
    gy, gx = ink[:, 1:, :-1] - ink[:, :-1, :-1], ink[:, :-1, 1:] - ink[:, :-1, :-1]
    edge = (gx.pow(2) + gy.pow(2)).sqrt().sum((1, 2)).clamp(min=1e-8)
    return torch.stack([mu11 / mu02.clamp(min=1e-8), mass / (edge / 2)], dim=1)


def class_statistics(features: Tensor, labels: Tensor, classes: int) -> tuple[Tensor, Tensor]:
    """Per class: the mean ``[K, F]`` and standard deviation ``[K, F]`` of the features (std floored at 1e-6; a
    class with one item has no spread to measure and gets the floor: its one item deviates by 0 anyway)."""
    groups = [features[labels == k] for k in range(classes)]
    means = torch.stack([group.mean(0) for group in groups])
    stds = torch.stack([group.std(0, correction=1) if len(group) > 1 else torch.zeros(features.shape[1])
                        for group in groups]).clamp(min=1e-6)
    return means, stds


def deviations(features: Tensor, labels: Tensor, means: Tensor, stds: Tensor) -> Tensor:
    """How each image's style departs from its class's: (features - class mean) / class std, ``[N, F]``."""
    return (features - means[labels]) / stds[labels]


__all__ = ["FEATURES", "class_statistics", "deviations", "style_features"]
