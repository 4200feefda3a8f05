"""The aligned pair: an image VAE and a text VAE, each with its own posterior, pulled together by an alignment loss.

With x the image, c its caption, q_i = q(z | x) and q_t = q(z | c), the terms (batch means of
per-pair values) are

    image_reconstruction  -log p(x | z_i),  z_i ~ q_i            (summed over pixels)
    text_reconstruction   -log p(c | z_t),  z_t ~ q_t            (summed over the caption's tokens)
    image_kl              KL(q_i || p(z))    p = N(0, I), or with model.config.vamp_prior the VampPrior
    text_kl               KL(q_t || p(z))      (1/K) sum_k q(z | u_k), estimated by log q(z|x) - log p(z) at z
    alignment             A(q_i, q_t)                            (the configured alignment loss)
    image_from_text       -log p(x | z_t)       optional: trains the image decoder on text latents
    text_from_image       -log p(c | z_i)       optional: trains the text decoder on image latents
    conditional_prior     KL(sg[q_i] || p(z | sg[q_t]))  with model.config.conditional_prior: fits the
                          caption-conditional prior (:mod:`remvae.playground.models.conditional_prior`)

and the trainer minimises sum_k w_k b_k(t) L_k, b_k(t) = beta(t) for the terms its variant anneals.
"""

from __future__ import annotations

from typing import Collection

import torch
from pydantic import Field, PositiveInt, field_validator

from remvae.core.config import ComponentConfig
from remvae.core.distributions import FullGaussian
from remvae.core.model import Batch, ModelConfig, ModelOutput, MultimodalModel, Term
from remvae.core.registry import ALIGNMENTS, MODELS, ComponentRef
from remvae.core.vae import ImageVAE, TextVAE
from remvae.playground.models.conditional_prior import (
    ConditionalPrior,
    ConditionalPriorConfig,
)
from remvae.playground.priors.common import kl_monte_carlo
from remvae.playground.priors.vamp import VampPrior
from remvae.text.batch import TextBatch

BASE_TERMS = (
    Term("image_reconstruction", "reconstruction", "-log p(x_img | z_img), z_img ~ q(z | x_img)"),
    Term("text_reconstruction", "reconstruction", "-log p(x_txt | z_txt), z_txt ~ q(z | x_txt)"),
    Term("image_kl", "kl", "KL(q(z | x_img) || N(0, I))"),
    Term("text_kl", "kl", "KL(q(z | x_txt) || N(0, I))"),
    Term("alignment", "alignment", "A(q(z | x_img), q(z | x_txt))"),
    Term("image_from_text", "cross_reconstruction", "-log p(x_img | z_txt)", optional=True),
    Term("text_from_image", "cross_reconstruction", "-log p(x_txt | z_img)", optional=True),
)
VAMP_KL = {
    "image_kl": Term("image_kl", "kl", "KL(q(z | x_img) || p_vamp(z)) ~ log q(z_img | x_img) - log p_vamp(z_img)"),
    "text_kl": Term("text_kl", "kl", "KL(q(z | x_txt) || p_vamp(z)) ~ log q(z_txt | x_txt) - log p_vamp(z_txt)"),
}
VAMP_TERMS = tuple(VAMP_KL.get(term.name, term) for term in BASE_TERMS)
CONDITIONAL_PRIOR_TERM = Term(
    "conditional_prior", "prior_fit", "KL(sg[q(z | x_img)] || p(z | sg[q(z | x_txt)])) (the conditional prior)",
    required=True,
)


class VampPriorConfig(ComponentConfig):
    """A VampPrior over the shared latent: K pseudo-images learned through the image encoder."""

    components: PositiveInt = Field(50, description="pseudo-inputs (mixture components) K")


class AlignedConfig(ModelConfig):
    """The alignment loss between the two posteriors, the prior, and an optional caption-conditional prior."""

    alignment: ComponentRef = Field(
        default_factory=lambda: ComponentRef(name="reference"), description="alignment loss between the posteriors"
    )
    conditional_prior: ConditionalPriorConfig | None = Field(
        None,
        description="a full-covariance p(z | caption) for sampled text->image, fitted to the image posteriors of "
        "each caption's images by the term conditional_prior; default: none",
    )
    vamp_prior: VampPriorConfig | None = Field(
        None, description="train with a VampPrior p(z) = (1/K) sum_k q(z | u_k) instead of N(0, I); default: none"
    )

    @field_validator("alignment")
    @classmethod
    def _check_alignment(cls, value: ComponentRef) -> ComponentRef:
        value.check(ALIGNMENTS)
        return value

    def terms(self) -> tuple[Term, ...]:
        terms = VAMP_TERMS if self.vamp_prior is not None else BASE_TERMS
        return terms + ((CONDITIONAL_PRIOR_TERM,) if self.conditional_prior is not None else ())

    @property
    def has_conditional_prior(self) -> bool:
        return self.conditional_prior is not None


@MODELS.register("aligned", config=AlignedConfig)
class AlignedVAE(MultimodalModel):
    """Two VAEs with their own posteriors, pulled into one latent space by an alignment loss (Re-MVAE)."""

    def __init__(self, config: AlignedConfig, *, image: ImageVAE, text: TextVAE) -> None:
        super().__init__(config, image, text)
        self.alignment = config.alignment.build(ALIGNMENTS)
        if config.vamp_prior is not None:
            self.use_prior(VampPrior.uniform(image.encode, self.latent_dim, config.vamp_prior.components,
                                             self.image_shape or ()))
        self.prior_net = None
        if config.conditional_prior is not None:
            self.prior_net = ConditionalPrior(self.latent_dim, config.conditional_prior.hidden_dim)

    def forward(
        self, batch: Batch, terms: Collection[str] = (), generator: torch.Generator | None = None
    ) -> ModelOutput:
        assert self.image is not None and self.text is not None and batch.images is not None and batch.text is not None
        computed = self.computed_terms(terms)
        image, caption = self.image(batch.images, generator), self.text(batch.text, generator)
        cross = {}
        if "image_from_text" in computed:
            cross["image_from_text"] = self.image.reconstruction_loss(self.image.decode_logits(caption.z), batch.images)
        if "text_from_image" in computed:
            cross["text_from_image"] = self.text.reconstruct(image.z, batch.text, generator)[1]
        if "conditional_prior" in computed:
            assert self.prior_net is not None  # the term is declared only with a conditional prior
            cross["conditional_prior"] = self.prior_net(caption.posterior).kl_from(image.posterior.detach())
        image_kl, text_kl = image.kl, caption.kl
        if self.config.vamp_prior is not None:
            prior = self.prior()
            image_kl = kl_monte_carlo(image.posterior, image.z, prior)
            text_kl = kl_monte_carlo(caption.posterior, caption.z, prior)
        values = {
            "image_reconstruction": image.reconstruction_loss.mean(),
            "text_reconstruction": caption.reconstruction_loss.mean(),
            "image_kl": image_kl.mean(),
            "text_kl": text_kl.mean(),
            "alignment": self.alignment(image.posterior, caption.posterior).mean(),
        }
        values.update({name: value.mean() for name, value in cross.items()})
        return ModelOutput(
            posteriors={"image": image.posterior, "text": caption.posterior},
            z={"image": image.z, "text": caption.z},
            reconstructions={"image": image.reconstruction, "text": caption.reconstruction},
            terms={name: values[name] for name in computed},
        )

    def conditional_prior(self, text: TextBatch) -> FullGaussian:
        """p(z | caption) read off each caption's text posterior (gradients reach only the prior's MLP)."""
        if self.prior_net is None:
            return super().conditional_prior(text)
        return self.prior_net(self.encode("text", text))
