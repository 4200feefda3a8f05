"""Regenerate remvae's bundled digits: a class-balanced MNIST subset shipped inside the package.

    python tools/make_bundled_digits.py [--root ../shared/data] [--out remvae/playground/readers/bundled]

Takes ``--train-per-class`` (400) training and ``--test-per-class`` (100) test digits of each
class, chosen with a fixed seed, in their original order, and writes them in MNIST's own idx
format, gzipped with a zero timestamp, so the same input gives byte-identical files.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import numpy as np

from remvae.playground.readers.idx import UNSIGNED_BYTE
from remvae.playground.readers.mnist import find_split, idx_stems, read_split

REPO = Path(__file__).resolve().parents[1]
SEED = 20240601


def balanced_indices(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``per_class`` items of every class, drawn without replacement."""
    chosen = [rng.choice(np.flatnonzero(labels == label), size=per_class, replace=False) for label in range(10)]
    return np.sort(np.concatenate(chosen))


def write_idx(path: Path, array: np.ndarray) -> None:
    """``array`` (uint8) as a gzipped idx file, with a fixed timestamp for reproducible bytes."""
    header = bytes([0, 0, UNSIGNED_BYTE, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as out:
        out.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def make(root: Path, out: Path, train_per_class: int = 400, test_per_class: int = 100) -> list[Path]:
    """Write the bundled train and test files from ``root/MNIST/raw`` into ``out``; return their paths."""
    rng = np.random.default_rng(SEED)
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for train, per_class in ((True, train_per_class), (False, test_per_class)):
        files = find_split(root / "MNIST" / "raw", train)
        if files is None:
            raise SystemExit(f"error: no MNIST {'train' if train else 'test'} files in {root / 'MNIST' / 'raw'}")
        images, labels = read_split(files, classes=10)
        index = balanced_indices(labels, per_class, rng)
        for stem, array in zip(idx_stems(train), (images[index], labels[index])):
            path = out / f"{stem}.gz"
            write_idx(path, array)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data", help="folder holding MNIST/raw/")
    parser.add_argument("--out", type=Path, default=REPO / "remvae" / "playground" / "readers" / "bundled")
    parser.add_argument("--train-per-class", type=int, default=400)
    parser.add_argument("--test-per-class", type=int, default=100)
    args = parser.parse_args(argv)
    for path in make(args.root, args.out, args.train_per_class, args.test_per_class):
        print(f"{path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
