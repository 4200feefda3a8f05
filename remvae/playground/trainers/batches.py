"""Whole-dataset tensors and the per-epoch batch order.

Captions are tokenized once; a batch is an index tensor into the stored tensors, so no per-item
Python work (no DataLoader collate) runs per step. Epoch ``e``'s order is a permutation drawn from a
generator seeded by (seed, e), which is what lets a resumed run see exactly the batches it missed.
"""

from __future__ import annotations

from typing import Collection

import torch
from torch import Tensor
from torch.utils.data import Dataset

from remvae.core.distributed import DistributedContext
from remvae.core.model import Batch, Modality
from remvae.playground.trainers.runtime import seed_sequence
from remvae.text.batch import TextBatch
from remvae.text.tokenizer import Tokenizer


class TensorData:
    """uint8 images ``[N, C, H, W]`` and/or token ids ``[N, T]`` with lengths ``[N]``."""

    def __init__(self, images: Tensor | None, tokens: Tensor | None, lengths: Tensor | None) -> None:
        self.images = images
        self.tokens = tokens
        self.lengths = lengths
        self.size = len(images) if images is not None else len(tokens)  # type: ignore[arg-type]

    @classmethod
    def from_dataset(
        cls,
        dataset: Dataset,
        modalities: Collection[Modality],
        tokenizer: Tokenizer | None,
        max_length: int | None,
        image_shape: tuple[int, int, int] | None,
        name: str = "train_set",
    ) -> TensorData:
        images = tokens = lengths = None
        if "image" in modalities:
            images = getattr(dataset, "images", None)
            if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
                raise ValueError(f"{name}: an image model needs a dataset with uint8 images [N, C, H, W]")
            if getattr(dataset, "transform", None) is not None:
                raise ValueError(f"{name}: per-item transforms are not applied in training; resize/convert in the reader")
            if image_shape is not None and tuple(images.shape[1:]) != image_shape:
                raise ValueError(f"{name}: images are {tuple(images.shape[1:])} but the model expects {image_shape}")
        if "text" in modalities:
            captions = getattr(dataset, "captions", None)
            if captions is None:
                raise ValueError(f"{name}: a text model needs a dataset with captions")
            if tokenizer is None:
                raise ValueError("a text model needs tokenizer= to encode the captions")
            encoded = tokenizer.encode_batch(list(captions), max_length=max_length)
            tokens, lengths = encoded.tokens, encoded.lengths
        data = cls(images, tokens, lengths)
        if data.size == 0:
            raise ValueError(f"{name} is empty")
        return data

    def to(self, device: torch.device) -> TensorData:
        """The same data on ``device`` (on a GPU, batches are then indexed without host copies)."""
        return TensorData(*(t.to(device) if t is not None else None for t in (self.images, self.tokens, self.lengths)))

    def batch(self, index: Tensor) -> Batch:
        """Items ``index`` (a CPU tensor) as float images in [0, 1] and a text batch cut to its longest caption."""
        images = text = None
        if self.images is not None:
            index = index.to(self.images.device)
            images = self.images.index_select(0, index).float().div_(255.0)
        if self.tokens is not None and self.lengths is not None:
            index = index.to(self.tokens.device)
            lengths = self.lengths.index_select(0, index)
            tokens = self.tokens.index_select(0, index)[:, : int(lengths.max())]
            text = TextBatch(tokens, lengths)
        return Batch(images, text, len(index))


def epoch_batches(
    size: int, batch_size: int, seed: int, epoch: int, context: DistributedContext, drop_last: bool
) -> list[Tensor]:
    """This process's batches (index tensors) for one epoch.

    Every process draws the same permutation, cut to a multiple of the world size so each gets the same
    number of items, and takes every ``world_size``-th item from its rank on.
    """
    generator = torch.Generator().manual_seed(seed_sequence(seed, epoch, 0))
    order = torch.randperm(size, generator=generator)
    order = order[: size - size % context.world_size][context.rank :: context.world_size]
    batches = list(order.split(batch_size))
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def batches_per_epoch(size: int, batch_size: int, context: DistributedContext, drop_last: bool) -> int:
    per_rank = size // context.world_size
    return per_rank // batch_size if drop_last else -(-per_rank // batch_size)


def ordered_batches(size: int, batch_size: int, context: DistributedContext) -> list[Tensor]:
    """Evaluation batches: the items in order, every process taking its own contiguous-stride share."""
    return list(torch.arange(context.rank, size, context.world_size).split(batch_size))
