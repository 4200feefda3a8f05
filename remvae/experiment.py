"""Glue between an experiment's values and the library: data splits, the tokenizer, the evaluators.

The generated scripts (``train.py``, ``eval.py``, ...) call these functions with every value written
out; the model itself is described by :class:`remvae.modelspec.ModelSpec`.
"""

from __future__ import annotations

from typing import Any

from remvae.core.data import ImageTextDataset
from remvae.core.registry import EVALUATORS, READERS
from remvae.text.tokenizer import Tokenizer

# Data.


def read_split(reader: str, config: dict[str, Any], split: str, length: int | None = None) -> ImageTextDataset:
    """One split (``train``, ``validation`` or ``test``) of a reader, at most ``length`` items of it.

    Readers with a ``length`` field draw their own seeded subset; for the others the first ``length``
    items are kept.
    """
    fields = READERS.get(reader).config.model_fields
    if "split" not in fields:
        raise ValueError(f"reader {reader!r} has no train / validation / test splits; an image-text experiment needs them")
    options = {**config, "split": split}
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
    reader: str, config: dict[str, Any], train_length: int | None = None, validation_length: int | None = None,
) -> tuple[ImageTextDataset, ImageTextDataset | None]:
    """``(train, validation)``: the reader's train split and its fixed validation split (``train_length`` and
    ``validation_length`` items of them when given; no validation set when ``validation_length`` is 0).
    Training and every choice made during it read only these two; the test split is for the evaluation."""
    train = read_split(reader, config, "train", train_length)
    validation = None if validation_length == 0 else read_split(reader, config, "validation", validation_length)
    return train, validation


def test_data(reader: str, config: dict[str, Any], test_length: int | None = None) -> ImageTextDataset:
    """The test split (``test_length`` items of it when given): read by the evaluation, once training is over."""
    return read_split(reader, config, "test", test_length)


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
