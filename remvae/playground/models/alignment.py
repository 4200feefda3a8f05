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

from typing import Callable, Literal

from torch import Tensor

from remvae.core.config import ComponentConfig
from remvae.core.distributions import Posterior
from remvae.core.registry import ALIGNMENTS

Reduction = Literal["mean", "sum"]
Direction = Literal["image_to_text", "text_to_image"]
Detach = Literal["none", "image", "text"]


class Alignment:
    """``(a, b) -> [B]``: a per-dimension discrepancy of the two posteriors, reduced over the latent dimensions,
    with the posterior ``detach`` names cut from the graph."""

    def __init__(self, per_dim: Callable[[Posterior, Posterior], Tensor], reduction: Reduction, detach: Detach) -> None:
        self.per_dim, self.reduction, self.detach = per_dim, reduction, detach

    def __call__(self, a: Posterior, b: Posterior) -> Tensor:
        a = a.detach() if self.detach == "image" else a
        b = b.detach() if self.detach == "text" else b
        per_dim = self.per_dim(a, b)
        return per_dim.mean(dim=-1) if self.reduction == "mean" else per_dim.sum(dim=-1)


class AlignmentConfig(ComponentConfig):
    detach: Detach = "none"


class ReferenceConfig(AlignmentConfig):
    reduction: Reduction = "mean"


def _squared_differences(a: Posterior, b: Posterior) -> Tensor:
    return (a.mean - b.mean).pow(2) + (a.std - b.std).pow(2)


@ALIGNMENTS.register("reference", config=ReferenceConfig)
def build_reference(config: ReferenceConfig) -> Alignment:
    """L = (1/D) sum_d (mu_a - mu_b)^2 + (1/D) sum_d (sigma_a - sigma_b)^2 (the reference's two MSEs)."""
    return Alignment(_squared_differences, config.reduction, config.detach)


class SymmetricKLConfig(AlignmentConfig):
    reduction: Reduction = "sum"


def _symmetric_kl(a: Posterior, b: Posterior) -> Tensor:
    var_a, var_b = a.variance, b.variance
    diff2 = (a.mean - b.mean).pow(2)
    # the log-variance terms of the two KLs cancel
    return 0.5 * ((var_a + diff2) / var_b + (var_b + diff2) / var_a) - 1.0


@ALIGNMENTS.register("symmetric_kl", config=SymmetricKLConfig)
def build_symmetric_kl(config: SymmetricKLConfig) -> Alignment:
    """L = KL(q_a||q_b) + KL(q_b||q_a) = sum_d [(s_a^2 + dmu^2) / (2 s_b^2) + (s_b^2 + dmu^2) / (2 s_a^2) - 1]."""
    return Alignment(_symmetric_kl, config.reduction, config.detach)


class KLConfig(AlignmentConfig):
    direction: Direction = "image_to_text"
    reduction: Reduction = "sum"


def _kl(p: Posterior, q: Posterior) -> Tensor:
    return 0.5 * (q.logvar - p.logvar + (p.variance + (p.mean - q.mean).pow(2)) / q.variance - 1.0)


def _reverse_kl(a: Posterior, b: Posterior) -> Tensor:
    return _kl(b, a)


@ALIGNMENTS.register("kl", config=KLConfig)
def build_kl(config: KLConfig) -> Alignment:
    """L = KL(q_img || q_txt) = sum_d [log(s_txt / s_img) + (s_img^2 + dmu^2) / (2 s_txt^2) - 1/2] (or the reverse)."""
    return Alignment(_kl if config.direction == "image_to_text" else _reverse_kl, config.reduction, config.detach)
