"""Device, precision and random-number state of a training run."""

from __future__ import annotations

import base64
import contextlib
import random
from dataclasses import dataclass
from typing import Any, ContextManager

import numpy as np
import torch

from remvae.core.config import ConfigError

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA, then MPS, then CPU; an explicit device must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but CUDA is not available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device: {name!r} requested but MPS is not available")
    return device


def check_precision(precision: str, device: torch.device) -> None:
    """fp16 autocast needs CUDA; bf16 works on CUDA and CPU."""
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(f"precision: 'fp16' needs a CUDA device (device is {device.type}); use 'bf16' or 'fp32'")
    if precision == "bf16" and device.type not in ("cuda", "cpu"):
        raise ConfigError(f"precision: 'bf16' autocast is supported on CUDA and CPU, not {device.type}")


def autocast(precision: str, device: torch.device) -> ContextManager[Any]:
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=_AUTOCAST_DTYPES[precision])


def seed_sequence(*entropy: int) -> int:
    """A well-mixed 63-bit seed from several integers (run seed, epoch, rank, stream)."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(2, np.uint64)[0] >> np.uint64(1))


def _encode(state: torch.Tensor) -> str:
    return base64.b64encode(state.cpu().numpy().tobytes()).decode("ascii")


def _decode(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


@dataclass(frozen=True)
class RNGSnapshot:
    """The raw states of every random stream training draws from (cheap to take every step)."""

    noise: torch.Tensor
    torch_cpu: torch.Tensor
    torch_cuda: list[torch.Tensor] | None
    numpy: tuple[Any, ...]
    python: tuple[Any, ...]

    @classmethod
    def take(cls, noise: torch.Generator) -> RNGSnapshot:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        return cls(noise.get_state(), torch.get_rng_state(), cuda, np.random.get_state(), random.getstate())

    def to_json(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, cached = self.numpy
        version, internal, gauss = self.python
        state: dict[str, Any] = {
            "noise": _encode(self.noise),
            "torch_cpu": _encode(self.torch_cpu),
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            "python": [version, list(internal), gauss],
        }
        if self.torch_cuda is not None:
            state["torch_cuda"] = [_encode(s) for s in self.torch_cuda]
        return state


def restore_rng(state: dict[str, Any], noise: torch.Generator) -> None:
    """Set every stream from :meth:`RNGSnapshot.to_json` output."""
    noise.set_state(_decode(state["noise"]))
    torch.set_rng_state(_decode(state["torch_cpu"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_decode(s) for s in state["torch_cuda"]])
