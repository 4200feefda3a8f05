"""A judge: any image classifier wrapped to take images in [0, 1] of any size and channel count.

The wrapper adapts channels (grey repeated to RGB, RGB averaged to grey), resizes to the
classifier's input size (bilinear, antialiased when shrinking), and reads the penultimate
features as the input of the classifier's last ``nn.Linear`` (a forward hook), so the same
code serves remvae's own CNN judges, a user's ``torch.nn.Module`` and Hugging Face models.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class JudgeError(ValueError):
    """A judge that cannot be found, loaded or used with the data; the message says which and why."""


def adapt_channels(images: Tensor, channels: int | None) -> Tensor:
    """Grey ``[B,1,H,W]`` to RGB by repetition, RGB to grey by ITU-R 601 luma; others unchanged."""
    have = images.shape[1]
    if channels is None or have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1)
    if have == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        return (images * weights).sum(1, keepdim=True)
    raise JudgeError(f"cannot adapt images with {have} channels to a judge taking {channels}")


def resize_images(images: Tensor, size: int | tuple[int, int] | None, channels: int | None = None) -> Tensor:
    """Images (uint8 or float) at ``size`` with ``channels``; uint8 in gives uint8 out (rounded)."""
    target = (size, size) if isinstance(size, int) else size
    same_size = target is None or tuple(images.shape[-2:]) == tuple(target)
    if same_size and (channels is None or images.shape[1] == channels):
        return images
    is_uint8 = images.dtype == torch.uint8
    out = adapt_channels(images.float() if is_uint8 else images, channels)
    if not same_size:
        shrinking = target[0] < out.shape[-2] or target[1] < out.shape[-1]
        out = F.interpolate(out, size=target, mode="bilinear", align_corners=False, antialias=shrinking)
    return out.round().clamp_(0, 255).to(torch.uint8) if is_uint8 else out.clamp(0.0, 1.0)


def last_linear(module: nn.Module) -> nn.Linear | None:
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


class Judge(nn.Module):
    """Classifies images in [0, 1]; ``logits``, ``predict`` and penultimate ``features``.

    Args:
        network: maps a prepared batch to logits ``[B, K]``.
        name, path, test_accuracy: where the judge came from and how good it is on its test split
            (``test_accuracy`` is ``None`` when unknown, e.g. for a user's module).
        image_size, channels: the network's input; ``None`` keeps the images as they come.
        multilabel: sigmoid outputs (attributes) instead of a softmax over classes.
        label_names: output names in order, checked against the data's label names when known.
        normalize: applied after resizing (e.g. a Hugging Face processor's mean/std).
    """

    def __init__(
        self,
        network: nn.Module,
        *,
        name: str,
        image_size: int | tuple[int, int] | None = None,
        channels: int | None = None,
        multilabel: bool = False,
        label_names: Sequence[str] | None = None,
        test_accuracy: float | None = None,
        path: str | None = None,
        normalize: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.network = network.eval()
        self.name = name
        self.path = path
        self.test_accuracy = test_accuracy
        self.image_size = image_size
        self.channels = channels
        self.multilabel = multilabel
        self.label_names = list(label_names) if label_names is not None else None
        self.normalize = normalize
        self._feature_layer = last_linear(network)
        self.requires_grad_(False)

    def info(self) -> dict[str, object]:
        """What eval.json records beside every number the judge produced."""
        return {"name": self.name, "path": self.path, "test_accuracy": self.test_accuracy}

    def train(self, mode: bool = True) -> Judge:  # a judge never leaves eval mode (BatchNorm, dropout)
        return super().train(False)

    def prepare(self, images: Tensor) -> Tensor:
        device = next(self.network.parameters()).device
        images = resize_images(images.to(device, torch.float32), self.image_size, self.channels)
        return self.normalize(images) if self.normalize is not None else images

    @torch.no_grad()
    def logits_and_features(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Logits ``[B, K]`` and penultimate features ``[B, F]`` (the logits when no linear head is found)."""
        captured: list[Tensor] = []
        hook = None
        if self._feature_layer is not None:
            hook = self._feature_layer.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0]))
        try:
            logits = self.network(self.prepare(images))
        finally:
            if hook is not None:
                hook.remove()
        features = captured[-1] if captured else logits
        return logits.float(), features.flatten(1).float()

    def logits(self, images: Tensor) -> Tensor:
        return self.logits_and_features(images)[0]

    def features(self, images: Tensor) -> Tensor:
        return self.logits_and_features(images)[1]

    def predict(self, images: Tensor) -> Tensor:
        """Class ids ``[B]``, or 0/1 attributes ``[B, K]`` (logit > 0) for a multi-label judge."""
        return predictions(self.logits(images), self.multilabel)


def predictions(logits: Tensor, multilabel: bool) -> Tensor:
    return (logits > 0).long() if multilabel else logits.argmax(dim=1)
