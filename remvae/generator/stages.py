"""The stages of a run (train, visualize, eval, report): when each is complete, and running one.

Each stage is the generated script of the same name, run as a child process in the run folder with
its output shown and appended to ``<run>/logs/<stage>.log``. A stage is complete when its outputs
exist and are newer than what they were made from:

* train: ``metrics/train_summary.json`` reports the configured epochs (or ``max_steps``);
* visualize: ``figures/figures.json`` is newer than the checkpoints;
* eval: ``metrics/eval.json`` holds every configured evaluator and is newer than the checkpoints;
* report: ``report.pdf`` is newer than the figures, the metrics and the checkpoints.
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

from remvae.generator.schema import Experiment

STAGES = ("train", "visualize", "eval", "report")
CHECKPOINTS = ("checkpoints/best/state.json", "checkpoints/last/state.json")
SUMMARY = "metrics/train_summary.json"
EVAL = "metrics/eval.json"
FIGURES = "figures/figures.json"
REPORT = "report.pdf"


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


def model_time(run_dir: Path) -> float | None:
    """When the newest checkpoint was written; ``None`` before training."""
    times = [t for t in (_mtime(run_dir / c) for c in CHECKPOINTS) if t is not None]
    return max(times) if times else None


def completion(stage: str, experiment: Experiment) -> str | None:
    """Why ``stage`` counts as complete (a short phrase), or ``None`` when it must run."""
    run_dir = experiment.run_dir
    trained = model_time(run_dir)
    if stage == "train":
        summary = _json(run_dir / SUMMARY)
        if trained is None or not isinstance(summary, dict):
            return None
        config = experiment.spec.trainer.config  # type: ignore[attr-defined]
        epochs, max_steps = getattr(config, "epochs", None), getattr(config, "max_steps", None)
        if max_steps is not None and summary.get("steps", 0) >= max_steps:
            return f"{summary['steps']} steps done"
        if epochs is not None and summary.get("epochs", 0) >= epochs:
            return f"{summary['epochs']} epochs done"
        return None
    if trained is None:
        return None
    if stage == "visualize":
        done = _mtime(run_dir / FIGURES)
        return "figures are up to date" if done is not None and done >= trained else None
    if stage == "eval":
        document = _json(run_dir / EVAL)
        done = _mtime(run_dir / EVAL)
        if not isinstance(document, dict) or not isinstance(document.get("evaluators"), dict) or done is None:
            return None
        wanted = [key for key, _, _ in experiment.evaluators()]
        if done < trained or any(name not in document["evaluators"] for name in wanted):
            return None
        return f"{len(wanted)} evaluators done"
    if stage == "report":
        done = _mtime(run_dir / REPORT)
        inputs = [t for t in (trained, _mtime(run_dir / FIGURES), _mtime(run_dir / EVAL)) if t is not None]
        return "report is up to date" if done is not None and done >= max(inputs) else None
    raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")


def check_ready(stage: str, run_dir: Path) -> None:
    """Raise :class:`StageInputError` when ``stage`` cannot run in ``run_dir`` yet."""
    script = run_dir / f"{stage}.py"
    if not script.is_file():
        raise StageInputError(f"{script}: not found; generate the scripts with `remvae generate ARGS`")
    if stage in ("visualize", "eval") and model_time(run_dir) is None:
        raise StageInputError(f"{run_dir}: no checkpoint yet; train first (`remvae train {run_dir}`)")


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
    descheduled members at every small kernel, which slowed the quickstart's training about twofold
    beside one other training job (and far more at times) on the 2-core development machine.
    """
    return {"OMP_WAIT_POLICY": "PASSIVE", **base, "PYTHONUNBUFFERED": "1"}


def run_stage(stage: str, run_dir: Path, echo: bool = True) -> Path:
    """Run ``<run_dir>/<stage>.py``; return its log. Raise :class:`StageError` on failure or Ctrl-C.

    The child runs in its own session so that one Ctrl-C reaches it exactly once (forwarded from
    here): a second interrupt arriving while the trainer writes its checkpoint would lose it.
    """
    check_ready(stage, run_dir)
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{stage}.log"
    env = stage_environment(os.environ)
    interrupted = False
    with log_path.open("ab") as log:  # earlier attempts (an interrupted training) stay above
        started = datetime.now().isoformat(sep=" ", timespec="seconds")
        log.write(f"===== remvae {stage} {run_dir} ({started})\n".encode())
        tee = _Tee(log, sys.stdout if echo else None)
        process = subprocess.Popen(
            [sys.executable, str(run_dir / f"{stage}.py")], cwd=run_dir, env=env,
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
    return f": {lines[-1][:300]}"


__all__ = ["STAGES", "StageError", "StageInputError", "check_ready", "completion", "model_time", "run_stage"]
