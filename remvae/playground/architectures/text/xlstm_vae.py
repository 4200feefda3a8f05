"""The xLSTM text VAE (``xlstm``), built from the official ``xlstm`` package's block stacks.

Work-arounds for xlstm 1.0.8, which the tests pin down:

* The causal-convolution ``step`` of both block types writes into the ``conv_state`` tensor it is
  given (``copy_`` and slice assignment). That mutates the caller's state and makes backpropagating
  through several steps fail ("modified by an inplace operation"), so every step gets a copy.
* The sLSTM ``vanilla`` and ``cuda`` kernels store the recurrent kernel and the bias in different
  internal layouts under the same parameter names; checkpoints hold xlstm's backend-independent
  ("external") layout instead, so a model trained with one backend loads with the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from remvae.core.config import ConfigError
from remvae.core.distributions import Posterior
from remvae.core.registry import ARCHITECTURES
from remvae.core.vae import TextDecoder, TextEncoder, TextVAE
from remvae.playground.architectures.text.common import (
    PosteriorHead,
    check_width,
    require_tokenizer,
    text_vae,
)
from remvae.playground.architectures.text.xlstm_config import XLSTMConfig, xlstm_package
from remvae.text.batch import TextBatch
from remvae.text.tokenizer import Tokenizer

if TYPE_CHECKING:
    from xlstm import xLSTMBlockStack

# xlstm's recurrent state: {"block_<i>": {"conv_state": (Tensor,), "mlstm_state" | "slstm_state": ...}}
StackState = dict[str, dict[str, Any]]

_SLSTM_PARAMETERS = ("_recurrent_kernel_", "_bias_")


def xlstm_stack(config: XLSTMConfig) -> xLSTMBlockStack:
    """An ``xLSTMBlockStack`` of ``config.num_blocks`` blocks of width ``config.embedding_dim``."""
    xlstm = xlstm_package()
    slstm_at = config.slstm_blocks()
    mlstm = None
    if len(slstm_at) < config.num_blocks:
        mlstm = xlstm.mLSTMBlockConfig(
            mlstm=xlstm.mLSTMLayerConfig(
                conv1d_kernel_size=config.conv1d_kernel_size,
                qkv_proj_blocksize=config.qkv_proj_blocksize,
                num_heads=config.num_heads,
                proj_factor=config.mlstm_proj_factor,
            )
        )
    slstm = None
    if slstm_at:
        slstm = xlstm.sLSTMBlockConfig(
            slstm=xlstm.sLSTMLayerConfig(
                backend=config.slstm_backend,
                num_heads=config.num_heads,
                conv1d_kernel_size=config.conv1d_kernel_size,
                dtype="float32",
            ),
            feedforward=xlstm.FeedForwardConfig(proj_factor=config.slstm_ff_proj_factor, act_fn="gelu"),
        )
    stack = xlstm.xLSTMBlockStack(
        xlstm.xLSTMBlockStackConfig(
            mlstm_block=mlstm,
            slstm_block=slstm,
            context_length=config.max_length,
            num_blocks=config.num_blocks,
            embedding_dim=config.embedding_dim,
            dropout=config.dropout,
            slstm_at=slstm_at,
        )
    )
    for block in stack.blocks:
        if isinstance(block, xlstm.sLSTMBlock):
            portable_slstm_checkpoints(block.xlstm.slstm_cell)
    return stack


def portable_slstm_checkpoints(cell: nn.Module) -> None:
    """Make ``cell`` (an sLSTM cell of any backend) save and load its parameters in the external layout."""
    cell.register_state_dict_post_hook(_save_external_layout)
    cell.register_load_state_dict_pre_hook(_load_external_layout)


def _save_external_layout(cell: nn.Module, state_dict: dict[str, Tensor], prefix: str, *_: object) -> None:
    for name, to_external in zip(_SLSTM_PARAMETERS, (cell._recurrent_kernel_int2ext, cell._bias_int2ext)):
        if prefix + name in state_dict:
            state_dict[prefix + name] = to_external(state_dict[prefix + name]).contiguous()


def _load_external_layout(cell: nn.Module, state_dict: dict[str, Tensor], prefix: str, *_: object) -> None:
    for name, to_internal in zip(_SLSTM_PARAMETERS, (cell._recurrent_kernel_ext2int, cell._bias_ext2int)):
        if prefix + name in state_dict:
            state_dict[prefix + name] = to_internal(state_dict[prefix + name]).contiguous()


def stack_step(stack: xLSTMBlockStack, x: Tensor, state: StackState) -> tuple[Tensor, StackState]:
    """One recurrent step of ``stack`` on ``x`` ``[B, 1, E]``; ``state`` itself is left untouched."""
    copied = {
        block: {key: tuple(t.clone() for t in value) if key == "conv_state" else value for key, value in part.items()}
        for block, part in state.items()
    }
    return stack.step(x, copied)


def reverse_valid(tokens: Tensor, lengths: Tensor) -> Tensor:
    """Each row's first ``length`` tokens reversed, the padding left where it is."""
    positions = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0)
    lengths = lengths.to(tokens.device).unsqueeze(1)
    return tokens.gather(1, torch.where(positions < lengths, lengths - 1 - positions, positions))


def at_last_token(hidden: Tensor, lengths: Tensor) -> Tensor:
    """``hidden[b, lengths[b] - 1]`` for every row: ``[B, T, E] -> [B, E]``."""
    index = (lengths.to(hidden.device) - 1).view(-1, 1, 1).expand(-1, 1, hidden.shape[2])
    return hidden.gather(1, index).squeeze(1)


class XLSTMEncoder(TextEncoder):
    """q(z|x): the causal stacks' outputs at each sentence's last token (forwards, and over the reversed
    tokens), so padding after it never changes the posterior, mapped linearly to (mean, logvar)."""

    def __init__(self, config: XLSTMConfig, vocab_size: int, pad_id: int) -> None:
        super().__init__()
        self.latent_dim = config.latent_dim
        self.max_length = config.max_length
        self.embedding = nn.Embedding(vocab_size, config.embedding_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(config.dropout)
        self.forwards = xlstm_stack(config)
        self.backwards = xlstm_stack(config) if config.bidirectional_encoder else None
        directions = 2 if config.bidirectional_encoder else 1
        self.head = PosteriorHead(directions * config.embedding_dim, config.latent_dim, config.min_logvar)

    def forward(self, text: TextBatch) -> Posterior:  # type: ignore[override]
        check_width(text.tokens, self.max_length, "encoder tokens")
        features = [at_last_token(self.forwards(self.dropout(self.embedding(text.tokens))), text.lengths)]
        if self.backwards is not None:
            reversed_tokens = reverse_valid(text.tokens, text.lengths)
            features.append(at_last_token(self.backwards(self.dropout(self.embedding(reversed_tokens))), text.lengths))
        return self.head(torch.cat(features, dim=-1))


class XLSTMDecoder(TextDecoder):
    """p(x|z) = prod_t softmax(W h_t + b)[w_t], h = stack([B z], e(w_0) + A z, .., e(w_{t-1}) + A z).

    ``forward`` runs the stack's parallel form, ``step`` its recurrent form; they agree to float error.
    """

    def __init__(self, config: XLSTMConfig, vocab_size: int, pad_id: int) -> None:
        super().__init__()
        self.latent_dim = config.latent_dim
        self.max_length = config.max_length
        self.embedding = nn.Embedding(vocab_size, config.embedding_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(config.dropout)
        self.z_inputs = nn.Linear(config.latent_dim, config.embedding_dim) if config.z_to_inputs else None
        self.z_prefix = nn.Linear(config.latent_dim, config.embedding_dim) if config.z_prefix else None
        self.stack = xlstm_stack(config)
        self.output = nn.Linear(config.embedding_dim, vocab_size)

    def _inputs(self, z: Tensor, tokens: Tensor) -> Tensor:
        embedded = self.embedding(tokens)
        if self.z_inputs is not None:
            embedded = embedded + self.z_inputs(z).unsqueeze(1)
        return self.dropout(embedded)

    def forward(self, z: Tensor, inputs: Tensor) -> Tensor:  # type: ignore[override]
        check_width(inputs, self.max_length - 1, "decoder inputs")
        x = self._inputs(z, inputs)
        if self.z_prefix is None:
            return self.output(self.stack(x))
        hidden = self.stack(torch.cat([self.z_prefix(z).unsqueeze(1), x], dim=1))
        return self.output(hidden[:, 1:])

    def initial_state(self, z: Tensor) -> StackState:
        if self.z_prefix is None:
            return {}
        return stack_step(self.stack, self.z_prefix(z).unsqueeze(1), {})[1]

    def step(self, z: Tensor, token: Tensor, state: StackState) -> tuple[Tensor, StackState]:
        hidden, state = stack_step(self.stack, self._inputs(z, token.unsqueeze(1)), state)
        return self.output(hidden.squeeze(1)), state


@ARCHITECTURES.register("xlstm", config=XLSTMConfig)
def build_xlstm(config: XLSTMConfig, tokenizer: Tokenizer | None = None) -> TextVAE:
    """Text VAE with bidirectional xLSTM (sLSTM/mLSTM block stack) encoder and an xLSTM decoder on z."""
    tokenizer = require_tokenizer("xlstm", tokenizer)
    if config.slstm_backend == "cuda" and config.slstm_blocks() and not torch.cuda.is_available():
        raise ConfigError("xlstm.slstm_backend: 'cuda' needs a CUDA GPU and none is available; use 'vanilla'")
    vocab_size, pad_id = tokenizer.vocab_size, tokenizer.pad_id
    encoder, decoder = XLSTMEncoder(config, vocab_size, pad_id), XLSTMDecoder(config, vocab_size, pad_id)
    return text_vae(encoder, decoder, config, tokenizer)


__all__ = [
    "XLSTMDecoder",
    "XLSTMEncoder",
    "build_xlstm",
    "portable_slstm_checkpoints",
    "reverse_valid",
    "stack_step",
    "xlstm_stack",
]
