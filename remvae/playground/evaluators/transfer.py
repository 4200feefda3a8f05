"""Style transfer between modalities, judged: does the transferred image show the new caption's content while
keeping the source image's style? (:mod:`remvae.core.transfer` defines the transfer.)

Each evaluated test image x (with its own caption) is paired with the caption c of another test item, chosen by a
seeded draw: for class-labelled data, a caption of a different class. The transferred image t = transfer(x, c) is
compared with plain text->image from c (which keeps no style) as the baseline. The strength s of the kept style is
chosen on the validation split (the largest of a grid whose content gap there is <= 3 points), then measured once
on the evaluated (test) items. With candidate numbers k of content directions (``directions``), the style is
projected off the k leading principal axes of the training captions' latents, s is chosen so for each k, and the
k whose choice keeps the most style on validation is taken; its basis is stored with the results (``fitted``), so
``remvae.load(run).transfer`` redraws images as they were measured.

Class-labelled data (MNIST, Fashion-MNIST), the style being (slant, thickness) from image moments
(:mod:`.style`), expressed as deviations from the class's mean in units of the class's std (the class statistics
of the evaluated real images):
  * content: share of t the judge labels as c's class (``transfer_content_accuracy``), beside the same for
    text->image from c (``text_to_image_accuracy``) and their difference (``content_gap``, target <= 0.03);
  * style: E_t = mean ||dev(t) - dev(x)||^2 and E_b = mean ||dev(text->image(c)) - dev(x)||^2; ``style_kept`` =
    1 - E_t / E_b, the share of the source's deviation from its class mean that the transfer keeps beyond plain
    text->image (1: all kept, 0: no more than the baseline; target >= 0.5); per feature, the correlation of
    dev(t) (and of the baseline) with dev(x).
Multi-label data (CelebA), the style being the attributes the caption does not name:
  * content: share of the attributes c names that the judge sees on t (``transfer_content_recall``), beside the
    same for text->image (``text_to_image_recall``);
  * style: among the attributes c does not name, the share on which the judge agrees between t and x
    (``unnamed_agreement``), beside the baseline's; ``style_kept`` = (agreement_t - agreement_b) / (1 - agreement_b).
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field, field_validator
from torch import Tensor

from remvae.core.config import ComponentConfig
from remvae.core.evaluator import EvaluationContext, EvaluationError, Evaluator
from remvae.core.registry import EVALUATORS
from remvae.core.transfer import content_basis, transfer_latents
from remvae.playground.evaluators.common import (
    decode_images,
    judged,
    judged_real,
    text_latents,
)
from remvae.playground.evaluators.cross_modal import named_attributes
from remvae.playground.evaluators.judges.judge import predictions
from remvae.playground.evaluators.style import (
    FEATURES,
    class_statistics,
    deviations,
    style_features,
)


class TransferConfig(ComponentConfig):
    """How many source images are transferred, and the strength s of the kept style (:mod:`remvae.core.transfer`)."""

    limit: int | None = Field(2000, ge=2, description="source images transferred (default 2000; None: all evaluated)")
    strength: float | None = Field(
        None, gt=0, description="s; default: chosen on the validation split, the largest of `strengths` whose "
        "content gap there is at most `max_content_gap`",
    )
    strengths: list[float] = Field(default_factory=lambda: [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0], min_length=1)
    max_content_gap: float = Field(0.03, ge=0, description="the largest content gap a chosen strength may have")
    directions: list[int] = Field(
        default_factory=lambda: [0], min_length=1,
        description="candidate numbers k of content directions the style is projected off before it is added "
        "(0: none; see remvae.core.transfer); with several, k is chosen on the validation split with the strength",
    )
    basis_items: int = Field(5000, ge=2, description="training captions whose latents' principal axes are the "
                             "content directions")

    @field_validator("directions")
    @classmethod
    def _distinct_directions(cls, value: list[int]) -> list[int]:
        if any(k < 0 for k in value) or len(set(value)) != len(value):
            raise ValueError(f"directions must be distinct integers >= 0, got {value}")
        return sorted(value)


def target_items(ctx: EvaluationContext, sources: Tensor) -> Tensor:
    """For each source item, the index of the test item whose caption it is redrawn with: a seeded draw among the
    items of another class (class-labelled data) or among the other items."""
    generator = ctx.generator("transfer")
    labels = ctx.items.labels
    if ctx.items.multilabel:
        offsets = torch.randint(1, ctx.n, (len(sources),), generator=generator)
        return (sources + offsets) % ctx.n
    targets = torch.empty_like(sources)
    for row, source in enumerate(sources.tolist()):
        others = torch.nonzero(labels != labels[source]).flatten()
        targets[row] = others[torch.randint(len(others), (1,), generator=generator)]
    return targets


@EVALUATORS.register("transfer", config=TransferConfig)
class StyleTransfer(Evaluator):
    """Style transfer judged: the new caption's content on the transferred image, and the source image's style kept.

    Metrics:
        strength: the strength s of the kept style, given or chosen on the validation split (the largest whose
            content gap there is at most max_content_gap).
        pairs: source images transferred, each to the caption of another test item (another class where there are
            classes).
        transfer_content_accuracy: share of transferred images the judge labels as the new caption's class.
        text_to_image_accuracy: the same for plain text->image from the new caption, the baseline that keeps no
            style.
        content_gap: baseline content score minus the transfer's: the content the transfer gives up (target at
            most 0.03).
        style_kept: share of the source image's style that the transfer keeps beyond plain text->image (1: all,
            0: no more than the baseline); classes: slant and thickness as deviations from the class mean;
            CelebA: agreement on the attributes the new caption does not name.
        {slant,thickness}_correlation: correlation between the transferred and the source image's deviation from
            their class means in that style feature (1: the style carried over exactly).
        {slant,thickness}_correlation_baseline: the same for plain text->image, which should be near 0.
        transfer_content_recall: CelebA: share of the attributes the new caption names that the judge sees on
            the transferred image.
        text_to_image_recall: CelebA: the same for plain text->image from the new caption.
        unnamed_agreement: CelebA: share of the attributes the new caption does not name on which the judge
            agrees between the transferred and the source image.
        unnamed_agreement_baseline: CelebA: the same for plain text->image.
        content_directions: the number k of content directions the style was projected off (chosen on the
            validation split with the strength when several are candidates); written only when `directions` is
            not [0].
        validation.<strength>.{content_gap,style_kept}: those scores on the validation split at each candidate
            strength (followed by _k<k> when the style was projected off k content directions), from which the
            strength and k were chosen.
    """

    uses_judge = True

    def __init__(self, config: TransferConfig) -> None:
        self.config = config

    @torch.no_grad()
    def evaluate(self, ctx: EvaluationContext) -> dict[str, Any]:
        bases = self.content_bases(ctx)
        strengths = sorted(self.config.strengths) if self.config.strength is None else [self.config.strength]
        if len(bases) == 1 and len(strengths) == 1:
            (k, basis), strength = next(iter(bases.items())), strengths[0]
            return {"strength": strength, **self._directions(ctx, k, basis), **self.measure(ctx, strength, basis)}
        if ctx.validation_set is None:
            raise EvaluationError("transfer: choosing the strength (and k) needs the validation split (or give "
                                  "`strength` and one of `directions`)")
        validation = EvaluationContext(
            ctx.model, ctx.tokenizer, ctx.validation_set, split="validation", dataset=ctx.dataset, judge=ctx.judge,
            device=ctx.device, seed=ctx.seed, batch_size=ctx.batch_size, limit=self.config.limit,
        )
        curve = {(k, s): self.measure(validation, s, basis) for k, basis in bases.items() for s in strengths}
        k, strength = self.choose(curve)
        ctx.per_item.clear()
        chosen_on = {(str(s) if j == 0 else f"{s}_k{j}"): {key: scores[key] for key in ("content_gap", "style_kept")}
                     for (j, s), scores in curve.items()}
        return {"strength": strength, **self._directions(ctx, k, bases[k]), **self.measure(ctx, strength, bases[k]),
                "validation": chosen_on}

    def choose(self, curve: dict[tuple[int, float], dict[str, Any]]) -> tuple[int, float]:
        """(k, s) from validation scores: for each k the largest strength whose content gap is at most
        ``max_content_gap``; among those, the k keeping the most style. With none allowed, the smallest k and
        strength."""
        allowed = [key for key, scores in curve.items() if scores["content_gap"] <= self.config.max_content_gap + 1e-9]
        per_k = {k: max(s for j, s in allowed if j == k) for k in {k for k, _ in allowed}}
        if not per_k:
            return min(curve)

        def kept(key: tuple[int, float]) -> float:
            value = curve[key]["style_kept"]
            return value if value == value else float("-inf")  # NaN (CelebA, a baseline agreeing everywhere)

        return max(per_k.items(), key=lambda item: (kept(item), -item[0]))

    def content_bases(self, ctx: EvaluationContext) -> dict[int, Tensor | None]:
        """U (``[D, k]``) for each candidate k, fitted to the text posterior means of the first ``basis_items``
        training captions; ``None`` for k = 0."""
        if self.config.directions == [0]:
            return {0: None}
        if ctx.train_set is None:
            raise EvaluationError("transfer: content directions are fitted to training captions; the evaluation "
                                  "has no training split (or use directions [0])")
        train = EvaluationContext(ctx.model, ctx.tokenizer, ctx.train_set, split="train", dataset=ctx.dataset,
                                  device=ctx.device, seed=ctx.seed, batch_size=ctx.batch_size,
                                  limit=self.config.basis_items)
        captions = text_latents(train).float()
        if max(self.config.directions) > min(captions.shape):
            raise EvaluationError(f"transfer: directions {max(self.config.directions)} exceeds what "
                                  f"{len(captions)} captions in a {captions.shape[1]}-d latent space can span")
        return {k: content_basis(captions, k) if k else None for k in self.config.directions}

    def _directions(self, ctx: EvaluationContext, k: int, basis: Tensor | None) -> dict[str, Any]:
        """The chosen k among the metrics, its basis among what the model's API reuses (``ctx.fitted``)."""
        if self.config.directions == [0]:
            return {}
        if basis is not None:
            ctx.fitted["content_basis"] = basis.cpu()
        return {"content_directions": k}

    def measure(self, ctx: EvaluationContext, strength: float, content: Tensor | None = None) -> dict[str, Any]:
        """The transfer's scores on ``ctx``'s items at ``strength`` (with the style projected off ``content``'s
        span when given, see :func:`remvae.core.transfer.transfer_latents`)."""
        count = ctx.n if self.config.limit is None else min(self.config.limit, ctx.n)
        sources = torch.randperm(ctx.n, generator=ctx.generator("transfer:sources"))[:count].sort().values
        targets = target_items(ctx, sources)
        text, images = ctx.text(), ctx.items.images[sources]
        latents = [
            transfer_latents(ctx.model, images[index].to(ctx.device).float().div_(255.0),
                             text[sources[index]].to(ctx.device), text[targets[index]].to(ctx.device), strength,
                             None if content is None else content.to(ctx.device)).cpu()
            for index in ctx.slices(count)
        ]
        transferred = decode_images(ctx, torch.cat(latents))
        baseline = decode_images(ctx, text_latents(ctx)[targets])
        key = f"transfer:{strength}" if content is None else f"transfer:{strength}:{content.shape[1]}"
        transferred_logits, _ = judged(ctx, key, lambda: transferred)
        baseline_logits, _ = judged(ctx, "transfer:baseline", lambda: baseline)
        ctx.per_item["transferred_features"] = style_features(transferred).float()
        if ctx.items.multilabel:
            return self._attributes(ctx, sources, targets, transferred_logits, baseline_logits)
        return self._classes(ctx, sources, targets, transferred, baseline, transferred_logits, baseline_logits)

    def _classes(self, ctx: EvaluationContext, sources: Tensor, targets: Tensor, transferred: Tensor,
                 baseline: Tensor, transferred_logits: Tensor, baseline_logits: Tensor) -> dict[str, Any]:
        labels = ctx.items.labels.long()
        judged_real(ctx)  # records the judge's own accuracy on the evaluated real images
        wanted = labels[targets]
        content = transferred_logits.argmax(1) == wanted
        plain = baseline_logits.argmax(1) == wanted
        means, stds = class_statistics(style_features(ctx.items.images), labels, len(ctx.items.label_names))
        source_dev = deviations(style_features(ctx.items.images[sources]), labels[sources], means, stds)
        transfer_dev = deviations(style_features(transferred), wanted, means, stds)
        baseline_dev = deviations(style_features(baseline), wanted, means, stds)
        error_t = (transfer_dev - source_dev).pow(2).sum(1)
        error_b = (baseline_dev - source_dev).pow(2).sum(1)
        ctx.per_item.update(transfer_content=content, text_to_image_content=plain, transfer_style_error=error_t,
                            baseline_style_error=error_b)
        metrics: dict[str, Any] = {
            "pairs": len(sources),
            "transfer_content_accuracy": float(content.double().mean()),
            "text_to_image_accuracy": float(plain.double().mean()),
            "style_kept": float(1.0 - error_t.mean() / error_b.mean()),
        }
        metrics["content_gap"] = metrics["text_to_image_accuracy"] - metrics["transfer_content_accuracy"]
        for column, name in enumerate(FEATURES):
            metrics[f"{name}_correlation"] = _correlation(transfer_dev[:, column], source_dev[:, column])
            metrics[f"{name}_correlation_baseline"] = _correlation(baseline_dev[:, column], source_dev[:, column])
        return metrics

    def _attributes(self, ctx: EvaluationContext, sources: Tensor, targets: Tensor, transferred_logits: Tensor,
                    baseline_logits: Tensor) -> dict[str, Any]:
        real_logits, _ = judged_real(ctx)
        source = predictions(real_logits[sources], True).bool()
        named = named_attributes(ctx, [ctx.items.captions[i] for i in targets.tolist()]).bool()
        transfer = predictions(transferred_logits, True).bool()
        plain = predictions(baseline_logits, True).bool()
        unnamed = ~named
        agree_t = ((transfer == source) & unnamed).sum(1).double() / unnamed.sum(1).clamp(min=1)
        agree_b = ((plain == source) & unnamed).sum(1).double() / unnamed.sum(1).clamp(min=1)
        ctx.per_item.update(unnamed_agreement=agree_t, unnamed_agreement_baseline=agree_b)
        recall_t = float((transfer & named).sum() / named.sum().clamp(min=1))
        recall_b = float((plain & named).sum() / named.sum().clamp(min=1))
        kept_t, kept_b = float(agree_t.mean()), float(agree_b.mean())
        return {
            "pairs": len(sources),
            "transfer_content_recall": recall_t,
            "text_to_image_recall": recall_b,
            "content_gap": recall_b - recall_t,
            "unnamed_agreement": kept_t,
            "unnamed_agreement_baseline": kept_b,
            "style_kept": (kept_t - kept_b) / (1.0 - kept_b) if kept_b < 1.0 else float("nan"),
        }


def _correlation(a: Tensor, b: Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp(min=1e-12))


__all__ = ["StyleTransfer", "TransferConfig", "target_items"]
