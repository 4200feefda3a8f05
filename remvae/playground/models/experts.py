"""What the joint-posterior families (:mod:`poe`, :mod:`moe`, :mod:`mopoe`, :mod:`jmvae`) share: products and
mixtures of diagonal Gaussian experts, N(0, I) densities, and a base class over an image and a text VAE.

Product of experts (Hinton 2002; Wu & Goodman 2018, MVAE): the normalised product of Gaussians
N(z; mu_k, diag sigma_k^2) is Gaussian with precision and precision-weighted mean

    T = sum_k sigma_k^-2,    mu = T^-1 sum_k sigma_k^-2 mu_k,

the prior expert N(0, I) adding 1 to T and nothing to the numerator of mu.

Uniform mixture (Shi et al. 2019, MMVAE; Sutter et al. 2021, MoPoE-VAE):

    q(z) = 1/K sum_k q_k(z),    log q(z) = logsumexp_k log q_k(z) - log K,

sampled by drawing a component k ~ U{1..K} for each item of the batch, then z ~ q_k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Collection, Mapping, Sequence

import torch
from torch import Tensor

from remvae.core.distributions import Posterior
from remvae.core.model import (
    Batch,
    Modality,
    ModelConfig,
    ModelOutput,
    MultimodalModel,
    Term,
)
from remvae.core.vae import ImageVAE, TextVAE


def product_of_experts(experts: Sequence[Posterior], prior_expert: bool) -> Posterior:
    """The product of the Gaussian ``experts`` (each ``[B, D]``), times N(0, I) when ``prior_expert``.

    In log space, for stability: log sigma^2 = -logsumexp_k(-log sigma_k^2) and mu = sum_k w_k mu_k with
    w = softmax_k(-log sigma_k^2) (the experts' shares of the precision).
    """
    means = [expert.mean for expert in experts]
    logvars = [expert.logvar for expert in experts]
    if prior_expert:
        means.append(torch.zeros_like(means[0]))
        logvars.append(torch.zeros_like(logvars[0]))
    mean, neg_logvar = torch.stack(means), -torch.stack(logvars)
    return Posterior((torch.softmax(neg_logvar, dim=0) * mean).sum(0), -torch.logsumexp(neg_logvar, dim=0))


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) = -1/2 sum_d (z_d^2 + log 2 pi), shape ``[B]``."""
    return -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)


@dataclass
class Mixture:
    """The uniform mixture 1/K sum_k q_k(z) of K diagonal Gaussians, one mixture per item of the batch."""

    components: tuple[Posterior, ...]

    def log_prob(self, z: Tensor) -> Tensor:
        """log q(z) = logsumexp_k log q_k(z) - log K, shape ``[B]``."""
        log_probs = torch.stack([component.log_prob(z) for component in self.components])
        return torch.logsumexp(log_probs, dim=0) - math.log(len(self.components))

    def select(self, index: Tensor) -> Posterior:
        """Item b's component ``index[b]``, as one ``[B, D]`` posterior."""
        rows = torch.arange(index.shape[0], device=index.device)
        mean = torch.stack([component.mean for component in self.components])[index, rows]
        logvar = torch.stack([component.logvar for component in self.components])[index, rows]
        return Posterior(mean, logvar)

    def rsample(self, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """z ``[B, D]`` and the component ``[B]`` each item drew it from: k ~ U{0..K-1}, then z ~ q_k
        (reparametrised: differentiable in the chosen component's mean and log-variance)."""
        first = self.components[0].mean
        index = torch.randint(len(self.components), (first.shape[0],), generator=generator, device=first.device)
        return self.select(index).rsample(generator), index


def joint_reconstruction_terms(joint_posterior: str) -> tuple[Term, Term]:
    """The reconstruction terms of both modalities from z ~ q(z | x_img, x_txt), the family's ``joint_posterior``."""
    return (
        Term("joint_image_reconstruction", "reconstruction", f"-log p(x_img | z), z ~ {joint_posterior}"),
        Term("joint_text_reconstruction", "reconstruction", f"-log p(x_txt | z), z ~ {joint_posterior}"),
    )


class PairedFamily(MultimodalModel):
    """Base of the joint-posterior families: an image and a text VAE, whose encoders give the experts
    q(z | x_m) and whose decoders p(x_m | z) reconstruct from the shared latent."""

    image: ImageVAE
    text: TextVAE

    def __init__(self, config: ModelConfig, *, image: ImageVAE, text: TextVAE) -> None:
        super().__init__(config, image, text)

    def experts(self, batch: Batch) -> tuple[Posterior, Posterior]:
        """The unimodal encoders' posteriors q(z | x_img) and q(z | x_txt) of a paired batch."""
        if batch.images is None or batch.text is None:
            raise ValueError(f"{type(self).__name__} trains on image-caption pairs; the batch lacks a modality")
        return self.image.encode(batch.images), self.text.encode(batch.text)

    def reconstruct(
        self, modality: Modality, z: Tensor, batch: Batch, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        """Training-time logits of the batch's ``modality`` decoded from ``z`` and -log p(x | z) per item ``[B]``
        (summed over pixels, or over tokens decoded as the text VAE trains: with word dropout)."""
        if modality == "image":
            assert batch.images is not None
            logits = self.image.decode_logits(z)
            return logits, self.image.reconstruction_loss(logits, batch.images)
        assert batch.text is not None
        return self.text.reconstruct(z, batch.text, generator)

    def output(
        self,
        wanted: Collection[str],
        posteriors: dict[str, Posterior],
        z: dict[str, Tensor],
        reconstructions: dict[str, Tensor],
        per_item: Mapping[str, Tensor],
    ) -> ModelOutput:
        """The forward pass's output: the batch means of the ``per_item`` values ``[B]`` of the terms
        :meth:`computed_terms` names for ``wanted``, in the declared order."""
        terms = {name: per_item[name].mean() for name in self.computed_terms(wanted)}
        return ModelOutput(posteriors=posteriors, z=z, reconstructions=reconstructions, terms=terms)


__all__ = [
    "Mixture",
    "PairedFamily",
    "joint_reconstruction_terms",
    "product_of_experts",
    "standard_normal_log_prob",
]
