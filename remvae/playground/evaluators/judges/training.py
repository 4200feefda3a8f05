"""Training a judge classifier on a data set's train split (``remvae judge train``).

Loss: single-label, cross-entropy -log softmax(f(x))_y; multi-label (CelebA),
sum_k BCE(sigmoid(f(x)_k), y_k) averaged over the K attributes. AdamW with a one-cycle
learning rate; light augmentation (shifts, optional flips, partial blur and dimming).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from remvae.core.config import ComponentConfig, validate_config
from remvae.core.data import ImageTextDataset
from remvae.core.registry import READERS
from remvae.playground.evaluators.judges.judge import Judge, JudgeError, resize_images
from remvae.playground.evaluators.judges.network import JudgeCNN, JudgeNetworkConfig
from remvae.playground.evaluators.judges.store import (
    default_judge_dir,
    load_judge,
    save_judge,
)


class JudgeTrainingConfig(ComponentConfig):
    """How a judge is trained; the presets below are tuned to reach the targets in a few CPU minutes.

    Besides shifts and flips, images are blurred and dimmed at random, because a judge scores
    generated images, which are blurrier and lower in contrast than the data it learns from.
    """

    epochs: int = Field(4, ge=1)
    batch_size: int = Field(128, ge=8)
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    shift: int = Field(2, ge=0, description="random translation in pixels, both axes")
    flip: bool = False
    blur: float = Field(0.5, ge=0, le=1, description="probability of blending with a Gaussian-blurred copy")
    blur_sigma: float = Field(1.0, gt=0, description="sigma (pixels) of the blurred copy; the blend weight is U(0, 1)")
    dim: float = Field(0.5, ge=0, le=1, description="probability of scaling the intensities by U(min_contrast, 1)")
    min_contrast: float = Field(0.4, gt=0, le=1)
    seed: int = 0


PRESETS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # dataset: (network config, training config)
    "mnist": ({"image_size": 28, "channels": 1, "num_outputs": 10}, {"epochs": 4, "shift": 2}),
    "fashion_mnist": ({"image_size": 28, "channels": 1, "num_outputs": 10}, {"epochs": 6, "shift": 1, "flip": True}),
    "bundled_digits": ({"image_size": 28, "channels": 1, "num_outputs": 10}, {"epochs": 4, "shift": 2}),
    "celeba": (
        {
            "image_size": 64,
            "channels": 3,
            "num_outputs": 40,
            "multilabel": True,
            "widths": [32, 64, 128, 128],
            "convs_per_stage": 1,
            "hidden": 128,
        },
        {"epochs": 12, "shift": 4, "flip": True, "blur_sigma": 1.5, "min_contrast": 0.7},
    ),
}


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur (radius 2 sigma, edges replicated), per channel."""
    radius = max(1, round(2 * sigma))
    taps = torch.exp(-torch.arange(-radius, radius + 1, dtype=images.dtype).pow(2) / (2 * sigma**2))
    taps = taps / taps.sum()
    channels = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(padded, taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(out, taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def _augment(images: Tensor, config: JudgeTrainingConfig, generator: torch.Generator) -> Tensor:
    """Per image: random integer shifts (zero fill), horizontal flips, partial blur and dimming."""
    batch, _, height, width = images.shape
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0] = torch.where(torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0) if config.flip else 1.0
    theta[:, 1, 1] = 1.0
    if config.shift:
        offsets = torch.randint(-config.shift, config.shift + 1, (batch, 2), generator=generator).float()
        theta[:, 0, 2] = offsets[:, 0] * 2 / width
        theta[:, 1, 2] = offsets[:, 1] * 2 / height
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="nearest", padding_mode="zeros", align_corners=False)

    def chosen(probability: float) -> Tensor:
        return (torch.rand(batch, 1, 1, 1, generator=generator) < probability).float()

    if config.blur > 0:
        weight = torch.rand(batch, 1, 1, 1, generator=generator) * chosen(config.blur)
        images = torch.lerp(images, gaussian_blur(images, config.blur_sigma), weight)
    if config.dim > 0:
        factor = config.min_contrast + (1 - config.min_contrast) * torch.rand(batch, 1, 1, 1, generator=generator)
        images = images * torch.lerp(torch.ones_like(factor), factor, chosen(config.dim))
    return images


def judge_loss(logits: Tensor, labels: Tensor, multilabel: bool) -> Tensor:
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, labels.float())
    return F.cross_entropy(logits, labels)


@torch.no_grad()
def judge_accuracy(
    network: torch.nn.Module, images: Tensor, labels: Tensor, multilabel: bool, batch_size: int = 500
) -> float:
    """Top-1 accuracy, or the mean over attributes of the per-attribute accuracy (multi-label)."""
    network.eval()
    correct = torch.zeros(labels.shape[1] if multilabel else 1, dtype=torch.float64)
    for start in range(0, len(images), batch_size):
        logits = network(images[start : start + batch_size].float() / 255.0)
        target = labels[start : start + batch_size]
        hits = (logits > 0).long() == target if multilabel else logits.argmax(1) == target
        correct += hits.double().sum(0)
    return float((correct / len(images)).mean())


def fit_judge(
    train: ImageTextDataset,
    test: ImageTextDataset,
    network_config: JudgeNetworkConfig,
    config: JudgeTrainingConfig | dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> tuple[JudgeCNN, float]:
    """Train a :class:`JudgeCNN` on ``train``; return it (eval mode) and its accuracy on ``test``."""
    config = validate_config(JudgeTrainingConfig, config, where="judge training")
    size, channels = network_config.image_size, network_config.channels
    train_images, test_images = (resize_images(d.images, size, channels) for d in (train, test))
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    network = JudgeCNN(network_config)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = -(-len(train_images) // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.epochs * steps_per_epoch)
    for epoch in range(config.epochs):
        network.train()
        start, total = time.time(), 0.0
        order = torch.randperm(len(train_images), generator=generator)
        for step in range(steps_per_epoch):
            index = order[step * config.batch_size : (step + 1) * config.batch_size]
            images = _augment(train_images[index].float() / 255.0, config, generator)
            loss = judge_loss(network(images), train.labels[index], network_config.multilabel)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach())
        accuracy = judge_accuracy(network, test_images, test.labels, network_config.multilabel)
        log(
            f"epoch {epoch + 1}/{config.epochs}: loss {total / steps_per_epoch:.4f}, "
            f"test accuracy {accuracy:.4f} ({time.time() - start:.0f} s)"
        )
    network.eval()
    return network, accuracy


def reader_options(dataset: str, root: str | Path | None, train: bool, image_size: int) -> dict[str, Any]:
    """The reader config of a data set's whole training split (no validation items held out: the judge is an
    instrument, not a model whose choices are made on validation) or its test split, at the judge's image size."""
    options: dict[str, Any] = {"image_size": image_size, "split": "train" if train else "test"}
    options["validation_fraction" if dataset == "celeba" else "validation_size"] = 0
    if dataset != "bundled_digits":
        options["root"] = None if root is None else str(root)
    return options


def train_judge(
    dataset: str,
    root: str | Path | None = None,
    out_dir: str | Path | None = None,
    epochs: int | None = None,
    *,
    seed: int = 0,
    network: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> Judge:
    """Train the judge of ``dataset`` (``mnist``, ``fashion_mnist``, ``celeba``; ``bundled_digits`` for quick
    checks) on its train split, measure it on the test split and save ``out_dir/<dataset>.{safetensors,json}``.

    ``root`` is the reader's data root, ``out_dir`` defaults to the first ``$REMVAE_JUDGES`` folder or
    the user cache ``~/.cache/remvae/judges``; ``epochs`` and ``network`` override the preset. Returns
    the saved judge (its ``path`` and ``test_accuracy`` say where and how good).
    """
    if dataset not in PRESETS:
        raise JudgeError(f"dataset: no judge preset for {dataset!r}; one of {', '.join(sorted(PRESETS))}")
    network_options, training_options = PRESETS[dataset]
    network_config = validate_config(JudgeNetworkConfig, {**network_options, **(network or {})}, where="network")
    training = validate_config(
        JudgeTrainingConfig,
        {**training_options, "seed": seed, **({"epochs": epochs} if epochs else {})},
        where="training",
    )
    train, test = (
        READERS.build(dataset, reader_options(dataset, root, split, network_config.image_size))
        for split in (True, False)
    )
    log(f"training the {dataset} judge on {len(train)} images, testing on {len(test)}")
    start = time.time()
    model, accuracy = fit_judge(train, test, network_config, training, log)
    path = save_judge(
        model,
        out_dir if out_dir is not None else default_judge_dir(),
        dataset,
        {
            "dataset": dataset,
            "test_accuracy": accuracy,
            "accuracy_kind": "mean attribute accuracy" if network_config.multilabel else "top-1 accuracy",
            "label_names": list(train.label_names),
            "train_n": len(train),
            "test_n": len(test),
            "training": training.model_dump(),
            "train_seconds": round(time.time() - start, 1),
        },
    )
    log(f"saved {path} (test accuracy {accuracy:.4f})")
    return load_judge(path)
