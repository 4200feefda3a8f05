"""The trainer configs: one shared base, and per-variant additions (clipping, an annealing schedule)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, field_validator, model_validator

from remvae.core.config import ComponentConfig, ConfigError, validate_config
from remvae.core.registry import ALIGNMENTS, SCHEDULES, Registry, UnknownComponentError
from remvae.playground.trainers.optim import check_lr_scheduler, check_optimizer

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


class ComponentRef(ComponentConfig):
    """A registered component by name with its config, validated against the registry."""

    name: str
    config: dict[str, Any] = Field(default_factory=dict)

    def check(self, registry: Registry[Any]) -> None:
        try:
            entry = registry.get(self.name)
        except UnknownComponentError as error:
            raise ValueError(str(error)) from None
        try:
            validate_config(entry.config, self.config, where=self.name)
        except ConfigError as error:
            raise ValueError(str(error)) from None

    def build(self, registry: Registry[Any]) -> Any:
        return registry.build(self.name, self.config)


class TrainerConfig(ComponentConfig):
    """Everything every trainer variant shares.

    The objective is ``w_img L_img + w_txt L_txt + w_kl_img KL_img + w_kl_txt KL_txt + w_align L_align``
    ``+ w_img_from_txt L_img|z_txt + w_txt_from_img L_txt|z_img`` (each term a batch mean of per-sample
    values; the cross terms are off by default); annealing variants multiply some terms by beta(t).
    """

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=1)
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps")
    drop_last: bool = Field(False, description="drop each epoch's last incomplete batch")
    seed: int = Field(0, ge=0)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    lr_scheduler: LRSchedulerConfig = Field(default_factory=LRSchedulerConfig)
    alignment: ComponentRef = Field(default_factory=lambda: ComponentRef(name="reference"))
    w_img: float = Field(1.0, ge=0.0)
    w_txt: float = Field(1.0, ge=0.0)
    w_kl_img: float = Field(1.0, ge=0.0)
    w_kl_txt: float = Field(1.0, ge=0.0)
    w_align: float = Field(1.0, ge=0.0)
    w_img_from_txt: float = Field(0.0, ge=0.0, description="weight of -log p(x_img | z_txt), multimodal only")
    w_txt_from_img: float = Field(0.0, ge=0.0, description="weight of -log p(x_txt | z_img), multimodal only")
    w_conditional_prior: float = Field(
        0.0, ge=0.0,
        description="weight of KL(sg[q(z|x_img)] || p(z|caption)), which fits the model's conditional prior; "
        "multimodal models with a conditional prior only",
    )
    clip_norm: float | None = Field(None, gt=0.0, description="clip the global gradient norm to this value")
    device: str = Field("auto", description="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps")
    precision: Precision = "fp32"
    compile: bool = False
    num_threads: int | None = Field(None, ge=1, description="torch.set_num_threads for the run")
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    log_every: int = Field(50, ge=1)
    time_phases: bool = Field(
        False, description="log ms per step in data, forward, backward and optimizer (ms_* in train.jsonl)"
    )
    quiet: bool = False
    resume: bool = Field(False, description="continue from checkpoints/last when it exists")

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if value != "auto":
            try:
                torch.device(value)
            except RuntimeError:
                raise ValueError(f"not a device: {value!r} (use auto, cpu, cuda, cuda:N or mps)") from None
        return value

    @field_validator("alignment")
    @classmethod
    def _check_alignment(cls, value: ComponentRef) -> ComponentRef:
        value.check(ALIGNMENTS)
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
