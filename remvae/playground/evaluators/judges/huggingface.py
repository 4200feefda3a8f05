"""Hugging Face image classifiers (``transformers.AutoModelForImageClassification``) as judges.

The processor's resize and normalisation are done in torch on the batch (resize to the
processor's crop or target size, then ``(x - mean) / std``), so judging stays batched.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from remvae.playground.evaluators.hub import from_pretrained
from remvae.playground.evaluators.judges.judge import Judge, JudgeError


class _LogitsOnly(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: Tensor) -> Tensor:
        return self.model(pixel_values=pixel_values).logits


def _input_size(processor: Any) -> int | tuple[int, int] | None:
    """The processor's crop size (when it crops) or resize target; sizes are dicts or ``SizeDict`` objects."""
    for attribute in ("crop_size", "size"):
        size = getattr(processor, attribute, None)
        if size is None or (attribute == "crop_size" and not getattr(processor, "do_center_crop", False)):
            continue
        if isinstance(size, int):
            return size
        field = size.get if isinstance(size, dict) else lambda key: getattr(size, key, None)
        if field("height") and field("width"):
            return int(field("height")), int(field("width"))
        if field("shortest_edge"):
            return int(field("shortest_edge"))
    return None


def load_hf_judge(model_id: str, local_files_only: bool = False) -> Judge:
    """A judge from a Hugging Face model id or local folder (``local_files_only`` forbids downloads)."""
    model, processor = from_pretrained(
        ("AutoModelForImageClassification", "AutoImageProcessor"), model_id, local_files_only, JudgeError,
        f"judge 'hf:{model_id}': cannot load a Hugging Face image classifier",
    )
    config = model.config
    mean = torch.tensor(getattr(processor, "image_mean", None) or [0.0]).view(1, -1, 1, 1)
    std = torch.tensor(getattr(processor, "image_std", None) or [1.0]).view(1, -1, 1, 1)
    do_normalize = bool(getattr(processor, "do_normalize", True))

    def normalize(images: Tensor) -> Tensor:
        return (images - mean.to(images.device)) / std.to(images.device) if do_normalize else images

    # Outputs are taken in the data's label order; id2label names (often "LABEL_0" or digits) are not compared.
    return Judge(
        _LogitsOnly(model),
        name=f"hf:{model_id}",
        path=model_id,
        image_size=_input_size(processor),
        channels=int(getattr(config, "num_channels", 3)),
        multilabel=getattr(config, "problem_type", None) == "multi_label_classification",
        normalize=normalize,
    )
