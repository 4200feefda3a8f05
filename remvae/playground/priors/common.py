"""What every learned prior shares: the registry of post-hoc fits, the Monte-Carlo KL, mean log-likelihoods."""

from __future__ import annotations

import torch
from torch import Tensor

from remvae.core.distributions import Posterior
from remvae.core.prior import LatentPrior
from remvae.core.registry import (
    PRIORS,  # builders: fit(config, train_latents=, val_latents=, seed=) -> (prior, record)
)


def kl_monte_carlo(posterior: Posterior, z: Tensor, prior: LatentPrior) -> Tensor:
    """One-sample estimate of KL(q(z|x) || p(z)) per item, shape ``[B]``.

    KL(q || p) = E_{z ~ q(z|x)} [log q(z|x) - log p(z)], estimated by log q(z|x) - log p(z) at one draw
    z ~ q(z|x) (``[B, D]``, e.g. ``posterior.rsample()``). The estimate is unbiased; when z is
    reparameterised, gradients reach the posterior through both terms and the prior through log p(z).
    """
    return posterior.log_prob(z) - prior.log_prob(z)


@torch.no_grad()
def mean_log_prob(prior: LatentPrior, latents: Tensor, batch_size: int = 4096) -> float:
    """(1/N) sum_i log p(z_i) over ``latents`` ``[N, D]``, scored in batches."""
    total = 0.0
    for start in range(0, latents.shape[0], batch_size):
        total += prior.log_prob(latents[start : start + batch_size]).double().sum().item()
    return total / latents.shape[0]


__all__ = ["PRIORS", "kl_monte_carlo", "mean_log_prob"]
