"""Where the benchmarks find real data, and an experiment's training and validation data from there.

The data root is ``$REMVAE_DATA`` when set, else ``../shared/data`` beside the checkout. Benchmarks read
the ``train`` and ``validation`` splits only: the test split is read once, after training, by
``remvae eval`` (or ``remvae run``), never here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from remvae.args import Experiment
    from remvae.core.data import ImageTextDataset
    from remvae.text.tokenizer import Tokenizer

FALLBACK_READER = "bundled_digits"
"""Stands in for ``mnist`` where a benchmark only needs digits of the right size, not the whole data set."""
SUBSET_ITEMS = 3600
"""Training pairs of the speed benchmarks: as many as the bundled digits' training split, so the fallback fits."""


def default_data_root() -> Path | None:
    """``$REMVAE_DATA`` when set, else ``../shared/data`` beside the checkout when it exists."""
    if os.environ.get("REMVAE_DATA"):
        return Path(os.environ["REMVAE_DATA"])
    beside = Path(__file__).resolve().parents[2] / "shared" / "data"
    return beside if beside.is_dir() else None


def reader_of(experiment: Experiment, root: Path | None = None) -> tuple[str, dict[str, Any]]:
    """The experiment's reader and config; a reader that reads a data root and is given none by args.json
    reads ``root`` (default: :func:`default_data_root`)."""
    reader, config = experiment.component("reader")
    assert reader is not None and config is not None
    root = root or default_data_root()
    if "root" in config and config["root"] is None and root is not None:
        config["root"] = str(root)
    return reader, config


@dataclass
class ExperimentData:
    """An experiment's training pairs, its validation pairs (``None`` without) and the tokenizer fitted on training."""

    reader: str
    config: dict[str, Any]
    train: ImageTextDataset
    validation: ImageTextDataset | None
    tokenizer: Tokenizer


def experiment_data(experiment: Experiment, root: Path | None = None) -> ExperimentData:
    """The training and validation data the experiment trains on (its ``data.train_length`` and
    ``data.validation_length``), as ``remvae run`` reads them. Raises ``DataNotFoundError`` without the data."""
    from remvae.experiment import fit_tokenizer, training_data

    reader, config = reader_of(experiment, root)
    data = experiment.spec.data
    train, validation = training_data(reader, config, data.train_length, data.validation_length)
    return ExperimentData(reader, config, train, validation, fit_tokenizer(train))


def validation_split(data: ExperimentData, experiment: Experiment) -> ImageTextDataset:
    """All of the reader's fixed validation split (what the benchmarks judge and choose on): the trainer's
    validation set when the experiment uses all of it, else read again."""
    from remvae.experiment import read_split

    if data.validation is not None and experiment.spec.data.validation_length is None:
        return data.validation
    return read_split(data.reader, data.config, "validation")


def training_subset(experiment: Experiment, items: int, root: Path | None = None) -> tuple[ExperimentData, str]:
    """``items`` seeded training pairs of the experiment's reader (no validation set), and a note on the data used.

    An ``mnist`` experiment without MNIST under the root reads the bundled digits instead (resized alike);
    other readers raise ``DataNotFoundError`` without their data.
    """
    from remvae.core.data import DataNotFoundError
    from remvae.core.registry import READERS
    from remvae.experiment import fit_tokenizer, training_data

    reader, config = reader_of(experiment, root)
    try:
        train, _ = training_data(reader, config, items, 0)
    except DataNotFoundError:
        if reader != "mnist":
            raise
        fields = set(READERS.get(FALLBACK_READER).config.model_fields) - {"validation_size"}  # keeps its own split
        reader, config = FALLBACK_READER, {k: v for k, v in config.items() if k in fields}
        train, _ = training_data(reader, config, items, 0)
    note = f"{len(train)} {reader} training pairs"
    return ExperimentData(reader, config, train, None, fit_tokenizer(train)), note
