"""A batch of tokenized captions, as the text models read it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class TextBatch:
    """Token ids ``[B, T]`` (``<bos> w1 .. wn <eos> <pad>..``) and the unpadded lengths ``[B]`` (bos..eos)."""

    tokens: Tensor
    lengths: Tensor

    def to(self, device: torch.device | str) -> TextBatch:
        return TextBatch(self.tokens.to(device, non_blocking=True), self.lengths.to(device, non_blocking=True))

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def __getitem__(self, index: slice | Tensor) -> TextBatch:
        """Rows ``index``, cut to the longest of them."""
        lengths = self.lengths[index]
        return TextBatch(self.tokens[index][:, : int(lengths.max())], lengths)

    def repeat_interleave(self, k: int) -> TextBatch:
        """Every row ``k`` times in a row (``k`` copies of each caption next to each other)."""
        return TextBatch(self.tokens.repeat_interleave(k, 0), self.lengths.repeat_interleave(k, 0))


__all__ = ["TextBatch"]
