"""The judge network: a compact CNN classifier (softmax over classes, or sigmoids over attributes)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from torch import Tensor, nn

from remvae.core.config import ComponentConfig


class JudgeNetworkConfig(ComponentConfig):
    """Shape of a :class:`JudgeCNN`; saved beside the weights in the judge's JSON file."""

    image_size: int = Field(28, ge=8, description="input side; other sizes are resized to it")
    channels: Literal[1, 3] = 1
    num_outputs: int = Field(10, ge=2, description="classes (softmax) or attributes (sigmoids)")
    multilabel: bool = False
    widths: list[int] = Field(default_factory=lambda: [32, 64], min_length=1)
    convs_per_stage: int = Field(2, ge=1, le=3)
    hidden: int = Field(128, ge=8, description="size of the penultimate (feature) layer")
    dropout: float = Field(0.3, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _fits(self) -> JudgeNetworkConfig:
        if self.image_size % (2 ** len(self.widths)):
            raise ValueError(
                f"image_size {self.image_size} must be divisible by 2**len(widths) = {2 ** len(self.widths)}"
            )
        return self

    @property
    def final_side(self) -> int:
        return self.image_size // 2 ** len(self.widths)


def _conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class JudgeCNN(nn.Module):
    """Stages of (conv3x3-BN-ReLU) x ``convs_per_stage`` + 2x2 max-pool, then FC-BN-ReLU (features) and a linear head.

    Inputs are images in [0, 1] of the configured size and channels; outputs are logits ``[B, num_outputs]``.
    """

    def __init__(self, config: JudgeNetworkConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        channels = config.channels
        for width in config.widths:
            for _ in range(config.convs_per_stage):
                layers.append(_conv(channels, width))
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.neck = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * config.final_side**2, config.hidden, bias=False),
            nn.BatchNorm1d(config.hidden),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.num_outputs)

    def features(self, images: Tensor) -> Tensor:
        """Penultimate activations ``[B, hidden]`` (used for the judge-feature FID)."""
        return self.neck(self.body(images * 2.0 - 1.0))

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.dropout(self.features(images)))
