"""Registered image and text VAE architectures."""

from remvae.playground.architectures import image, text  # noqa: F401
