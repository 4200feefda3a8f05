"""Configs of the recurrent text VAEs: one shape, two cells (``lstm`` and ``gru``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from remvae.playground.architectures.text.common import TextArchitectureConfig

Cell = Literal["lstm", "gru"]


class RNNConfig(TextArchitectureConfig):
    """Embedding, a (bi)directional ``cell`` encoder over the unpadded tokens, and a ``cell`` decoder on z.

    The decoder starts from ``tanh(W z)`` (hidden and, for an LSTM, cell state of every layer) and,
    with ``z_to_inputs``, also reads ``[embedding(w_t), z]`` at every step.
    """

    cell: Cell = Field(description="recurrent cell: 'lstm' or 'gru'")
    hidden_dim: PositiveInt = Field(64, description="hidden size of every recurrent layer")
    num_layers: PositiveInt = Field(1, description="stacked recurrent layers in the encoder and the decoder")


class LSTMConfig(RNNConfig):
    """:class:`RNNConfig` with LSTM cells."""

    cell: Literal["lstm"] = Field("lstm", description="recurrent cell (always 'lstm' here)")


class GRUConfig(RNNConfig):
    """:class:`RNNConfig` with GRU cells."""

    cell: Literal["gru"] = Field("gru", description="recurrent cell (always 'gru' here)")


__all__ = ["Cell", "GRUConfig", "LSTMConfig", "RNNConfig"]
