"""The recurrent text VAEs ``lstm`` and ``gru``: one implementation, parameterised by the cell type."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from remvae.core.distributions import Posterior
from remvae.core.registry import ARCHITECTURES
from remvae.core.vae import TextDecoder, TextEncoder, TextVAE
from remvae.playground.architectures.text.common import (
    PosteriorHead,
    check_width,
    require_tokenizer,
    text_vae,
)
from remvae.playground.architectures.text.rnn_config import (
    Cell,
    GRUConfig,
    LSTMConfig,
    RNNConfig,
)
from remvae.text.batch import TextBatch
from remvae.text.tokenizer import Tokenizer

CELLS: dict[str, type[nn.LSTM] | type[nn.GRU]] = {"lstm": nn.LSTM, "gru": nn.GRU}

# The recurrent state: h [layers, B, H] for a GRU, (h, c) for an LSTM.
State = Tensor | tuple[Tensor, Tensor]


def recurrent(cell: Cell, input_size: int, config: RNNConfig, bidirectional: bool = False) -> nn.LSTM | nn.GRU:
    """A batch-first ``cell`` stack; dropout between layers only exists with more than one layer."""
    return CELLS[cell](
        input_size,
        config.hidden_dim,
        num_layers=config.num_layers,
        batch_first=True,
        dropout=config.dropout if config.num_layers > 1 else 0.0,
        bidirectional=bidirectional,
    )


class RNNEncoder(TextEncoder):
    """q(z|x): embedding, a packed (so padding never enters the state) recurrent pass, and the last layer's
    final hidden state of each direction mapped linearly to (mean, logvar)."""

    def __init__(self, config: RNNConfig, vocab_size: int, pad_id: int) -> None:
        super().__init__()
        self.latent_dim = config.latent_dim
        self.max_length = config.max_length
        self.directions = 2 if config.bidirectional_encoder else 1
        self.embedding = nn.Embedding(vocab_size, config.embedding_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(config.dropout)
        self.rnn = recurrent(config.cell, config.embedding_dim, config, bidirectional=config.bidirectional_encoder)
        self.head = PosteriorHead(self.directions * config.hidden_dim, config.latent_dim, config.min_logvar)

    def forward(self, text: TextBatch) -> Posterior:  # type: ignore[override]
        check_width(text.tokens, self.max_length, "encoder tokens")
        embedded = self.dropout(self.embedding(text.tokens))
        packed = pack_padded_sequence(embedded, text.lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        hidden = state[0] if isinstance(state, tuple) else state  # [layers * directions, B, H]
        last_layer = hidden[-self.directions :]  # [directions, B, H]
        return self.head(last_layer.transpose(0, 1).reshape(hidden.shape[1], -1))


class RNNDecoder(TextDecoder):
    """p(x|z) = prod_t softmax(W h_t + b)[w_t], h_t = cell([e(w_{t-1}), z], h_{t-1}), h_0 = tanh(A z).

    ``forward`` runs the cell over the whole input in one call; ``step`` runs the same cell over one
    token, so both give the same logits.
    """

    def __init__(self, config: RNNConfig, vocab_size: int, pad_id: int) -> None:
        super().__init__()
        self.latent_dim = config.latent_dim
        self.max_length = config.max_length
        self.z_to_inputs = config.z_to_inputs
        self.states = 2 if config.cell == "lstm" else 1
        self.layers, self.hidden_dim = config.num_layers, config.hidden_dim
        self.embedding = nn.Embedding(vocab_size, config.embedding_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(config.dropout)
        input_size = config.embedding_dim + (config.latent_dim if config.z_to_inputs else 0)
        self.rnn = recurrent(config.cell, input_size, config)
        self.initial = nn.Linear(config.latent_dim, self.states * self.layers * self.hidden_dim)
        self.output = nn.Linear(self.hidden_dim, vocab_size)

    def initial_state(self, z: Tensor) -> State:
        state = torch.tanh(self.initial(z)).view(z.shape[0], self.states, self.layers, self.hidden_dim)
        state = state.permute(1, 2, 0, 3).contiguous()  # [states, layers, B, H]
        return (state[0], state[1]) if self.states == 2 else state[0]

    def _run(self, z: Tensor, inputs: Tensor, state: State) -> tuple[Tensor, State]:
        embedded = self.embedding(inputs)
        if self.z_to_inputs:
            embedded = torch.cat([embedded, z.unsqueeze(1).expand(-1, inputs.shape[1], -1)], dim=-1)
        hidden, state = self.rnn(self.dropout(embedded), state)
        return self.output(self.dropout(hidden)), state

    def forward(self, z: Tensor, inputs: Tensor) -> Tensor:  # type: ignore[override]
        check_width(inputs, self.max_length - 1, "decoder inputs")
        return self._run(z, inputs, self.initial_state(z))[0]

    def step(self, z: Tensor, token: Tensor, state: State) -> tuple[Tensor, State]:
        logits, state = self._run(z, token.unsqueeze(1), state)
        return logits.squeeze(1), state


def rnn_vae(config: RNNConfig, tokenizer: Tokenizer) -> TextVAE:
    """The recurrent :class:`TextVAE` of ``config.cell`` over ``tokenizer``'s vocabulary."""
    vocab_size, pad_id = tokenizer.vocab_size, tokenizer.pad_id
    return text_vae(RNNEncoder(config, vocab_size, pad_id), RNNDecoder(config, vocab_size, pad_id), config, tokenizer)


@ARCHITECTURES.register("lstm", config=LSTMConfig)
def build_lstm(config: LSTMConfig, tokenizer: Tokenizer | None = None) -> TextVAE:
    """Text VAE with a bidirectional LSTM encoder and an LSTM decoder conditioned on z."""
    return rnn_vae(config, require_tokenizer("lstm", tokenizer))


@ARCHITECTURES.register("gru", config=GRUConfig)
def build_gru(config: GRUConfig, tokenizer: Tokenizer | None = None) -> TextVAE:
    """Text VAE with a bidirectional GRU encoder and a GRU decoder conditioned on z."""
    return rnn_vae(config, require_tokenizer("gru", tokenizer))


__all__ = ["RNNDecoder", "RNNEncoder", "build_gru", "build_lstm", "rnn_vae"]
