"""The trainer interface: ``fit(train_set, val_set) -> TrainResult``.

Trainers are built by ``TRAINERS.build(name, config, model=..., run_dir=..., tokenizer=...)`` and
write everything they produce (checkpoints, metrics, environment) under ``run_dir``; see
``docs/architecture.md`` for the run-folder layout.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from torch import nn
from torch.utils.data import Dataset


class NonFiniteLossError(RuntimeError):
    """Training stopped because a loss term (or the gradient norm) became NaN or infinite.

    ``saved`` says which checkpoint holds the last good state (``None``: none was written yet).
    """

    def __init__(self, step: int, term: str, value: float, saved: str | None = None, known: bool = False) -> None:
        self.step, self.term, self.value, self.saved = step, term, value, saved
        message = f"step {step}: {term} is {value} (non-finite); training stopped"
        if known:
            if saved is None:
                message += "; no checkpoint was written yet. Change the config (e.g. a lower " \
                    "trainer.config.optimizer.lr) and run again"
            else:
                message += f"; the last good state is {saved}, but resuming repeats the same steps: change the " \
                    "config (e.g. a lower trainer.config.optimizer.lr) and start over with `remvae run ARGS --fresh`"
        super().__init__(message)

    def after(self, saved: str | None) -> NonFiniteLossError:
        """The same error, saying which checkpoint (if any) holds the last good state."""
        return NonFiniteLossError(self.step, self.term, self.value, saved, known=True)


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns.

    Attributes:
        steps: optimizer steps taken in total (including those before a resume).
        epochs: completed epochs.
        train_seconds: wall time of this ``fit`` call (after setup).
        samples_per_s: training samples per second of this call, over the optimisation steps only
            (validation and checkpoint writing excluded), summed over processes when distributed.
        final_loss: the weighted training loss of the last step.
        best_metric: the best (lowest) epoch metric: validation loss, or mean training loss without
            a validation set; ``None`` if no epoch completed.
        last_checkpoint: ``<run_dir>/checkpoints/last`` once written.
        best_checkpoint: ``<run_dir>/checkpoints/best`` once written.
    """

    steps: int
    epochs: int
    train_seconds: float
    samples_per_s: float
    final_loss: float | None
    best_metric: float | None
    last_checkpoint: Path | None
    best_checkpoint: Path | None


class Trainer(ABC):
    """Trains ``model`` and writes checkpoints and metrics under ``run_dir``."""

    model: nn.Module
    run_dir: Path

    @abstractmethod
    def fit(self, train_set: Dataset, val_set: Dataset | None = None) -> TrainResult:
        """Train on ``train_set`` (validating on ``val_set`` after each epoch when given)."""
