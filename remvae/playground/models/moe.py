"""MMVAE (Shi et al. 2019, "Variational Mixture-of-Experts Autoencoders for Multi-Modal Deep Generative
Models"): a mixture-of-experts joint posterior, trained on the stratified ELBO with cross-reconstructions.

The joint posterior is the uniform mixture of the unimodal encoders' Gaussians (the paper uses Laplace
posteriors; here every family's encoders give diagonal Gaussians),

    q(z | X) = 1/2 [ q(z | x_img) + q(z | x_txt) ].

Variant: the paper's standard, not importance-weighted, ELBO (not its IWAE/DReG objectives), estimated by
stratified sampling, one z from each component, with the mixture's own density in the KL term (not the
looser bound that puts each component's closed-form KL in its place):

    ELBO = 1/2 sum_{m in {img, txt}} E_{z_m ~ q(z | x_m)}[ log p(x_img | z_m) + log p(x_txt | z_m)
                                                           + log p(z_m) - log q(z_m | X) ],   p(z) = N(0, I).

The loss is -2 ELBO, the sum of the terms below (batch means of per-pair values), so that every term keeps
the weight one ELBO gives it and the reconstructions mean what the aligned pair's do:

    image_reconstruction  -log p(x_img | z_img),  z_img ~ q(z | x_img)
    text_from_image       -log p(x_txt | z_img)
    image_from_text       -log p(x_img | z_txt),  z_txt ~ q(z | x_txt)
    text_reconstruction   -log p(x_txt | z_txt)
    image_mixture_kl      log q(z_img | X) - log p(z_img)
    text_mixture_kl       log q(z_txt | X) - log p(z_txt)

(image_mixture_kl + text_mixture_kl) / 2 is an unbiased estimate of KL(q(z | X) || p(z)). ``encode(m, x)`` is
the component q(z | x_m) (the base class's), so text->image decodes a caption's q(z | x_txt). The joint
posterior is not one Gaussian: the output's ``posteriors`` are its components ``image`` and ``text``.
"""

from __future__ import annotations

from typing import Collection

import torch

from remvae.core.model import Batch, ModelConfig, ModelOutput, Term
from remvae.core.registry import MODELS
from remvae.playground.models.experts import (
    Mixture,
    PairedFamily,
    standard_normal_log_prob,
)

MIXTURE = "q(z | X) = (q(z | x_img) + q(z | x_txt)) / 2"


class MixtureOfExpertsConfig(ModelConfig):
    """MMVAE: no options; its terms are the two strata of the ELBO, each with its cross-reconstruction."""

    def terms(self) -> tuple[Term, ...]:
        return (
            Term("image_reconstruction", "reconstruction", "-log p(x_img | z_img), z_img ~ q(z | x_img)"),
            Term("text_from_image", "cross_reconstruction", "-log p(x_txt | z_img), z_img ~ q(z | x_img)"),
            Term("image_from_text", "cross_reconstruction", "-log p(x_img | z_txt), z_txt ~ q(z | x_txt)"),
            Term("text_reconstruction", "reconstruction", "-log p(x_txt | z_txt), z_txt ~ q(z | x_txt)"),
            Term("image_mixture_kl", "kl", f"log q(z_img | X) - log N(z_img; 0, I), z_img ~ q(z | x_img), {MIXTURE}"),
            Term("text_mixture_kl", "kl", f"log q(z_txt | X) - log N(z_txt; 0, I), z_txt ~ q(z | x_txt), {MIXTURE}"),
        )


@MODELS.register("moe", config=MixtureOfExpertsConfig)
class MixtureOfExpertsVAE(PairedFamily):
    """MMVAE (Shi et al. 2019): a mixture-of-experts joint posterior, trained on the stratified ELBO."""

    def forward(
        self, batch: Batch, terms: Collection[str] = (), generator: torch.Generator | None = None
    ) -> ModelOutput:
        image_posterior, text_posterior = self.experts(batch)
        mixture = Mixture((image_posterior, text_posterior))
        z = {"image": image_posterior.rsample(generator), "text": text_posterior.rsample(generator)}
        decoded = {
            "image": self.reconstruct("image", z["image"], batch, generator),
            "text_from_image": self.reconstruct("text", z["image"], batch, generator),
            "image_from_text": self.reconstruct("image", z["text"], batch, generator),
            "text": self.reconstruct("text", z["text"], batch, generator),
        }
        per_item = {
            "image_reconstruction": decoded["image"][1],
            "text_from_image": decoded["text_from_image"][1],
            "image_from_text": decoded["image_from_text"][1],
            "text_reconstruction": decoded["text"][1],
            **{f"{m}_mixture_kl": mixture.log_prob(z[m]) - standard_normal_log_prob(z[m]) for m in ("image", "text")},
        }
        reconstructions = {name: logits for name, (logits, _) in decoded.items()}
        posteriors = {"image": image_posterior, "text": text_posterior}
        return self.output(terms, posteriors, z, reconstructions, per_item)
