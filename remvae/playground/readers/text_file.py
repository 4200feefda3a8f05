"""Sentences from a plain UTF-8 text file, one per line: text-only data for the text VAE."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from remvae.core.config import ComponentConfig
from remvae.core.data import DataNotFoundError, TextDataset
from remvae.core.registry import READERS
from remvae.playground.readers.errors import DataFormatError
from remvae.playground.readers.labelled import Transform


class TextFileConfig(ComponentConfig):
    """Config of the text-file reader."""

    path: str = Field(description="a UTF-8 text file with one sentence per line (blank lines are skipped)")


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


@READERS.register("text_file", config=TextFileConfig)
def build_text_file(config: TextFileConfig, transform: Transform | None = None) -> TextDataset:
    """Sentences of a UTF-8 text file, one per line (text only, no images)."""
    if transform is not None:
        raise ValueError("text_file: `transform` applies to images and a text file has none")
    return read_text_file(config.path)
