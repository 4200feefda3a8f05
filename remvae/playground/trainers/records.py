"""What a run writes besides checkpoints: metrics (JSON lines, TensorBoard), summary, environment."""

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

ENVIRONMENT_PACKAGES = ("torch", "torchvision", "remvae", "xlstm", "numpy", "safetensors", "pydantic")


def write_json(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _drop_records_after(path: Path, step: int) -> None:
    """Keep only the records of steps up to ``step``: a resumed run logs the later ones again."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines() if _step_of(line) <= step]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    os.replace(tmp, path)


def _step_of(line: str) -> float:
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):  # a line cut by a kill: drop it
        return float("inf")


class MetricsLog:
    """Appends one JSON object per logged step to ``metrics/train.jsonl`` (and TensorBoard if installed).

    ``after_step``: the step training (re)starts from; records of later steps, left by a run that was
    killed after its last checkpoint, are removed first.
    """

    def __init__(self, run_dir: Path, after_step: int = 0, tensorboard: bool = True) -> None:
        self.path = run_dir / "metrics" / "train.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for path in (self.path, self.path.with_name("validation.jsonl")):
            _drop_records_after(path, after_step)
        self._file = self.path.open("a", encoding="utf-8")
        self._writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the tensorboard package is optional
                SummaryWriter = None
            if SummaryWriter is not None:
                self._writer = SummaryWriter(log_dir=str(run_dir / "logs" / "tensorboard"))

    def log(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._writer is not None:
            step = record["step"]
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._writer.add_scalar(f"train/{key}", value, step)

    def log_validation(self, record: dict[str, Any]) -> None:
        path = self.path.with_name("validation.jsonl")
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._writer is not None:
            for key, value in record.items():
                if key not in ("step", "epoch") and isinstance(value, (int, float)):
                    self._writer.add_scalar(f"validation/{key}", value, record["step"])

    def close(self) -> None:
        self._file.close()
        if self._writer is not None:
            self._writer.close()


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
