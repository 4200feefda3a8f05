"""The registered trainers: one loop, differing only in which kinds of loss terms beta(t) scales and in clipping."""

from __future__ import annotations

from pathlib import Path

from remvae.core.model import MultimodalModel, TermKind
from remvae.core.registry import SCHEDULES, TRAINERS
from remvae.core.runfolder import RunFolder
from remvae.playground.trainers.config import (
    AnnealingConfig,
    ClippedConfig,
    TrainerConfig,
)
from remvae.playground.trainers.loop import LoopTrainer
from remvae.playground.trainers.objective import Objective, Schedule
from remvae.playground.trainers.schedules import Constant
from remvae.text.tokenizer import Tokenizer

ANNEALED_KINDS: dict[str, frozenset[TermKind]] = {
    "simple": frozenset(),
    "clipped": frozenset(),
    "annealing": frozenset({"kl"}),
    "adaptive_annealing": frozenset({"kl", "alignment"}),
}
"""Which kinds of terms each trainer multiplies by beta(t)."""


def schedule_of(config: TrainerConfig) -> Schedule:
    """beta(t) of a trainer config: its annealing schedule, or 1 throughout."""
    return config.schedule.build(SCHEDULES) if isinstance(config, AnnealingConfig) else Constant(1.0)


def _build(
    name: str, config: TrainerConfig, model: MultimodalModel, run_dir: str | Path | RunFolder, tokenizer: Tokenizer | None
) -> LoopTrainer:
    if not hasattr(model, "terms"):
        raise TypeError(
            f"cannot train a {type(model).__name__}: a trainer trains a model family (a MultimodalModel), which "
            "declares its loss terms"
        )
    try:
        objective = Objective.for_model(model, config.weights, schedule_of(config), ANNEALED_KINDS[name])
    except ValueError as error:
        raise ValueError(f"trainer.config.weights.{error}") from None
    return LoopTrainer(name, config, objective, model, run_dir, tokenizer)


@TRAINERS.register("simple", config=TrainerConfig)
def build_simple(config: TrainerConfig, *, model: MultimodalModel, run_dir: str | Path | RunFolder,
                 tokenizer: Tokenizer | None = None) -> LoopTrainer:
    """loss = sum_k w_k L_k over the model's terms."""
    return _build("simple", config, model, run_dir, tokenizer)


@TRAINERS.register("clipped", config=ClippedConfig)
def build_clipped(config: ClippedConfig, *, model: MultimodalModel, run_dir: str | Path | RunFolder,
                  tokenizer: Tokenizer | None = None) -> LoopTrainer:
    """The simple objective with the global gradient norm clipped to clip_norm."""
    return _build("clipped", config, model, run_dir, tokenizer)


@TRAINERS.register("annealing", config=AnnealingConfig)
def build_annealing(config: AnnealingConfig, *, model: MultimodalModel, run_dir: str | Path | RunFolder,
                    tokenizer: Tokenizer | None = None) -> LoopTrainer:
    """KL annealing: the KL terms are multiplied by beta(t), the others by 1."""
    return _build("annealing", config, model, run_dir, tokenizer)


@TRAINERS.register("adaptive_annealing", config=AnnealingConfig)
def build_adaptive_annealing(config: AnnealingConfig, *, model: MultimodalModel, run_dir: str | Path | RunFolder,
                             tokenizer: Tokenizer | None = None) -> LoopTrainer:
    """The reference's: the KL and alignment terms are multiplied by beta(t), the reconstructions by 1."""
    return _build("adaptive_annealing", config, model, run_dir, tokenizer)
