"""MoPoE-VAE (Sutter et al. 2021, "Generalized Multimodal ELBO"): a mixture over the non-empty subsets of the
modalities of each subset's product of experts.

A subset s's posterior is the normalised product of its modalities' encoder Gaussians (the paper's
PoE, without a prior expert), and the joint posterior is their uniform mixture; for two modalities

    q~(z | x_img) = q(z | x_img),   q~(z | x_txt) = q(z | x_txt),
    q~(z | x_img, x_txt) = q(z | x_img) q(z | x_txt) / Z,
    q(z | X) = 1/3 [ q~(z | x_img) + q~(z | x_txt) + q~(z | x_img, x_txt) ].

The ELBO, with the mixture's KL replaced by the paper's upper bound (KL is convex in its first argument),
the mean of the subsets' KLs:

    ELBO = E_{z ~ q(z | X)}[ log p(x_img | z) + log p(x_txt | z) ] - 1/3 sum_s KL(q~(z | X_s) || p(z)),
    p(z) = N(0, I),

estimated with one z per pair from the mixture (its subset drawn uniformly from the generator). -ELBO is
the sum of the terms (batch means of per-pair values)

    joint_image_reconstruction  -log p(x_img | z),  z ~ q(z | X)
    joint_text_reconstruction   -log p(x_txt | z)
    joint_kl                    1/3 [ KL(q~(z | x_img) || p) + KL(q~(z | x_txt) || p) + KL(q~(z | x_img, x_txt) || p) ]

``encode(m, x)`` is q~(z | x_m), the unimodal encoder's Gaussian (the base class's), so text->image decodes a
caption's q(z | x_txt). The joint posterior is not one Gaussian: the output's ``posteriors`` are the three
subsets' (``image``, ``text``, ``image_text``) and ``z["joint"]`` is the draw from their mixture.
"""

from __future__ import annotations

from typing import Collection

import torch

from remvae.core.model import Batch, ModelConfig, ModelOutput, Term
from remvae.core.registry import MODELS
from remvae.playground.models.experts import (
    Mixture,
    PairedFamily,
    joint_reconstruction_terms,
    product_of_experts,
)

SUBSETS = "q~(z | x_img), q~(z | x_txt), q~(z | x_img, x_txt) = PoE(q(z | x_img), q(z | x_txt))"


class MixtureOfProductsConfig(ModelConfig):
    """MoPoE-VAE: no options; its terms are the ELBO of the mixture of the subsets' products of experts."""

    def terms(self) -> tuple[Term, ...]:
        return (
            *joint_reconstruction_terms(f"q(z | X) = the uniform mixture of {SUBSETS}"),
            Term("joint_kl", "kl", f"1/3 sum_s KL(q~(z | X_s) || N(0, I)) over {SUBSETS}"),
        )


@MODELS.register("mopoe", config=MixtureOfProductsConfig)
class MixtureOfProductsVAE(PairedFamily):
    """MoPoE-VAE (Sutter et al. 2021): a mixture of the products of experts of every non-empty subset."""

    def forward(
        self, batch: Batch, terms: Collection[str] = (), generator: torch.Generator | None = None
    ) -> ModelOutput:
        image_posterior, text_posterior = self.experts(batch)
        posteriors = {
            "image": image_posterior,
            "text": text_posterior,
            "image_text": product_of_experts([image_posterior, text_posterior], prior_expert=False),
        }
        z, _ = Mixture(tuple(posteriors.values())).rsample(generator)
        decoded = {m: self.reconstruct(m, z, batch, generator) for m in ("image", "text")}
        per_item = {
            "joint_image_reconstruction": decoded["image"][1],
            "joint_text_reconstruction": decoded["text"][1],
            "joint_kl": torch.stack([posterior.kl() for posterior in posteriors.values()]).mean(0),
        }
        reconstructions = {f"joint_{m}": logits for m, (logits, _) in decoded.items()}
        return self.output(terms, posteriors, {"joint": z}, reconstructions, per_item)
