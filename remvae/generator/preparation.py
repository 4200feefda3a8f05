"""Before anything is written into a run folder: is it this experiment's, and does what it holds belong to this config?

A run folder that holds a trained model of another config is never silently reused: the change is
resume-compatible (only the run's length, where its schedules allow) or :func:`prepare_run` stops with
:class:`StaleRunError` naming the changed fields and the two ways on (``--fresh``, which moves the old
run aside into ``previous/``, or a new ``output`` folder).
"""

from __future__ import annotations

from typing import Callable

from remvae.args import Experiment
from remvae.args.fingerprint import changes, length_changes
from remvae.core.checkpoint import CheckpointError, find_checkpoint, read_state
from remvae.core.runfolder import RunFolder, RunFolderError
from remvae.generator.render import read_manifest, source_record
from remvae.playground.trainers.extension import extension_problem
from remvae.playground.trainers.variants import schedule_of


class StaleRunError(RunFolderError):
    """The run folder holds a run this experiment cannot continue; the message names the change and the ways on."""


WAYS_ON = "rerun with --fresh (the old run is moved into previous/, not deleted) or give the experiment a new \"output\" folder"


def prepare_run(
    experiment: Experiment, fresh: bool = False, force: bool = False, say: Callable[[str], None] = print
) -> None:
    """Check (or, with ``fresh``, clear) the run folder for ``experiment``; nothing is written unless ``fresh``."""
    run = experiment.run
    _check_owner(experiment, run, force)
    if fresh:
        moved = run.move_aside()
        if moved is not None:
            say(f"moved the earlier run aside to {moved}")
        return
    if not _trained(run):
        return
    recorded = run.recorded_config()
    if recorded is None or not isinstance(recorded.get("fingerprint"), str):
        raise StaleRunError(
            f"{run.root}: holds a trained run without a config fingerprint (made before remvae 0.2), so it cannot be "
            f"told whether it belongs to this config; {WAYS_ON}"
        )
    current = experiment.resolved()
    if recorded["fingerprint"] != current["fingerprint"]:
        changed = changes(recorded, current)
        listed = "; ".join(map(str, changed[:5])) + (f"; and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise StaleRunError(f"{run.root}: trained under another config (changed: {listed or 'remvae version'}); {WAYS_ON}")
    if length_changes(recorded, current):
        _check_extension(experiment, run)


def _trained(run: RunFolder) -> bool:
    return any(find_checkpoint(path) is not None for path in (run.last, run.best)) or run.train_log.is_file()


def _check_owner(experiment: Experiment, run: RunFolder, force: bool) -> None:
    """Refuse to generate an experiment into a folder that holds another args file's scripts (unless ``force``)."""
    source = read_manifest(run).get("source")
    if force or not isinstance(source, str) or source in (source_record(experiment, run), str(experiment.source)):
        return
    owner = (run.root / source).resolve()  # recorded relative to the folder, so a moved run keeps its owner
    raise RunFolderError(
        f"{run.root}: holds the scripts of {owner}, not of {experiment.source}; give this experiment its own "
        "\"output\" folder (or --force to take the folder over)"
    )


def _check_extension(experiment: Experiment, run: RunFolder) -> None:
    """A changed length may continue the trained run only where beta(t) and the learning rate of its steps so far
    do not depend on the length."""
    found = find_checkpoint(run.last)
    if found is None:
        return
    try:
        state = read_state(found)
    except CheckpointError:
        return
    if not {"total_steps", "batches_per_epoch", "step"} <= set(state):
        return
    config = experiment.spec.trainer.config  # type: ignore[attr-defined]
    total = config.epochs * state["batches_per_epoch"]
    total = total if config.max_steps is None else min(total, config.max_steps)
    if total < state["step"]:
        raise StaleRunError(
            f"{run.root}: trained {state['step']} steps, more than the {total} now configured (a shorter run is not "
            f"the first part of a longer one); {WAYS_ON}"
        )
    problem = extension_problem(config, schedule_of(config), state["total_steps"], total, state["step"])
    if problem is not None:
        raise StaleRunError(
            f"{run.root}: trained towards {state['total_steps']} steps, now configured for {total}, but {problem}; "
            f"keep the old length, or {WAYS_ON}"
        )


__all__ = ["StaleRunError", "prepare_run"]
