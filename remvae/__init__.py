"""remvae: aligned multimodal VAEs with recurrent text models."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from remvae.model import LoadedModel


def load(run_dir: str, device: str = "cpu", checkpoint: str = "best") -> "LoadedModel":
    """Load a trained run folder as a ready-to-use multimodal model (see :mod:`remvae.model`)."""
    from remvae.model import load as _load

    return _load(run_dir, device=device, checkpoint=checkpoint)

