"""Intermediate results evaluators share, each computed once per context (batched, no grad).

Images are kept as uint8 ``[N, C, H, W]`` on the CPU (as the readers store them), latents and
posteriors as float CPU tensors; work runs on ``ctx.device`` one batch at a time.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, get_args

import torch
from pydantic import Field
from torch import Tensor

from remvae.core.config import ComponentConfig
from remvae.core.distributions import FullGaussian, Posterior
from remvae.core.evaluator import EvaluationContext, EvaluationError
from remvae.playground.evaluators.judges import judge_for
from remvae.playground.evaluators.judges.judge import predictions

ImageSet = Literal["reconstruction", "text_to_image", "prior"]
IMAGE_SETS: tuple[str, ...] = get_args(ImageSet)


class GenerationConfig(ComponentConfig):
    """Where generation takes z: the posterior mean or a draw, and for text->image the text posterior or
    the model's conditional prior p(z | caption)."""

    sample: bool = Field(False, description="generate from a posterior (or prior) draw instead of its mean")
    conditional_prior: bool = Field(
        False, description="text->image from the model's conditional prior p(z | caption) instead of q(z | caption)"
    )
    prior_scale: float = Field(
        1.0, gt=0.0, le=2.0,
        description="spread of conditional-prior draws as a multiple of its standard deviation (a sampling "
        "temperature; used with conditional_prior and sample)",
    )

    @property
    def text_prior_scale(self) -> float | None:
        """``prior_scale`` when text->image uses the conditional prior, else ``None`` (the text posterior)."""
        return self.prior_scale if self.conditional_prior else None


def caption_grammar(ctx: EvaluationContext) -> Any:
    """The test set's caption grammar (``grammar``, or a multi-label reader's ``attribute_grammar``)."""
    grammar = ctx.test_set.grammar or getattr(ctx.test_set, "attribute_grammar", None)
    if grammar is None:
        raise EvaluationError("the test set has no caption grammar, so labels cannot be read from captions")
    return grammar


def to_uint8(images: Tensor) -> Tensor:
    return images.clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8).cpu()


def image_posterior(ctx: EvaluationContext) -> Posterior:
    """q(z|x) of every evaluated test image."""

    def compute() -> Posterior:
        return Posterior.cat([ctx.model.encode("image", ctx.images(index)).to("cpu") for index in ctx.slices()])

    return ctx.cached("posterior:image", compute)


def text_posterior(ctx: EvaluationContext) -> Posterior:
    """q(z|caption) of every evaluated test caption."""

    def compute() -> Posterior:
        return Posterior.cat([ctx.model.encode("text", ctx.text_batch(index)).to("cpu") for index in ctx.slices()])

    return ctx.cached("posterior:text", compute)


def text_prior(ctx: EvaluationContext) -> FullGaussian:
    """The conditional prior p(z|caption) of every evaluated test caption."""

    def compute() -> FullGaussian:
        return FullGaussian.cat([ctx.model.conditional_prior(ctx.text_batch(index)).to("cpu") for index in ctx.slices()])

    return ctx.cached("conditional_prior:text", compute)


def latents(ctx: EvaluationContext, posterior: Posterior, sample: bool, tag: str) -> Tensor:
    """The posterior means, or one seeded draw z = mean + std * eps per item."""
    return posterior.rsample(ctx.generator(tag)) if sample else posterior.mean


def decode_images(ctx: EvaluationContext, z: Tensor) -> Tensor:
    return torch.cat([to_uint8(ctx.model.decode("image", z[index].to(ctx.device))) for index in ctx.slices(len(z))])


def decode_ids(ctx: EvaluationContext, z: Tensor) -> list[Tensor]:
    """Greedy token ids per item (without ``<bos>``, cut after ``<eos>``), as a list of 1-D CPU tensors."""
    rows: list[Tensor] = []
    for index in ctx.slices(len(z)):
        rows.extend(ctx.model.decode("text", z[index].to(ctx.device)).cpu())
    return rows


def decode_texts(ctx: EvaluationContext, z: Tensor) -> list[str]:
    return [ctx.tokenizer.decode(ids) for ids in decode_ids(ctx, z)]


def _mode(sample: bool, prior_scale: float | None = None) -> str:
    mode = "sample" if sample else "mean"
    return mode if prior_scale is None else f"prior:{mode}:{prior_scale if sample else 0.0}"


def text_latents(ctx: EvaluationContext, sample: bool = False, prior_scale: float | None = None) -> Tensor:
    """z of the evaluated captions: from the text posterior, or with ``prior_scale`` from the conditional
    prior (its mean, or one seeded draw z = m + prior_scale * L eps per item)."""
    if prior_scale is None:
        return latents(ctx, text_posterior(ctx), sample, "text_to_image")
    prior = text_prior(ctx)
    return prior.rsample(ctx.generator("text_to_image"), prior_scale) if sample else prior.mean


def text_to_image(ctx: EvaluationContext, sample: bool = False, prior_scale: float | None = None) -> Tensor:
    """Images generated from the evaluated captions (uint8)."""
    return ctx.cached(
        f"text_to_image:{_mode(sample, prior_scale)}",
        lambda: decode_images(ctx, text_latents(ctx, sample, prior_scale)),
    )


def image_to_text(ctx: EvaluationContext, sample: bool = False) -> list[str]:
    """Greedy captions generated from the evaluated images."""
    return ctx.cached(
        f"image_to_text:{_mode(sample)}",
        lambda: decode_texts(ctx, latents(ctx, image_posterior(ctx), sample, "image_to_text")),
    )


def image_reconstructions(ctx: EvaluationContext) -> Tensor:
    """Test images encoded and decoded through the posterior mean (uint8)."""
    return ctx.cached("reconstruction:image", lambda: decode_images(ctx, image_posterior(ctx).mean))


def text_reconstruction_ids(ctx: EvaluationContext) -> list[Tensor]:
    """Test captions encoded and greedily decoded through the posterior mean (token ids)."""
    return ctx.cached("reconstruction:text", lambda: decode_ids(ctx, text_posterior(ctx).mean))


def text_reconstructions(ctx: EvaluationContext) -> list[str]:
    return ctx.cached(
        "reconstruction:text:str", lambda: [ctx.tokenizer.decode(i) for i in text_reconstruction_ids(ctx)]
    )


def prior_latents(ctx: EvaluationContext) -> Tensor:
    """``n`` seeded draws z ~ p(z) (the model's prior), shared by both modalities (joint generation)."""
    return ctx.cached("prior:z", lambda: ctx.model.prior().sample(ctx.n, ctx.generator("prior")).cpu())


def prior_images(ctx: EvaluationContext) -> Tensor:
    return ctx.cached("prior:image", lambda: decode_images(ctx, prior_latents(ctx)))


def prior_captions(ctx: EvaluationContext) -> list[str]:
    return ctx.cached("prior:text", lambda: decode_texts(ctx, prior_latents(ctx)))


def generated_images(
    ctx: EvaluationContext, which: str, sample: bool = False, prior_scale: float | None = None
) -> Tensor:
    """One of :data:`IMAGE_SETS`, ``n`` uint8 images each (``sample`` and ``prior_scale``: text->image's z)."""
    if which == "reconstruction":
        return image_reconstructions(ctx)
    if which == "text_to_image":
        return text_to_image(ctx, sample, prior_scale)
    if which == "prior":
        return prior_images(ctx)
    raise ValueError(f"unknown image set {which!r}; one of {', '.join(IMAGE_SETS)}")


def judged(ctx: EvaluationContext, key: str, images: Callable[[], Tensor]) -> tuple[Tensor, Tensor]:
    """The judge's logits ``[N, K]`` and penultimate features ``[N, F]`` on uint8 ``images()``, cached by ``key``."""

    def compute() -> tuple[Tensor, Tensor]:
        judge = judge_for(ctx)
        stack = images()
        outputs = [
            judge.logits_and_features(stack[index].to(ctx.device).float().div_(255.0))
            for index in ctx.slices(len(stack))
        ]
        return torch.cat([o[0].cpu() for o in outputs]), torch.cat([o[1].cpu().double() for o in outputs])

    return ctx.cached(f"judge:{key}", compute)


def judged_real(ctx: EvaluationContext) -> tuple[Tensor, Tensor]:
    """The judge on the evaluated real images; records its own accuracy on them in ``ctx.judge_info``."""

    def compute() -> tuple[Tensor, Tensor]:
        logits, features = judged(ctx, "real:outputs", lambda: ctx.items.images)
        assert ctx.judge_info is not None
        ctx.judge_info["accuracy"] = judge_accuracy(logits, ctx.items.labels, ctx.items.multilabel)
        ctx.judge_info["split"] = ctx.split
        return logits, features

    return ctx.cached("judge:real", compute)


def judge_accuracy(logits: Tensor, labels: Tensor, multilabel: bool) -> float:
    """Share of the items (of the attribute decisions, for multi-label data) the judge gets right."""
    return float((predictions(logits, multilabel) == labels.long()).double().mean())


def judged_generated(
    ctx: EvaluationContext, which: str, sample: bool = False, prior_scale: float | None = None
) -> tuple[Tensor, Tensor]:
    key = f"{which}:{_mode(sample, prior_scale)}" if which == "text_to_image" else which
    return judged(ctx, key, lambda: generated_images(ctx, which, sample, prior_scale))
