"""Fitting post-hoc priors by name, and their folders on disk.

A prior folder holds ``prior.safetensors`` (the state_dict) and ``prior.json``::

    {"format": "remvae-prior", "version": 1, "name": "gmm", "config": {...}, "latent_dim": 16,
     "shape": {"components": 10}, "info": {...}}

where ``shape`` holds the fields that, with ``latent_dim``, rebuild the module before its tensors are loaded.
Both files are written into a temporary sibling folder that then replaces the target by renames.
Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from remvae.core.config import ComponentConfig, ConfigError, validate_config
from remvae.core.prior import LatentPrior
from remvae.playground.priors.common import PRIORS
from remvae.playground.priors.flow import MaskedAutoregressiveFlowPrior
from remvae.playground.priors.gmm import GaussianMixturePrior

FORMAT = "remvae-prior"
VERSION = 1
TENSORS_FILE = "prior.safetensors"
RECORD_FILE = "prior.json"

PosthocPrior = GaussianMixturePrior | MaskedAutoregressiveFlowPrior
LOADABLE: dict[str, type[PosthocPrior]] = {
    cls.name: cls for cls in (GaussianMixturePrior, MaskedAutoregressiveFlowPrior)
}
"""The prior classes a folder can hold, by ``name``: each has ``shape()``, is built as ``cls(latent_dim, **shape)``
and carries the config it was fitted with as ``config`` (None when built by hand)."""


class PriorFileError(ValueError):
    """A prior folder whose files are missing, unreadable, foreign or inconsistent (one-line message)."""


def fit_prior(
    name: str, config: dict[str, Any] | ComponentConfig, train_latents: Tensor, val_latents: Tensor, seed: int
) -> tuple[LatentPrior, dict[str, Any]]:
    """Fit the post-hoc prior registered as ``name`` to ``train_latents`` ``[N, D]``, choosing whatever it
    chooses (K, the stopping epoch) on ``val_latents`` ``[M, D]``.

    Returns the prior and a JSON-able record: the registered fit's own fields (chosen K, validation
    log-likelihood per candidate, train/validation mean log-likelihood, ...) plus ``name``, ``config``,
    ``seed``, ``train_items``, ``validation_items`` and ``seconds``. Raises ``UnknownComponentError`` for an
    unregistered name, ``ConfigError`` for a bad config and ``ValueError`` for bad latents.
    """
    entry = PRIORS.get(name)
    resolved = validate_config(entry.config, config, where=name)
    for label, latents in (("train_latents", train_latents), ("val_latents", val_latents)):
        if latents.dim() != 2 or latents.shape[0] < 2 or not latents.is_floating_point():
            shape = tuple(latents.shape)
            raise ValueError(f"{label} must be a float tensor [N >= 2, D], got {latents.dtype} {shape}")
        if not torch.isfinite(latents).all():
            raise ValueError(f"{label} holds non-finite values")
    if train_latents.shape[1] != val_latents.shape[1]:
        dims = train_latents.shape[1], val_latents.shape[1]
        raise ValueError(f"train latents are {dims[0]}-D but validation latents {dims[1]}-D")
    started = time.perf_counter()
    prior, fitted = entry.builder(resolved, train_latents=train_latents, val_latents=val_latents, seed=seed)
    info = {
        "name": name,
        "config": resolved.model_dump(),
        "seed": seed,
        "train_items": train_latents.shape[0],
        "validation_items": val_latents.shape[0],
        **fitted,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return prior, info


def save_prior(prior: LatentPrior, directory: str | Path, info: dict[str, Any]) -> Path:
    """Write ``prior`` (a GMM or MAF prior) and the JSON-able ``info`` to the folder ``directory``, replacing
    it if it exists; return the folder."""
    if prior.name not in LOADABLE or not isinstance(prior, LOADABLE[prior.name]):
        raise ValueError(f"save_prior saves {', '.join(sorted(LOADABLE))} priors, not {type(prior).__name__}")
    directory = Path(directory)
    config = prior.config.model_dump() if prior.config is not None else None
    record = {
        "format": FORMAT,
        "version": VERSION,
        "name": prior.name,
        "config": config,
        "latent_dim": prior.latent_dim,
        "shape": prior.shape(),
        "info": info,
    }
    text = json.dumps(record, indent=2) + "\n"  # fails before anything is written if info is not JSON-able
    tensors = {key: value.detach().cpu().contiguous().clone() for key, value in prior.state_dict().items()}
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".tmp-{directory.name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        save_file(tensors, str(staging / TENSORS_FILE), metadata={"format": FORMAT})
        (staging / RECORD_FILE).write_text(text, encoding="utf-8")
        for path in (staging / TENSORS_FILE, staging / RECORD_FILE):
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        if directory.exists():
            old = directory.parent / f".old-{directory.name}-{uuid.uuid4().hex[:8]}"
            os.rename(directory, old)
            os.rename(staging, directory)
            shutil.rmtree(old)
        else:
            os.rename(staging, directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return directory


def load_prior(directory: str | Path) -> tuple[LatentPrior, dict[str, Any]]:
    """Rebuild the prior saved by :func:`save_prior` in ``directory`` (on the CPU); return it and its ``info``.

    Raises :class:`PriorFileError` naming the file for a missing or unreadable file, a foreign format or
    version, an unknown prior name or config, or tensors that do not fit the recorded shape.
    """
    directory = Path(directory)
    record_path, tensors_path = directory / RECORD_FILE, directory / TENSORS_FILE
    record = _read_record(record_path)
    cls = LOADABLE[record["name"]]
    try:
        prior = cls(record["latent_dim"], **record["shape"])
    except (TypeError, ValueError, RuntimeError) as error:
        message = f"{record_path}: latent_dim and shape {record['shape']} do not build a {cls.name} prior: {error}"
        raise PriorFileError(_line(message)) from None
    if record["config"] is not None:
        try:
            prior.config = validate_config(PRIORS.get(cls.name).config, record["config"], where="config")
        except ConfigError as error:
            raise PriorFileError(_line(f"{record_path}: {error}")) from None
    if not tensors_path.is_file():
        raise PriorFileError(f"{tensors_path}: missing")
    try:
        tensors = load_file(str(tensors_path))
    except Exception as error:  # safetensors raises its own error types for truncated or foreign files
        raise PriorFileError(_line(f"{tensors_path}: not a readable safetensors file ({error})")) from None
    expected = prior.state_dict()
    if set(tensors) != set(expected):
        missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise PriorFileError(_line(f"{tensors_path}: tensors do not fit: missing {missing}, unexpected {unexpected}"))
    for key, value in expected.items():
        if tensors[key].shape != value.shape or not tensors[key].is_floating_point():
            raise PriorFileError(
                f"{tensors_path}: tensor {key!r} is {tensors[key].dtype} {tuple(tensors[key].shape)}, "
                f"expected a float tensor of shape {tuple(value.shape)}"
            )
    prior.load_state_dict(tensors)
    return prior, record["info"]


def _read_record(path: Path) -> dict[str, Any]:
    """prior.json, checked for format, version, a known name and well-typed fields."""
    if not path.is_file():
        raise PriorFileError(f"{path}: missing")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PriorFileError(_line(f"{path}: not JSON ({error})")) from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        given = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise PriorFileError(f"{path}: format is {given!r}, expected {FORMAT!r}")
    if record.get("version") != VERSION:
        raise PriorFileError(f"{path}: version {record.get('version')!r} is not supported (expected {VERSION})")
    if record.get("name") not in LOADABLE:
        raise PriorFileError(f"{path}: prior {record.get('name')!r} is not one of {', '.join(sorted(LOADABLE))}")
    for key, kind in (("latent_dim", int), ("shape", dict), ("info", dict), ("config", (dict, type(None)))):
        if not isinstance(record.get(key), kind) or isinstance(record.get(key), bool):
            raise PriorFileError(f"{path}: field {key!r} is missing or of the wrong type")
    return record


def _line(message: str) -> str:
    """``message`` on one line (library errors can span several)."""
    return " ".join(message.split())


__all__ = ["FORMAT", "LOADABLE", "PriorFileError", "VERSION", "fit_prior", "load_prior", "save_prior"]
