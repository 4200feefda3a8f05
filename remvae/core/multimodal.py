"""The mixed image + text model: two VAEs whose latents are aligned by the training objective."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from remvae.core.vae import ImageVAE, Posterior, TextBatch, VAEOutput
from remvae.core.wrapper import Wrapper


@dataclass
class MultimodalOutput:
    image: VAEOutput
    text: VAEOutput


class MultimodalVAE(nn.Module):
    """An :class:`ImageVAE` and a wrapped :class:`TextVAE` sharing one latent size."""

    def __init__(self, image: ImageVAE, text: Wrapper) -> None:
        super().__init__()
        if image.latent_dim != text.latent_dim:
            raise ValueError(
                f"image and text latent sizes differ: {image.latent_dim} != {text.latent_dim}; "
                "the alignment loss needs one shared latent space"
            )
        self.image = image
        self.text = text

    @property
    def latent_dim(self) -> int:
        return self.image.latent_dim

    def forward(self, images: Tensor, text: TextBatch, generator: torch.Generator | None = None) -> MultimodalOutput:
        return MultimodalOutput(self.image(images, generator), self.text(text, generator))

    # Inference: z is the posterior mean unless ``sample`` is set.

    @staticmethod
    def latent(posterior: Posterior, sample: bool = False, generator: torch.Generator | None = None) -> Tensor:
        return posterior.rsample(generator) if sample else posterior.mean

    def encode_image(self, images: Tensor) -> Posterior:
        return self.image.encode(images)

    def encode_text(self, text: TextBatch) -> Posterior:
        return self.text.vae.encode(text)

    @torch.no_grad()
    def image_to_text(
        self, images: Tensor, sample: bool = False, temperature: float = 0.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """Token ids ``[B, L]`` of captions generated from images (see :meth:`TextVAE.decode`)."""
        z = self.latent(self.encode_image(images), sample, generator)
        return self.text.vae.decode(z, temperature=temperature, generator=generator)

    @torch.no_grad()
    def text_to_image(self, text: TextBatch, sample: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """Images ``[B, C, H, W]`` in [0, 1] generated from captions."""
        return self.image.decode(self.latent(self.encode_text(text), sample, generator))
