"""Single-modality families: an image VAE alone, or a text VAE alone, trained on their own ELBO.

    loss = w_rec (-log p(x | z)) + w_kl beta(t) KL(q(z | x) || N(0, I)),   z ~ q(z | x)
"""

from __future__ import annotations

from typing import ClassVar, Collection

import torch

from remvae.core.model import (
    Batch,
    Modality,
    ModelConfig,
    ModelOutput,
    MultimodalModel,
    Term,
)
from remvae.core.registry import MODELS
from remvae.core.vae import ImageVAE, TextVAE


class ImageOnlyConfig(ModelConfig):
    """An image VAE trained alone."""

    modalities: ClassVar[tuple[Modality, ...]] = ("image",)

    def terms(self) -> tuple[Term, ...]:
        return (
            Term("image_reconstruction", "reconstruction", "-log p(x_img | z), z ~ q(z | x_img)"),
            Term("image_kl", "kl", "KL(q(z | x_img) || N(0, I))"),
        )


class TextOnlyConfig(ModelConfig):
    """A text VAE trained alone."""

    modalities: ClassVar[tuple[Modality, ...]] = ("text",)

    def terms(self) -> tuple[Term, ...]:
        return (
            Term("text_reconstruction", "reconstruction", "-log p(x_txt | z), z ~ q(z | x_txt)"),
            Term("text_kl", "kl", "KL(q(z | x_txt) || N(0, I))"),
        )


class _SingleModality(MultimodalModel):
    """One VAE's ELBO terms under the names ``<modality>_reconstruction`` and ``<modality>_kl``."""

    def forward(
        self, batch: Batch, terms: Collection[str] = (), generator: torch.Generator | None = None
    ) -> ModelOutput:
        (modality,) = self.modalities
        vae = self._vae(modality)
        out = vae(batch.images if modality == "image" else batch.text, generator)
        return ModelOutput(
            posteriors={modality: out.posterior},
            z={modality: out.z},
            reconstructions={modality: out.reconstruction},
            terms={f"{modality}_reconstruction": out.reconstruction_loss.mean(), f"{modality}_kl": out.kl.mean()},
        )


@MODELS.register("image_vae", config=ImageOnlyConfig)
class ImageOnlyVAE(_SingleModality):
    """An image VAE on its own (no text): reconstruction, prior samples, latent space."""

    def __init__(self, config: ImageOnlyConfig, *, image: ImageVAE, text: None = None) -> None:
        super().__init__(config, image, text)


@MODELS.register("text_vae", config=TextOnlyConfig)
class TextOnlyVAE(_SingleModality):
    """A text VAE on its own (no images): caption reconstruction, perplexity, prior samples."""

    def __init__(self, config: TextOnlyConfig, *, image: None = None, text: TextVAE) -> None:
        super().__init__(config, image, text)
