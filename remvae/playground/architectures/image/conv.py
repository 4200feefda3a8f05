"""Convolutional image VAE: stride-2 convolutions down, stride-2 transposed convolutions back up."""

from __future__ import annotations

from typing import Callable

from torch import Tensor, nn

from remvae.core.distributions import Posterior
from remvae.core.registry import ARCHITECTURES
from remvae.core.vae import Decoder, Encoder, ImageVAE
from remvae.playground.architectures.image.common import (
    GaussianHead,
    activation,
    check_images,
    image_vae,
)
from remvae.playground.architectures.image.conv_config import (
    STRIDE,
    ConvConfig,
    output_padding,
    padding,
)

NormFactory = Callable[[int], nn.Module]


def _hidden(layer: nn.Module, width: int, config: ConvConfig, norm: NormFactory | None) -> list[nn.Module]:
    return [layer, *([norm(width)] if norm else []), activation(config.activation)]


class ConvEncoder(Encoder):
    """[B, C, H, W] -> one stride-2 convolution (+ norm) + activation per width -> flatten -> (mean, logvar)."""

    def __init__(self, config: ConvConfig, norm: NormFactory | None = None) -> None:
        super().__init__()
        self.latent_dim = config.latent_dim
        self.channels, self.image_size = config.channels, config.image_size
        k, layers, previous = config.kernel_size, [], config.channels
        for width in config.widths:
            conv = nn.Conv2d(previous, width, k, STRIDE, padding(k), bias=norm is None)
            layers += _hidden(conv, width, config, norm)
            previous = width
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = GaussianHead(previous * config.sizes()[-1] ** 2, config.latent_dim)

    def forward(self, x: Tensor) -> Posterior:
        check_images(x, self.channels, self.image_size)
        return self.head(self.features(x))


class ConvDecoder(Decoder):
    """z -> linear to the last feature map -> transposed convolutions retracing the encoder's sizes -> logits."""

    def __init__(self, config: ConvConfig, norm: NormFactory | None = None) -> None:
        super().__init__()
        self.latent_dim = config.latent_dim
        k, sizes, widths = config.kernel_size, config.sizes(), config.widths
        self.project = nn.Sequential(
            nn.Linear(config.latent_dim, widths[-1] * sizes[-1] ** 2),
            activation(config.activation),
            nn.Unflatten(1, (widths[-1], sizes[-1], sizes[-1])),
        )
        targets = [config.channels, *widths[:-1]]
        layers: list[nn.Module] = []
        for i in reversed(range(len(widths))):
            last = i == 0
            up = nn.ConvTranspose2d(
                widths[i], targets[i], k, STRIDE, padding(k), output_padding(sizes[i], sizes[i + 1], k),
                bias=last or norm is None,
            )
            layers += [up] if last else _hidden(up, targets[i], config, norm)
        self.upsample = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.upsample(self.project(z))


@ARCHITECTURES.register("conv", config=ConvConfig)
def build_conv(config: ConvConfig) -> ImageVAE:
    """Convolutional image VAE: stride-2 convolutions per width, mirrored by transposed convolutions."""
    return image_vae(ConvEncoder(config), ConvDecoder(config), config)
