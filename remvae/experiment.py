"""Glue between an experiment's values and the library: data splits, the tokenizer, the evaluators.

The generated scripts (``train.py``, ``eval.py``, ...) call these functions with every value written
out; the model itself is described by :class:`remvae.modelspec.ModelSpec`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from remvae.core.data import ImageTextDataset, TextDataset
from remvae.core.model import MultimodalModel
from remvae.core.prior import LatentPrior
from remvae.core.registry import EVALUATORS, READERS
from remvae.playground.priors import fit_prior
from remvae.playground.trainers.batches import TensorData
from remvae.text.tokenizer import Tokenizer

# Data.


def read_split(
    reader: str, config: dict[str, Any], split: str, length: int | None = None
) -> ImageTextDataset | TextDataset:
    """One split (``train``, ``validation`` or ``test``) of a reader, at most ``length`` items of it.

    Readers with a ``length`` field draw their own seeded subset; for the others the first ``length``
    items are kept.
    """
    fields = READERS.get(reader).config.model_fields
    if "split" not in fields:
        raise ValueError(f"reader {reader!r} has no train / validation / test splits; an experiment needs them")
    options = {**config, "split": split}
    if "length" in fields:
        options["length"] = length
    dataset = READERS.build(reader, options)
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


# Learned priors.


def aggregate_latents(
    model: MultimodalModel, tokenizer: Tokenizer | None, dataset: ImageTextDataset, seed: int, batch_size: int = 500,
) -> Tensor:
    """One seeded draw from the model's aggregate posterior per item of ``dataset`` (see
    :meth:`MultimodalModel.aggregate_latents`), ``[N, D]`` on the CPU."""
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    data = TensorData.from_dataset(dataset, model.modalities, tokenizer, model.max_text_length, model.image_shape)
    parts = [model.aggregate_latents(data.batch(index).to(device), generator).cpu()
             for index in torch.arange(data.size).split(batch_size)]
    return torch.cat(parts)


def prior_latents(
    model: MultimodalModel, tokenizer: Tokenizer | None, train: ImageTextDataset, validation: ImageTextDataset,
    seed: int,
) -> tuple[Tensor, Tensor]:
    """The latents a post-hoc prior is fitted to (training items) and chooses on (validation items), each one
    seeded draw per item from the aggregate posterior."""
    return aggregate_latents(model, tokenizer, train, seed), aggregate_latents(model, tokenizer, validation, seed + 1)


def fit_learned_prior(
    model: MultimodalModel, tokenizer: Tokenizer | None, train: ImageTextDataset, validation: ImageTextDataset,
    name: str, config: dict[str, Any], seed: int,
) -> tuple[LatentPrior, dict[str, Any]]:
    """The post-hoc prior ``name`` (``gmm``, ``maf``) fitted to the aggregate posterior of the training items,
    choosing what it chooses (mixture size, stopping epoch) on the validation items' latents."""
    train_latents, val_latents = prior_latents(model, tokenizer, train, validation, seed)
    return fit_prior(name, config, train_latents, val_latents, seed)


# Evaluation.


def build_evaluators(evaluators: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    """``{key: Evaluator}`` from ``(key, registered name, config)`` triples, in the listed order."""
    return {key: EVALUATORS.build(name, config) for key, name, config in evaluators}


__all__ = [
    "aggregate_latents",
    "build_evaluators",
    "fit_learned_prior",
    "fit_tokenizer",
    "prior_latents",
    "read_split",
    "test_data",
    "training_data",
]
