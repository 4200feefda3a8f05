"""Alignment losses between the image posterior q_a = N(mu_a, sigma_a^2) and the text posterior
q_b = N(mu_b, sigma_b^2) of the same pair: callables ``(Posterior, Posterior) -> Tensor[B]``.

Each returns one value per pair, shape ``[B]``, reduced over the D latent dimensions by ``reduction``
(``mean`` or ``sum``); the trainer averages over the batch.

* ``reference`` (default ``mean``): L = (1/D) sum_d (mu_a,d - mu_b,d)^2 + (1/D) sum_d (sigma_a,d - sigma_b,d)^2,
  whose batch mean is exactly the reference's ``MSELoss()(mu_a, mu_b) + MSELoss()(sigma_a, sigma_b)``.
* ``symmetric_kl`` (default ``sum``, a true divergence): L = KL(q_a || q_b) + KL(q_b || q_a)
  = sum_d [(sigma_a^2 + (mu_a - mu_b)^2) / (2 sigma_b^2) + (sigma_b^2 + (mu_a - mu_b)^2) / (2 sigma_a^2) - 1].
* ``kl`` (default ``sum``, direction ``image_to_text``): L = KL(q_a || q_b)
  = sum_d [log(sigma_b / sigma_a) + (sigma_a^2 + (mu_a - mu_b)^2) / (2 sigma_b^2) - 1/2].
  Minimised over a text posterior that sees only the caption, its expectation over the images of one
  caption is smallest at the moments of their posteriors: mu_b = E[mu_a], sigma_b^2 = E[sigma_a^2 +
  (mu_a - mu_b)^2]. The text posterior then covers the image latents of its caption (as in JMVAE-kl),
  so a draw from it decodes to any image of the caption, not to one prototype. ``text_to_image``
  computes KL(q_b || q_a) instead (mode-seeking: the text posterior shrinks inside each image posterior).

All are zero exactly when the two posteriors are equal and positive otherwise. Each takes ``detach``
(``none``, ``image`` or ``text``): the posterior named gets no gradient from the term, so e.g.
``kl`` with ``detach: image`` fits the text posterior to the image posteriors without pulling the
image encoder's posteriors towards it (which would blur the image VAE).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor

from remvae.core.config import ComponentConfig
from remvae.core.registry import ALIGNMENTS
from remvae.core.distributions import Posterior

Reduction = Literal["mean", "sum"]
Direction = Literal["image_to_text", "text_to_image"]
Detach = Literal["none", "image", "text"]


def _reduce(per_dim: Tensor, reduction: Reduction) -> Tensor:
    return per_dim.mean(dim=-1) if reduction == "mean" else per_dim.sum(dim=-1)


def _detached(a: Posterior, b: Posterior, detach: Detach) -> tuple[Posterior, Posterior]:
    """``(a, b)`` with the image (``a``) or text (``b``) posterior cut from the graph."""
    return (a.detach() if detach == "image" else a), (b.detach() if detach == "text" else b)


class AlignmentConfig(ComponentConfig):
    detach: Detach = "none"


class ReferenceConfig(AlignmentConfig):
    reduction: Reduction = "mean"


@dataclass(frozen=True)
class ReferenceAlignment:
    reduction: Reduction = "mean"
    detach: Detach = "none"

    def __call__(self, a: Posterior, b: Posterior) -> Tensor:
        a, b = _detached(a, b, self.detach)
        return _reduce((a.mean - b.mean).pow(2) + (a.std - b.std).pow(2), self.reduction)


@ALIGNMENTS.register("reference", config=ReferenceConfig)
def build_reference(config: ReferenceConfig) -> ReferenceAlignment:
    """L = (1/D) sum_d (mu_a - mu_b)^2 + (1/D) sum_d (sigma_a - sigma_b)^2 (the reference's two MSEs)."""
    return ReferenceAlignment(config.reduction, config.detach)


class SymmetricKLConfig(AlignmentConfig):
    reduction: Reduction = "sum"


@dataclass(frozen=True)
class SymmetricKL:
    reduction: Reduction = "sum"
    detach: Detach = "none"

    def __call__(self, a: Posterior, b: Posterior) -> Tensor:
        a, b = _detached(a, b, self.detach)
        var_a, var_b = a.variance, b.variance
        diff2 = (a.mean - b.mean).pow(2)
        # the log-variance terms of the two KLs cancel
        per_dim = 0.5 * ((var_a + diff2) / var_b + (var_b + diff2) / var_a) - 1.0
        return _reduce(per_dim, self.reduction)


@ALIGNMENTS.register("symmetric_kl", config=SymmetricKLConfig)
def build_symmetric_kl(config: SymmetricKLConfig) -> SymmetricKL:
    """L = KL(q_a||q_b) + KL(q_b||q_a) = sum_d [(s_a^2 + dmu^2) / (2 s_b^2) + (s_b^2 + dmu^2) / (2 s_a^2) - 1]."""
    return SymmetricKL(config.reduction, config.detach)


class KLConfig(AlignmentConfig):
    direction: Direction = "image_to_text"
    reduction: Reduction = "sum"


@dataclass(frozen=True)
class KL:
    direction: Direction = "image_to_text"
    reduction: Reduction = "sum"
    detach: Detach = "none"

    def __call__(self, a: Posterior, b: Posterior) -> Tensor:
        a, b = _detached(a, b, self.detach)
        p, q = (a, b) if self.direction == "image_to_text" else (b, a)
        per_dim = 0.5 * (q.logvar - p.logvar + (p.variance + (p.mean - q.mean).pow(2)) / q.variance - 1.0)
        return _reduce(per_dim, self.reduction)


@ALIGNMENTS.register("kl", config=KLConfig)
def build_kl(config: KLConfig) -> KL:
    """L = KL(q_img || q_txt) = sum_d [log(s_txt / s_img) + (s_img^2 + dmu^2) / (2 s_txt^2) - 1/2] (or the reverse)."""
    return KL(config.direction, config.reduction, config.detach)
