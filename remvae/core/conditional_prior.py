"""A caption-conditional prior p(z | caption) over the shared latent, for sampled text->image.

A caption such as "a photo of a shirt" describes many images; text->image should draw z from the
latents of all of them, p(z | c) = E_{x ~ p(x|c)}[q(z | x)], not from the text VAE's own posterior,
which must also tell the caption's wording apart and so stays narrow. The conditional prior is a
full-covariance Gaussian p_psi(z | c) = N(mu_txt(c) + delta_psi(c), L_psi(c) L_psi(c)^T) whose offset
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
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveInt
from torch import Tensor, nn

from remvae.core.config import ComponentConfig
from remvae.core.vae import Posterior

_MIN_SCALE = 0.01
_SOFTPLUS_OF_ONE = math.log(math.e - 1.0)  # softplus(_SOFTPLUS_OF_ONE) == 1


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

    The prior's mean is the text posterior's mean plus a learned offset: the alignment already puts the
    text mean near its images' latents, so the MLP only corrects it, and the prior stays caption-specific
    even where the MLP learns little (a free mean collapsed to one caption-independent Gaussian once, in
    a run whose learning rate peaked at 4e-3). Layer norms keep the MLP's inputs and activations in range
    while the text posteriors it reads move during training.

    The covariance is A A^T + _MIN_SCALE^2 I, with A lower triangular (positive diagonal) read off the
    MLP, and L its Cholesky factor. A alone would serve, but a small diagonal of A with large entries
    below it makes L^-1 overflow (it grows geometrically down the rows); the added floor keeps every
    eigenvalue at least _MIN_SCALE^2. The last layer starts at zero, so before training A = I and the
    prior is N(mu_txt, (1 + _MIN_SCALE^2) I).
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


__all__ = ["ConditionalPrior", "ConditionalPriorConfig", "FullGaussian"]
