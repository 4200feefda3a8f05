"""What the single-label readers (MNIST, Fashion-MNIST, the bundled digits) share.

Their captions come from the label through a :class:`CaptionGrammar` (``template.format(x=name)``,
template drawn with a seeded generator), so a caption always names its image's class.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import Tensor

from remvae.core.config import IGNORED, ComponentConfig, ConfigError
from remvae.playground.readers.images import resize_square
from remvae.text.captions import CaptionGrammar

Transform = Callable[[Tensor], Tensor]  # applied by the dataset to each float image in [0, 1]


class LabelCaptionConfig(ComponentConfig):
    """Config of a reader whose captions name one class label per image."""

    train: bool = Field(True, description="the training split (else the test split)")
    image_size: int = Field(28, ge=8, description="side of the square images returned, in pixels")
    templates: Optional[list[str]] = Field(
        None, min_length=1, description="caption templates with one '{x}' for the class name (default: the grammar's)"
    )
    length: Optional[int] = Field(None, ge=1, description="keep a seeded random subset of this many items")
    seed: int = Field(0, description="seeds the subset and each caption's template")

    @field_validator("templates")
    @classmethod
    def _templates_have_one_field(cls, templates: list[str] | None) -> list[str] | None:
        if templates is not None:
            CaptionGrammar(("class",), tuple(templates))  # raises ValueError naming the bad template
        return templates


class DownloadableLabelCaptionConfig(LabelCaptionConfig):
    """A :class:`LabelCaptionConfig` for data read from a root folder (torchvision's layout)."""

    root: Optional[str] = Field(
        None, description="data root (default: $REMVAE_DATA, else ~/.cache/remvae/data)", json_schema_extra=IGNORED
    )
    download: bool = Field(
        False, description="download through torchvision when the data is missing", json_schema_extra=IGNORED
    )


def subset_indices(total: int, length: int | None, seed: int, what: str) -> np.ndarray | None:
    """Sorted indices of a seeded random subset of ``length`` of ``total`` items (``None``: keep all).

    The generator is seeded with ``(seed, 1)``, a stream independent of the caption choice.
    """
    if length is None:
        return None
    if length > total:
        raise ConfigError(f"length: {length} is more than the {total} items of {what}")
    return np.sort(np.random.default_rng((seed, 1)).choice(total, size=length, replace=False))


def captioned_labels(
    images: np.ndarray, labels: np.ndarray, grammar: CaptionGrammar, config: LabelCaptionConfig, what: str
) -> tuple[Tensor, list[str], Tensor, CaptionGrammar]:
    """Subset, caption and resize grey ``[N, H, W]`` images with class ``labels``.

    Returns ``(images uint8 [n, 1, size, size], captions, labels long [n], grammar)`` where the
    grammar carries ``config.templates`` when given.
    """
    if config.templates is not None:
        grammar = CaptionGrammar(grammar.classes, tuple(config.templates))
    index = subset_indices(len(labels), config.length, config.seed, what)
    if index is not None:
        images, labels = images[index], labels[index]
    captions = grammar.captions(labels, config.seed)
    pixels = resize_square(torch.from_numpy(images).unsqueeze(1), config.image_size)
    return pixels, captions, torch.from_numpy(labels.astype(np.int64)), grammar
