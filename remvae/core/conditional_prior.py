"""A caption-conditional prior p(z | caption) over the shared latent, for sampled text->image.

A caption such as "a photo of a shirt" describes many images; text->image should draw z from the
latents of all of them, p(z | c) = E_{x ~ p(x|c)}[q(z | x)], not from the text VAE's own posterior,
which must also tell the caption's wording apart and so stays narrow. The conditional prior is a
full-covariance Gaussian p_psi(z | c) = N(m_psi(c), L_psi(c) L_psi(c)^T) read off the caption's
(detached) text posterior by a small MLP, and fitted by

    L_prior = KL( sg[q(z | x_img)] || p_psi(z | sg[q(z | x_txt)]) ),

averaged over the training pairs, with sg the stop-gradient: the term trains only the MLP. Over the
images of one caption its expectation is smallest at the moments of their posteriors' mixture,
m = E[mu_img] and L L^T = E[diag(sigma_img^2)] + Cov[mu_img] (the M-projection of the mixture onto
Gaussians), so draws cover the caption's images in every direction of the latent, correlations
included, without changing how either VAE is trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt
from torch import Tensor, nn

from remvae.core.config import ComponentConfig
from remvae.core.vae import Posterior

_MIN_SCALE = 0.01
_SOFTPLUS_OF_ONE = math.log(math.expm1(1.0 - _MIN_SCALE))  # _MIN_SCALE + softplus(_SOFTPLUS_OF_ONE) == 1


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


class ConditionalPriorConfig(ComponentConfig):
    """The MLP that reads p(z | caption) off the caption's text posterior."""

    hidden_dim: PositiveInt = Field(256, description="width of the MLP's two hidden layers")


class ConditionalPrior(nn.Module):
    """(mean, log-variance) of a text posterior ``[B, D]`` each -> :class:`FullGaussian` p(z | caption).

    The covariance is diag(d^2) + U U^T with U ``[D, D]`` and d >= ``_MIN_SCALE``: any covariance whose
    eigenvalues are at least ``_MIN_SCALE^2``, so it can never become so ill-conditioned that L^-1
    overflows (a free Cholesky factor with a small diagonal can). L is its Cholesky factor. The last
    layer starts near zero, so before training the prior is close to N(0, I) for every caption.
    """

    def __init__(self, latent_dim: int, hidden_dim: int = 256) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Linear(2 * latent_dim, hidden_dim), nn.SiLU(),
            nn.Linear(hidden_dim, hidden_dim), nn.SiLU(),
            nn.Linear(hidden_dim, latent_dim * (latent_dim + 2)),
        )
        # small, not zero: the loss is quadratic in U, so U = 0 would get no gradient
        with torch.no_grad():
            self.net[-1].weight.mul_(0.01)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, text_posterior: Posterior) -> FullGaussian:
        features = torch.cat([text_posterior.mean, text_posterior.logvar], dim=-1).detach()
        dim = self.latent_dim
        mean, raw_scale, factor = self.net(features).split([dim, dim, dim * dim], dim=-1)
        scale = _MIN_SCALE + F.softplus(raw_scale + _SOFTPLUS_OF_ONE)
        factor = factor.view(-1, dim, dim)
        covariance = torch.diag_embed(scale.pow(2)) + factor @ factor.transpose(-2, -1)
        return FullGaussian(mean, torch.linalg.cholesky(covariance))


__all__ = ["ConditionalPrior", "ConditionalPriorConfig", "FullGaussian"]
