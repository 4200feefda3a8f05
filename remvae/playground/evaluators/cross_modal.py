"""Cross-modal accuracy ("coherence"): does a generated image or caption show the label it should?

Single-label data (MNIST, Fashion-MNIST):
  * text->image top-k: share of images generated from test captions whose true label is among the
    judge's k most likely classes;
  * image->text: share of captions generated from test images naming (``grammar.mentioned_label``)
    the judge's label of the input image, and the true label; a caption naming no single label is wrong;
  * joint coherence: z ~ N(0, I) decoded to both; share where the caption names the judge's label;
  * text->image class FID: judge-feature FID between generations and real images of each class,
    averaged over classes (low only if generations are diverse within a class).
Multi-label data (CelebA): precision / recall / F1 per attribute (macro over attributes with
positives, and micro) of the attributes named in generated captions against the true ones, and of
the judge's attributes on images generated from captions against those the caption names.
Captions name only a few attributes each, so recall is the informative half for text->image and
precision for image->text; ``reference_*`` scores (test captions vs true attributes, judge on the
real images vs caption attributes) give the ceilings. Text->image attribute accuracy: the judge's 40
attributes on images generated from a caption against the true attributes of the image it describes,
beside ``judge_accuracy`` (the same on the real images) and ``majority_attribute_accuracy`` (always
answering each attribute's more frequent value). Joint coherence is the share of attributes
named by prior captions that the judge sees on the paired prior images; ``text_to_image_recall_micro``
is the same share for images generated from test captions, so the two compare joint generation with
translation on one measure.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import Tensor

from remvae.core.evaluator import EvaluationContext, Evaluator
from remvae.core.registry import EVALUATORS
from remvae.playground.evaluators.common import (
    GenerationConfig,
    caption_grammar,
    image_to_text,
    judged_generated,
    judged_real,
    prior_captions,
)
from remvae.playground.evaluators.fid import frechet_distance
from remvae.playground.evaluators.judges.judge import predictions


class CrossModalConfig(GenerationConfig):
    """Options of the cross-modal accuracy."""

    top_k: list[int] = Field(default_factory=lambda: [1, 2, 3], min_length=1)
    class_fid: bool = Field(True, description="also the per-class judge-feature FID of text->image")


def named_labels(ctx: EvaluationContext, captions: list[str]) -> Tensor:
    """The single label each caption names, ``-1`` where it names none or several."""
    grammar = caption_grammar(ctx)
    return torch.tensor([_or_minus_one(grammar.mentioned_label(c)) for c in captions], dtype=torch.long)


def named_attributes(ctx: EvaluationContext, captions: list[str]) -> Tensor:
    """0/1 ``[N, K]`` attributes each caption names (the grammar's ``parse``)."""
    grammar = caption_grammar(ctx)
    return torch.stack([torch.as_tensor(grammar.parse(c), dtype=torch.long) for c in captions])


def _or_minus_one(label: int | None) -> int:
    return -1 if label is None else int(label)


def precision_recall_f1(predicted: Tensor, true: Tensor, names: list[str]) -> dict[str, Any]:
    """Per-attribute and pooled scores of 0/1 ``predicted`` against 0/1 ``true`` ``[N, K]``.

    precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2 TP / (2 TP + FP + FN) (0 where the
    denominator is 0). Macro averages run over the attributes with at least one true positive
    item (``support > 0``); micro averages pool the counts of all attributes.
    """
    p, t = predicted.bool(), true.bool()
    tp, fp, fn = (p & t).sum(0).double(), (p & ~t).sum(0).double(), (~p & t).sum(0).double()

    def ratio(num: Tensor, den: Tensor) -> Tensor:
        return torch.where(den > 0, num / den.clamp(min=1), torch.zeros_like(num))

    precision, recall, f1 = ratio(tp, tp + fp), ratio(tp, tp + fn), ratio(2 * tp, 2 * tp + fp + fn)
    support = tp + fn
    scored = support > 0
    out: dict[str, Any] = {}
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[f"{name}_macro"] = float(values[scored].mean()) if scored.any() else float("nan")
    totals = tp.sum(), fp.sum(), fn.sum()
    out["precision_micro"] = float(ratio(totals[0], totals[0] + totals[1]))
    out["recall_micro"] = float(ratio(totals[0], totals[0] + totals[2]))
    out["f1_micro"] = float(ratio(2 * totals[0], 2 * totals[0] + totals[1] + totals[2]))
    out["per_attribute"] = {
        name: {
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
            "support": int(support[k]),
        }
        for k, name in enumerate(names)
    }
    return out


@EVALUATORS.register("cross_modal", config=CrossModalConfig)
class CrossModalAccuracy(Evaluator):
    """Cross-modal accuracy judged by the classifier: text->image top-k, image->text, joint coherence.

    On single-label data (MNIST, Fashion-MNIST) the judge sorts images into C classes, and chance is 1/C;
    on multi-label data (CelebA) it reads 40 attributes.

    Metrics:
        judge_accuracy: the judge's own accuracy on the real evaluated images (CelebA: its mean accuracy over the
            40 attributes), the ceiling of every judged accuracy here.
        text_to_image_top<k>: share of images generated from test captions whose caption's class is among the
            judge's k most likely classes for the image (chance k/C).
        image_to_text_vs_true: share of captions generated from test images that name the image's true class
            (chance 1/C).
        image_to_text_vs_judge: share of captions generated from test images that name the class the judge sees
            in the image, the reference's image->text accuracy (chance 1/C).
        image_to_text_named: share of captions generated from test images that name exactly one class; one naming
            none or several counts as wrong in both image->text accuracies.
        joint_coherence: z drawn from the prior, decoded to an image and a caption: share of pairs whose caption
            names the class the judge sees in the image (chance 1/C); CelebA: share of the attributes prior
            captions name that the judge sees on their images.
        text_to_image_class_fid: judge-feature FID between the images generated from one class's captions and
            the real images of that class, averaged over classes; low only when generations vary within a class
            as real images do.
        class_fid.<class>: that FID for one class.
        text_to_image_attribute_accuracy: CelebA: share of the 40 attributes on which the judge's reading of an
            image generated from a caption agrees with the true attributes of the image the caption describes.
        majority_attribute_accuracy: CelebA: that agreement for always answering each attribute's more frequent
            value, the floor of text_to_image_attribute_accuracy.
        image_to_text_{precision,recall,f1}_{macro,micro}: CelebA: attributes named by captions generated from
            test images against the images' true attributes (macro: mean over attributes with positives;
            micro: pooled counts); captions name few attributes, so precision is the informative half.
        text_to_image_{precision,recall,f1}_{macro,micro}: CelebA: attributes the judge sees on images generated
            from a caption against those the caption names; recall is the informative half.
        reference_captions_{precision,recall,f1}_{macro,micro}: CelebA ceiling: the test captions themselves
            against the true attributes.
        reference_judge_{precision,recall,f1}_{macro,micro}: CelebA ceiling: the judge on the real images against
            the attributes their captions name.
        per_attribute.<comparison>.<attribute>.<score>: CelebA: precision, recall, F1 or support of one attribute
            in one of the four comparisons above.
    """

    uses_judge = True

    def __init__(self, config: CrossModalConfig) -> None:
        self.config = config

    @torch.no_grad()
    def evaluate(self, ctx: EvaluationContext) -> dict[str, Any]:
        if ctx.items.multilabel:
            return self._attributes(ctx)
        return self._classes(ctx)

    def _classes(self, ctx: EvaluationContext) -> dict[str, Any]:
        labels = ctx.items.labels.long()
        sample = self.config.sample
        real_logits, real_features = judged_real(ctx)
        judge_labels = real_logits.argmax(1)
        metrics: dict[str, Any] = {"judge_accuracy": float((judge_labels == labels).double().mean())}

        generated_logits, generated_features = judged_generated(
            ctx, "text_to_image", sample, self.config.text_prior_scale
        )
        ranked = generated_logits.topk(min(max(self.config.top_k), generated_logits.shape[1]), dim=1).indices
        for k in sorted(set(self.config.top_k)):
            hits = (ranked[:, :k] == labels[:, None]).any(1)
            metrics[f"text_to_image_top{k}"] = float(hits.double().mean())
            ctx.per_item[f"text_to_image_top{k}"] = hits

        named = named_labels(ctx, image_to_text(ctx, sample))
        per_item = {"image_to_text_vs_judge": named == judge_labels, "image_to_text_vs_true": named == labels,
                    "image_to_text_named": named >= 0}
        prior_logits, _ = judged_generated(ctx, "prior")
        prior_named = named_labels(ctx, prior_captions(ctx))
        per_item["joint_coherence"] = prior_named == prior_logits.argmax(1)
        for name, hits in per_item.items():
            metrics[name] = float(hits.double().mean())
        ctx.per_item.update(per_item)

        if self.config.class_fid:
            per_class = {
                name: frechet_distance(real_features[labels == c], generated_features[labels == c])
                for c, name in enumerate(ctx.items.label_names)
                if int((labels == c).sum()) >= 2
            }
            metrics["text_to_image_class_fid"] = sum(per_class.values()) / len(per_class) if per_class else float("nan")
            metrics["class_fid"] = per_class
            ctx.per_item.update(real_features=real_features.half(), text_to_image_features=generated_features.half())
        return metrics

    def _attributes(self, ctx: EvaluationContext) -> dict[str, Any]:
        names = list(ctx.items.label_names)
        true = ctx.items.labels.long()
        real_logits, _ = judged_real(ctx)
        judge_real = predictions(real_logits, multilabel=True)
        caption_named = named_attributes(ctx, ctx.items.captions)
        metrics: dict[str, Any] = {"judge_accuracy": float((judge_real == true).double().mean())}
        per_attribute: dict[str, Any] = {}
        generated = judged_generated(ctx, "text_to_image", self.config.sample, self.config.text_prior_scale)
        judge_generated = predictions(generated[0], True)
        # all 40 attributes of images generated from a caption against those of the image it describes,
        # beside the judge's own accuracy on real images (ceiling) and the per-attribute majority (floor)
        agreement = (judge_generated == true).double().mean(1)
        metrics["text_to_image_attribute_accuracy"] = float(agreement.mean())
        ctx.per_item["text_to_image_attribute_accuracy"] = agreement
        positives = true.double().mean(0)
        metrics["majority_attribute_accuracy"] = float(torch.maximum(positives, 1 - positives).mean())
        comparisons = {
            # what is compared: (predicted, reference)
            "image_to_text": (named_attributes(ctx, image_to_text(ctx, self.config.sample)), true),
            "text_to_image": (judge_generated, caption_named),
            # ceilings: the test captions themselves, and the judge on the real images they describe
            "reference_captions": (caption_named, true),
            "reference_judge": (judge_real, caption_named),
        }
        predicted, reference = (t.bool() for t in comparisons["image_to_text"])
        ctx.per_item["image_to_text_counts"] = torch.stack(  # TP, FP, FN per item: micro scores are sums of these
            [(predicted & reference).sum(1), (predicted & ~reference).sum(1), (~predicted & reference).sum(1)], 1)
        for prefix, (predicted, reference) in comparisons.items():
            scores = precision_recall_f1(predicted, reference, names)
            per_attribute[prefix] = scores.pop("per_attribute")
            metrics.update({f"{prefix}_{key}": value for key, value in scores.items()})
        prior_named = named_attributes(ctx, prior_captions(ctx))
        prior_judged = predictions(judged_generated(ctx, "prior")[0], True)
        named_count = prior_named.sum()
        # share of the attributes a prior caption names that the judge sees on the prior image
        metrics["joint_coherence"] = (
            float((prior_named & prior_judged).sum() / named_count) if named_count else float("nan")
        )
        metrics["per_attribute"] = per_attribute
        return metrics
