"""What validation does to a parsed args.json first: paths made absolute, shared values handed out, defaults set.

* relative paths (every ``Path``-typed field, and ``output`` / ``data_root``) are resolved against the
  args.json's own folder, so commands work from any working directory;
* the shared values ``latent_dim``, ``image_size`` and ``channels``, declared once at the top level,
  are passed to every component whose config has that field (a component that sets a different value
  is an error); ``seed`` and ``device`` fill the components that leave them unset; ``data_root`` is
  the reader's ``root`` (left unset, the readers use ``$REMVAE_DATA`` or the per-user cache);
* an experiment that names no model family gets the aligned pair.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from remvae.args.schema import ExperimentBase
from remvae.args.slots import (
    DEFAULT_FIELDS,
    DEFAULT_MODEL,
    MANAGED_READER_FIELDS,
    RUN_DEFAULTS,
    SHARED_FIELDS,
    components,
)


def prepare(data: dict[str, Any], base_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """A deep copy of ``data`` with paths resolved and shared values distributed, and the conflicts found."""
    data = json.loads(json.dumps(data))  # a deep copy; the caller's dict is never changed
    problems: list[str] = []
    data.pop("fingerprint", None)  # written by remvae into config.json, recomputed from the rest
    data.setdefault("model", dict(DEFAULT_MODEL))
    for key in ("output", "data_root"):
        if isinstance(data.get(key), str):
            data[key] = _absolute(data[key], base_dir)
    data.setdefault("output", str(base_dir))
    if isinstance(data.get("data_root"), str) and not Path(data["data_root"]).is_dir():
        problems.append(
            f"data_root: folder not found: {data['data_root']} (leave it out to use $REMVAE_DATA or the cache)"
        )
    evaluation = data.get("evaluation")
    judge = evaluation.get("judge") if isinstance(evaluation, dict) else None
    if isinstance(judge, str) and _looks_like_path(judge):
        evaluation["judge"] = _absolute(evaluation["judge"], base_dir)
        if not Path(evaluation["judge"]).is_file():
            problems.append(f"evaluation.judge: file not found: {evaluation['judge']}")
    for key, slot, component in components(data):
        if not isinstance(component.get("config", {}), dict) or component.get("name") not in slot.registry:
            continue
        config_cls = slot.registry.get(component["name"]).config
        config = component.setdefault("config", {})
        _resolve_paths(config_cls, config, base_dir)
        fields = config_cls.model_fields
        if slot.key == "reader":
            for field, owner in MANAGED_READER_FIELDS.items():
                if field in fields and field in config:
                    problems.append(f"{key}.config.{field}: set by the experiment for each split; use {owner} instead")
                    del config[field]
        for field, value in RUN_DEFAULTS.get(slot.key, {}).items():
            if field in fields:
                config.setdefault(field, value)
        for field in SHARED_FIELDS:
            shared = data.get(field)
            if field not in fields or shared is None or not _valid_top_level(field, shared):
                continue
            if field in config and config[field] != shared:
                problems.append(
                    f"{key}.config.{field}: {config[field]!r} conflicts with the top-level {field} {shared!r}; "
                    f"declare it once (remove it here)"
                )
            config[field] = shared
        for field in DEFAULT_FIELDS:
            if field in fields and data.get(field) is not None and field not in config:
                config[field] = data[field]
        if slot.key == "reader" and "root" in fields and data.get("data_root") is not None:
            if "root" in config and config["root"] != data["data_root"]:
                problems.append(
                    f"{key}.config.root: {config['root']!r} conflicts with data_root {data['data_root']!r}; give one"
                )
            config["root"] = data["data_root"]
    return data, problems


def _looks_like_path(value: str) -> bool:
    """A judge given as a file (``./judges/mnist.json``) rather than a name (``mnist``) or ``hf:`` id."""
    return not value.startswith("hf:") and ("/" in value or "\\" in value or value.endswith(".json"))


def _valid_top_level(field: str, value: Any) -> bool:
    """Whether a shared top-level value is valid (an invalid one is reported once, not per component)."""
    try:
        ExperimentBase.model_validate_json(json.dumps({"name": "x", field: value}), strict=True)
    except ValidationError:
        return False
    return True


def _absolute(value: str, base_dir: Path) -> str:
    return str((base_dir / Path(value).expanduser()).resolve())


def _is_path_type(annotation: Any) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, Path)
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_path_type(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return any(_is_path_type(arg) for arg in get_args(annotation))
    return False


def _is_path_name(name: str) -> bool:
    """Plain string fields that hold folders by convention (a reader's ``root``, ``cache_dir``)."""
    return name in ("root", "dir") or name.endswith(("_root", "_dir"))


def model_type(annotation: Any) -> type[BaseModel] | None:
    """The one pydantic model class in ``annotation`` (``X``, ``X | None``, ``Annotated[X, ...]``), else ``None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Annotated, Union, types.UnionType):
        found = [m for m in map(model_type, get_args(annotation)) if m is not None]
        return found[0] if len(found) == 1 else None
    return None


def _resolve_paths(cls: type[BaseModel], config: dict[str, Any], base_dir: Path) -> None:
    """Make the relative paths of ``config`` (Path-typed fields, nested models included) absolute."""
    for name, field in cls.model_fields.items():
        key = field.alias or name
        if key not in config:
            continue
        if (_is_path_type(field.annotation) or _is_path_name(name)) and isinstance(config[key], str):
            config[key] = _absolute(config[key], base_dir)
        nested = model_type(field.annotation)
        if nested is not None and isinstance(config[key], dict):
            _resolve_paths(nested, config[key], base_dir)


__all__ = ["model_type", "prepare"]
