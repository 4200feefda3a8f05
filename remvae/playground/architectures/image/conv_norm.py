"""The convolutional image VAE with GroupNorm or BatchNorm after every hidden (transposed) convolution."""

from __future__ import annotations

from functools import partial

from torch import nn

from remvae.core.registry import ARCHITECTURES
from remvae.core.vae import ImageVAE
from remvae.playground.architectures.image.common import image_vae
from remvae.playground.architectures.image.conv import (
    ConvDecoder,
    ConvEncoder,
    NormFactory,
)
from remvae.playground.architectures.image.conv_config import ConvNormConfig


def norm_factory(config: ConvNormConfig) -> NormFactory:
    """``width -> normalisation layer`` as the config selects."""
    if config.norm == "group":
        return partial(nn.GroupNorm, config.groups)
    return nn.BatchNorm2d


@ARCHITECTURES.register("conv_norm", config=ConvNormConfig)
def build_conv_norm(config: ConvNormConfig) -> ImageVAE:
    """Convolutional image VAE with GroupNorm (default) or BatchNorm after each hidden convolution."""
    norm = norm_factory(config)
    return image_vae(ConvEncoder(config, norm), ConvDecoder(config, norm), config)
