"""The stages of a run (train, prior, eval, visualize, report): when each is complete, and running one.

Each stage is the generated script of the same name, run as a child process in the run folder with
its output shown and appended to ``<run>/logs/<stage>.log``. A stage is complete when its outputs
belong to the run's current config and model:

* train: ``checkpoints/last`` was trained under the run's config fingerprint and reached the
  configured length (epochs, or ``max_steps``);
* prior: no learned prior is declared, or ``priors/<name>/`` was fitted with the declared config to the
  checkpoint the run evaluates now;
* visualize: ``figures/figures.json`` was drawn from the checkpoint the run evaluates now;
* eval: ``metrics/eval.json`` holds every configured evaluator, each with its current config, computed
  from the checkpoint the run evaluates now;
* report: ``report.pdf`` is newer than the metrics and figures it shows.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Mapping

from remvae.args import Experiment
from remvae.core.checkpoint import (
    CheckpointError,
    checkpoint_identity,
    find_checkpoint,
    read_state,
)
from remvae.core.evaluator import judge_changed
from remvae.core.runfolder import RunFolder, StorageError, describe_os_error

# eval before visualize: the transfer figure draws at the strength the transfer evaluation chose on validation
STAGES = ("train", "prior", "eval", "visualize", "report")


class StageError(RuntimeError):
    """A stage that failed or was interrupted; the message names the stage and its log."""

    def __init__(self, stage: str, log: Path, message: str, interrupted: bool = False) -> None:
        super().__init__(message)
        self.stage = stage
        self.log = log
        self.interrupted = interrupted


class StageInputError(ValueError):
    """A stage asked of a run folder that lacks what it needs (e.g. eval before train)."""


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def evaluated_checkpoint(run: RunFolder, checkpoint: str) -> dict[str, Any] | None:
    """The identity of the checkpoint ``remvae.load(run, checkpoint=...)`` would open (``best`` falls back to
    ``last``), or ``None`` before training."""
    names = [checkpoint, "last"] if checkpoint == "best" else [checkpoint]
    for name in names:
        found = find_checkpoint(run.checkpoint(name))
        if found is not None:
            try:
                return checkpoint_identity(found)
            except CheckpointError:
                return None
    return None


def training_done(run: RunFolder, experiment: Experiment) -> str | None:
    """Why the train stage is complete (``checkpoints/last`` of this config at its full length), else ``None``."""
    found = find_checkpoint(run.last)
    if found is None:
        return None
    try:
        state = read_state(found)
    except CheckpointError:
        return None
    if state.get("fingerprint") != experiment.fingerprint() or "batches_per_epoch" not in state:
        return None
    config = experiment.spec.trainer.config  # type: ignore[attr-defined]
    total = config.epochs * state["batches_per_epoch"]
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    if state.get("stopped_early"):
        return f"stopped early after {state['epoch']} epochs"
    return f"{state['step']} steps, {state['epoch']} epochs done" if state["step"] >= total else None


def completion(stage: str, experiment: Experiment) -> str | None:
    """Why ``stage`` counts as complete (a short phrase), or ``None`` when it must run."""
    run = experiment.run
    if stage == "train":
        return training_done(run, experiment)
    model = evaluated_checkpoint(run, experiment.spec.evaluation.checkpoint)  # type: ignore[attr-defined]
    if model is None or model.get("fingerprint") != experiment.fingerprint():
        return None
    if stage == "prior":
        return prior_done(run, experiment, model)
    if stage == "visualize":
        # Drawn after the latest evaluation too: the transfer figure uses what the evaluation chose.
        figures, drawn, evaluated = _json(run.figure_manifest), _mtime(run.figure_manifest), _mtime(run.evaluation)
        done = isinstance(figures, dict) and figures.get("checkpoint") == model and (
            evaluated is None or (drawn is not None and drawn >= evaluated))
        return "figures are up to date" if done else None
    if stage == "eval":
        document = _json(run.evaluation)
        if not isinstance(document, dict) or document.get("checkpoint") != model:
            return None
        entries = document.get("evaluators") if isinstance(document.get("evaluators"), dict) else {}
        wanted = experiment.evaluators()
        if any(key not in entries or entries[key].get("config") != config or judge_changed(entries[key].get("judge"))
               for key, _, config in wanted):
            return None
        return f"{len(wanted)} evaluators done"
    if stage == "report":
        done = _mtime(run.report)
        inputs = [t for t in (_mtime(run.figure_manifest), _mtime(run.evaluation), _mtime(run.train_summary)) if t]
        return "report is up to date" if done is not None and inputs and done >= max(inputs) else None
    raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")


def prior_done(run: RunFolder, experiment: Experiment, model: dict[str, Any]) -> str | None:
    """Why the prior stage is complete (nothing declared, or the declared prior fitted to ``model``), else None."""
    name, config = experiment.component("prior")
    if name is None:
        return "no learned prior declared"
    record = _json(run.prior(name) / "prior.json")
    info = record.get("info") if isinstance(record, dict) else None
    fitted = isinstance(info, dict) and (info.get("checkpoint") or {}).get("sha256") == model["sha256"] \
        and info.get("config") == config
    return f"{name} fitted to this checkpoint" if fitted else None


def check_ready(stage: str, run: RunFolder) -> None:
    """Raise :class:`StageInputError` when ``stage`` cannot run in ``run`` yet."""
    script = run.script(f"{stage}.py")
    if not script.is_file():
        raise StageInputError(f"{script}: not found; generate the scripts with `remvae generate ARGS`")
    if stage in ("prior", "visualize", "eval") and find_checkpoint(run.last) is None and find_checkpoint(run.best) is None:
        raise StageInputError(f"{run.root}: no checkpoint yet; train first (`remvae train {run.root}`)")


class _Tee:
    """Copy a child's output to the terminal as it arrives, and to a log file line by line.

    Progress bars redraw one line with carriage returns; the log keeps only the state each bar had
    when it finished (a newline, or the blank redraw that clears it), so it stays readable and small.
    """

    def __init__(self, log: IO[bytes], echo: IO[str] | None) -> None:
        self.log = log
        self.echo = echo
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.segment = b""  # text since the last carriage return or newline
        self.shown = b""  # the last non-blank segment of the current line

    def write(self, chunk: bytes) -> None:
        if self.echo is not None:
            self.echo.write(self.decoder.decode(chunk))
            self.echo.flush()
        self._log_bytes(chunk)

    def close(self) -> None:
        self._log_bytes(b"\n")

    def _log_bytes(self, chunk: bytes) -> None:
        for piece in re.split(rb"(\r|\n)", chunk):
            if piece == b"\r":
                if self.segment.strip():
                    self.shown = self.segment
                elif self.shown:  # a blank redraw clears the bar: keep its final state
                    self._log_line(self.shown)
                    self.shown = b""
                self.segment = b""
            elif piece == b"\n":
                self._log_line(self.segment if self.segment.strip() else self.shown)
                self.segment = self.shown = b""
            else:
                self.segment += piece
        self.log.flush()

    def _log_line(self, line: bytes) -> None:
        if line.strip():
            self.log.write(line.rstrip() + b"\n")


def stage_environment(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with unbuffered output and, unless ``base`` sets it, ``OMP_WAIT_POLICY=PASSIVE``.

    OpenMP's default lets idle threads spin; with another job on the CPU, a spinning team waits on its
    descheduled members at every small kernel, so small-kernel training slows down severalfold.
    """
    return {"OMP_WAIT_POLICY": "PASSIVE", **base, "PYTHONUNBUFFERED": "1"}


def run_stage(stage: str, run: RunFolder, echo: bool = True) -> Path:
    """Run ``<run>/<stage>.py``; return its log. Raise :class:`StageError` on failure or Ctrl-C.

    The child runs in its own session so that one Ctrl-C reaches it exactly once (forwarded from
    here): a second interrupt arriving while the trainer writes its checkpoint would lose it.
    """
    check_ready(stage, run)
    log_path = run.log(stage)
    env = stage_environment(os.environ)
    interrupted = False
    try:
        run.logs.mkdir(parents=True, exist_ok=True)
        log = log_path.open("ab")  # earlier attempts (an interrupted training) stay above
    except OSError as error:
        raise StorageError(error.errno, f"{log_path}: cannot write ({describe_os_error(error)})") from None
    with log:
        started = datetime.now().isoformat(sep=" ", timespec="seconds")
        log.write(f"===== remvae {stage} {run.root} ({started})\n".encode())
        tee = _Tee(log, sys.stdout if echo else None)
        process = subprocess.Popen(
            [sys.executable, str(run.script(f"{stage}.py"))], cwd=run.root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        assert process.stdout is not None
        fd = process.stdout.fileno()
        previous = _forward_termination(process)
        try:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except KeyboardInterrupt:
                    if not interrupted:
                        interrupted = True
                        process.send_signal(signal.SIGINT)
                        tee.write(f"\nremvae: interrupted; waiting for {stage} to stop cleanly...\n".encode())
                    continue
                if not chunk:
                    break
                tee.write(chunk)
            code = _wait(process)
        finally:
            tee.close()
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    if interrupted:
        raise StageError(stage, log_path, f"{stage} interrupted; log: {log_path}", interrupted=True)
    if code != 0:
        raise StageError(stage, log_path, f"{stage} failed (exit status {code}){_last_line(log_path)}; log: {log_path}")
    return log_path


def _forward_termination(process: subprocess.Popen[bytes]) -> Any:
    """Pass SIGTERM on to the child (which runs in its own session); return the previous handler."""
    try:
        return signal.signal(signal.SIGTERM, lambda signum, frame: process.send_signal(signum))
    except ValueError:  # not the main thread: signals cannot be handled here
        return None


def _wait(process: subprocess.Popen[bytes]) -> int:
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue


def _last_line(log: Path) -> str:
    """``: <the last line of the log>`` (usually the exception), or nothing."""
    try:
        lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line]
    if not lines:
        return ""
    return f": {lines[-1].removeprefix('remvae: error: ')[:300]}"


__all__ = ["STAGES", "StageError", "StageInputError", "check_ready", "completion", "run_stage"]
