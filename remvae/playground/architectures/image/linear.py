"""MLP image VAE: fully connected layers over the flattened image."""

from __future__ import annotations

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
from remvae.playground.architectures.image.linear_config import LinearConfig


def _mlp(sizes: list[int], name: str) -> list[nn.Module]:
    """Linear + activation between each consecutive pair of ``sizes``."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers += [nn.Linear(n_in, n_out), activation(name)]
    return layers


class MLPEncoder(Encoder):
    """[B, C, H, W] -> flatten -> hidden layers -> (mean, logvar)."""

    def __init__(self, config: LinearConfig) -> None:
        super().__init__()
        self.latent_dim = config.latent_dim
        self.channels, self.image_size = config.channels, config.image_size
        pixels = config.channels * config.image_size**2
        self.features = nn.Sequential(nn.Flatten(), *_mlp([pixels, *config.hidden_dims], config.activation))
        self.head = GaussianHead(config.hidden_dims[-1], config.latent_dim)

    def forward(self, x: Tensor) -> Posterior:
        check_images(x, self.channels, self.image_size)
        return self.head(self.features(x))


class MLPDecoder(Decoder):
    """z -> hidden layers in reverse order -> linear to every pixel's logit -> [B, C, H, W]."""

    def __init__(self, config: LinearConfig) -> None:
        super().__init__()
        self.latent_dim = config.latent_dim
        hidden = [config.latent_dim, *reversed(config.hidden_dims)]
        shape = (config.channels, config.image_size, config.image_size)
        self.net = nn.Sequential(
            *_mlp(hidden, config.activation),
            nn.Linear(hidden[-1], shape[0] * shape[1] * shape[2]),
            nn.Unflatten(1, shape),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


@ARCHITECTURES.register("linear", config=LinearConfig)
def build_linear(config: LinearConfig) -> ImageVAE:
    """MLP image VAE: fully connected encoder and decoder over the flattened pixels."""
    return image_vae(MLPEncoder(config), MLPDecoder(config), config)
