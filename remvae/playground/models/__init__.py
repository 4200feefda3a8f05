"""Registered model families and their alignment losses (importing this registers them)."""

from remvae.playground.models import aligned, alignment, jmvae, moe, mopoe, poe, unimodal  # noqa: F401
