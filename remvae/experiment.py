"""Glue between an experiment's values and the library: data splits, tokenizer, model, evaluation.

The generated scripts (``train.py``, ``eval.py``, ...) call these functions with every value
written out, and :func:`remvae.load` rebuilds a trained model through :class:`ModelSpec`; this
module is the one place that knows how the pieces fit together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field

from remvae.core.conditional_prior import ConditionalPrior, ConditionalPriorConfig
from remvae.core.config import ComponentConfig, validate_config
from remvae.core.data import ImageTextDataset
from remvae.core.multimodal import MultimodalVAE
from remvae.core.registry import ARCHITECTURES, EVALUATORS, READERS
from remvae.core.wrapper import Wrapper
from remvae.text.tokenizer import Tokenizer

MODEL_FILE = "model.json"
MODEL_FORMAT = "remvae-model"
MODEL_VERSION = 1


class RunFolderError(ValueError):
    """A run folder that lacks what is asked of it; the message names the missing file."""


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


# The model.


class WrapperConfig(ComponentConfig):
    """How the text VAE is trained: teacher forcing with word dropout, or free-running decoding."""

    word_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="share of decoder input words replaced by <unk>")
    mode: Literal["teacher_forcing", "free_running"] = Field(
        "teacher_forcing", description="what the decoder reads while training: the true or its own previous token"
    )


@dataclass
class ModelSpec:
    """Which image and text architectures, with which configs, and the conditional prior's config
    (``None``: the model has none): enough to rebuild the model.

    Saved as ``<run>/model.json`` by ``train.py``; :func:`remvae.load` reads it back.
    """

    image: str
    image_config: dict[str, Any]
    text: str
    text_config: dict[str, Any]
    wrapper: dict[str, Any] = field(default_factory=dict)
    conditional_prior: dict[str, Any] | None = None

    def resolved(self) -> ModelSpec:
        """The same spec with every config validated and its defaults filled in."""
        image = validate_config(ARCHITECTURES.get(self.image).config, self.image_config, where=self.image)
        text = validate_config(ARCHITECTURES.get(self.text).config, self.text_config, where=self.text)
        wrapper = validate_config(WrapperConfig, self.wrapper, where="wrapper")
        return ModelSpec(
            self.image, image.model_dump(), self.text, text.model_dump(), wrapper.model_dump(),
            None if self.conditional_prior is None else self._prior_config().model_dump(),
        )

    def _prior_config(self) -> ConditionalPriorConfig:
        return validate_config(ConditionalPriorConfig, self.conditional_prior, where="conditional_prior")

    def build(self, tokenizer: Tokenizer) -> MultimodalVAE:
        image = ARCHITECTURES.build(self.image, self.image_config)
        text = ARCHITECTURES.build(self.text, self.text_config, tokenizer=tokenizer)
        wrapper = validate_config(WrapperConfig, self.wrapper, where="wrapper")
        prior = None
        if self.conditional_prior is not None:
            prior = ConditionalPrior(image.latent_dim, self._prior_config().hidden_dim)
        return MultimodalVAE(image, Wrapper(text, wrapper.word_dropout, wrapper.mode), prior)

    def save(self, run_dir: str | Path) -> Path:
        """Write ``<run_dir>/model.json`` (configs resolved) and return its path."""
        spec = self.resolved()
        path = Path(run_dir) / MODEL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "image": {"name": spec.image, "config": spec.image_config},
            "text": {"name": spec.text, "config": spec.text_config},
            "wrapper": spec.wrapper,
            "conditional_prior": spec.conditional_prior,
        }
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, run_dir: str | Path) -> ModelSpec:
        path = Path(run_dir) / MODEL_FILE
        if not path.is_file():
            raise RunFolderError(f"{path}: not found; is {run_dir} a trained run folder (train.py writes it)?")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise RunFolderError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
            raise RunFolderError(f"{path}: not a remvae model description (format {MODEL_FORMAT!r} expected)")
        if data.get("version") != MODEL_VERSION:
            raise RunFolderError(f"{path}: version {data.get('version')!r} is not supported (expected {MODEL_VERSION})")
        try:
            return cls(
                data["image"]["name"], data["image"]["config"], data["text"]["name"], data["text"]["config"],
                data.get("wrapper", {}), data.get("conditional_prior"),
            )
        except (KeyError, TypeError):
            raise RunFolderError(f"{path}: needs image and text entries with a name and a config") from None


# Evaluation.


def build_evaluators(evaluators: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    """``{key: Evaluator}`` from ``(key, registered name, config)`` triples, in the listed order."""
    return {key: EVALUATORS.build(name, config) for key, name, config in evaluators}


__all__ = [
    "ModelSpec",
    "RunFolderError",
    "WrapperConfig",
    "build_evaluators",
    "fit_tokenizer",
    "read_split",
    "test_data",
    "training_data",
]
