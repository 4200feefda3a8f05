"""Where the benchmarks look for real data by default, and an experiment's MNIST / Fashion-MNIST data from there."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from remvae.core.data import ImageTextDataset
    from remvae.generator.schema import Experiment
    from remvae.text.tokenizer import Tokenizer

# the class-captioned readers the accuracy benchmarks judge, and their torchvision folder names
READERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


def default_data_root() -> Path | None:
    """``$REMVAE_DATA`` when set, else ``../shared/data`` beside the checkout when it exists."""
    if "REMVAE_DATA" in os.environ:
        return Path(os.environ["REMVAE_DATA"])
    beside = Path(__file__).resolve().parents[2] / "shared" / "data"
    return beside if beside.is_dir() else None


def data_root(reader: str) -> Path | None:
    """The default data root, if it holds the reader's ``raw`` folder."""
    root = default_data_root()
    return root if root is not None and (root / READERS[reader] / "raw").is_dir() else None


@dataclass
class ExperimentData:
    reader: str
    train: ImageTextDataset
    test: ImageTextDataset
    tokenizer: Tokenizer


def experiment_data(experiment: Experiment, root: Path) -> ExperimentData:
    """The experiment's training pairs (its ``train_length``, seeded), test split and fitted tokenizer."""
    from remvae.experiment import fit_tokenizer, test_data, training_data

    reader, config = experiment.component("reader")
    config["root"] = str(root)
    train, _ = training_data(reader, config, experiment.spec.data.train_length, 0, seed=experiment.spec.seed or 0)
    return ExperimentData(reader, train, test_data(reader, config), fit_tokenizer(train))
