"""Gaussian distributions over the latent space: diagonal posteriors and full-covariance Gaussians."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Posterior:
    """A diagonal Gaussian q(z|x) = N(mean, diag(exp(logvar))), each of shape ``[B, D]``."""

    mean: Tensor
    logvar: Tensor

    @property
    def std(self) -> Tensor:
        return torch.exp(0.5 * self.logvar)

    @property
    def variance(self) -> Tensor:
        return torch.exp(self.logvar)

    def rsample(self, generator: torch.Generator | None = None) -> Tensor:
        """z = mean + std * eps, eps ~ N(0, I): differentiable in mean and logvar."""
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def kl_per_dim(self) -> Tensor:
        """KL(q || N(0, I)) per latent dimension: 1/2 (mu^2 + sigma^2 - log sigma^2 - 1), shape ``[B, D]``."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - self.logvar - 1.0)

    def kl(self) -> Tensor:
        """KL(q || N(0, I)) summed over latent dimensions, shape ``[B]``."""
        return self.kl_per_dim().sum(dim=-1)

    def kl_to(self, other: Posterior) -> Tensor:
        """KL(self || other) between diagonal Gaussians, summed over dimensions, shape ``[B]``:

        1/2 sum_d [ logvar_o - logvar_s + (var_s + (mu_s - mu_o)^2) / var_o - 1 ].
        """
        return 0.5 * (
            other.logvar - self.logvar + (self.variance + (self.mean - other.mean).pow(2)) / other.variance - 1.0
        ).sum(dim=-1)

    def log_prob(self, z: Tensor) -> Tensor:
        """log q(z|x) summed over dimensions, shape ``[B]`` (z broadcast against mean)."""
        return -0.5 * (((z - self.mean) ** 2) / self.variance + self.logvar + math.log(2 * math.pi)).sum(dim=-1)

    def detach(self) -> Posterior:
        return Posterior(self.mean.detach(), self.logvar.detach())

    def to(self, device: torch.device | str) -> Posterior:
        return Posterior(self.mean.to(device), self.logvar.to(device))

    def __getitem__(self, index: slice | Tensor) -> Posterior:
        return Posterior(self.mean[index], self.logvar[index])

    def __len__(self) -> int:
        return self.mean.shape[0]

    @staticmethod
    def cat(parts: list[Posterior]) -> Posterior:
        """The posteriors of several batches as one ``[sum B, D]``."""
        return Posterior(torch.cat([p.mean for p in parts]), torch.cat([p.logvar for p in parts]))


@dataclass
class FullGaussian:
    """N(mean, L L^T) with ``mean`` ``[B, D]`` and lower-triangular ``scale_tril`` L ``[B, D, D]`` (diagonal > 0)."""

    mean: Tensor
    scale_tril: Tensor

    def rsample(self, generator: torch.Generator | None = None, scale: float = 1.0) -> Tensor:
        """z = mean + scale * L eps, eps ~ N(0, I); ``scale`` < 1 narrows the draws (a sampling temperature)."""
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + scale * (self.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def kl_from(self, posterior: Posterior) -> Tensor:
        """KL(posterior || self) for a diagonal ``posterior``, shape ``[B]``:

        1/2 [ ||L^-1 diag(sigma)||_F^2 + ||L^-1 (m - mu)||^2 - D + 2 sum_d log L_dd - sum_d log sigma_d^2 ].
        """
        columns = torch.cat([torch.diag_embed(posterior.std), (self.mean - posterior.mean).unsqueeze(-1)], dim=-1)
        solved = torch.linalg.solve_triangular(self.scale_tril, columns, upper=False)
        log_det = 2.0 * torch.diagonal(self.scale_tril, dim1=-2, dim2=-1).log().sum(-1)
        dim = self.mean.shape[-1]
        return 0.5 * (solved.pow(2).sum((-2, -1)) - dim + log_det - posterior.logvar.sum(-1))

    def to(self, device: torch.device | str) -> FullGaussian:
        return FullGaussian(self.mean.to(device), self.scale_tril.to(device))

    @staticmethod
    def cat(parts: list[FullGaussian]) -> FullGaussian:
        return FullGaussian(torch.cat([p.mean for p in parts]), torch.cat([p.scale_tril for p in parts]))


__all__ = ["FullGaussian", "Posterior"]
