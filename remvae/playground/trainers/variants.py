"""The registered trainers: one loop, differing only in which loss terms beta(t) scales and in clipping."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from remvae.core.registry import ALIGNMENTS, SCHEDULES, TRAINERS
from remvae.playground.trainers.config import AnnealingConfig, ClippedConfig, TrainerConfig
from remvae.playground.trainers.loop import LoopTrainer
from remvae.playground.trainers.objective import KL_TERMS, Objective, term_weights
from remvae.playground.trainers.schedules import Constant
from remvae.text.tokenizer import Tokenizer


def _build(
    name: str,
    config: TrainerConfig,
    annealed: frozenset[str],
    model: nn.Module,
    run_dir: str | Path,
    tokenizer: Tokenizer | None,
) -> LoopTrainer:
    if config.w_conditional_prior > 0 and getattr(model, "conditional_prior", None) is None:
        raise ValueError(
            "trainer.config.w_conditional_prior: is positive but the model has no conditional prior "
            "(declare conditional_prior in args.json)"
        )
    schedule = config.schedule.build(SCHEDULES) if isinstance(config, AnnealingConfig) else Constant(1.0)
    objective = Objective(
        weights=term_weights(
            config.w_img, config.w_txt, config.w_kl_img, config.w_kl_txt, config.w_align,
            config.w_img_from_txt, config.w_txt_from_img, config.w_conditional_prior,
        ),
        alignment=config.alignment.build(ALIGNMENTS),
        schedule=schedule,
        annealed=annealed if isinstance(config, AnnealingConfig) else frozenset(),
    )
    return LoopTrainer(name, config, objective, model, run_dir, tokenizer)


@TRAINERS.register("simple", config=TrainerConfig)
def build_simple(config: TrainerConfig, *, model: nn.Module, run_dir: str | Path,
                 tokenizer: Tokenizer | None = None) -> LoopTrainer:
    """loss = w_img L_img + w_txt L_txt + w_kl_img KL_img + w_kl_txt KL_txt + w_align L_align."""
    return _build("simple", config, frozenset(), model, run_dir, tokenizer)


@TRAINERS.register("clipped", config=ClippedConfig)
def build_clipped(config: ClippedConfig, *, model: nn.Module, run_dir: str | Path,
                  tokenizer: Tokenizer | None = None) -> LoopTrainer:
    """The simple objective with the global gradient norm clipped to clip_norm."""
    return _build("clipped", config, frozenset(), model, run_dir, tokenizer)


@TRAINERS.register("annealing", config=AnnealingConfig)
def build_annealing(config: AnnealingConfig, *, model: nn.Module, run_dir: str | Path,
                    tokenizer: Tokenizer | None = None) -> LoopTrainer:
    """KL annealing: loss = w_img L_img + w_txt L_txt + beta(t) (w_kl_img KL_img + w_kl_txt KL_txt) + w_align L_align."""
    return _build("annealing", config, KL_TERMS, model, run_dir, tokenizer)


@TRAINERS.register("adaptive_annealing", config=AnnealingConfig)
def build_adaptive_annealing(config: AnnealingConfig, *, model: nn.Module, run_dir: str | Path,
                             tokenizer: Tokenizer | None = None) -> LoopTrainer:
    """The reference: loss = w_img L_img + w_txt L_txt + beta(t) (w_kl_img KL_img + w_kl_txt KL_txt + w_align L_align)."""
    return _build("adaptive_annealing", config, KL_TERMS | {"alignment"}, model, run_dir, tokenizer)
