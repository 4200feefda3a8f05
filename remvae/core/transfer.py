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

Optionally the style is first taken off a content subspace, spanned by the ``k`` directions along which caption
latents vary most (the leading principal axes of mu_txt over a set of captions, :func:`content_basis`):

    style_k(x) = (I - U U^T) style(x)          (U: ``[D, k]``, orthonormal)

so that what the residual shares with the directions that tell captions apart is not carried to the new caption.
"""

from __future__ import annotations

import torch
from torch import Tensor

from remvae.core.model import LatentModel
from remvae.text.batch import TextBatch


def style_latents(model: LatentModel, images: Tensor, source: TextBatch) -> Tensor:
    """style(x) = mu_img(x) - mu_txt(c_x) ``[B, D]`` of images ``[B, C, H, W]`` in [0, 1] with their own captions."""
    return model.encode("image", images).mean - model.encode("text", source).mean


def content_basis(caption_latents: Tensor, k: int) -> Tensor:
    """U ``[D, k]``: orthonormal, the ``k`` leading principal axes of caption latents ``[N, D]`` (mu_txt of a set
    of captions, N > k)."""
    if not 0 <= k <= min(caption_latents.shape):
        raise ValueError(f"k must lie in 0..{min(caption_latents.shape)}, got {k}")
    centred = caption_latents - caption_latents.mean(0)
    return torch.linalg.svd(centred, full_matrices=False).Vh[:k].T


def transfer_latents(
    model: LatentModel, images: Tensor, source: TextBatch, target: TextBatch, strength: float = 1.0,
    content: Tensor | None = None,
) -> Tensor:
    """z = mu_txt(target) + strength * style(images): the images' latents redrawn with the target captions' content;
    with ``content`` (U, see :func:`content_basis`) the style is projected off U's span first."""
    style = style_latents(model, images, source)
    if content is not None:
        style = style - (style @ content) @ content.T
    return model.encode("text", target).mean + strength * style


__all__ = ["content_basis", "style_latents", "transfer_latents"]
