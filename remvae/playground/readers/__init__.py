"""Registered readers: importing this package registers ``mnist``, ``fashion_mnist``, ``celeba``,
``bundled_digits`` and ``text_file`` in :data:`remvae.core.registry.READERS`.

Each reader is also a plain class or function following torchvision's conventions (``root``,
``train``/``split``, ``transform``, ``download``). Data roots resolve as ``root`` →
``$REMVAE_DATA`` → ``~/.cache/remvae/data`` (see :mod:`remvae.playground.readers.paths`).
"""

from remvae.playground.readers.bundled import BundledDigits
from remvae.playground.readers.celeba import CelebACaptions, CelebAConfig
from remvae.playground.readers.celeba_captions import (
    CELEBA_ATTRIBUTES,
    CELEBA_GRAMMAR,
    CelebAAttributeGrammar,
)
from remvae.playground.readers.errors import DataFormatError
from remvae.playground.readers.labelled import (
    DownloadableLabelCaptionConfig,
    LabelCaptionConfig,
)
from remvae.playground.readers.mnist import FashionMNISTCaptions, MNISTCaptions
from remvae.playground.readers.paths import cache_dir, data_roots
from remvae.playground.readers.text_file import TextFileConfig, read_text_file

__all__ = [
    "BundledDigits",
    "CELEBA_ATTRIBUTES",
    "CELEBA_GRAMMAR",
    "CelebAAttributeGrammar",
    "CelebACaptions",
    "CelebAConfig",
    "DataFormatError",
    "DownloadableLabelCaptionConfig",
    "FashionMNISTCaptions",
    "LabelCaptionConfig",
    "MNISTCaptions",
    "TextFileConfig",
    "cache_dir",
    "data_roots",
    "read_text_file",
]
