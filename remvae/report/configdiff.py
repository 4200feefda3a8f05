"""Configurations as differences: a run's settings that differ from the defaults, and settings that differ
between runs.

Defaults come from the components' own config classes (``REGISTRY.get(name).config()``) and the
experiment's top-level model, so the table cannot drift from the code. A component field that only
repeats a value declared once at the top level (latent size, image size, seed, device) is shown there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from remvae.args.fingerprint import training_view
from remvae.args.schema import ExperimentBase
from remvae.args.slots import (
    DEFAULT_FIELDS,
    EVALUATOR_SLOT,
    RUN_DEFAULTS,
    SHARED_FIELDS,
    SLOTS,
)
from remvae.core.config import ConfigError, validate_config
from remvae.core.registry import MODELS, UnknownComponentError
from remvae.report.runfolder import flatten

NOT_SETTINGS = ("fingerprint", "$schema", "name", "description", "output")
"""Top-level fields that name or place the run rather than configure it."""


@dataclass(frozen=True)
class Setting:
    """One dotted setting of config.json, its value and its default (``None`` default: the field has none)."""

    key: str
    value: Any
    default: Any
    has_default: bool


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def top_level_defaults() -> dict[str, Any]:
    """``{field: default}`` of args.json's top-level fields that have one (nested settings dumped as dicts)."""
    defaults = {}
    for name, field in ExperimentBase.model_fields.items():
        key = field.alias or name
        if key in NOT_SETTINGS or field.is_required():
            continue
        value = field.get_default(call_default_factory=True)
        defaults[key] = _json(value.model_dump(mode="json") if hasattr(value, "model_dump") else value)
    return defaults


def component_defaults(slot_key: str, name: str) -> dict[str, Any] | None:
    """The default config of the component ``name`` of ``slot_key`` (``None`` when it is unknown or has required
    fields), with the experiment's own defaults (an interrupted run resumes) applied."""
    slot = EVALUATOR_SLOT if slot_key == EVALUATOR_SLOT.key else next(s for s in SLOTS if s.key == slot_key)
    try:
        defaults = slot.registry.get(name).config().model_dump(mode="json")
    except (UnknownComponentError, ValidationError):
        return None
    return {**defaults, **RUN_DEFAULTS.get(slot_key, {})}


def default_weights(model: Any) -> dict[str, float]:
    """The loss weight each term of the run's model family gets when args.json leaves it out (1, or 0 when the
    term is optional); none when the family is unknown."""
    if not isinstance(model, Mapping):
        return {}
    try:
        config = validate_config(MODELS.get(str(model.get("name"))).config, dict(model.get("config") or {}))
        return {term.name: 0.0 if term.optional else 1.0 for term in config.terms()}
    except (UnknownComponentError, ConfigError, NotImplementedError):
        return {}


def _component(prefix: str, slot_key: str, component: Mapping[str, Any], top: Mapping[str, Any]) -> list[Setting]:
    name = component.get("name")
    settings = [Setting(f"{prefix}.name", name, None, False)]
    config = component.get("config") if isinstance(component.get("config"), Mapping) else {}
    defaults = component_defaults(slot_key, str(name)) or {}
    flat_defaults = flatten(defaults) if defaults else {}
    if slot_key == "trainer":
        flat_defaults.update({f"weights.{term}": weight for term, weight in default_weights(top.get("model")).items()})
    for key, value in flatten(config).items():
        field = key.split(".")[0]
        if field in (*SHARED_FIELDS, *DEFAULT_FIELDS) and top.get(field) is not None and value == top.get(field):
            continue  # declared once at the top level
        if key in flat_defaults and _json(flat_defaults[key]) == _json(value):
            continue
        settings.append(Setting(f"{prefix}.config.{key}", value, flat_defaults.get(key), key in flat_defaults))
    return settings


def changed_settings(config: Mapping[str, Any]) -> list[Setting]:
    """The settings of a resolved config (config.json) that differ from their defaults, component names included."""
    defaults = flatten(top_level_defaults())
    settings = []
    for key, value in flatten({k: v for k, v in config.items() if k not in NOT_SETTINGS}).items():
        root = key.split(".")[0]
        if root in {slot.key for slot in SLOTS} or root == EVALUATOR_SLOT.key or root.startswith("evaluators["):
            continue
        if key in defaults and _json(defaults[key]) == _json(value):
            continue
        settings.append(Setting(key, value, defaults.get(key), key in defaults))
    for slot in SLOTS:
        component = config.get(slot.key)
        if isinstance(component, Mapping):
            settings += _component(slot.key, slot.key, component, config)
    evaluators = config.get(EVALUATOR_SLOT.key)
    for item in evaluators if isinstance(evaluators, list) else []:
        if isinstance(item, Mapping):
            key = item.get("key") or item.get("name")
            settings += _component(f"evaluators.{key}", EVALUATOR_SLOT.key, item, config)
    return settings


def training_keys(configs: Sequence[Mapping[str, Any]]) -> set[str]:
    """The dotted keys that define a trained model or its length (the run fingerprint's view, lengths included)."""
    keys: set[str] = set()
    for config in configs:
        keys |= set(flatten(training_view(dict(config), keep_length=True)))
    return keys


def differing_keys(flats: Sequence[Mapping[str, Any]]) -> list[str]:
    """The keys of flattened configs whose values are not all equal (in first-seen order; not the fingerprint or
    the output folder, which always differ)."""
    keys: list[str] = []
    for flat in flats:
        keys += [key for key in flat if key not in keys and key.split(".")[0] not in ("fingerprint", "output")]
    return [key for key in keys if len({json.dumps(flat.get(key), sort_keys=True, default=str) for flat in flats}) > 1]


def differing_settings(configs: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """The dotted keys whose values differ between configs: ``(those defining the trained model or its length,
    the others)`` (the others are outside the run's fingerprint: names, logging, devices, evaluation)."""
    differing = differing_keys([flatten(dict(config)) for config in configs])
    trained = training_keys(configs)
    return [key for key in differing if key in trained], [key for key in differing if key not in trained]
