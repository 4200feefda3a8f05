"""Sentences from a plain UTF-8 text file, one per line: text-only data for the text VAE.

Splits: fixed, seeded shares of the sentences (``test_fraction``, then ``validation_fraction`` of the rest; the
generator is seeded with ``split_seed``, independent of every run's seed), the remainder being ``train``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Literal, Optional

import numpy as np
from pydantic import Field

from remvae.core.config import ComponentConfig, ConfigError
from remvae.core.data import DataNotFoundError, TextDataset
from remvae.core.registry import READERS
from remvae.playground.readers.errors import DataFormatError
from remvae.playground.readers.labelled import Transform, subset_indices


class TextFileConfig(ComponentConfig):
    """Config of the text-file reader."""

    provides: ClassVar[frozenset[str]] = frozenset({"text"})

    path: Path = Field(description="a UTF-8 text file with one sentence per line (blank lines are skipped)")
    split: Literal["train", "validation", "test", "all"] = Field("train", description="which sentences")
    validation_fraction: float = Field(0.1, ge=0, lt=1, description="share of sentences held out for validation")
    test_fraction: float = Field(0.1, gt=0, lt=1, description="share of sentences held out for the test split")
    split_seed: int = Field(0, description="seeds the held-out shares (independent of any run's seed)")
    length: Optional[int] = Field(None, ge=1, description="keep a seeded random subset of this many sentences")
    seed: int = Field(0, description="seeds the subset")


def read_text_file(path: str | os.PathLike[str]) -> TextDataset:
    """The non-blank lines of a UTF-8 file (a byte-order mark is allowed), stripped, as a :class:`TextDataset`."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise DataNotFoundError(
            f"text file {file} not found; set `path` to a UTF-8 file with one sentence per line"
        ) from None
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise DataFormatError(f"{file}: not UTF-8 text (byte {error.start}, line {line})") from None
    sentences = [line.strip() for line in text.splitlines() if line.strip()]
    if not sentences:
        raise DataFormatError(f"{file}: no sentences (the file is empty or blank)")
    return TextDataset(sentences)


def split_sentences(count: int, config: TextFileConfig) -> np.ndarray:
    """Sorted indices of ``config.split`` among ``count`` sentences (see the module docstring)."""
    order = np.random.default_rng(config.split_seed).permutation(count)
    tests = max(1, round(config.test_fraction * count))
    validations = round(config.validation_fraction * count)
    parts = {"test": order[:tests], "validation": order[tests : tests + validations],
             "train": order[tests + validations :], "all": order}
    return np.sort(parts[config.split])


@READERS.register("text_file", config=TextFileConfig)
def build_text_file(config: TextFileConfig, transform: Transform | None = None) -> TextDataset:
    """Sentences of a UTF-8 text file, one per line, in fixed train / validation / test shares (no images)."""
    if transform is not None:
        raise ValueError("text_file: `transform` applies to images and a text file has none")
    sentences = read_text_file(config.path)
    index = split_sentences(len(sentences), config)
    if len(index) == 0:
        raise ConfigError(f"split: {config.split!r} has no sentences in {config.path} ({len(sentences)} in all)")
    subset = subset_indices(len(index), config.length, config.seed, f"the {config.split} sentences of {config.path}")
    return sentences.subset(index if subset is None else index[subset])
