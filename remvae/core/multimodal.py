"""The mixed image + text model: two VAEs whose latents are aligned by the training objective."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from remvae.core.conditional_prior import ConditionalPrior, FullGaussian
from remvae.core.vae import ImageVAE, Posterior, TextBatch, VAEOutput
from remvae.core.wrapper import Wrapper


@dataclass
class MultimodalOutput:
    """Both modalities' outputs and, when asked for, the optional terms ``[B]``: the cross reconstructions
    ``image_from_text`` = -log p(x_img | z_txt) and ``text_from_image`` = -log p(x_txt | z_img), and
    ``conditional_prior`` = KL(sg[q(z|x_img)] || p(z | sg[q(z|x_txt)])) (see :mod:`remvae.core.conditional_prior`)."""

    image: VAEOutput
    text: VAEOutput
    image_from_text: Tensor | None = None
    text_from_image: Tensor | None = None
    conditional_prior: Tensor | None = None


class MultimodalVAE(nn.Module):
    """An :class:`ImageVAE` and a wrapped :class:`TextVAE` sharing one latent size, and optionally a
    :class:`ConditionalPrior` p(z | caption) for sampled text->image."""

    def __init__(self, image: ImageVAE, text: Wrapper, conditional_prior: ConditionalPrior | None = None) -> None:
        super().__init__()
        if image.latent_dim != text.latent_dim:
            raise ValueError(
                f"image and text latent sizes differ: {image.latent_dim} != {text.latent_dim}; "
                "the alignment loss needs one shared latent space"
            )
        if conditional_prior is not None and conditional_prior.latent_dim != image.latent_dim:
            raise ValueError(
                f"the conditional prior's latent size {conditional_prior.latent_dim} differs from the VAEs' "
                f"{image.latent_dim}"
            )
        self.image = image
        self.text = text
        self.conditional_prior = conditional_prior

    @property
    def latent_dim(self) -> int:
        return self.image.latent_dim

    def forward(
        self,
        images: Tensor,
        text: TextBatch,
        generator: torch.Generator | None = None,
        optional: frozenset[str] = frozenset(),
    ) -> MultimodalOutput:
        """Both VAEs' outputs, plus the optional terms named in ``optional`` (``image_from_text``,
        ``text_from_image``, ``conditional_prior``); each costs an extra pass, so only the requested ones
        are computed."""
        image, caption = self.image(images, generator), self.text(text, generator)
        out = MultimodalOutput(image, caption)
        if "image_from_text" in optional:
            out.image_from_text = self.image.reconstruction_loss(self.image.decode_logits(caption.z), images)
        if "text_from_image" in optional:
            out.text_from_image = self.text.reconstruct(image.z, text, generator)[1]
        if "conditional_prior" in optional:
            out.conditional_prior = self.prior_of(caption.posterior).kl_from(image.posterior.detach())
        return out

    # Inference: z is the posterior mean unless ``sample`` is set.

    @staticmethod
    def latent(posterior: Posterior, sample: bool = False, generator: torch.Generator | None = None) -> Tensor:
        return posterior.rsample(generator) if sample else posterior.mean

    def encode_image(self, images: Tensor) -> Posterior:
        return self.image.encode(images)

    def encode_text(self, text: TextBatch) -> Posterior:
        return self.text.vae.encode(text)

    def prior_of(self, text_posterior: Posterior) -> FullGaussian:
        """p(z | caption) from the caption's text posterior (gradients reach only the conditional prior)."""
        if self.conditional_prior is None:
            raise ValueError(
                "this model has no conditional prior; declare conditional_prior in args.json (and give the "
                "trainer w_conditional_prior > 0) to train one"
            )
        return self.conditional_prior(text_posterior)

    def text_prior(self, text: TextBatch) -> FullGaussian:
        """The conditional prior p(z | caption) of each caption."""
        return self.prior_of(self.encode_text(text))

    def text_latent(
        self, text: TextBatch, sample: bool = False, prior_scale: float | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """z for text->image: from the text posterior, or with ``prior_scale`` from the conditional prior
        (its mean, or a draw whose spread is scaled by ``prior_scale``)."""
        if prior_scale is None:
            return self.latent(self.encode_text(text), sample, generator)
        prior = self.text_prior(text)
        return prior.rsample(generator, prior_scale) if sample else prior.mean

    @torch.no_grad()
    def image_to_text(
        self, images: Tensor, sample: bool = False, temperature: float = 0.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """Token ids ``[B, L]`` of captions generated from images (see :meth:`TextVAE.decode`)."""
        z = self.latent(self.encode_image(images), sample, generator)
        return self.text.vae.decode(z, temperature=temperature, generator=generator)

    @torch.no_grad()
    def text_to_image(
        self, text: TextBatch, sample: bool = False, generator: torch.Generator | None = None,
        prior_scale: float | None = None,
    ) -> Tensor:
        """Images ``[B, C, H, W]`` in [0, 1] generated from captions (z as :meth:`text_latent` gives it)."""
        return self.image.decode(self.text_latent(text, sample, prior_scale, generator))
