"""Reconstruction through the posterior mean: x -> mean of q(z|x) -> decoder.

Images (x, x' in [0, 1]): MSE = mean (x - x')^2 per pixel; BCE = mean over pixels of
-[x log x' + (1 - x) log(1 - x')] (computed from the decoder logits); PSNR = 10 log10(1 / MSE_i)
averaged over images; SSIM (Gaussian window 11, sigma 1.5, data range 1) averaged over images.
Text (greedy decoding): token accuracy = share of target tokens (after <bos>, up to <eos> included)
predicted at their position; exact match = share of captions reproduced token for token.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from remvae.core.config import ComponentConfig
from remvae.core.evaluator import EvaluationContext, Evaluator
from remvae.core.registry import EVALUATORS
from remvae.playground.evaluators.common import image_posterior, text_reconstruction_ids


def _gaussian_window(size: int, sigma: float, channels: int, device: torch.device) -> Tensor:
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-coords.pow(2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(x: Tensor, y: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Per-image SSIM ``[B]`` of images in [0, 1] (Wang et al. 2004; Gaussian window, valid region).

    SSIM = mean over pixels and channels of
    (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)), C1 = 0.01^2, C2 = 0.03^2,
    with windowed means, variances and covariance; the window shrinks (odd size) for smaller images.
    """
    side = min(window, x.shape[-1], x.shape[-2])
    side -= 1 - side % 2
    kernel = _gaussian_window(side, sigma, x.shape[1], x.device)

    def blur(t: Tensor) -> Tensor:
        return F.conv2d(t, kernel, groups=x.shape[1])

    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y = blur(x * x) - mu_x.pow(2), blur(y * y) - mu_y.pow(2)
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    value = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.pow(2) + mu_y.pow(2) + c1) * (var_x + var_y + c2))
    return value.flatten(1).mean(1)


def token_matches(generated: list[Tensor], targets: Tensor, lengths: Tensor, pad_id: int) -> tuple[Tensor, Tensor]:
    """Per caption: how many target tokens match ``[N]`` and whether all do ``[N]``.

    ``targets`` are the reference ids ``[N, T]`` starting with <bos>; ``lengths`` count <bos>..<eos>.
    """
    width = max(int(lengths.max()) - 1, max((len(g) for g in generated), default=0))
    predicted = torch.full((len(generated), width), pad_id, dtype=torch.long)
    for row, ids in enumerate(generated):
        predicted[row, : len(ids)] = ids
    reference = torch.full((len(generated), width), pad_id, dtype=torch.long)
    reference[:, : targets.shape[1] - 1] = targets[:, 1:]
    in_target = torch.arange(width)[None, :] < (lengths - 1)[:, None]
    hits = (predicted == reference) & in_target
    return hits.sum(1), hits.sum(1) == (lengths - 1)


@EVALUATORS.register("reconstruction", config=ComponentConfig)
class Reconstruction(Evaluator):
    """Image MSE, BCE, PSNR, SSIM and text token accuracy / exact match, through the posterior mean.

    Metrics:
        image_mse: mean squared error per pixel between test images and their reconstructions (pixels in [0, 1]).
        image_bce: binary cross-entropy per pixel of the test images under the decoded pixel probabilities.
        image_psnr: peak signal-to-noise ratio 10 log10(1 / MSE) in dB, averaged over images; higher is better.
        image_ssim: structural similarity of image and reconstruction (1 means identical), averaged over images.
        text_token_accuracy: share of caption tokens the text VAE reproduces at their position (greedy decoding
            from the posterior mean).
        text_exact_match: share of test captions reproduced token for token.
    """

    needs: ClassVar[frozenset[str]] = frozenset()  # each modality the model has is scored

    def __init__(self, config: ComponentConfig) -> None:
        self.config = config

    @torch.no_grad()
    def evaluate(self, ctx: EvaluationContext) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        if "image" in ctx.model.modalities:
            metrics.update(self._images(ctx))
        if "text" in ctx.model.modalities:
            metrics.update(self._text(ctx))
        return metrics

    def _images(self, ctx: EvaluationContext) -> dict[str, Any]:
        means = image_posterior(ctx).mean
        sums = {"mse": 0.0, "bce": 0.0, "psnr": 0.0, "ssim": 0.0}
        for index in ctx.slices():
            images = ctx.images(index)
            logits = ctx.model.decode_logits("image", means[index].to(ctx.device))
            decoded = torch.sigmoid(logits)
            mse = (decoded - images).pow(2).flatten(1).mean(1)
            sums["mse"] += float(mse.sum())
            sums["bce"] += float(
                F.binary_cross_entropy_with_logits(logits, images, reduction="none").flatten(1).mean(1).sum()
            )
            sums["psnr"] += float((10 * torch.log10(1.0 / mse.clamp(min=1e-10))).sum())
            sums["ssim"] += float(ssim(decoded, images).sum())
        return {f"image_{key}": value / ctx.n for key, value in sums.items()}

    def _text(self, ctx: EvaluationContext) -> dict[str, Any]:
        metrics: dict[str, Any] = {}
        text = ctx.text()
        matched, exact = token_matches(text_reconstruction_ids(ctx), text.tokens, text.lengths, ctx.tokenizer.pad_id)
        metrics["text_token_accuracy"] = float(matched.sum() / (text.lengths - 1).sum())
        metrics["text_exact_match"] = float(exact.double().mean())
        ctx.per_item["text_exact_match"] = exact
        return metrics
