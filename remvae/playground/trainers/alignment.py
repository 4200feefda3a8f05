"""Alignment losses between the image posterior q_a = N(mu_a, sigma_a^2) and the text posterior
q_b = N(mu_b, sigma_b^2) of the same pair: callables ``(Posterior, Posterior) -> Tensor[B]``.

Each returns one value per pair, shape ``[B]``, reduced over the D latent dimensions by ``reduction``
(``mean`` or ``sum``); the trainer averages over the batch.

* ``reference`` (default ``mean``): L = (1/D) sum_d (mu_a,d - mu_b,d)^2 + (1/D) sum_d (sigma_a,d - sigma_b,d)^2,
  whose batch mean is exactly the reference's ``MSELoss()(mu_a, mu_b) + MSELoss()(sigma_a, sigma_b)``.
* ``symmetric_kl`` (default ``sum``, a true divergence): L = KL(q_a || q_b) + KL(q_b || q_a)
  = sum_d [(sigma_a^2 + (mu_a - mu_b)^2) / (2 sigma_b^2) + (sigma_b^2 + (mu_a - mu_b)^2) / (2 sigma_a^2) - 1].

Both are zero exactly when the two posteriors are equal and positive otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor

from remvae.core.config import ComponentConfig
from remvae.core.registry import ALIGNMENTS
from remvae.core.vae import Posterior

Reduction = Literal["mean", "sum"]


def _reduce(per_dim: Tensor, reduction: Reduction) -> Tensor:
    return per_dim.mean(dim=-1) if reduction == "mean" else per_dim.sum(dim=-1)


class ReferenceConfig(ComponentConfig):
    reduction: Reduction = "mean"


@dataclass(frozen=True)
class ReferenceAlignment:
    reduction: Reduction = "mean"

    def __call__(self, a: Posterior, b: Posterior) -> Tensor:
        return _reduce((a.mean - b.mean).pow(2) + (a.std - b.std).pow(2), self.reduction)


@ALIGNMENTS.register("reference", config=ReferenceConfig)
def build_reference(config: ReferenceConfig) -> ReferenceAlignment:
    """L = (1/D) sum_d (mu_a - mu_b)^2 + (1/D) sum_d (sigma_a - sigma_b)^2 (the reference's two MSEs)."""
    return ReferenceAlignment(config.reduction)


class SymmetricKLConfig(ComponentConfig):
    reduction: Reduction = "sum"


@dataclass(frozen=True)
class SymmetricKL:
    reduction: Reduction = "sum"

    def __call__(self, a: Posterior, b: Posterior) -> Tensor:
        var_a, var_b = a.variance, b.variance
        diff2 = (a.mean - b.mean).pow(2)
        # the log-variance terms of the two KLs cancel
        per_dim = 0.5 * ((var_a + diff2) / var_b + (var_b + diff2) / var_a) - 1.0
        return _reduce(per_dim, self.reduction)


@ALIGNMENTS.register("symmetric_kl", config=SymmetricKLConfig)
def build_symmetric_kl(config: SymmetricKLConfig) -> SymmetricKL:
    """L = KL(q_a||q_b) + KL(q_b||q_a) = sum_d [(s_a^2 + dmu^2) / (2 s_b^2) + (s_b^2 + dmu^2) / (2 s_a^2) - 1]."""
    return SymmetricKL(config.reduction)
