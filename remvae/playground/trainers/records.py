"""What a run writes besides checkpoints: metrics (JSON lines) and the environment it ran in."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from remvae.core.runfolder import (
    RunFolder,
    StorageError,
    describe_os_error,
    write_bytes,
)
from remvae.playground.trainers.tracking import Trackers

ENVIRONMENT_PACKAGES = ("torch", "torchvision", "remvae", "xlstm", "numpy", "safetensors", "pydantic")


def _drop_records_after(path: Path, step: int) -> None:
    """Keep only the records of steps up to ``step``: a resumed run logs the later ones again."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if _step_of(line) <= step]
    if len(kept) < len(lines):
        write_bytes(path, "".join(line + "\n" for line in kept).encode("utf-8"))


def _step_of(line: str) -> float:
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):  # a line cut by a kill: drop it
        return float("inf")


class MetricsLog:
    """Appends one JSON object per logged step to ``metrics/train.jsonl`` and per epoch to ``validation.jsonl``,
    and hands the same records to the run's trackers (TensorBoard, MLflow) under ``train/`` and ``validation/``.

    ``after_step``: the step training (re)starts from; records of later steps, left by a run that was
    killed after its last checkpoint, are removed first.
    """

    def __init__(self, run: RunFolder, after_step: int = 0, trackers: Trackers | None = None) -> None:
        self.run = run
        self.trackers = trackers if trackers is not None else Trackers()
        try:
            run.metrics.mkdir(parents=True, exist_ok=True)
            for path in (run.train_log, run.validation_log):
                _drop_records_after(path, after_step)
            self._file = run.train_log.open("a", encoding="utf-8")
        except OSError as error:
            raise StorageError(error.errno, f"{run.metrics}: cannot write ({describe_os_error(error)})") from None

    def log(self, record: dict[str, Any]) -> None:
        self._append(self._file, record)
        self.trackers.log_metrics(record["step"], record, prefix="train")

    def log_validation(self, record: dict[str, Any]) -> None:
        try:
            with self.run.validation_log.open("a", encoding="utf-8") as handle:
                self._append(handle, record)
        except OSError as error:
            raise StorageError(error.errno, f"{self.run.validation_log}: cannot write ({describe_os_error(error)})") from None
        self.trackers.log_metrics(record["step"], record, prefix="validation")

    def _append(self, handle: Any, record: dict[str, Any]) -> None:
        try:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
        except OSError as error:
            raise StorageError(error.errno, f"{handle.name}: cannot write ({describe_os_error(error)})") from None

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """HEAD of the git checkout remvae is imported from (an editable install), if any."""
    checkout = Path(__file__).resolve().parents[3]
    if not (checkout / "pyproject.toml").is_file():  # installed in site-packages: not our repository
        return None
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def environment(device: torch.device, world_size: int) -> dict[str, Any]:
    return {
        "packages": {name: _version(name) for name in ENVIRONMENT_PACKAGES},
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "world_size": world_size,
        "git_commit": git_commit(),
    }
