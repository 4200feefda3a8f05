"""Checkpoint folders, written atomically and read back without unpickling.

A checkpoint is a folder (``<run>/checkpoints/last``, ``best`` or ``step-0000123``) holding:

* ``model.safetensors`` -- the model's ``state_dict``;
* ``optimizer.pt`` -- optimizer / LR-scheduler / grad-scaler state (``torch.save``, read back with
  ``torch.load(weights_only=True)``), absent for weights-only checkpoints;
* ``tokenizer.json`` -- :meth:`Tokenizer.save`, when the model reads text;
* ``config.json`` -- the trainer's resolved config;
* ``state.json`` -- ``format``, ``version``, ``step``, ``epoch``, the trainer's own resume state and,
  under ``files``, the size and SHA-256 of every other file, so truncation is always detected.

Writing: every file is serialised in memory first, then written into a temporary sibling folder and
fsynced, and the folder replaces the old one by two renames (old away, new in) before the old one is
deleted. A kill at any moment leaves a complete checkpoint: the old folder, the new one, or, between
the two renames, the old one under a ``.old-<name>-*`` name, which :func:`find_checkpoint` falls back
to. A failed write (disk full, read-only) removes this writer's temporary folder and raises
:class:`~remvae.core.runfolder.StorageError` naming the folder and the cause.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import Tensor

from remvae.core.runfolder import StorageError, describe_os_error
from remvae.text.tokenizer import Tokenizer, TokenizerError

FORMAT = "remvae-checkpoint"
VERSION = 1
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
STATE_FILE = "state.json"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "config.json"
REQUIRED_STATE_KEYS = ("format", "version", "step", "epoch", "files")


class CheckpointError(ValueError):
    """A checkpoint folder or file that is missing, truncated, foreign or inconsistent."""


@dataclass
class Checkpoint:
    """A checkpoint read back by :func:`load_checkpoint`."""

    path: Path
    model: dict[str, Tensor]
    state: dict[str, Any]
    config: dict[str, Any]
    optimizer: dict[str, Any] | None
    tokenizer: Tokenizer | None

    @property
    def step(self) -> int:
        return int(self.state["step"])

    @property
    def epoch(self) -> int:
        return int(self.state["epoch"])


# --------------------------------------------------------------------------------------------- writing


def save_checkpoint(
    folder: str | Path,
    model_state: Mapping[str, Tensor],
    state: Mapping[str, Any],
    config: Mapping[str, Any],
    optimizer_state: Mapping[str, Any] | None = None,
    tokenizer: Tokenizer | None = None,
) -> Path:
    """Atomically write a checkpoint to ``folder`` (replacing any previous one) and return it.

    ``state`` must hold ``step`` and ``epoch`` and be JSON-serialisable; ``format``, ``version`` and
    ``files`` are added here.
    """
    folder = Path(folder)
    missing = [key for key in ("step", "epoch") if key not in state]
    if missing:
        raise ValueError(f"checkpoint state needs {missing}")
    tensors = {}
    for key, value in model_state.items():
        if not isinstance(value, Tensor):
            raise TypeError(f"model state entry {key!r} is a {type(value).__name__}, not a tensor")
        # A copy per entry: safetensors refuses tensors that share storage (tied weights).
        tensors[key] = value.detach().to("cpu", copy=True).contiguous()
    files = {MODEL_FILE: safetensors_bytes(tensors, metadata={"format": FORMAT})}
    if optimizer_state is not None:
        buffer = io.BytesIO()
        torch.save(dict(optimizer_state), buffer)
        files[OPTIMIZER_FILE] = buffer.getvalue()
    if tokenizer is not None:
        files[TOKENIZER_FILE] = tokenizer.to_json().encode("utf-8")
    files[CONFIG_FILE] = (json.dumps(config, indent=2) + "\n").encode("utf-8")
    described = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in sorted(files.items())}
    full_state = {**state, "format": FORMAT, "version": VERSION, "files": described}
    files[STATE_FILE] = (json.dumps(full_state, indent=1) + "\n").encode("utf-8")
    tmp = folder.parent / f".tmp-{folder.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        for name, data in files.items():
            with open(tmp / name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        _fsync(tmp)
        _swap_in(tmp, folder)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StorageError(error.errno, f"{folder}: cannot write the checkpoint ({describe_os_error(error)})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # directories cannot be opened on some platforms (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _swap_in(tmp: Path, folder: Path) -> None:
    old = folder.parent / f".old-{folder.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    _fsync(folder.parent)
    for stale in folder.parent.glob(f".old-{folder.name}-*"):  # superseded by the complete new folder
        shutil.rmtree(stale, ignore_errors=True)


def remove_checkpoint(folder: str | Path) -> None:
    """Delete a checkpoint folder (used to keep only the last *k*)."""
    shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------- reading


def find_checkpoint(folder: str | Path) -> Path | None:
    """``folder`` if it holds a checkpoint; else the previous one left aside by an interrupted swap; else None."""
    folder = Path(folder)
    if (folder / STATE_FILE).is_file():
        return folder
    aside = sorted(
        (p for p in folder.parent.glob(f".old-{folder.name}-*") if (p / STATE_FILE).is_file()),
        key=lambda p: p.stat().st_mtime,
    )
    return aside[-1] if aside else None


def read_state(folder: str | Path) -> dict[str, Any]:
    """The validated ``state.json`` of a checkpoint folder (no other file is read)."""
    folder = Path(folder)
    path = folder / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: not found ({folder} is not a remvae checkpoint)")
    state = _read_json(path)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(state).__name__}")
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a remvae checkpoint (format {state.get('format')!r}, expected {FORMAT!r})")
    missing = [key for key in REQUIRED_STATE_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"{path}: missing required keys {missing}")
    if state["version"] != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state['version']!r} is not supported (expected {VERSION})")
    if not isinstance(state["files"], dict) or MODEL_FILE not in state["files"]:
        raise CheckpointError(f"{path}: 'files' does not list {MODEL_FILE}")
    return state


def load_checkpoint(
    folder: str | Path, map_location: str | torch.device = "cpu", optimizer: bool = True
) -> Checkpoint:
    """Read and validate a checkpoint folder; raise :class:`CheckpointError` naming the bad file.

    Never unpickles: weights come from safetensors and ``optimizer.pt`` through
    ``torch.load(weights_only=True)`` (skipped when ``optimizer`` is false).
    """
    folder = Path(folder)
    state = read_state(folder)
    for name, expected in state["files"].items():
        _verify(folder / name, expected)
    model = _load_safetensors(folder / MODEL_FILE, map_location)
    config = _read_json(folder / CONFIG_FILE) if CONFIG_FILE in state["files"] else {}
    optimizer_state = None
    if optimizer and OPTIMIZER_FILE in state["files"]:
        optimizer_state = _load_torch(folder / OPTIMIZER_FILE, map_location)
    tokenizer = None
    if TOKENIZER_FILE in state["files"]:
        try:
            tokenizer = Tokenizer.load(folder / TOKENIZER_FILE)
        except TokenizerError as error:
            raise CheckpointError(str(error)) from None
    return Checkpoint(folder, model, state, config, optimizer_state, tokenizer)


def load_model_state(folder: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Tensor]:
    """Only the validated weights of a checkpoint folder."""
    return load_checkpoint(folder, map_location, optimizer=False).model


def _verify(path: Path, expected: Any) -> None:
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (listed in {STATE_FILE})")
    if not isinstance(expected, dict) or "bytes" not in expected or "sha256" not in expected:
        raise CheckpointError(f"{path.parent / STATE_FILE}: bad 'files' entry for {path.name}")
    size = path.stat().st_size
    if size != expected["bytes"]:
        raise CheckpointError(f"{path}: {size} bytes, expected {expected['bytes']} (truncated or overwritten)")
    if _sha256(path) != expected["sha256"]:
        raise CheckpointError(f"{path}: contents do not match the SHA-256 recorded in {STATE_FILE} (corrupted)")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: not valid JSON, truncated or foreign ({error})") from None


def _load_safetensors(path: Path, map_location: str | torch.device) -> dict[str, Tensor]:
    """Check the header against the file size, then load (safetensors never executes code)."""
    size = path.stat().st_size if path.is_file() else -1
    if size < 0:
        raise CheckpointError(f"{path}: not found")
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise CheckpointError(f"{path}: {size} bytes, too short for a safetensors file (truncated)")
        header_size = int.from_bytes(prefix, "little")
        if 8 + header_size > size:
            raise CheckpointError(f"{path}: header runs past the end of the file (truncated or not safetensors)")
        try:
            header = json.loads(handle.read(header_size))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CheckpointError(f"{path}: header is not JSON (not a safetensors file)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: header is not a JSON object (not a safetensors file)")
    try:
        end = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)
    except (TypeError, KeyError, IndexError):
        raise CheckpointError(f"{path}: malformed safetensors header") from None
    if 8 + header_size + end != size:
        raise CheckpointError(f"{path}: {size} bytes, header describes {8 + header_size + end} (truncated)")
    try:
        return load_file(str(path), device=str(map_location))
    except Exception as error:  # safetensors raises its own error type for malformed files
        raise CheckpointError(f"{path}: cannot be read as safetensors ({error})") from None


def _load_torch(path: Path, map_location: str | torch.device) -> dict[str, Any]:
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # truncated zip, foreign pickle refused by weights_only, ...
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: cannot be loaded with weights_only=True ({first})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict of states, got {type(data).__name__}")
    return data


def checkpoint_identity(folder: str | Path) -> dict[str, Any]:
    """What identifies a checkpoint's model, for the outputs computed from it: its folder name, step, epoch,
    the SHA-256 of its weights and the config fingerprint it was trained under (read from ``state.json``)."""
    state = read_state(folder)
    return {
        "name": Path(folder).name,
        "step": state["step"],
        "epoch": state["epoch"],
        "sha256": state["files"][MODEL_FILE]["sha256"],
        "fingerprint": state.get("fingerprint"),
    }
