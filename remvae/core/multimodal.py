"""The mixed image + text model: two VAEs whose latents are aligned by the training objective."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from remvae.core.vae import ImageVAE, Posterior, TextBatch, VAEOutput
from remvae.core.wrapper import Wrapper


@dataclass
class MultimodalOutput:
    """Both modalities' outputs and, when asked for, the cross reconstructions ``[B]``:
    ``image_from_text`` = -log p(x_img | z_txt) and ``text_from_image`` = -log p(x_txt | z_img)."""

    image: VAEOutput
    text: VAEOutput
    image_from_text: Tensor | None = None
    text_from_image: Tensor | None = None


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

    def forward(
        self,
        images: Tensor,
        text: TextBatch,
        generator: torch.Generator | None = None,
        cross: frozenset[str] = frozenset(),
    ) -> MultimodalOutput:
        """Both VAEs' outputs, plus the cross reconstructions named in ``cross`` (``image_from_text``,
        ``text_from_image``); each costs one extra decoder pass, so only the requested ones are computed."""
        image, caption = self.image(images, generator), self.text(text, generator)
        out = MultimodalOutput(image, caption)
        if "image_from_text" in cross:
            out.image_from_text = self.image.reconstruction_loss(self.image.decode_logits(caption.z), images)
        if "text_from_image" in cross:
            out.text_from_image = self.text.reconstruct(image.z, text, generator)[1]
        return out

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
