"""Shared pieces of the image architectures: the common config, activations, the Gaussian head."""

from __future__ import annotations

from typing import Callable, ClassVar, Literal

from pydantic import Field, PositiveFloat, PositiveInt
from torch import Tensor, nn

from remvae.core.config import ComponentConfig
from remvae.core.distributions import Posterior
from remvae.core.vae import Decoder, Encoder, ImageVAE

Activation = Literal["relu", "leaky_relu", "elu", "gelu", "silu", "tanh"]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


class ImageArchitectureConfig(ComponentConfig):
    """Fields every image architecture shares."""

    modality: ClassVar[Literal["image", "text"]] = "image"

    image_size: int = Field(28, ge=2, description="height = width of the square images, in pixels")
    channels: Literal[1, 3] = Field(1, description="1 (grey) or 3 (RGB)")
    latent_dim: PositiveInt = Field(16, description="size of the latent z")
    likelihood: Literal["bernoulli", "gaussian"] = Field("bernoulli", description="p(x|z) per pixel")
    sigma: PositiveFloat = Field(0.1, description="standard deviation of the gaussian likelihood")
    activation: Activation = Field("relu", description="hidden-layer nonlinearity")


# (nonlinearity, negative slope) for torch.nn.init.kaiming_normal_; gelu, silu and elu use ReLU's gain.
_KAIMING: dict[str, tuple[str, float]] = {
    "relu": ("relu", 0.0),
    "leaky_relu": ("leaky_relu", 0.2),
    "elu": ("relu", 0.0),
    "gelu": ("relu", 0.0),
    "silu": ("relu", 0.0),
    "tanh": ("tanh", 0.0),
}


def activation(name: str) -> nn.Module:
    """A fresh activation module for a validated activation name."""
    return ACTIVATIONS[name]()


def check_images(x: Tensor, channels: int, image_size: int) -> None:
    """Raise a ValueError naming the expected shape when ``x`` is not ``[B, channels, size, size]``."""
    if x.dim() != 4 or tuple(x.shape[1:]) != (channels, image_size, image_size):
        raise ValueError(
            f"images must be [B, {channels}, {image_size}, {image_size}] for this architecture, got {tuple(x.shape)}"
        )


class GaussianHead(nn.Module):
    """One linear map from features to the posterior's mean and log-variance."""

    def __init__(self, in_features: int, latent_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 2 * latent_dim)

    def forward(self, features: Tensor) -> Posterior:
        mean, logvar = self.linear(features).chunk(2, dim=-1)
        return Posterior(mean, logvar)


def he_init(module: nn.Module, activation_name: str) -> None:
    """He-normal weights (std = gain / sqrt(fan_in)) and zero biases for every linear and conv layer.

    PyTorch's default (uniform, a = sqrt(5)) shrinks the signal layer by layer, so z barely reaches
    the output and training sits for hundreds of steps on the mean-image plateau (posterior
    collapse), the longer the larger the learning rate; He init leaves it within tens of steps.
    """
    nonlinearity, slope = _KAIMING[activation_name]
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(layer.weight, a=slope, nonlinearity=nonlinearity)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def image_vae(encoder: Encoder, decoder: Decoder, config: ImageArchitectureConfig) -> ImageVAE:
    """Assemble the :class:`ImageVAE` from an encoder, a decoder and the shared config fields (He-initialised)."""
    vae = ImageVAE(
        encoder, decoder, config.latent_dim, config.image_size, config.channels, config.likelihood, config.sigma
    )
    he_init(vae, config.activation)
    return vae


__all__ = [
    "ACTIVATIONS",
    "Activation",
    "GaussianHead",
    "ImageArchitectureConfig",
    "activation",
    "check_images",
    "he_init",
    "image_vae",
]
