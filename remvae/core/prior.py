"""Priors p(z) over the shared latent space: the standard normal, and the interface learned priors implement.

A model samples and scores latents through :meth:`LatentPrior.sample` and :meth:`LatentPrior.log_prob`;
which prior that is (N(0, I), a mixture fitted after training, a flow, a VampPrior) is the model's
business, and :func:`remvae.load` gives a run its learned prior when it has one.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class LatentPrior(nn.Module):
    """A distribution p(z) over ``latent_dim``-dimensional latents.

    Subclasses implement :meth:`sample` (``[n, D]``) and :meth:`log_prob` (``[B]``); ``name`` says which
    prior drew a number (it is recorded beside the metrics computed from its samples).
    """

    name: str = "prior"

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be at least 1, got {latent_dim}")
        self.latent_dim = latent_dim

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def log_prob(self, z: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError


class StandardNormal(LatentPrior):
    """p(z) = N(0, I): log p(z) = -1/2 sum_d (z_d^2 + log 2 pi)."""

    name = "standard_normal"

    def __init__(self, latent_dim: int) -> None:
        super().__init__(latent_dim)
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # follows the model's device

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        device = generator.device if generator is not None else self._anchor.device
        return torch.randn(n, self.latent_dim, generator=generator, device=device)

    def log_prob(self, z: Tensor) -> Tensor:
        return -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)


__all__ = ["LatentPrior", "StandardNormal"]
