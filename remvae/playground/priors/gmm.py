"""A full-covariance Gaussian mixture over the latent space, fitted by EM on the aggregate posterior.

p(z) = sum_k w_k N(z; mu_k, L_k L_k^T), with lower-triangular Cholesky factors L_k (positive diagonal).
EM runs in float64 in torch (on the latents' device): k-means (k-means++ seeds, then Lloyd steps until
the assignments settle) gives the first responsibilities, then EM alternates

* E-step: r_ik = w_k N(z_i; mu_k, Sigma_k) / sum_j w_j N(z_i; mu_j, Sigma_j);
* M-step: N_k = sum_i r_ik, w_k = N_k / N, mu_k = sum_i r_ik z_i / N_k,
  Sigma_k = sum_i r_ik (z_i - mu_k)(z_i - mu_k)^T / N_k + reg_covar I,

until the mean log-likelihood (1/N) sum_i log p(z_i) changes by less than ``tol`` or ``max_iter`` steps ran.
Of ``restarts`` such runs (each from its own k-means), the one with the highest training log-likelihood is
kept; the number of components K is chosen among candidates by the mean log-likelihood of validation latents.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import Field, field_validator
from torch import Tensor

from remvae.core.config import ComponentConfig
from remvae.core.prior import LatentPrior
from remvae.playground.priors.common import PRIORS, mean_log_prob


class GaussianMixturePrior(LatentPrior):
    """p(z) = sum_k w_k N(z; mu_k, L_k L_k^T) with ``components`` K full-covariance components.

    Buffers: ``log_weights`` ``[K]`` (log w_k), ``means`` ``[K, D]``, ``scale_tril`` ``[K, D, D]``; a new
    prior is K copies of N(0, I) with equal weights until :func:`fit_gaussian_mixture` sets them.
    """

    name = "gmm"

    def __init__(self, latent_dim: int, components: int) -> None:
        super().__init__(latent_dim)
        if components < 1:
            raise ValueError(f"components must be at least 1, got {components}")
        self.components = components
        self.config: ComponentConfig | None = None
        self.register_buffer("log_weights", torch.full((components,), -math.log(components)))
        self.register_buffer("means", torch.zeros(components, latent_dim))
        self.register_buffer("scale_tril", torch.eye(latent_dim).expand(components, -1, -1).clone())

    def shape(self) -> dict[str, int]:
        """The fields that, with ``latent_dim``, fix the shapes of the state_dict."""
        return {"components": self.components}

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) = logsumexp_k [log w_k + log N(z; mu_k, L_k L_k^T)], shape ``[B]``."""
        joint = self.log_weights + component_log_density(z.to(self.means.dtype), self.means, self.scale_tril)
        return torch.logsumexp(joint, dim=-1).to(z.dtype)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """k ~ Categorical(w), then z = mu_k + L_k eps with eps ~ N(0, I), shape ``[n, D]``."""
        index = torch.multinomial(self.log_weights.exp(), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.latent_dim, 1, generator=generator, device=self.means.device, dtype=self.means.dtype)
        return self.means[index] + (self.scale_tril[index] @ eps).squeeze(-1)


BLOCK_ELEMENTS = 1 << 22
"""Elements of the ``[rows, K, D]`` intermediates the density and the M-step build per block of items."""


def _block_rows(components: int, dim: int) -> int:
    """Items per block, so that a block's ``[rows, K, D]`` intermediate holds about ``BLOCK_ELEMENTS``."""
    return max(1, BLOCK_ELEMENTS // (components * dim))


def component_log_density(z: Tensor, means: Tensor, scale_tril: Tensor) -> Tensor:
    """log N(z_i; mu_k, L_k L_k^T) for every item and component, shape ``[B, K]``:

    -1/2 ||P_k z_i - P_k mu_k||^2 + sum_d log (P_k)_dd - D/2 log 2 pi with P_k = L_k^{-1}, all components in one
    matrix product per block of items (blocks keep the ``[rows, K, D]`` intermediate near ``BLOCK_ELEMENTS``).
    """
    components, dim = means.shape
    eye = torch.eye(dim, dtype=scale_tril.dtype, device=scale_tril.device)
    precision_tril = torch.linalg.solve_triangular(scale_tril, eye.expand(components, dim, dim), upper=False)
    projection = precision_tril.reshape(components * dim, dim).T  # z @ projection = [P_k z for every k]
    shifted_means = (precision_tril @ means.unsqueeze(-1)).squeeze(-1)  # P_k mu_k, [K, D]
    constant = torch.diagonal(precision_tril, dim1=-2, dim2=-1).log().sum(-1) - 0.5 * dim * math.log(2 * math.pi)
    rows = _block_rows(components, dim)
    blocks = []
    for block in z.split(rows):
        projected = (block @ projection).view(-1, components, dim) - shifted_means
        blocks.append(constant - 0.5 * projected.pow(2).sum(-1))
    return torch.cat(blocks)  # split yields at least one (possibly empty) block


class GMMPriorConfig(ComponentConfig):
    """How to fit a Gaussian-mixture prior; K is chosen among ``components`` on validation latents."""

    components: list[int] = Field(default_factory=lambda: [1, 5, 10, 20])
    reg_covar: float = Field(1e-6, ge=0.0, description="added to every covariance diagonal")
    tol: float = Field(1e-4, gt=0.0, description="stop when the mean train log-likelihood changes less")
    max_iter: int = Field(200, ge=1)
    restarts: int = Field(3, ge=1, description="k-means initialisations per K; the best training fit is kept")

    @field_validator("components")
    @classmethod
    def _candidates(cls, value: list[int]) -> list[int]:
        if not value or any(k < 1 for k in value) or len(set(value)) != len(value):
            raise ValueError(f"components must be distinct positive integers, got {value}")
        return sorted(value)


def fit_gaussian_mixture(
    latents: Tensor,
    components: int,
    seed: int,
    reg_covar: float = 1e-6,
    tol: float = 1e-4,
    max_iter: int = 200,
    restarts: int = 1,
) -> tuple[GaussianMixturePrior, dict[str, Any]]:
    """EM for a K-component mixture on ``latents`` ``[N, D]`` in float64, from ``restarts`` k-means
    initialisations drawn from one generator seeded by ``seed``; the run with the highest training
    log-likelihood is kept.

    Returns the prior (float32 buffers on the latents' device) and ``{"iterations", "converged",
    "train_log_likelihood"}`` of the kept run, the last being the mean log-likelihood of ``latents``.
    """
    x = latents.detach().to(torch.float64)
    count, dim = x.shape
    if components > count:
        raise ValueError(f"cannot fit {components} mixture components to {count} latents")
    generator = torch.Generator(device=x.device).manual_seed(seed)
    best: tuple[Tensor, Tensor, Tensor] | None = None
    record: dict[str, Any] = {}
    for _ in range(restarts):
        labels = _kmeans(x, components, generator)
        parameters, run = _em(x, torch.nn.functional.one_hot(labels, components).double(), reg_covar, tol, max_iter)
        if best is None or run["train_log_likelihood"] > record["train_log_likelihood"]:
            best, record = parameters, run
    assert best is not None  # restarts >= 1
    prior = GaussianMixturePrior(dim, components).to(latents.device)
    for buffer, value in zip((prior.log_weights, prior.means, prior.scale_tril), best):
        buffer.copy_(value)
    return prior, record


def _em(
    x: Tensor, resp: Tensor, reg_covar: float, tol: float, max_iter: int
) -> tuple[tuple[Tensor, Tensor, Tensor], dict[str, Any]]:
    """EM from responsibilities ``resp`` ``[N, K]``: the parameters (log w, mu, L) and the run's record."""
    log_weights, means, scale_tril = _m_step(x, resp, reg_covar)
    previous = -math.inf
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):
        joint = log_weights + component_log_density(x, means, scale_tril)
        log_norm = torch.logsumexp(joint, dim=1, keepdim=True)
        log_likelihood = log_norm.mean().item()
        log_weights, means, scale_tril = _m_step(x, (joint - log_norm).exp(), reg_covar)
        if abs(log_likelihood - previous) < tol:
            converged = True
            break
        previous = log_likelihood
    train = torch.logsumexp(log_weights + component_log_density(x, means, scale_tril), dim=1).mean().item()
    record = {"iterations": iterations, "converged": converged, "train_log_likelihood": train}
    return (log_weights, means, scale_tril), record


def _kmeans(x: Tensor, k: int, generator: torch.Generator, max_steps: int = 100) -> Tensor:
    """Cluster labels ``[N]`` of k-means: k-means++ seeds, then Lloyd steps (assign each point to its nearest
    centre, move each centre to its points' mean; a centre that loses all its points stays) until no label
    changes or ``max_steps`` ran."""
    centres = _kmeans_plus_plus(x, k, generator)
    labels = torch.cdist(x, centres).argmin(dim=1)
    for _ in range(max_steps):
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        centres = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centres)
        updated = torch.cdist(x, centres).argmin(dim=1)
        if torch.equal(updated, labels):
            break
        labels = updated
    return labels


def _kmeans_plus_plus(x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k-means++ seeds ``[k, D]``: the first uniformly, each next with probability proportional to its squared
    distance to the nearest seed so far."""
    first = torch.randint(x.shape[0], (1,), generator=generator, device=x.device)
    centres = [x[first[0]]]
    distance = (x - centres[0]).pow(2).sum(1)
    for _ in range(1, k):
        weights = distance if distance.sum() > 0 else torch.ones_like(distance)
        index = torch.multinomial(weights, 1, generator=generator)[0]
        centres.append(x[index])
        distance = torch.minimum(distance, (x - x[index]).pow(2).sum(1))
    return torch.stack(centres)


def _m_step(x: Tensor, resp: Tensor, reg_covar: float) -> tuple[Tensor, Tensor, Tensor]:
    """Weights, means and Cholesky factors maximising sum_ik r_ik log [w_k N(x_i; mu_k, Sigma_k)].

    Sigma_k = sum_i r_ik x_i x_i^T / N_k - mu_k mu_k^T + reg_covar I, with x centred on its overall mean first
    (the mixture is shift-equivariant, and centring keeps the subtraction from cancelling digits), all components
    in one matrix product per block of items.
    """
    count, dim = x.shape
    components = resp.shape[1]
    counts = resp.sum(0) + 10 * torch.finfo(x.dtype).eps
    centre = x.mean(0)
    centred = x - centre
    centred_means = (resp.T @ centred) / counts[:, None]
    second_moments = x.new_zeros(components * dim, dim)
    rows = _block_rows(components, dim)
    for block, weights in zip(centred.split(rows), resp.split(rows)):
        weighted = (weights.unsqueeze(-1) * block.unsqueeze(1)).reshape(-1, components * dim)  # r_ik x_i, [n, K*D]
        second_moments += weighted.T @ block
    covariance = second_moments.view(components, dim, dim) / counts[:, None, None]
    covariance = covariance - centred_means.unsqueeze(-1) * centred_means.unsqueeze(-2)
    covariance = 0.5 * (covariance + covariance.mT) + reg_covar * torch.eye(dim, dtype=x.dtype, device=x.device)
    factors, info = torch.linalg.cholesky_ex(covariance)
    failed = torch.nonzero(info).flatten()
    if failed.numel():
        raise ValueError(f"component {int(failed[0])}'s covariance is singular; raise reg_covar (now {reg_covar})")
    return (counts / count).log(), centred_means + centre, factors


@PRIORS.register("gmm", config=GMMPriorConfig)
def fit_gmm(
    config: GMMPriorConfig, *, train_latents: Tensor, val_latents: Tensor, seed: int
) -> tuple[GaussianMixturePrior, dict[str, Any]]:
    """Gaussian mixture (full covariance, EM), K chosen by validation log-likelihood."""
    best: GaussianMixturePrior | None = None
    best_score = -math.inf
    candidates: dict[str, dict[str, Any]] = {}
    for k in config.components:  # ascending, so a tie keeps the smaller K
        prior, record = fit_gaussian_mixture(
            train_latents, k, seed, config.reg_covar, config.tol, config.max_iter, config.restarts
        )
        record["validation_log_likelihood"] = mean_log_prob(prior, val_latents.to(prior.means.device))
        candidates[str(k)] = record
        score = record["validation_log_likelihood"]
        score = -math.inf if math.isnan(score) else score
        if best is None or score > best_score:
            best, best_score = prior, score
    assert best is not None  # the config holds at least one candidate
    best.config = config
    chosen = candidates[str(best.components)]
    return best, {
        "chosen_components": best.components,
        "train_log_likelihood": chosen["train_log_likelihood"],
        "validation_log_likelihood": chosen["validation_log_likelihood"],
        "candidates": candidates,
    }


__all__ = ["GMMPriorConfig", "GaussianMixturePrior", "component_log_density", "fit_gaussian_mixture", "fit_gmm"]
