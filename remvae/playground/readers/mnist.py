"""MNIST and Fashion-MNIST with captions naming the class ("a photo of a seven", "a sneaker").

The original ``*-idx?-ubyte.gz`` files (or their extracted copies) are read in place from
torchvision's layout ``<root>/MNIST/raw/`` and ``<root>/FashionMNIST/raw/``; nothing is written
beside them. Downloading, when asked for and needed, goes through torchvision's own classes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from remvae.core.config import validate_config
from remvae.core.data import ImageTextDataset
from remvae.core.registry import READERS
from remvae.playground.readers.errors import DataFormatError
from remvae.playground.readers.idx import Readable, find_idx, read_idx
from remvae.playground.readers.labelled import (
    DownloadableLabelCaptionConfig,
    Split,
    Transform,
    captioned_labels,
)
from remvae.playground.readers.paths import data_roots, locate
from remvae.text.captions import FASHION_MNIST_GRAMMAR, MNIST_GRAMMAR, CaptionGrammar


def idx_stems(train: bool) -> tuple[str, str]:
    """The image and label file names (without ``.gz``) of a split, shared by MNIST and Fashion-MNIST."""
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def find_split(folder: Readable, train: bool) -> tuple[Readable, Readable] | None:
    """The image and label files of a split in ``folder``, extracted or gzipped, if both are there."""
    images, labels = (find_idx(folder, stem) for stem in idx_stems(train))
    return (images, labels) if images is not None and labels is not None else None


def read_split(files: tuple[Readable, Readable], classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 [N, H, W]`` and labels ``uint8 [N]`` from an image file and a label file."""
    images, labels = (read_idx(file) for file in files)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataFormatError(f"{files[0]} {images.shape} and {files[1]} {labels.shape} are not N images and N labels")
    if len(labels) and labels.max() >= classes:
        raise DataFormatError(f"{files[1]}: label {labels.max()} is not one of the {classes} classes")
    return images, labels


class MNISTCaptions(ImageTextDataset):
    """MNIST digits captioned from their label, following torchvision's ``MNIST`` arguments.

    ``split`` (``train``, ``validation`` or ``test``) overrides ``train`` when given. ``options`` are the
    other fields of :class:`DownloadableLabelCaptionConfig`: ``validation_size`` (5000), ``image_size``
    (28), ``templates``, ``length`` and ``seed``. Raises ``DataNotFoundError`` when the files are
    missing and cannot be downloaded, ``ConfigError`` for a bad option.
    """

    name: ClassVar[str] = "mnist"  # the registered reader, naming config errors
    folder: ClassVar[str] = "MNIST"
    title: ClassVar[str] = "MNIST"
    base_grammar: ClassVar[CaptionGrammar] = MNIST_GRAMMAR

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        train: bool = True,
        transform: Transform | None = None,
        target_transform: Callable[[str], object] | None = None,
        download: bool = False,
        split: Split | None = None,
        **options: Any,
    ) -> None:
        root = os.fspath(root) if root is not None else None
        split = split or ("train" if train else "test")
        config = validate_config(
            DownloadableLabelCaptionConfig, {"root": root, "split": split, "download": download, **options},
            where=self.name,
        )
        from_train = config.split != "test"
        raw = f"{self.folder}/raw"
        files = locate(
            f"{self.title} {'training' if from_train else 'test'} split",
            data_roots(config.root, config.download),
            raw,
            " and ".join(f"{stem}[.gz]" for stem in idx_stems(from_train)),
            lambda root: find_split(root / raw, from_train),
            self._download if config.download else None,
        )
        images, labels = read_split(files, len(self.base_grammar.classes))
        pixels, captions, targets, grammar = captioned_labels(
            images, labels, self.base_grammar, config, f"{self.title} {config.split}"
        )
        super().__init__(pixels, captions, targets, grammar.classes, grammar, transform, target_transform)
        self.config = config
        self.source_files = tuple(Path(str(file)) for file in files)

    @classmethod
    def _download(cls, root: Path) -> None:
        """Fetch the four files into ``root/<folder>/raw`` with torchvision (which also extracts them)."""
        import torchvision.datasets

        getattr(torchvision.datasets, cls.folder)(str(root), train=True, download=True)

    @classmethod
    def from_config(cls, config: DownloadableLabelCaptionConfig, transform: Transform | None = None) -> "MNISTCaptions":
        return cls(transform=transform, **config.model_dump())


class FashionMNISTCaptions(MNISTCaptions):
    """Fashion-MNIST clothes captioned from their label, following torchvision's ``FashionMNIST`` arguments."""

    name = "fashion_mnist"
    folder = "FashionMNIST"
    title = "Fashion-MNIST"
    base_grammar = FASHION_MNIST_GRAMMAR


@READERS.register("mnist", config=DownloadableLabelCaptionConfig)
def build_mnist(config: DownloadableLabelCaptionConfig, transform: Transform | None = None) -> MNISTCaptions:
    """MNIST digits (<root>/MNIST/raw) with captions naming the digit."""
    return MNISTCaptions.from_config(config, transform)


@READERS.register("fashion_mnist", config=DownloadableLabelCaptionConfig)
def build_fashion_mnist(
    config: DownloadableLabelCaptionConfig, transform: Transform | None = None
) -> FashionMNISTCaptions:
    """Fashion-MNIST clothes (<root>/FashionMNIST/raw) with captions naming the item."""
    return FashionMNISTCaptions.from_config(config, transform)
