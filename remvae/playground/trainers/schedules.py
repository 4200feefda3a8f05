"""KL annealing schedules: callables ``beta(step, total_steps) -> float``.

``step`` counts optimizer steps from 0 and ``total_steps`` is the length of the whole run, so a
schedule is written in fractions of training, t = step / total_steps in [0, 1], and keeps its shape
when a run gets longer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import Field

from remvae.core.config import ComponentConfig
from remvae.core.registry import SCHEDULES


def _fraction(step: int, total_steps: int) -> float:
    return min(max(step / total_steps, 0.0), 1.0) if total_steps > 0 else 1.0


class ConstantConfig(ComponentConfig):
    value: float = Field(1.0, ge=0.0)


@dataclass(frozen=True)
class Constant:
    value: float

    def __call__(self, step: int, total_steps: int) -> float:
        return self.value


@SCHEDULES.register("constant", config=ConstantConfig)
def build_constant(config: ConstantConfig) -> Constant:
    """beta(t) = value (no annealing)."""
    return Constant(config.value)


class LinearConfig(ComponentConfig):
    start: float = Field(0.0, ge=0.0)
    end: float = Field(1.0, ge=0.0)
    warmup: float = Field(1.0, gt=0.0, le=1.0, description="fraction of training spent going from start to end")


@dataclass(frozen=True)
class Linear:
    start: float
    end: float
    warmup: float

    def __call__(self, step: int, total_steps: int) -> float:
        progress = min(_fraction(step, total_steps) / self.warmup, 1.0)
        return self.start + (self.end - self.start) * progress


@SCHEDULES.register("linear", config=LinearConfig)
def build_linear(config: LinearConfig) -> Linear:
    """beta(t) = start + (end - start) * min(1, t / warmup)."""
    return Linear(config.start, config.end, config.warmup)


class LogisticConfig(ComponentConfig):
    midpoint: float = Field(0.5, ge=0.0, le=1.0, description="fraction of training where beta = scale / 2")
    steepness: float = Field(10.0, gt=0.0, description="slope k in units of 1 / (whole run)")


class ScaledLogisticConfig(LogisticConfig):
    scale: float = Field(1.0, gt=0.0, description="the value beta tends to")


@dataclass(frozen=True)
class Logistic:
    midpoint: float
    steepness: float
    scale: float = 1.0

    def __call__(self, step: int, total_steps: int) -> float:
        u = self.steepness * (_fraction(step, total_steps) - self.midpoint)
        # sigmoid(u) in the form whose exponential cannot overflow
        sigmoid = 1.0 / (1.0 + math.exp(-u)) if u >= 0 else math.exp(u) / (1.0 + math.exp(u))
        return self.scale * sigmoid


@SCHEDULES.register("logistic", config=LogisticConfig)
def build_logistic(config: LogisticConfig) -> Logistic:
    """beta(t) = 1 / (1 + exp(-k (t - midpoint))) (Bowman et al. 2016)."""
    return Logistic(config.midpoint, config.steepness)


@SCHEDULES.register("scaled_logistic", config=ScaledLogisticConfig)
def build_scaled_logistic(config: ScaledLogisticConfig) -> Logistic:
    """beta(t) = scale / (1 + exp(-k (t - midpoint))), so beta in [0, scale]."""
    return Logistic(config.midpoint, config.steepness, config.scale)


class CyclicalConfig(ComponentConfig):
    cycles: int = Field(4, ge=1, description="number of cycles M over the run")
    ratio: float = Field(0.5, gt=0.0, le=1.0, description="fraction R of each cycle spent increasing")
    max_beta: float = Field(1.0, gt=0.0)


@dataclass(frozen=True)
class Cyclical:
    cycles: int
    ratio: float
    max_beta: float

    def __call__(self, step: int, total_steps: int) -> float:
        if total_steps <= 0:
            return self.max_beta
        period = total_steps / self.cycles
        tau = math.fmod(step, period) / period
        return self.max_beta * min(tau / self.ratio, 1.0)


@SCHEDULES.register("cyclical", config=CyclicalConfig)
def build_cyclical(config: CyclicalConfig) -> Cyclical:
    """Cyclical annealing (Fu et al. 2019): tau = mod(step, T/M) / (T/M); beta = max_beta * min(1, tau / R)."""
    return Cyclical(config.cycles, config.ratio, config.max_beta)
