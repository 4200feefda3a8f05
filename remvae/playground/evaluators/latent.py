"""The shared latent space: are paired image and caption posteriors close, and is z informative?

* paired / unpaired distance: mean ||mu_img(i) - mu_txt(i)|| over test pairs, and over mismatched
  pairs (a random derangement); their ratio (< 1 when the modalities are aligned);
* retrieval top-k (both directions) by Euclidean distance between posterior means: a hit when one
  of the k nearest candidates of the other modality has the query's label (single-label data), or
  the query's own caption (multi-label data, where labels rarely coincide); identical captions
  count once as text candidates;
* linear probe: a linear classifier (softmax, or sigmoids per attribute; L-BFGS on the
  cross-entropy plus 1e-4 ||W||^2) fitted on train-set posterior means, accuracy on the test means;
* active units: dimensions whose KL(q(z_d|x) || N(0, 1)), averaged over the test items, exceeds 0.01.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from remvae.core.config import ComponentConfig
from remvae.core.data import ImageTextDataset
from remvae.core.evaluator import EvaluationContext, Evaluator
from remvae.core.registry import EVALUATORS
from remvae.playground.evaluators.common import image_posterior, text_posterior


class LatentConfig(ComponentConfig):
    """Options of the latent-space metrics."""

    retrieval_k: list[int] = Field(default_factory=lambda: [1, 5], min_length=1)
    probe: bool = Field(True, description="fit the linear probe (on the train set when the context has one)")
    probe_train_limit: int = Field(10000, ge=10, description="train items (seeded subset) the probe is fitted on")
    active_threshold: float = Field(0.01, gt=0)


def retrieval_hits(
    queries: Tensor, query_keys: Tensor, candidates: Tensor, candidate_keys: Tensor, ks: list[int], chunk: int = 1024
) -> dict[int, float]:
    """Share of queries having a candidate with the same key among their k nearest (Euclidean) candidates."""
    top = min(max(ks), len(candidates))
    hits = dict.fromkeys(ks, 0)
    for start in range(0, len(queries), chunk):
        nearest = torch.cdist(queries[start : start + chunk], candidates).topk(top, dim=1, largest=False).indices
        same = candidate_keys[nearest] == query_keys[start : start + chunk, None]
        for k in ks:
            hits[k] += int(same[:, :k].any(1).sum())
    return {k: hits[k] / len(queries) for k in ks}


def fit_linear_probe(train_z: Tensor, train_y: Tensor, test_z: Tensor, test_y: Tensor, multilabel: bool) -> float:
    """Accuracy (mean attribute accuracy when multi-label) of a linear classifier on standardised z."""
    mean, std = train_z.mean(0), train_z.std(0).clamp(min=1e-6)
    x_train, x_test = (train_z - mean) / std, (test_z - mean) / std
    outputs = train_y.shape[1] if multilabel else int(max(train_y.max(), test_y.max())) + 1
    layer = torch.nn.Linear(x_train.shape[1], outputs).double()
    optimizer = torch.optim.LBFGS(layer.parameters(), lr=1.0, max_iter=100, line_search_fn="strong_wolfe")
    x_train, x_test = x_train.double(), x_test.double()

    def closure() -> Tensor:
        optimizer.zero_grad()
        logits = layer(x_train)
        if multilabel:
            loss = F.binary_cross_entropy_with_logits(logits, train_y.double())
        else:
            loss = F.cross_entropy(logits, train_y)
        loss = loss + 1e-4 * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        logits = layer(x_test)
    if multilabel:
        return float(((logits > 0).long() == test_y).double().mean())
    return float((logits.argmax(1) == test_y).double().mean())


@EVALUATORS.register("latent", config=LatentConfig)
class LatentSpace(Evaluator):
    """Paired vs unpaired latent distance, cross-modal retrieval, linear probe, active units.

    Metrics:
        paired_distance: mean Euclidean distance between the posterior means of a test image and of its caption.
        unpaired_distance: the same between an image and another item's caption (a random derangement).
        distance_ratio: paired_distance / unpaired_distance: 1 means a caption lies no closer to its own image
            than to any other (no alignment), near 0 that paired posteriors coincide.
        retrieval_image_to_text_top<k>: share of test images whose k nearest captions (posterior means, each
            distinct caption once) include one of the image's class (CelebA: its own caption).
        retrieval_text_to_image_top<k>: share of test captions whose k nearest images include one of the
            caption's class (CelebA: its own image).
        probe_image_accuracy: test accuracy of a linear classifier of the class (CelebA: mean attribute
            accuracy) read off image posterior means: how much of the label z holds.
        probe_text_accuracy: the same from caption posterior means.
        probe_train_n: items the probes were fitted on.
        probe_fitted_on_train_set: true when the probes were fitted on the train set; false when no train set was
            given, so they were fitted on half of the evaluated items and scored on the other half.
        <modality>_active_units: latent dimensions whose KL(q(z_d|x) || N(0, 1)), averaged over the test items,
            exceeds the threshold (0.01): the dimensions the modality's encoder uses.
        <modality>_kl: KL(q(z|x) || N(0, I)) of the modality's posterior, summed over dimensions and averaged over
            the test items, in nats.
        latent_dim: the latent size.
    """

    def __init__(self, config: LatentConfig) -> None:
        self.config = config

    @torch.no_grad()
    def evaluate(self, ctx: EvaluationContext) -> dict[str, Any]:
        image, text = image_posterior(ctx), text_posterior(ctx)
        items = ctx.items
        metrics: dict[str, Any] = {}
        paired = (image.mean - text.mean).norm(dim=1).mean()
        order = torch.randperm(ctx.n, generator=ctx.generator("latent"))
        partner = torch.empty_like(order)
        partner[order] = order.roll(1)  # a derangement: nobody is paired with itself
        unpaired = (image.mean - text.mean[partner]).norm(dim=1).mean()
        metrics.update(
            paired_distance=float(paired), unpaired_distance=float(unpaired), distance_ratio=float(paired / unpaired)
        )

        # Identical captions have identical posteriors: each distinct caption is one text candidate.
        first: dict[str, int] = {}  # caption -> index of its first occurrence
        for i, caption in enumerate(items.captions):
            first.setdefault(caption, i)
        distinct = torch.tensor(list(first.values()))
        caption_ids = torch.tensor([first[c] for c in items.captions])  # the same key for the same caption
        keys = caption_ids if items.multilabel else items.labels.long()
        ks = sorted(set(self.config.retrieval_k))
        directions = {
            "image_to_text": (image.mean, keys, text.mean[distinct], keys[distinct]),
            "text_to_image": (text.mean, keys, image.mean, keys),
        }
        for name, arguments in directions.items():
            for k, share in retrieval_hits(*arguments, ks).items():
                metrics[f"retrieval_{name}_top{k}"] = share

        if self.config.probe:
            metrics.update(self._probe(ctx, image.mean, text.mean))

        for name, posterior in (("image", image), ("text", text)):
            kl = posterior.kl_per_dim().mean(0)
            metrics[f"{name}_active_units"] = int((kl > self.config.active_threshold).sum())
            metrics[f"{name}_kl"] = float(kl.sum())
        metrics["latent_dim"] = ctx.model.latent_dim
        return metrics

    def _probe(self, ctx: EvaluationContext, image_z: Tensor, text_z: Tensor) -> dict[str, Any]:
        items = ctx.items
        if ctx.train_set is not None:
            train = self._train_subset(ctx, ctx.train_set)
            train_image, train_text = self._encode(ctx, train)
            train_y, test_y = train.labels.long(), items.labels.long()
            test_image, test_text = image_z, text_z
        else:  # no train set: fit on one half of the test items, score on the other
            half = ctx.n // 2
            train_image, test_image, train_text, test_text = (
                image_z[:half],
                image_z[half:],
                text_z[:half],
                text_z[half:],
            )
            train_y, test_y = items.labels[:half].long(), items.labels[half:].long()
        return {
            "probe_image_accuracy": fit_linear_probe(train_image, train_y, test_image, test_y, items.multilabel),
            "probe_text_accuracy": fit_linear_probe(train_text, train_y, test_text, test_y, items.multilabel),
            "probe_train_n": len(train_y),
            "probe_fitted_on_train_set": ctx.train_set is not None,
        }

    def _train_subset(self, ctx: EvaluationContext, train: ImageTextDataset) -> ImageTextDataset:
        if len(train) <= self.config.probe_train_limit:
            return train
        order = torch.randperm(len(train), generator=ctx.generator("probe"))
        return train.subset(order[: self.config.probe_train_limit].sort().values)

    @staticmethod
    def _encode(ctx: EvaluationContext, data: ImageTextDataset) -> tuple[Tensor, Tensor]:
        text = ctx.tokenizer.encode_batch(data.captions, ctx.model.max_text_length)
        image_means, text_means = [], []
        for index in ctx.slices(len(data)):
            images = data.images[index].to(ctx.device).float().div_(255.0)
            image_means.append(ctx.model.encode("image", images).mean.cpu())
            text_means.append(ctx.model.encode("text", text[index].to(ctx.device)).mean.cpu())
        return torch.cat(image_means), torch.cat(text_means)
