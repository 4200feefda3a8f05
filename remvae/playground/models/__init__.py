"""Registered model families and their alignment losses (importing this registers them)."""

from remvae.playground.models import (  # noqa: F401
    aligned,
    alignment,
    jmvae,
    moe,
    mopoe,
    poe,
    unimodal,
)
