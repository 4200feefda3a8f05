"""What the single-label readers (MNIST, Fashion-MNIST, the bundled digits) share.

Their captions come from the label through a :class:`CaptionGrammar` (``template.format(x=name)``,
template drawn with a seeded generator), so a caption always names its image's class.

Three splits: the data set's test split is ``test``; its training split is divided into ``train`` and a
fixed ``validation`` set of ``validation_size`` items (MNIST and Fashion-MNIST: 5,000 of the 60,000),
stratified by class (each class gives its share, rounded by largest remainder) and drawn by a generator
seeded with :data:`VALIDATION_SEED`, so every run and every seed holds out the same items.
"""

from __future__ import annotations

from typing import Callable, Literal, Optional

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import Tensor

from remvae.core.config import IGNORED, ComponentConfig, ConfigError
from remvae.playground.readers.images import resize_square
from remvae.text.captions import CaptionGrammar

Transform = Callable[[Tensor], Tensor]  # applied by the dataset to each float image in [0, 1]


Split = Literal["train", "validation", "test"]
VALIDATION_SEED = 20_240_531
"""Seeds the choice of the validation items: fixed, independent of every run's seed."""


class LabelCaptionConfig(ComponentConfig):
    """Config of a reader whose captions name one class label per image."""

    split: Split = Field("train", description="train, validation (held out of the training split) or test")
    validation_size: int = Field(
        5000, ge=0, description="training-split items held out as the validation split (fixed, stratified by class)"
    )
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


def validation_indices(labels: np.ndarray, size: int) -> np.ndarray:
    """Sorted indices of the ``size`` validation items among a training split with these ``labels``: each class
    contributes ``size * n_class / n`` items (rounded by largest remainder), chosen by a generator seeded with
    :data:`VALIDATION_SEED`."""
    if size > len(labels):
        raise ConfigError(f"validation_size: {size} is more than the {len(labels)} items of the training split")
    classes, counts = np.unique(labels, return_counts=True)
    exact = size * counts / len(labels)
    shares = np.floor(exact).astype(np.int64)
    for position in np.argsort(-(exact - shares), kind="stable")[: size - int(shares.sum())]:
        shares[position] += 1
    generator = np.random.default_rng(VALIDATION_SEED)
    chosen = [generator.choice(np.flatnonzero(labels == c), size=int(k), replace=False) for c, k in zip(classes, shares)]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def split_items(labels: np.ndarray, split: Split, validation_size: int) -> np.ndarray | None:
    """The indices of ``split`` among the items of a training split (``None``: all of them, e.g. the test split)."""
    if split == "test":
        return None
    held = validation_indices(labels, validation_size)
    if split == "validation":
        return held
    keep = np.ones(len(labels), dtype=bool)
    keep[held] = False
    return np.flatnonzero(keep)


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
    """Split, subset, caption and resize grey ``[N, H, W]`` images with class ``labels`` (those of the data set's
    training split for ``train`` and ``validation``, of its test split for ``test``).

    Returns ``(images uint8 [n, 1, size, size], captions, labels long [n], grammar)`` where the
    grammar carries ``config.templates`` when given.
    """
    if config.templates is not None:
        grammar = CaptionGrammar(grammar.classes, tuple(config.templates))
    part = split_items(labels, config.split, config.validation_size)
    if part is not None:
        images, labels = images[part], labels[part]
    index = subset_indices(len(labels), config.length, config.seed, what)
    if index is not None:
        images, labels = images[index], labels[index]
    captions = grammar.captions(labels, config.seed)
    pixels = resize_square(torch.from_numpy(images).unsqueeze(1), config.image_size)
    return pixels, captions, torch.from_numpy(labels.astype(np.int64)), grammar
