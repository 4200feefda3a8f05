"""Config of the MLP image VAE (``linear``)."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from remvae.playground.architectures.image.common import ImageArchitectureConfig


class LinearConfig(ImageArchitectureConfig):
    """Flatten, fully connected hidden layers, linear to (mean, logvar); the decoder mirrors the widths."""

    hidden_dims: list[PositiveInt] = Field(
        default_factory=lambda: [512, 256], min_length=1, description="widths of the encoder's hidden layers"
    )
