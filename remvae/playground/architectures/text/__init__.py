"""Text VAEs; importing this package registers ``lstm``, ``gru`` and ``xlstm``."""

from remvae.playground.architectures.text import rnn, xlstm_vae  # noqa: F401
from remvae.playground.architectures.text.common import TextArchitectureConfig
from remvae.playground.architectures.text.rnn_config import (
    GRUConfig,
    LSTMConfig,
    RNNConfig,
)
from remvae.playground.architectures.text.xlstm_config import XLSTMConfig

__all__ = ["GRUConfig", "LSTMConfig", "RNNConfig", "TextArchitectureConfig", "XLSTMConfig"]
