"""Registered model families and their alignment losses (importing this registers them)."""

from remvae.playground.models import aligned, alignment, unimodal  # noqa: F401
