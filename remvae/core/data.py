"""Dataset interfaces shared by readers, trainers and evaluators.

Readers decode their files once into tensors (``images`` as uint8 ``[N, C, H, W]`` at the
requested size, ``captions`` as strings, ``labels``); per-item access follows torchvision's
conventions (``transform`` applied to a float image in [0, 1]), while trainers and evaluators
read the whole tensors in batches, so no per-item Python work sits on the hot path.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from remvae.text.captions import CaptionGrammar


class DataNotFoundError(FileNotFoundError):
    """Data missing and not downloadable; the message says where it looked and how to provide it."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "data not found"


class ImageTextDataset(Dataset):
    """Paired images and captions, returning ``(image, caption)`` per item.

    Attributes:
        images: uint8 ``[N, C, H, W]``.
        captions: one caption per image.
        labels: ``[N]`` class ids (long) or ``[N, K]`` binary attributes (long, 0/1).
        label_names: the class or attribute names.
        grammar: how captions name labels (``None`` for multi-label data such as CelebA).
    """

    def __init__(
        self,
        images: Tensor,
        captions: Sequence[str],
        labels: Tensor,
        label_names: Sequence[str],
        grammar: CaptionGrammar | None = None,
        transform: Callable[[Tensor], Tensor] | None = None,
        target_transform: Callable[[str], object] | None = None,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
        if not (len(images) == len(captions) == len(labels)):
            raise ValueError(f"lengths differ: {len(images)} images, {len(captions)} captions, {len(labels)} labels")
        self.images = images
        self.captions = list(captions)
        self.labels = labels
        self.label_names = list(label_names)
        self.grammar = grammar
        self.transform = transform
        self.target_transform = target_transform

    @property
    def multilabel(self) -> bool:
        return self.labels.dim() == 2

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def __len__(self) -> int:
        return len(self.images)

    def image(self, index: int) -> Tensor:
        return self.images[index].float().div_(255.0)

    def __getitem__(self, index: int) -> tuple[Tensor, object]:
        image = self.image(index)
        if self.transform is not None:
            image = self.transform(image)
        caption: object = self.captions[index]
        if self.target_transform is not None:
            caption = self.target_transform(self.captions[index])
        return image, caption

    def subset(self, indices: Tensor | Sequence[int]) -> ImageTextDataset:
        """A new dataset of the given items (tensors indexed, not copied item by item)."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return ImageTextDataset(
            self.images[index], [self.captions[i] for i in index.tolist()], self.labels[index],
            self.label_names, self.grammar, self.transform, self.target_transform,
        )


class ImageDataset(Dataset):
    """Images only: ``dataset[i]`` is a float image ``[C, H, W]`` in [0, 1] (after ``transform``)."""

    def __init__(self, source: ImageTextDataset) -> None:
        self.source = source

    @property
    def images(self) -> Tensor:
        return self.source.images

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> Tensor:
        return self.source[index][0]  # type: ignore[return-value]


class TextDataset(Dataset):
    """Texts only: ``dataset[i]`` is a string (``captions``; no images, no labels)."""

    multilabel = False

    def __init__(self, texts: Sequence[str]) -> None:
        self.captions = list(texts)

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, index: int) -> str:
        return self.captions[index]

    def subset(self, indices: Tensor | Sequence[int]) -> TextDataset:
        """A new dataset of the given items."""
        return TextDataset([self.captions[i] for i in torch.as_tensor(indices, dtype=torch.long).tolist()])
