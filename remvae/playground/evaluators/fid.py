"""Fréchet distances between real test images and generated ones, in judge or Inception features.

FID = ||mu_r - mu_g||^2 + tr(S_r) + tr(S_g) - 2 tr((S_r S_g)^(1/2)), with the means and (unbiased)
covariances of the two feature sets. tr((S_r S_g)^(1/2)) is computed in float64 as the sum of
sqrt(eig(S_r^(1/2) S_g S_r^(1/2))), a symmetric positive semi-definite matrix, so no complex
square roots are needed. Every FID compares ``n`` generated images with the same ``n`` real ones.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Literal, Optional
from urllib.error import URLError

import torch
from pydantic import Field
from torch import Tensor

from remvae.core.evaluator import EvaluationContext, EvaluationError, Evaluator
from remvae.core.frechet import frechet_distance as numpy_frechet
from remvae.core.registry import EVALUATORS
from remvae.playground.evaluators.common import (
    IMAGE_SETS,
    GenerationConfig,
    ImageSet,
    generated_images,
    judged_generated,
    judged_real,
)


def frechet_distance(real: Tensor, fake: Tensor) -> float:
    """FID between two feature sets ``[N, F]`` and ``[M, F]`` (N, M >= 2), in float64
    (:func:`remvae.core.frechet.frechet_distance`)."""
    if len(real) < 2 or len(fake) < 2:
        raise EvaluationError(f"FID needs at least 2 items per set, got {len(real)} and {len(fake)}")
    return numpy_frechet(real.detach().double().cpu().numpy(), fake.detach().double().cpu().numpy())


class FIDConfig(GenerationConfig):
    """Which generated image sets are compared with the real test images (``sample``, ``conditional_prior``
    and ``prior_scale`` say where text_to_image takes z)."""

    sets: list[ImageSet] = Field(default_factory=lambda: list(IMAGE_SETS), min_length=1)


@EVALUATORS.register("judge_fid", config=FIDConfig)
class JudgeFID(Evaluator):
    """FID in the judge's penultimate features (works offline): reconstructions, text->image, prior samples.

    Metrics:
        n: evaluated test items; every FID compares n generated images with the same n real ones.
        <set>_fid: Fréchet distance between the judge's penultimate-layer features of the real test images and of
            generated ones (reconstruction: decoded from the image posterior mean; text_to_image: from the test
            captions; prior: from z drawn from the prior); 0 means equal feature statistics, and only FIDs in
            the same features compare.
    """

    @classmethod
    def requirements(cls, config: FIDConfig) -> frozenset[str]:
        """Images; text too when it compares images generated from captions."""
        return frozenset({"image", "text"} if "text_to_image" in config.sets else {"image"})

    uses_judge = True

    def __init__(self, config: FIDConfig) -> None:
        self.config = config

    @torch.no_grad()
    def evaluate(self, ctx: EvaluationContext) -> dict[str, Any]:
        _, real = judged_real(ctx)
        metrics: dict[str, Any] = {"n": ctx.n}
        ctx.per_item["real_features"] = real.half()
        for which in self.config.sets:
            _, fake = judged_generated(ctx, which, self.config.sample, self.config.text_prior_scale)
            metrics[f"{which}_fid"] = frechet_distance(real, fake)
            ctx.per_item[f"{which}_features"] = fake.half()
        return metrics


class InceptionFIDConfig(FIDConfig):
    """Inception-v3 FID through torchmetrics (torch-fidelity's FID Inception weights)."""

    inception_weights: Optional[str] = Field(
        None, description="local file of torch-fidelity's weights-inception-2015-12-05-6726825d.pth (else downloaded)"
    )
    feature: Literal[64, 192, 768, 2048] = Field(2048, description="Inception feature layer (2048: standard FID)")


def inception_metric(weights: str | None, feature: int = 2048) -> Any:
    """torchmetrics' ``FrechetInceptionDistance`` (real statistics kept across ``reset``); clear errors offline."""
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE
    except ImportError:
        raise EvaluationError("fid: Inception FID needs torchmetrics (pip install 'torchmetrics[image]')") from None
    if not _TORCH_FIDELITY_AVAILABLE:
        raise EvaluationError("fid: Inception FID needs torch-fidelity (pip install torch-fidelity)")
    if weights is not None and not Path(weights).expanduser().is_file():
        raise EvaluationError(f"fid.inception_weights: {weights} is not a file")
    path = str(Path(weights).expanduser()) if weights is not None else None
    try:
        return FrechetInceptionDistance(
            feature=feature, reset_real_features=False, normalize=False, feature_extractor_weights_path=path
        )
    except (URLError, OSError) as error:
        if path is not None:
            raise EvaluationError(f"fid.inception_weights: cannot read {path} ({error})") from None
        raise EvaluationError(
            "fid: no local Inception weights given (inception_weights) and downloading them failed "
            f"({' '.join(str(error).split())[:200]}); download torch-fidelity's "
            "weights-inception-2015-12-05-6726825d.pth elsewhere and set inception_weights to its path"
        ) from None
    except (RuntimeError, KeyError, ValueError, EOFError, pickle.UnpicklingError) as error:
        raise EvaluationError(
            f"fid.inception_weights: {path or 'the downloaded file'} is not torch-fidelity's FID InceptionV3 "
            f"state dict ({' '.join(str(error).split())[:200]})"
        ) from None


@EVALUATORS.register("fid", config=InceptionFIDConfig)
class InceptionFID(Evaluator):
    """Inception FID (torchmetrics; needs the Inception weights file or network): recon, text->image, prior.

    Metrics:
        n: evaluated test items; every FID compares n generated images with the same n real ones.
        <set>_fid: Fréchet distance between Inception-v3 features (2048-d pool features unless configured
            otherwise: the standard FID) of the real test images and of the reconstructions, the images
            generated from the test captions, or the prior samples; lower is better.
    """

    @classmethod
    def requirements(cls, config: FIDConfig) -> frozenset[str]:
        """Images; text too when it compares images generated from captions."""
        return frozenset({"image", "text"} if "text_to_image" in config.sets else {"image"})

    def __init__(self, config: InceptionFIDConfig) -> None:
        self.config = config

    @torch.no_grad()
    def evaluate(self, ctx: EvaluationContext) -> dict[str, Any]:
        metric = inception_metric(self.config.inception_weights, self.config.feature).to(ctx.device)
        self._update(ctx, metric, ctx.items.images, real=True)
        metrics: dict[str, Any] = {"n": ctx.n}
        for which in self.config.sets:
            metric.reset()  # keeps the real statistics (reset_real_features=False)
            images = generated_images(ctx, which, self.config.sample, self.config.text_prior_scale)
            self._update(ctx, metric, images, real=False)
            metrics[f"{which}_fid"] = float(metric.compute())
        return metrics

    @staticmethod
    def _update(ctx: EvaluationContext, metric: Any, images: Tensor, real: bool) -> None:
        for index in ctx.slices(len(images)):
            batch = images[index].to(ctx.device)
            metric.update(batch.expand(-1, 3, -1, -1) if batch.shape[1] == 1 else batch, real=real)
