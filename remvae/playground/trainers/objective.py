"""The training objective as composable, named loss terms.

    loss = sum_k w_k * b_k(t) * L_k,   b_k(t) = beta(t) for the annealed terms, 1 otherwise,

over the terms the model has: ``image_reconstruction`` (-log p(x|z), summed over pixels),
``image_kl`` (KL(q(z|x) || N(0, I))), ``text_reconstruction`` (token NLL summed over the caption),
``text_kl`` and, for the mixed model, ``alignment`` (between the image and text posteriors of a pair)
and the optional terms, computed only when their weight is positive: the cross reconstructions
``image_from_text`` (-log p(x_img | z_txt), z_txt ~ q(z|x_txt)) and ``text_from_image``
(-log p(x_txt | z_img)), which train each decoder on the other modality's posterior (what cross-modal
generation feeds it), and ``conditional_prior`` (KL(sg[q(z|x_img)] || p(z | sg[q(z|x_txt)])), which
trains only the model's conditional prior for sampled text->image; see
:mod:`remvae.core.conditional_prior`).
Each L_k is the batch mean of the model's per-sample values. The trainer variants differ only in
which terms are annealed (none; the KLs; the KLs and the alignment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from remvae.core.multimodal import MultimodalVAE
from remvae.core.vae import ImageVAE, Posterior
from remvae.core.wrapper import Wrapper
from remvae.playground.trainers.batches import Batch, Modality

TERMS = (
    "image_reconstruction", "text_reconstruction", "image_kl", "text_kl", "alignment", "image_from_text",
    "text_from_image", "conditional_prior",
)
OPTIONAL_TERMS = ("image_from_text", "text_from_image", "conditional_prior")
KL_TERMS = frozenset({"image_kl", "text_kl"})
Alignment = Callable[[Posterior, Posterior], Tensor]
Schedule = Callable[[int, int], float]


def modality_of(model: nn.Module) -> Modality:
    """Which batches ``model`` trains on: images (:class:`ImageVAE`), text (:class:`Wrapper`) or both."""
    if isinstance(model, MultimodalVAE):
        return "multimodal"
    if isinstance(model, ImageVAE):
        return "image"
    if isinstance(model, Wrapper):
        return "text"
    raise TypeError(
        f"cannot train a {type(model).__name__}: expected an ImageVAE, a Wrapper around a TextVAE, or a MultimodalVAE"
    )


def term_names(modality: Modality, weights: dict[str, float]) -> tuple[str, ...]:
    """The loss terms of a model of this modality, in the order :meth:`Objective.terms` returns them."""
    if modality == "image":
        return ("image_reconstruction", "image_kl")
    if modality == "text":
        return ("text_reconstruction", "text_kl")
    optional = tuple(name for name in OPTIONAL_TERMS if weights.get(name, 0.0) > 0)
    return ("image_reconstruction", "text_reconstruction", "image_kl", "text_kl", "alignment", *optional)


@dataclass(frozen=True)
class Objective:
    """Weights per term, the alignment loss, the schedule beta(t) and which terms it scales."""

    weights: dict[str, float]
    alignment: Alignment
    schedule: Schedule
    annealed: frozenset[str]

    def beta(self, step: int, total_steps: int) -> float:
        return float(self.schedule(step, total_steps))

    def terms(self, modality: Modality, net: nn.Module, batch: Batch, generator: torch.Generator | None) -> dict[str, Tensor]:
        """Forward ``net`` on ``batch`` and return the batch-mean value of each of the model's terms."""
        if modality == "image":
            out = net(batch.images, generator=generator)
            return {"image_reconstruction": out.reconstruction_loss.mean(), "image_kl": out.kl.mean()}
        if modality == "text":
            out = net(batch.text, generator=generator)
            return {"text_reconstruction": out.reconstruction_loss.mean(), "text_kl": out.kl.mean()}
        both = net(batch.images, batch.text, generator=generator, optional=self.optional)
        terms = {
            "image_reconstruction": both.image.reconstruction_loss.mean(),
            "text_reconstruction": both.text.reconstruction_loss.mean(),
            "image_kl": both.image.kl.mean(),
            "text_kl": both.text.kl.mean(),
            "alignment": self.alignment(both.image.posterior, both.text.posterior).mean(),
        }
        for name in self.optional:
            terms[name] = getattr(both, name).mean()
        return terms

    @property
    def optional(self) -> frozenset[str]:
        """The optional terms with a positive weight (the only ones computed)."""
        return frozenset(name for name in OPTIONAL_TERMS if self.weights[name] > 0)

    def loss(self, terms: dict[str, Tensor], beta: float) -> Tensor:
        total = sum(
            value * (self.weights[name] * (beta if name in self.annealed else 1.0)) for name, value in terms.items()
        )
        return total  # type: ignore[return-value]


def term_weights(
    w_img: float, w_txt: float, w_kl_img: float, w_kl_txt: float, w_align: float,
    w_img_from_txt: float = 0.0, w_txt_from_img: float = 0.0, w_conditional_prior: float = 0.0,
) -> dict[str, float]:
    return {
        "image_reconstruction": w_img,
        "text_reconstruction": w_txt,
        "image_kl": w_kl_img,
        "text_kl": w_kl_txt,
        "alignment": w_align,
        "image_from_text": w_img_from_txt,
        "text_from_image": w_txt_from_img,
        "conditional_prior": w_conditional_prior,
    }
