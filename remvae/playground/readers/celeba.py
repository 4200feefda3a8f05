"""CelebA faces with captions phrased from their 40 attributes.

Reads ``<root>/celeba/img_align_celeba/*.jpg``, ``list_attr_celeba.txt`` and, when present,
``list_eval_partition.txt`` (torchvision's layout) directly: torchvision's own ``CelebA`` class
insists on the full data set's checksums and extra files. JPEGs are decoded with Pillow in a
thread pool, centre-cropped to a square and resized once.

Splits: the official partition (``list_eval_partition.txt``: 0 train, 1 validation, 2 test) where it has
validation and test rows. A partition without them (the 10,000-face subset beside remvae puts every face
in train) gets fixed, seeded splits: ``test_fraction`` (10%) of the faces as test, then
``validation_fraction`` (10%) as validation, drawn with ``split_seed`` independently of every run's seed.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Literal, Optional

import numpy as np
import torch
from PIL import Image
from pydantic import Field
from torch import Tensor

from remvae.core.config import IGNORED, ComponentConfig, ConfigError, validate_config
from remvae.core.data import DataNotFoundError, ImageTextDataset
from remvae.core.registry import READERS
from remvae.playground.readers.celeba_captions import CELEBA_ATTRIBUTES, CELEBA_GRAMMAR
from remvae.playground.readers.errors import DataFormatError
from remvae.playground.readers.images import center_crop_square, resize_square
from remvae.playground.readers.labelled import Transform, subset_indices
from remvae.playground.readers.paths import data_roots, locate

Split = Literal["train", "validation", "test", "all"]
SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}
FOLDER = "celeba"
ATTRIBUTE_FILE, PARTITION_FILE, IMAGE_FOLDER = "list_attr_celeba.txt", "list_eval_partition.txt", "img_align_celeba"
CHUNK = 256  # JPEGs decoded per task of the thread pool


class CelebAConfig(ComponentConfig):
    """Config of the CelebA reader."""

    root: Optional[str] = Field(
        None, description="data root holding celeba/ (default: $REMVAE_DATA, else the cache)", json_schema_extra=IGNORED
    )
    split: Split = Field("train", description="train, validation, test or all")
    download: bool = Field(
        False, description="download the full CelebA through torchvision when missing", json_schema_extra=IGNORED
    )
    image_size: int = Field(64, ge=8, description="side of the square images returned, in pixels")
    crop: float = Field(
        140 / 178, gt=0, le=1, description="side of the centred square crop as a fraction of the image width"
    )
    attributes_per_caption: int = Field(
        3, ge=0, le=len(CELEBA_ATTRIBUTES), description="attributes named per caption, at most"
    )
    test_fraction: float = Field(
        0.1, gt=0, lt=1, description="share of the train split held out as test when the partition has no test images"
    )
    validation_fraction: float = Field(
        0.1, ge=0, lt=1,
        description="share of the train split held out as validation when the partition has no validation images",
    )
    split_seed: int = Field(0, description="seeds the held-out test and validation images (independent of `seed`)")
    length: Optional[int] = Field(None, ge=1, description="keep a seeded random subset of this many images")
    seed: int = Field(0, description="seeds the subset and which attributes each caption names")


def find_celeba(root: Path) -> Path | None:
    """``root/celeba`` if it holds the attribute file and the image folder."""
    folder = root / FOLDER
    return folder if (folder / ATTRIBUTE_FILE).is_file() and (folder / IMAGE_FOLDER).is_dir() else None


def read_attributes(path: Path) -> tuple[list[str], np.ndarray]:
    """File names and 0/1 attributes ``uint8 [N, 40]`` from ``list_attr_celeba.txt``.

    Format: the image count, the 40 attribute names, then ``<file> <40 values of -1 or 1>`` per line.
    """
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        count = int(lines[0])
    except (IndexError, ValueError):
        raise DataFormatError(f"{path}: the first line must be the image count") from None
    if len(lines) < 2 or tuple(lines[1].split()) != CELEBA_ATTRIBUTES:
        raise DataFormatError(f"{path}: line 2 must name CelebA's 40 attributes in their usual order")
    rows = [line.split() for line in lines[2:]]
    if len(rows) != count:
        raise DataFormatError(f"{path}: the header announces {count} images but {len(rows)} rows follow")
    bad = next((n for n, row in enumerate(rows) if len(row) != len(CELEBA_ATTRIBUTES) + 1), None)
    if bad is not None:
        raise DataFormatError(f"{path}: line {bad + 3} has {len(rows[bad])} fields, expected a file name and 40 values")
    try:
        values = np.array([row[1:] for row in rows], dtype=np.int8).reshape(len(rows), len(CELEBA_ATTRIBUTES))
    except ValueError:
        raise DataFormatError(f"{path}: attribute values must be -1 or 1") from None
    if not np.isin(values, (-1, 1)).all():
        raise DataFormatError(f"{path}: attribute values must be -1 or 1")
    return [row[0] for row in rows], (values > 0).astype(np.uint8)


def read_partition(path: Path, files: list[str]) -> np.ndarray:
    """The split id (0 train, 1 valid, 2 test) of every file, from ``list_eval_partition.txt`` if present, else 0."""
    if not path.is_file():
        return np.zeros(len(files), dtype=np.int64)
    table: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DataFormatError(f"{path}: line {number} must be '<file> <0|1|2>', got {line.strip()!r}")
        table[fields[0]] = int(fields[1])
    missing = next((name for name in files if name not in table), None)
    if missing is not None:
        raise DataFormatError(f"{path}: {missing} (listed in {ATTRIBUTE_FILE}) has no split")
    return np.array([table[name] for name in files], dtype=np.int64)


def split_indices(partition: np.ndarray, split: Split, test_fraction: float, validation_fraction: float,
                  split_seed: int) -> np.ndarray:
    """Sorted row indices of ``split``: the official partition's rows where it has validation and test rows.

    A partition without test rows (the 10,000-image subset beside remvae is all train) gets a seeded
    ``test_fraction`` of its train rows as the test split; one without validation rows then gets a seeded
    ``validation_fraction`` of the remaining train rows (a generator stream of its own) as the validation split.
    The train split is what is left.
    """
    if split == "all":
        return np.arange(len(partition))
    train = np.flatnonzero(partition == SPLIT_IDS["train"])
    test = np.flatnonzero(partition == SPLIT_IDS["test"])
    validation = np.flatnonzero(partition == SPLIT_IDS["validation"])
    if len(test) == 0:
        held = np.random.default_rng(split_seed).choice(len(train), size=max(1, round(test_fraction * len(train))),
                                                         replace=False)
        test, train = np.sort(train[held]), np.delete(train, held)
    if len(validation) == 0 and validation_fraction > 0:
        count = max(1, round(validation_fraction * (len(train) + len(test))))
        held = np.random.default_rng((split_seed, 1)).choice(len(train), size=count, replace=False)
        validation, train = np.sort(train[held]), np.delete(train, held)
    return {"train": train, "validation": validation, "test": test}[split]


def decode_faces(paths: list[Path], crop: float, size: int) -> Tensor:
    """uint8 ``[N, 3, size, size]``: each JPEG decoded as RGB, centre-cropped, resized (chunks in a thread pool).

    Pillow releases the GIL while decoding, so the pool decodes on every free core.
    """

    def decode(path: Path) -> np.ndarray:
        try:
            with Image.open(path) as image:
                return np.asarray(image.convert("RGB"))
        except FileNotFoundError:
            raise DataNotFoundError(f"{path}: listed in {ATTRIBUTE_FILE} but missing") from None
        except (OSError, SyntaxError) as error:
            raise DataFormatError(f"{path}: not a readable image ({error})") from None

    def task(chunk: list[Path]) -> Tensor:
        images = [decode(path) for path in chunk]
        shapes = {image.shape for image in images}
        if len(shapes) > 1:
            raise DataFormatError(f"{chunk[0].parent}: images differ in size ({sorted(shapes)}); expected one size")
        pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
        return resize_square(center_crop_square(pixels, crop), size)

    chunks = [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        parts = list(pool.map(task, chunks))
    return torch.cat(parts) if parts else torch.zeros((0, 3, size, size), dtype=torch.uint8)


class CelebACaptions(ImageTextDataset):
    """CelebA faces captioned from their attributes, following torchvision's ``CelebA`` arguments.

    ``options`` are the other fields of :class:`CelebAConfig`. ``labels`` are long ``[N, 40]``
    0/1, ``grammar`` is ``None`` (multi-label) and ``attribute_grammar`` writes and parses the
    captions; ``files`` names each item's JPEG.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        split: Split | Literal["valid"] = "train",
        transform: Transform | None = None,
        target_transform: Callable[[str], object] | None = None,
        download: bool = False,
        **options: Any,
    ) -> None:
        root = os.fspath(root) if root is not None else None
        values = {"root": root, "split": "validation" if split == "valid" else split, "download": download, **options}
        config = validate_config(CelebAConfig, values, where="celeba")
        folder = locate(
            "CelebA",
            data_roots(config.root, config.download),
            FOLDER,
            f"{ATTRIBUTE_FILE} and {IMAGE_FOLDER}/",
            find_celeba,
            download_celeba if config.download else None,
        )
        files, attributes = read_attributes(folder / ATTRIBUTE_FILE)
        partition = read_partition(folder / PARTITION_FILE, files)
        index = split_indices(partition, config.split, config.test_fraction, config.validation_fraction,
                              config.split_seed)
        if len(index) == 0:
            raise ConfigError(
                f"split: {config.split!r} has no images in {folder} (the partition puts them all in other splits)"
            )
        subset = subset_indices(len(index), config.length, config.seed, f"the CelebA {config.split} split")
        if subset is not None:
            index = index[subset]
        labels = attributes[index]
        captions = CELEBA_GRAMMAR.captions(labels, config.seed, config.attributes_per_caption)
        images = decode_faces([folder / IMAGE_FOLDER / files[i] for i in index], config.crop, config.image_size)
        super().__init__(
            images, captions, torch.from_numpy(labels.astype(np.int64)), CELEBA_ATTRIBUTES, None,
            transform, target_transform,
        )
        self.config = config
        self.files = [files[i] for i in index]
        self.attribute_grammar = CELEBA_GRAMMAR

    @classmethod
    def from_config(cls, config: CelebAConfig, transform: Transform | None = None) -> "CelebACaptions":
        return cls(transform=transform, **config.model_dump())


def download_celeba(root: Path) -> None:
    """Fetch the full aligned CelebA into ``root/celeba`` with torchvision (needs ``gdown`` and Google Drive)."""
    import torchvision.datasets

    torchvision.datasets.CelebA(str(root), split="all", target_type="attr", download=True)


@READERS.register("celeba", config=CelebAConfig)
def build_celeba(config: CelebAConfig, transform: Transform | None = None) -> CelebACaptions:
    """CelebA aligned faces (<root>/celeba) with captions naming up to k of their 40 attributes."""
    return CelebACaptions.from_config(config, transform)
