"""Image encoders and decoders; importing this package registers ``linear``, ``conv`` and ``conv_norm``."""

from remvae.playground.architectures.image import conv, conv_norm, linear  # noqa: F401
from remvae.playground.architectures.image.conv_config import ConvConfig, ConvNormConfig
from remvae.playground.architectures.image.linear_config import LinearConfig

__all__ = ["ConvConfig", "ConvNormConfig", "LinearConfig"]
