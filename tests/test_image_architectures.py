"""Image VAE architectures: shapes at every size, gradients, config errors, and learning on real MNIST."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import shared_dataset
from torch import nn

from remvae.core.config import ConfigError
from remvae.core.distributions import Posterior
from remvae.core.registry import ARCHITECTURES, READERS
from remvae.core.vae import ImageVAE
from remvae.playground.architectures.image.conv import ConvDecoder
from remvae.playground.architectures.image.conv_config import (
    ConvConfig,
    conv_output_size,
    output_padding,
)

FAMILIES = ("linear", "conv", "conv_norm")
SIZES = (28, 32, 56, 64, 128)
SMALL = {"linear": {"hidden_dims": [16]}, "conv": {"widths": [4, 8]}, "conv_norm": {"widths": [4, 8], "groups": 2}}


def build(name: str, **config) -> ImageVAE:
    torch.manual_seed(0)
    return ARCHITECTURES.build(name, {**SMALL[name], **config})


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", FAMILIES)
def test_shapes_and_ranges_at_every_size(name, size):
    vae = build(name, image_size=size, latent_dim=5)
    assert isinstance(vae, ImageVAE) and (vae.image_size, vae.channels, vae.latent_dim) == (size, 1, 5)
    x = torch.rand(3, 1, size, size)
    posterior = vae.encode(x)
    assert isinstance(posterior, Posterior)
    for tensor in (posterior.mean, posterior.logvar):
        assert tensor.shape == (3, 5) and tensor.dtype == torch.float32
    images = vae.decode(posterior.mean)
    assert images.shape == (3, 1, size, size) and images.min() >= 0 and images.max() <= 1
    out = vae(x, torch.Generator().manual_seed(0))
    assert out.reconstruction.shape == (3, 1, size, size) and out.z.shape == (3, 5)
    for loss in (out.reconstruction_loss, out.kl):
        assert loss.shape == (3,) and torch.isfinite(loss).all()
    assert vae.decode(torch.randn(4, 5)).shape == (4, 1, size, size)


@pytest.mark.parametrize("name", FAMILIES)
def test_default_configs_give_exactly_the_image_size(name):
    for size in SIZES:
        vae = ARCHITECTURES.build(name, {"image_size": size})
        assert vae.decode(torch.zeros(1, vae.latent_dim)).shape == (1, 1, size, size)


def test_transposed_convolutions_retrace_odd_sizes():
    for kernel_size in (3, 4, 5):
        for size in (*range(5, 30), 45, 55, 57, 63, 99, 127):
            config = ConvConfig(image_size=size, kernel_size=kernel_size, widths=[1] * (1 + (size > 9) + (size > 20)))
            assert ConvDecoder(config)(torch.zeros(1, config.latent_dim)).shape == (1, 1, size, size), config
    pads = {output_padding(size, conv_output_size(size, k), k) for size in range(2, 300) for k in range(2, 10)}
    assert pads == {0, 1}


@pytest.mark.parametrize("name", FAMILIES)
def test_rgb_images_with_a_gaussian_likelihood(name):
    vae = build(name, image_size=32, channels=3, likelihood="gaussian", sigma=0.2, latent_dim=4)
    x = torch.rand(2, 3, 32, 32)
    out = vae(x)
    assert out.reconstruction.shape == (2, 3, 32, 32) and torch.isfinite(out.reconstruction_loss).all()
    logits = vae.decode_logits(out.z)
    pixels = 3 * 32 * 32
    squared = ((x - torch.sigmoid(logits)) ** 2 / (2 * 0.2**2)).flatten(1).sum(1)
    expected = squared + pixels * math.log(0.2 * (2 * math.pi) ** 0.5)
    torch.testing.assert_close(vae.reconstruction_loss(logits, x), expected)


@pytest.mark.parametrize("name", FAMILIES)
def test_gradients_reach_every_encoder_and_decoder_parameter(name):
    vae = build(name, image_size=28, latent_dim=3)
    out = vae(torch.rand(4, 1, 28, 28))
    (out.reconstruction_loss + out.kl).mean().backward()
    for module in (vae.encoder, vae.decoder):
        for param_name, param in module.named_parameters():
            assert param.grad is not None and torch.isfinite(param.grad).all(), param_name
            assert param.grad.abs().sum() > 0, param_name


def test_the_reference_configuration_is_expressible():
    vae = ARCHITECTURES.build("conv", {"image_size": 56, "latent_dim": 30, "widths": [32, 64, 128], "kernel_size": 4})
    convs = [m for m in vae.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (1, 32, (4, 4), (2, 2)), (32, 64, (4, 4), (2, 2)), (64, 128, (4, 4), (2, 2))
    ]
    ups = [m for m in vae.decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(u.in_channels, u.out_channels) for u in ups] == [(128, 64), (64, 32), (32, 1)]
    assert vae.encoder.head.linear.in_features == 128 * 7 * 7
    assert vae.decode(torch.zeros(2, 30)).shape == (2, 1, 56, 56)


def test_group_norm_is_per_sample_and_batch_norm_is_selectable():
    vae = build("conv_norm", image_size=28, latent_dim=3)
    assert any(isinstance(m, nn.GroupNorm) for m in vae.modules())
    x = torch.rand(4, 1, 28, 28)
    together = vae.encode(x).mean
    torch.testing.assert_close(vae.encode(x[:1]).mean, together[:1])
    vae.eval()
    torch.testing.assert_close(vae.encode(x).mean, together)
    batch = build("conv_norm", image_size=28, norm="batch")
    assert any(isinstance(m, nn.BatchNorm2d) for m in batch.modules())
    assert not any(isinstance(m, nn.GroupNorm) for m in batch.modules())


def test_configs_are_image_modality_and_builders_are_described():
    for name in FAMILIES:
        entry = ARCHITECTURES.get(name)
        assert entry.config.modality == "image" and entry.description


@pytest.mark.parametrize(
    "name, config, field",
    [
        ("conv", {"latent_dim": -4}, "latent_dim"),
        ("linear", {"latent_dim": 0}, "latent_dim"),
        ("conv", {"activation": "swish"}, "activation"),
        ("linear", {"activation": "swish"}, "activation"),
        ("conv", {"image_size": 28, "widths": [8] * 5}, "widths"),
        ("conv", {"image_size": 3}, "widths"),
        ("conv_norm", {"image_size": 28, "widths": [8] * 6}, "widths"),
        ("conv", {"channels": 2}, "channels"),
        ("linear", {"channels": 2}, "channels"),
        ("conv", {"widths": []}, "widths"),
        ("conv", {"kernel_size": 1}, "kernel_size"),
        ("conv", {"likelihood": "poisson"}, "likelihood"),
        ("conv", {"sigma": 0}, "sigma"),
        ("linear", {"hidden_dims": [16, -2]}, "hidden_dims.1"),
        ("conv_norm", {"widths": [12, 24]}, "groups"),
        ("conv_norm", {"norm": "layer"}, "norm"),
        ("conv", {"width": [8]}, "width"),
    ],
)
def test_bad_configs_name_the_field(name, config, field):
    with pytest.raises(ConfigError, match=rf"^{name}\.{field}: "):
        ARCHITECTURES.build(name, config)


def test_too_many_widths_says_how_many_fit():
    with pytest.raises(ConfigError, match=r"conv\.widths: .*28-pixel image .*at most 4 widths"):
        ARCHITECTURES.build("conv", {"image_size": 28, "widths": [8] * 5})


@pytest.mark.parametrize("name", FAMILIES)
def test_wrong_image_shape_is_a_clear_error(name):
    vae = build(name, image_size=28)
    with pytest.raises(ValueError, match=r"images must be \[B, 1, 28, 28\] for this .*, got \(2, 1, 32, 32\)"):
        vae.encode(torch.rand(2, 1, 32, 32))


@pytest.mark.slow
def test_conv_vae_learns_real_mnist_at_the_reference_configuration():
    """56x56 MNIST, latent 30: the held-out reconstruction loss halves within 200 steps and beats the
    best z-independent decoder (the per-pixel mean image) by a clear margin, so z carries the digit."""
    root = shared_dataset("MNIST")
    data = READERS.build("mnist", {"root": str(root), "split": "test", "image_size": 56, "length": 2304, "seed": 0})
    images = data.images.float() / 255
    train, held_out = images[:2048], images[2048:]
    torch.manual_seed(0)
    vae = ARCHITECTURES.build("conv", {"image_size": 56, "latent_dim": 30})
    optimizer = torch.optim.Adam(vae.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(0)

    def held_out_reconstruction() -> float:
        with torch.no_grad():
            return vae(held_out, torch.Generator().manual_seed(1)).reconstruction_loss.mean().item()

    before = held_out_reconstruction()
    for _ in range(200):
        batch = train[torch.randint(0, len(train), (32,), generator=generator)]
        out = vae(batch, generator)
        loss = (out.reconstruction_loss + out.kl).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    after = held_out_reconstruction()
    mean_image = train.mean(0, keepdim=True).clamp(1e-4, 1 - 1e-4).expand_as(held_out)
    blind = vae.reconstruction_loss(torch.logit(mean_image), held_out).mean().item()
    assert after <= 0.5 * before, (before, after)
    assert after <= 0.75 * blind, (blind, after)
