"""Glue between an experiment's values and the library: data splits, the tokenizer, the evaluators.

The generated scripts (``train.py``, ``eval.py``, ...) call these functions with every value written
out; the model itself is described by :class:`remvae.modelspec.ModelSpec`.
"""

from __future__ import annotations

from typing import Any

import torch

from remvae.core.data import ImageTextDataset
from remvae.core.registry import EVALUATORS, READERS
from remvae.text.tokenizer import Tokenizer

# Data.


def read_split(reader: str, config: dict[str, Any], train: bool, length: int | None = None) -> ImageTextDataset:
    """One split of a reader: its ``train`` (or ``split``) field set, and at most ``length`` items.

    Readers with a ``length`` field draw their own seeded subset; for the others the first
    ``length`` items are kept.
    """
    fields = READERS.get(reader).config.model_fields
    options = dict(config)
    if "train" in fields:
        options["train"] = train
    elif "split" in fields:
        options["split"] = "train" if train else "test"
    if "length" in fields:
        options["length"] = length
    dataset = READERS.build(reader, options)
    if not isinstance(dataset, ImageTextDataset):
        raise ValueError(
            f"reader {reader!r} gives a {type(dataset).__name__}; a multimodal experiment needs image-text pairs"
        )
    if length is not None and len(dataset) > length:
        dataset = dataset.subset(range(length))
    return dataset


def training_data(
    reader: str,
    config: dict[str, Any],
    train_length: int | None = None,
    validation_length: int = 0,
    seed: int = 0,
) -> tuple[ImageTextDataset, ImageTextDataset | None]:
    """``(train, validation)``: ``train_length + validation_length`` items of the training split,
    of which a seeded random ``validation_length`` are held out for validation."""
    total = None if train_length is None else train_length + validation_length
    dataset = read_split(reader, config, train=True, length=total)
    if validation_length == 0:
        return dataset, None
    if validation_length >= len(dataset):
        raise ValueError(f"validation_length {validation_length} leaves nothing of the {len(dataset)} training items")
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    keep = len(dataset) - validation_length
    return dataset.subset(order[:keep].sort().values), dataset.subset(order[keep:].sort().values)


def test_data(reader: str, config: dict[str, Any], test_length: int | None = None) -> ImageTextDataset:
    """The test split (``test_length`` items of it when given)."""
    return read_split(reader, config, train=False, length=test_length)


def fit_tokenizer(dataset: ImageTextDataset) -> Tokenizer:
    """The word-level vocabulary of the training captions."""
    return Tokenizer.fit(dataset.captions)


# Evaluation.


def build_evaluators(evaluators: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    """``{key: Evaluator}`` from ``(key, registered name, config)`` triples, in the listed order."""
    return {key: EVALUATORS.build(name, config) for key, name, config in evaluators}


__all__ = [
    "build_evaluators",
    "fit_tokenizer",
    "read_split",
    "test_data",
    "training_data",
]
