"""Latent interpolations decoded in both modalities along the path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from matplotlib.figure import Figure
from torch import Tensor

from remvae.report.figures.grids import CaptionedSection, captioned_grid_figure


@dataclass
class InterpolationPath:
    """A straight line in latent space from ``start`` to ``end`` (descriptions), decoded at each step.

    ``images[i]`` and ``captions[i]`` are the image and text decoders' outputs at the i-th point.
    """

    start: str
    end: str
    images: Tensor
    captions: Sequence[str]


def interpolations_figure(paths: Sequence[InterpolationPath]) -> Figure:
    """One row per path: z_t = (1 - t) z_start + t z_end for evenly spaced t, as an image and a caption."""
    sections = [CaptionedSection(f"{path.start}  →  {path.end}", path.images, path.captions) for path in paths]
    ncols = max((len(path.captions) for path in paths), default=1)
    return captioned_grid_figure(
        "Interpolations in the shared latent space", sections, ncols=ncols, cell=1.0,
        note="z moves in equal steps from the first latent to the last; each point is decoded by the image "
             "decoder (image) and by the text decoder (caption under it).",
    )
