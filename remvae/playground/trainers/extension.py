"""Whether a trained run may continue under a longer (or shorter) schedule and still be the run its config describes."""

from __future__ import annotations

from remvae.playground.trainers.config import TrainerConfig
from remvae.playground.trainers.objective import Schedule
from remvae.playground.trainers.optim import lr_sequence


def extension_problem(
    config: TrainerConfig, schedule: Schedule, old_total: int, new_total: int, steps_done: int
) -> str | None:
    """``None`` when a run trained ``steps_done`` steps of ``old_total`` can continue to ``new_total`` steps and
    end as a fresh ``new_total``-step run would: beta(t) and the learning rate of every step taken so far must
    not depend on the total. Otherwise what differs, in words."""
    if old_total == new_total:
        return None
    for step in range(steps_done):
        if schedule(step, old_total) != schedule(step, new_total):
            return f"the annealing schedule's beta at step {step} depends on the run's length"
    scheduler = config.lr_scheduler
    old = lr_sequence(scheduler.name, scheduler.options, config.optimizer.lr, old_total, steps_done)
    new = lr_sequence(scheduler.name, scheduler.options, config.optimizer.lr, new_total, steps_done)
    if old != new:
        return f"the learning-rate schedule ({scheduler.name}) depends on the run's length"
    return None
