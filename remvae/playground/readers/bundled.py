"""Real MNIST digits shipped inside the package, for offline examples, tests and smoke runs.

``bundled/`` holds 4,000 training and 1,000 test digits (400 and 100 of each class, drawn with
a fixed seed by ``tools/make_bundled_digits.py``) as gzipped idx files, MNIST's own format; 400 of
the training digits (40 per class, fixed) are the validation split. Captions are written exactly as
the ``mnist`` reader writes them.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Callable

from pydantic import Field

from remvae.core.config import validate_config
from remvae.core.data import ImageTextDataset
from remvae.core.registry import READERS
from remvae.playground.readers.errors import DataFormatError
from remvae.playground.readers.idx import Readable
from remvae.playground.readers.labelled import (
    LabelCaptionConfig,
    Split,
    Transform,
    captioned_labels,
)
from remvae.playground.readers.mnist import find_split, read_split
from remvae.text.captions import MNIST_GRAMMAR


def bundled_folder() -> Readable:
    """The package folder holding the bundled idx files (a real folder in a normal install)."""
    return resources.files(__package__).joinpath("bundled")  # type: ignore[return-value]


class BundledConfig(LabelCaptionConfig):
    """The bundled digits' options: ``mnist``'s, less root and download, with 400 validation digits."""

    validation_size: int = Field(
        400, ge=0, description="training digits held out as the validation split (fixed, stratified by class)"
    )


class BundledDigits(ImageTextDataset):
    """The bundled MNIST subset with captions naming the digit (``mnist``'s options, less root/download)."""

    def __init__(
        self,
        train: bool = True,
        transform: Transform | None = None,
        target_transform: Callable[[str], object] | None = None,
        split: Split | None = None,
        **options: Any,
    ) -> None:
        split = split or ("train" if train else "test")
        config = validate_config(BundledConfig, {"split": split, **options}, where="bundled_digits")
        files = find_split(bundled_folder(), config.split != "test")
        if files is None:
            raise DataFormatError(f"{bundled_folder()}: the bundled {split} digits are missing from this installation")
        images, labels = read_split(files, len(MNIST_GRAMMAR.classes))
        pixels, captions, targets, grammar = captioned_labels(
            images, labels, MNIST_GRAMMAR, config, f"the bundled {split} digits"
        )
        super().__init__(pixels, captions, targets, grammar.classes, grammar, transform, target_transform)
        self.config = config

    @classmethod
    def from_config(cls, config: BundledConfig, transform: Transform | None = None) -> "BundledDigits":
        return cls(transform=transform, **config.model_dump())


@READERS.register("bundled_digits", config=BundledConfig)
def build_bundled_digits(config: BundledConfig, transform: Transform | None = None) -> BundledDigits:
    """3,600 + 400 validation + 1,000 test real MNIST digits shipped with remvae (offline), captioned like `mnist`."""
    return BundledDigits.from_config(config, transform)
