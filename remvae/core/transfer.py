"""Style transfer between modalities: an image redrawn with another caption's content and its own style.

In the shared latent space the part of an image's latent that its caption predicts is its content; the rest is
its style. With mu_img(x) the image posterior's mean and mu_txt(c) the text posterior's mean (for an aligned
model the caption's estimate of E[z | c], the centre of the latents of the images it describes):

    style(x)          = mu_img(x) - mu_txt(c_x)           (c_x: the image's own caption)
    transfer(x, c)    = decode_image( mu_txt(c) + s style(x) )

so the transferred image sits where ``c``'s images sit, displaced from their centre as ``x`` is displaced from
the centre of its own caption's images, scaled by the strength s: the residual also carries some of what tells
classes apart, so s trades the kept style against the new content (the ``transfer`` evaluator chooses s on the
validation split). Only the model protocol (encode / decode) is used, so every family works.
"""

from __future__ import annotations

from torch import Tensor

from remvae.core.model import LatentModel
from remvae.text.batch import TextBatch


def style_latents(model: LatentModel, images: Tensor, source: TextBatch) -> Tensor:
    """style(x) = mu_img(x) - mu_txt(c_x) ``[B, D]`` of images ``[B, C, H, W]`` in [0, 1] with their own captions."""
    return model.encode("image", images).mean - model.encode("text", source).mean


def transfer_latents(
    model: LatentModel, images: Tensor, source: TextBatch, target: TextBatch, strength: float = 1.0
) -> Tensor:
    """z = mu_txt(target) + strength * style(images): the images' latents redrawn with the target captions' content."""
    return model.encode("text", target).mean + strength * style_latents(model, images, source)


__all__ = ["style_latents", "transfer_latents"]
