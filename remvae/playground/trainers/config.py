"""The trainer configs: one shared base, and per-variant additions (clipping, an annealing schedule)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch
from pydantic import Field, field_validator, model_validator

from remvae.core.config import IGNORED, RUN_LENGTH, ComponentConfig
from remvae.core.registry import SCHEDULES, ComponentRef
from remvae.playground.trainers.optim import check_lr_scheduler, check_optimizer
from remvae.playground.trainers.tracking import TrackingConfig

Precision = Literal["fp32", "bf16", "fp16"]


class OptimizerConfig(ComponentConfig):
    """A ``torch.optim`` optimizer by lower-case class name; ``options`` are its other keyword arguments."""

    name: str = "adam"
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    options: dict[str, Any] = Field(default_factory=dict, description="e.g. betas, eps, momentum")

    @model_validator(mode="after")
    def _check(self) -> OptimizerConfig:
        check_optimizer(self.name, self.lr, self.weight_decay, self.options)
        return self


class LRSchedulerConfig(ComponentConfig):
    """A learning-rate scheduler stepped once per optimizer step (lengths are counted in steps)."""

    name: str = "none"
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> LRSchedulerConfig:
        check_lr_scheduler(self.name, self.options)
        return self


class CheckpointConfig(ComponentConfig):
    every_steps: int | None = Field(None, ge=1, description="also write checkpoints/last every N steps")
    keep_last: int = Field(0, ge=0, description="keep the last k checkpoints as step-XXXXXXX/ (0: none)")
    keep_best: bool = Field(True, description="keep checkpoints/best (lowest validation or train loss)")


class TrainerConfig(ComponentConfig):
    """Everything every trainer variant shares.

    The objective is sum_k weights[k] * L_k over the model's loss terms (each a batch mean; see the
    model family for its terms and their defaults); annealing variants multiply some terms by beta(t).
    """

    epochs: int = Field(10, ge=1, json_schema_extra=RUN_LENGTH)
    batch_size: int = Field(32, ge=1)
    max_steps: int | None = Field(
        None, ge=1, description="stop after this many optimizer steps", json_schema_extra=RUN_LENGTH
    )
    drop_last: bool = Field(False, description="drop each epoch's last incomplete batch")
    seed: int = Field(0, ge=0)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    lr_scheduler: LRSchedulerConfig = Field(default_factory=LRSchedulerConfig)
    weights: dict[str, Annotated[float, Field(ge=0.0, allow_inf_nan=False)]] = Field(
        default_factory=dict,
        description="weight of each loss term by the model's term name (e.g. image_kl); unnamed terms keep "
        "their default: 1, or 0 for optional terms (`remvae list` shows each family's terms)",
    )
    early_stopping: int | None = Field(
        None, ge=1, description="stop when the validation loss has not improved for this many epochs (needs a "
        "validation set); the best checkpoint is the one kept",
    )
    clip_norm: float | None = Field(None, gt=0.0, description="clip the global gradient norm to this value")
    device: str = Field(
        "auto", description="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps", json_schema_extra=IGNORED
    )
    precision: Precision = "fp32"
    compile: bool = Field(False, description="torch.compile the model", json_schema_extra=IGNORED)
    num_threads: int | None = Field(
        None, ge=1, description="torch.set_num_threads for the run", json_schema_extra=IGNORED
    )
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig, json_schema_extra=IGNORED)
    log_every: int = Field(50, ge=1, json_schema_extra=IGNORED)
    time_phases: bool = Field(
        False, description="log ms per step in data, forward, backward and optimizer (ms_* in train.jsonl)",
        json_schema_extra=IGNORED,
    )
    quiet: bool = Field(False, description="no progress bars", json_schema_extra=IGNORED)
    logging: TrackingConfig = Field(
        default_factory=TrackingConfig, json_schema_extra=IGNORED,
        description="also log the run's parameters and scalars to TensorBoard and / or MLflow (local file store)",
    )
    resume: bool = Field(False, description="continue from checkpoints/last when it exists", json_schema_extra=IGNORED)

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if value != "auto":
            try:
                torch.device(value)
            except RuntimeError:
                raise ValueError(f"not a device: {value!r} (use auto, cpu, cuda, cuda:N or mps)") from None
        return value


class ClippedConfig(TrainerConfig):
    clip_norm: float = Field(1.0, gt=0.0, description="clip the global gradient norm to this value")


class AnnealingConfig(TrainerConfig):
    schedule: ComponentRef = Field(default_factory=lambda: ComponentRef(name="linear"))

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: ComponentRef) -> ComponentRef:
        value.check(SCHEDULES)
        return value
