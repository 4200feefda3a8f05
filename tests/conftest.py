"""Shared fixtures: the real data sets beside the checkout, and a bounded thread count."""

from __future__ import annotations

import os
from pathlib import Path

# Before torch loads: idle OpenMP threads sleep instead of spinning, which keeps 2-thread torch fast when
# other processes share the two cores (measured ~10x slower without it on a busy 2-core machine).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("REMVAE_SHARED_DATA", REPO.parent / "shared" / "data"))

torch.set_num_threads(min(2, os.cpu_count() or 1))


def shared_dataset(name: str) -> Path:
    """Root holding ``name`` (``MNIST``, ``FashionMNIST``, ``celeba``) under ../shared/data, or skip."""
    if not (SHARED_DATA / name).is_dir():
        pytest.skip(f"{SHARED_DATA / name} not present (real data for this test lives in ../shared/data)")
    return SHARED_DATA


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


def tiny_args(**changes) -> dict:
    """A minimal valid args.json (bundled digits, tiny models, one epoch), with top-level keys replaced."""
    args = {
        "name": "tiny",
        "latent_dim": 8,
        "image_size": 28,
        "reader": {"name": "bundled_digits"},
        "image": {"name": "conv", "config": {"widths": [8, 16]}},
        "text": {"name": "gru", "config": {"hidden_dim": 32}},
        "trainer": {"name": "simple", "config": {"epochs": 1}},
    }
    args.update(changes)
    return args
