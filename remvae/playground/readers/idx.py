"""The idx format of MNIST and Fashion-MNIST, read with gzip and numpy (no extraction, no writes).

An idx file is ``0x00 0x00 <type> <ndim>``, ``ndim`` big-endian int32 sizes, then the data;
remvae reads unsigned bytes (type ``0x08``) only, which is what both data sets use.
"""

from __future__ import annotations

import gzip
from typing import BinaryIO, Protocol

import numpy as np

from remvae.playground.readers.errors import DataFormatError

UNSIGNED_BYTE = 0x08


class Readable(Protocol):
    """A ``pathlib.Path`` or an ``importlib.resources`` Traversable."""

    name: str

    def is_file(self) -> bool: ...

    def joinpath(self, *parts: str) -> "Readable": ...

    def open(self, mode: str = "r") -> BinaryIO: ...  # type: ignore[override]


def find_idx(folder: Readable, stem: str) -> Readable | None:
    """``folder/stem`` if extracted, else ``folder/stem.gz``, else ``None``."""
    for name in (stem, stem + ".gz"):
        candidate = folder.joinpath(name)
        if candidate.is_file():
            return candidate
    return None


def read_idx(file: Readable) -> np.ndarray:
    """The array stored in an idx file (gzipped when its name ends in ``.gz``), as writable uint8."""
    with file.open("rb") as raw:
        stream: BinaryIO = gzip.GzipFile(fileobj=raw) if file.name.endswith(".gz") else raw  # type: ignore[assignment]
        try:
            data = bytearray(stream.read())
        except (OSError, EOFError) as error:
            raise DataFormatError(f"{file}: cannot decompress ({error})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != UNSIGNED_BYTE or data[3] == 0:
        raise DataFormatError(f"{file}: not an unsigned-byte idx file (header {bytes(data[:4]).hex() or 'empty'})")
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise DataFormatError(f"{file}: truncated header ({len(data)} bytes for {ndim} dimensions)")
    shape = tuple(int(size) for size in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    expected = offset + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        raise DataFormatError(f"{file}: {len(data)} bytes where the header's shape {shape} needs {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)
