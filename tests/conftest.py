"""Shared fixtures: the real data sets beside the checkout, and a bounded thread count per test worker.

Under CI (``CI`` set, as `.ci/run` runs) nothing a test needs may be missing: the real data beside the
checkout, a system tool, a package of the test extra. Locally such a test is skipped with the reason.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

# Before torch loads: idle OpenMP threads sleep instead of spinning, which keeps 2-thread torch fast when
# other processes share the two cores (measured ~10x slower without it on a busy 2-core machine).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("REMVAE_DATA") or os.environ.get("REMVAE_SHARED_DATA") or REPO.parent / "shared" / "data")
IN_CI = bool(os.environ.get("CI"))

# pytest-xdist runs test files in parallel workers (pyproject's addopts): the cores are shared among them.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1) // WORKERS))


def missing(reason: str) -> None:
    """A test cannot run here: a failure under CI (it would pass silently), a skip with the reason elsewhere."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must provide it)", pytrace=False)
    pytest.skip(reason)


def shared_dataset(name: str) -> Path:
    """Root holding ``name`` (``MNIST``, ``FashionMNIST``, ``celeba``): ``$REMVAE_DATA``, else ../shared/data."""
    if not (SHARED_DATA / name).is_dir():
        missing(f"{SHARED_DATA / name} not present (real data for this test: set REMVAE_DATA or put ../shared/data "
                "beside the checkout)")
    return SHARED_DATA


def needs_module(name: str) -> ModuleType:
    """``import name`` for a test that needs it (a package of the test extra)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"{name} is not installed (pip install -e '.[test]')")
        raise  # unreachable: missing() always raises


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        missing(f"{SHARED_DATA} not present")
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
