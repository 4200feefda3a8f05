"""Config of the xLSTM text VAE (``xlstm``): which blocks are sLSTM, and the sizes xlstm 1.0.8 accepts."""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Literal

from pydantic import (
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationInfo,
    field_validator,
)

from remvae.playground.architectures.text.common import TextArchitectureConfig


def xlstm_package() -> ModuleType:
    """The ``xlstm`` package, imported on first use.

    Importing it loads ``torch.utils.cpp_extension``, which logs a CUDA_HOME warning on machines
    without CUDA; the vanilla sLSTM backend never compiles anything, so the warning is muted, and
    nothing is imported at all by experiments that use no xLSTM.
    """
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(max(level, logging.ERROR))
    try:
        import xlstm
    finally:
        logger.setLevel(level)
    return xlstm


def mlstm_inner_dim(embedding_dim: int, proj_factor: float) -> int:
    """Width inside an mLSTM block: ``proj_factor * embedding_dim`` rounded up to a multiple of 64 (as xlstm does)."""
    config = xlstm_package().mLSTMLayerConfig(embedding_dim=embedding_dim, proj_factor=proj_factor)
    return config._inner_embedding_dim


class XLSTMConfig(TextArchitectureConfig):
    """A stack of ``num_blocks`` residual xLSTM blocks (sLSTM at ``slstm_at``, mLSTM elsewhere) of width
    ``embedding_dim`` for the encoder (a second stack reads each sentence backwards) and the decoder.

    The decoder reads ``embedding(w_t) + A z`` (``z_to_inputs``) after a prefix position ``B z``
    (``z_prefix``, the analogue of an RNN's initial state from z). ``max_length`` is the stack's
    context length: the mLSTM's parallel form refuses longer inputs.

    Limits that xlstm 1.0.8 does not check itself: its causal convolution returns nothing for a
    kernel of 1 (and crashes for 0), and its sLSTM forget-gate init is NaN for a head width of 1.
    """

    num_blocks: PositiveInt = Field(2, description="residual xLSTM blocks per stack")
    slstm_at: list[NonNegativeInt] | Literal["all"] = Field(
        default_factory=lambda: [1], description="indices of the sLSTM blocks (the others are mLSTM), or 'all'"
    )
    mlstm_proj_factor: float = Field(2.0, ge=1.0, description="up-projection factor inside mLSTM blocks")
    qkv_proj_blocksize: PositiveInt = Field(4, description="block size of the mLSTM's block-diagonal q, k, v maps")
    num_heads: PositiveInt = Field(4, description="heads of every mLSTM and sLSTM cell")
    conv1d_kernel_size: int = Field(4, ge=2, le=16, description="causal convolution width in every block")
    slstm_ff_proj_factor: PositiveFloat = Field(1.3, description="up-projection of the feed-forward after each sLSTM")
    slstm_backend: Literal["vanilla", "cuda"] = Field(
        "vanilla", description="sLSTM kernel: 'vanilla' (PyTorch, any device) or 'cuda' (compiled; needs a GPU)"
    )
    z_prefix: bool = Field(True, description="the decoder first reads a position made from z alone")

    @field_validator("slstm_at")
    @classmethod
    def _blocks_exist(cls, slstm_at: list[int] | str, info: ValidationInfo) -> list[int] | str:
        num_blocks = info.data.get("num_blocks")
        if isinstance(slstm_at, list):
            if len(set(slstm_at)) != len(slstm_at):
                raise ValueError(f"block indices {slstm_at} repeat")
            if num_blocks is not None and any(i >= num_blocks for i in slstm_at):
                raise ValueError(f"block indices {slstm_at} must be below num_blocks={num_blocks}")
        return slstm_at

    @field_validator("qkv_proj_blocksize")
    @classmethod
    def _divides_mlstm_width(cls, blocksize: int, info: ValidationInfo) -> int:
        inner = _mlstm_inner_dim(info)
        if inner is not None and inner % blocksize:
            raise ValueError(f"must divide the mLSTM inner width {inner}")
        return blocksize

    @field_validator("num_heads")
    @classmethod
    def _divides_widths(cls, num_heads: int, info: ValidationInfo) -> int:
        inner, embedding_dim = _mlstm_inner_dim(info), info.data.get("embedding_dim")
        if inner is not None and inner % num_heads:
            raise ValueError(f"must divide the mLSTM inner width {inner}")
        uneven = embedding_dim is not None and (embedding_dim % num_heads or embedding_dim // num_heads < 2)
        if _has_slstm(info) and uneven:
            raise ValueError(f"sLSTM heads must split embedding_dim={embedding_dim} into equal parts of at least 2")
        return num_heads

    @field_validator("z_prefix")
    @classmethod
    def _z_reaches_decoder(cls, z_prefix: bool, info: ValidationInfo) -> bool:
        if not z_prefix and info.data.get("z_to_inputs") is False:
            raise ValueError("z_prefix and z_to_inputs are both off, so the decoder would never see z")
        return z_prefix

    def slstm_blocks(self) -> list[int]:
        """Sorted indices of the sLSTM blocks."""
        return list(range(self.num_blocks)) if self.slstm_at == "all" else sorted(self.slstm_at)


def _has_slstm(info: ValidationInfo) -> bool:
    slstm_at = info.data.get("slstm_at")
    return slstm_at == "all" or bool(slstm_at)


def _mlstm_inner_dim(info: ValidationInfo) -> int | None:
    """The mLSTM inner width, or None when there is no mLSTM block or an input to it is already invalid."""
    embedding_dim, factor = info.data.get("embedding_dim"), info.data.get("mlstm_proj_factor")
    slstm_at, num_blocks = info.data.get("slstm_at"), info.data.get("num_blocks")
    if None in (embedding_dim, factor, slstm_at, num_blocks) or slstm_at == "all" or len(slstm_at) >= num_blocks:
        return None
    return mlstm_inner_dim(embedding_dim, factor)


__all__ = ["XLSTMConfig", "mlstm_inner_dim"]
