"""The fingerprint of a run: a hash of what defines the model and its training, and what changed between two configs.

The training view of a resolved config keeps the seed, the data sizes and every component of the reader,
model, image, text and trainer slots, leaving out the fields their config classes mark as
:data:`~remvae.core.config.IGNORED` (log cadence, device, data root, ...) or
:data:`~remvae.core.config.RUN_LENGTH` (epochs, max_steps: a run may continue to a new length). Names,
descriptions, the output folder and the evaluation are not part of it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from remvae.args.prepare import model_type
from remvae.args.slots import SLOTS, TRAINING_SLOTS
from remvae.core.config import FINGERPRINT_KEY

TOP_LEVEL = ("seed",)


def _role(field: Any) -> str | None:
    extra = field.json_schema_extra
    return extra.get(FINGERPRINT_KEY) if isinstance(extra, dict) else None  # type: ignore[return-value]


def _view(cls: type[BaseModel], config: dict[str, Any], keep_length: bool) -> dict[str, Any]:
    out = {}
    for name, field in cls.model_fields.items():
        key = field.alias or name
        if key not in config:
            continue
        role = _role(field)
        if role == "ignored" or (role == "length" and not keep_length):
            continue
        nested = model_type(field.annotation)
        value = config[key]
        out[key] = _view(nested, value, keep_length) if nested is not None and isinstance(value, dict) else value
    return out


def training_view(resolved: dict[str, Any], keep_length: bool = False) -> dict[str, Any]:
    """The part of a resolved config (config.json) that defines the trained model; with ``keep_length`` also the
    run's length fields."""
    view: dict[str, Any] = {key: resolved.get(key) for key in TOP_LEVEL}
    data = resolved.get("data") or {}
    view["data"] = {key: data.get(key) for key in ("train_length", "validation_length")}
    for slot in (slot for slot in SLOTS if slot.key in TRAINING_SLOTS):
        component = resolved.get(slot.key)
        if not isinstance(component, dict) or component.get("name") not in slot.registry:
            view[slot.key] = component
            continue
        cls = slot.registry.get(component["name"]).config
        view[slot.key] = {"name": component["name"], "config": _view(cls, component.get("config") or {}, keep_length)}
    return view


def fingerprint(resolved: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of :func:`training_view`."""
    text = json.dumps(training_view(resolved), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Change:
    """One field that differs between two configs: its dotted path and both values."""

    path: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.path} {_short(self.old)} -> {_short(self.new)}"


def changes(old: dict[str, Any], new: dict[str, Any], keep_length: bool = False) -> list[Change]:
    """The fields whose values differ between the training views of two resolved configs."""
    a, b = _flat(training_view(old, keep_length)), _flat(training_view(new, keep_length))
    return [Change(path, a.get(path), b.get(path)) for path in sorted(set(a) | set(b)) if a.get(path) != b.get(path)]


def length_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """The changed fields that only set the run's length (epochs, max_steps)."""
    every = {change.path for change in changes(old, new, keep_length=True)}
    without = {change.path for change in changes(old, new)}
    return [change for change in changes(old, new, keep_length=True) if change.path in every - without]


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = ["Change", "changes", "fingerprint", "length_changes", "training_view"]
