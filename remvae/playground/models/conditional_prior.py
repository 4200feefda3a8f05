"""A caption-conditional prior p(z | caption) over the shared latent, for sampled text->image.

It approximates the latents of all the images a caption describes, p(z | c) = E_{x ~ p(x|c)}[q(z | x)],
by a full-covariance Gaussian p_psi(z | c) = N(mu_txt(c) + delta_psi(c), L_psi(c) L_psi(c)^T) whose offset
delta_psi and scale L_psi a small MLP reads off the caption's (detached) text posterior q(z | c) =
N(mu_txt, sigma_txt^2), fitted by

    L_prior = KL( sg[q(z | x_img)] || p_psi(z | sg[q(z | x_txt)]) ),

averaged over the training pairs, with sg the stop-gradient: the term trains only the MLP. Over the
images of one caption its expectation is smallest at the moments of their posteriors' mixture,
m = E[mu_img] and L L^T = E[diag(sigma_img^2)] + Cov[mu_img] (the M-projection of the mixture onto
Gaussians), so draws cover the caption's images in every direction of the latent, correlations
included, without changing how either VAE is trained.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt
from torch import nn

from remvae.core.config import ComponentConfig
from remvae.core.distributions import FullGaussian, Posterior

_MIN_SCALE = 0.01
_SOFTPLUS_OF_ONE = math.log(math.e - 1.0)  # softplus(_SOFTPLUS_OF_ONE) == 1


class ConditionalPriorConfig(ComponentConfig):
    """The MLP that reads p(z | caption) off the caption's text posterior."""

    hidden_dim: PositiveInt = Field(256, description="width of the MLP's two hidden layers")


class ConditionalPrior(nn.Module):
    """(mean, log-variance) of a text posterior ``[B, D]`` each -> :class:`FullGaussian` p(z | caption).

    mean = mu_txt + delta(c): the text posterior's mean plus an offset the MLP reads off it, so the prior
    stays caption-specific where the MLP learns little. Covariance = A A^T + _MIN_SCALE^2 I, with A lower
    triangular (positive diagonal) read off the MLP and L its Cholesky factor; the floor keeps every
    eigenvalue >= _MIN_SCALE^2, which bounds L^-1. Layer norms keep the MLP's inputs and activations in
    range while the text posteriors it reads move during training. The last layer starts at zero: before
    training A = I and the prior is N(mu_txt, (1 + _MIN_SCALE^2) I).
    """

    def __init__(self, latent_dim: int, hidden_dim: int = 256) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.LayerNorm(2 * latent_dim),
            nn.Linear(2 * latent_dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.SiLU(),
            nn.Linear(hidden_dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.SiLU(),
            nn.Linear(hidden_dim, latent_dim + latent_dim * (latent_dim + 1) // 2),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        rows, cols = torch.tril_indices(latent_dim, latent_dim)
        self.register_buffer("_rows", rows, persistent=False)
        self.register_buffer("_cols", cols, persistent=False)

    def forward(self, text_posterior: Posterior) -> FullGaussian:
        features = torch.cat([text_posterior.mean, text_posterior.logvar], dim=-1).detach()
        out = self.net(features)
        dim = self.latent_dim
        offset, entries = out[:, :dim], out[:, dim:]
        lower = entries.new_zeros(len(out), dim, dim)
        lower[:, self._rows, self._cols] = entries
        diagonal = F.softplus(torch.diagonal(lower, dim1=-2, dim2=-1) + _SOFTPLUS_OF_ONE)
        factor = torch.tril(lower, diagonal=-1) + torch.diag_embed(diagonal)
        # in float64: in float32 the floor is lost beside large entries of A A^T and the factorisation fails
        factor = factor.double()
        floor = torch.eye(dim, dtype=factor.dtype, device=factor.device) * _MIN_SCALE**2
        scale_tril = torch.linalg.cholesky(factor @ factor.transpose(-2, -1) + floor).to(out.dtype)
        return FullGaussian(text_posterior.mean.detach() + offset, scale_tril)


__all__ = ["ConditionalPrior", "ConditionalPriorConfig"]
