"""MVAE (Wu & Goodman 2018, "Multimodal Generative Models for Scalable Weakly-Supervised Learning"): a
product-of-experts joint posterior, trained on the ELBOs of the full set of modalities and of each alone.

Each modality's encoder is an expert q~(z | x_m) = N(mu_m, diag sigma_m^2); the posterior of a subset S of
the modalities is the normalised product of the prior expert and the subset's experts
(:func:`~remvae.playground.models.experts.product_of_experts`: precision-weighted means),

    q(z | X_S) = p(z) prod_{m in S} q~(z | x_m) / Z_S,    p(z) = N(0, I).

The paper's subsampled objective with two modalities needs no random subsets: it is the sum of the ELBO
of the pair and the ELBO of each modality alone,

    L = ELBO(x_img, x_txt) + ELBO(x_img) + ELBO(x_txt),
    ELBO(X_S) = E_{z ~ q(z | X_S)}[ sum_{m in S} log p(x_m | z) ] - KL(q(z | X_S) || p(z)),

estimated with one z per posterior; -L is the sum of the terms (batch means of per-pair values)

    joint_image_reconstruction  -log p(x_img | z_joint),  z_joint ~ q(z | x_img, x_txt)
    joint_text_reconstruction   -log p(x_txt | z_joint)
    joint_kl                    KL(q(z | x_img, x_txt) || N(0, I))
    image_reconstruction        -log p(x_img | z_img),    z_img ~ q(z | x_img) = p(z) q~(z | x_img) / Z
    image_kl                    KL(q(z | x_img) || N(0, I))
    text_reconstruction         -log p(x_txt | z_txt),    z_txt ~ q(z | x_txt) = p(z) q~(z | x_txt) / Z
    text_kl                     KL(q(z | x_txt) || N(0, I))

The unimodal ELBOs are what train each expert to stand alone. ``encode(m, x)`` is q(z | x_m), the prior
times that modality's expert, so text->image decodes a caption's q(z | x_txt).
"""

from __future__ import annotations

from typing import Collection

import torch

from remvae.core.distributions import Posterior
from remvae.core.model import Batch, Modality, ModelConfig, ModelOutput, Term
from remvae.core.registry import MODELS
from remvae.playground.models.experts import (
    PairedFamily,
    joint_reconstruction_terms,
    product_of_experts,
)
from remvae.text.batch import TextBatch

JOINT = "q(z | x_img, x_txt) = PoE(N(0, I), q~(z | x_img), q~(z | x_txt))"


class ProductOfExpertsConfig(ModelConfig):
    """MVAE: no options; its terms are the joint and the two unimodal ELBOs'."""

    def terms(self) -> tuple[Term, ...]:
        return (
            *joint_reconstruction_terms(JOINT),
            Term("joint_kl", "kl", "KL(q(z | x_img, x_txt) || N(0, I))"),
            Term("image_reconstruction", "reconstruction",
                 "-log p(x_img | z_img), z_img ~ q(z | x_img) = PoE(N(0, I), q~(z | x_img))"),
            Term("image_kl", "kl", "KL(q(z | x_img) || N(0, I))"),
            Term("text_reconstruction", "reconstruction",
                 "-log p(x_txt | z_txt), z_txt ~ q(z | x_txt) = PoE(N(0, I), q~(z | x_txt))"),
            Term("text_kl", "kl", "KL(q(z | x_txt) || N(0, I))"),
        )


@MODELS.register("poe", config=ProductOfExpertsConfig)
class ProductOfExpertsVAE(PairedFamily):
    """MVAE (Wu & Goodman 2018): a product-of-experts joint posterior, trained on the joint and unimodal ELBOs."""

    def forward(
        self, batch: Batch, terms: Collection[str] = (), generator: torch.Generator | None = None
    ) -> ModelOutput:
        image_expert, text_expert = self.experts(batch)
        posteriors = {
            "joint": product_of_experts([image_expert, text_expert], prior_expert=True),
            "image": product_of_experts([image_expert], prior_expert=True),
            "text": product_of_experts([text_expert], prior_expert=True),
        }
        z = {name: posterior.rsample(generator) for name, posterior in posteriors.items()}
        decoded = {
            "joint_image": self.reconstruct("image", z["joint"], batch, generator),
            "joint_text": self.reconstruct("text", z["joint"], batch, generator),
            "image": self.reconstruct("image", z["image"], batch, generator),
            "text": self.reconstruct("text", z["text"], batch, generator),
        }
        per_item = {f"{name}_reconstruction": nll for name, (_, nll) in decoded.items()}
        per_item.update({f"{name}_kl": posterior.kl() for name, posterior in posteriors.items()})
        reconstructions = {name: logits for name, (logits, _) in decoded.items()}
        return self.output(terms, posteriors, z, reconstructions, per_item)

    def encode(self, modality: Modality, x: torch.Tensor | TextBatch) -> Posterior:
        """q(z | x_m) = N(0, I) q~(z | x_m) / Z: the posterior of one modality alone."""
        return product_of_experts([super().encode(modality, x)], prior_expert=True)
