"""Shared pieces of the text architectures: the common config, the posterior head, input checks, assembly."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt
from torch import Tensor, nn

from remvae.core.config import ComponentConfig
from remvae.core.distributions import Posterior
from remvae.core.vae import TextDecoder, TextEncoder, TextVAE
from remvae.text.tokenizer import Tokenizer


class TextArchitectureConfig(ComponentConfig):
    """Fields every text architecture shares."""

    modality: ClassVar[Literal["image", "text"]] = "text"

    latent_dim: PositiveInt = Field(16, description="size of the latent z")
    embedding_dim: PositiveInt = Field(64, description="size of the token embeddings")
    max_length: int = Field(
        16, ge=3, description="context length in tokens, <bos> and <eos> included; longer batches are refused"
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on embeddings and between layers")
    bidirectional_encoder: bool = Field(True, description="the encoder also reads each sentence backwards")
    z_to_inputs: bool = Field(
        True, description="give the decoder z with every input token (concatenated by RNNs, added by xLSTM)"
    )
    min_logvar: float | None = Field(None, description="soft floor on the posterior log-variance (none by default)")
    word_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="share of decoder input words replaced by <unk> while training"
    )
    decoding: Literal["teacher_forcing", "free_running"] = Field(
        "teacher_forcing", description="what the decoder reads while training: the true or its own previous token"
    )


class PosteriorHead(nn.Module):
    """One linear map from features to (mean, logvar).

    With a floor m the log-variance is ``m + softplus(l - m)``: smooth, always above m, and
    equal to ``l`` far above it.
    """

    def __init__(self, in_features: int, latent_dim: int, min_logvar: float | None = None) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 2 * latent_dim)
        self.min_logvar = min_logvar

    def forward(self, features: Tensor) -> Posterior:
        mean, logvar = self.linear(features).chunk(2, dim=-1)
        if self.min_logvar is not None:
            logvar = self.min_logvar + F.softplus(logvar - self.min_logvar)
        return Posterior(mean, logvar)


def check_width(tokens: Tensor, limit: int, what: str) -> None:
    """Raise a ValueError unless ``tokens`` are long ids ``[B, T]`` with ``T <= limit``."""
    if tokens.dim() != 2 or tokens.dtype != torch.long:
        raise ValueError(f"{what} must be long token ids of shape [B, T], got {tokens.dtype} {tuple(tokens.shape)}")
    if tokens.shape[1] > limit:
        raise ValueError(
            f"{what} are {tokens.shape[1]} tokens wide, more than the {limit} this architecture's max_length allows; "
            "cut texts with Tokenizer.encode_batch(texts, max_length)"
        )


def require_tokenizer(name: str, tokenizer: Tokenizer | None) -> Tokenizer:
    """The tokenizer a text architecture needs for its vocabulary and special ids."""
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"architecture {name!r} needs the runtime argument tokenizer=Tokenizer(...), got {tokenizer!r}")
    return tokenizer


def text_vae(
    encoder: TextEncoder, decoder: TextDecoder, config: TextArchitectureConfig, tokenizer: Tokenizer
) -> TextVAE:
    """Assemble the :class:`TextVAE` from an encoder, a decoder, the shared config fields and the tokenizer."""
    return TextVAE(
        encoder,
        decoder,
        latent_dim=config.latent_dim,
        vocab_size=tokenizer.vocab_size,
        pad_id=tokenizer.pad_id,
        bos_id=tokenizer.bos_id,
        eos_id=tokenizer.eos_id,
        unk_id=tokenizer.unk_id,
        max_length=config.max_length,
        word_dropout=config.word_dropout,
        decoding=config.decoding,
    )


__all__ = ["PosteriorHead", "TextArchitectureConfig", "check_width", "require_tokenizer", "text_vae"]
