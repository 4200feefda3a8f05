"""Turning pydantic's validation errors into one line each: ``JSON path: what is wrong (given: value)``."""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from remvae.args.slots import ALL_SLOTS, EVALUATOR_SLOT, Slot
from remvae.core.config import error_message


def _json_path(loc: tuple[Any, ...]) -> tuple[list[Any], Slot | None]:
    """Drop the discriminator tags pydantic puts in locations; return the path and the slot it is in."""
    parts = list(loc)
    slot = ALL_SLOTS.get(parts[0]) if parts else None
    if slot is not None:
        tag_at = 2 if slot is EVALUATOR_SLOT else 1
        if len(parts) > tag_at and isinstance(parts[tag_at], str) and parts[tag_at] in slot.registry:
            if len(slot.entries()) > 1:
                del parts[tag_at]
    return parts, slot


def describe(item: Any, model: type[BaseModel]) -> str:
    """One line for one pydantic error: ``JSON path: what is wrong (given: value)``."""
    parts, slot = _json_path(item["loc"])
    path = ".".join(str(p) for p in parts) or "<root>"
    kind, given = item["type"], item.get("input")
    if kind == "union_tag_invalid" and slot is not None:
        return f"{path}.name: {slot.unknown(item['ctx']['tag'])}"
    if kind in ("literal_error", "value_error") and slot is not None and parts[-1:] == ["name"] and len(parts) <= 3:
        return f"{path}: {slot.unknown(given)}"
    if kind == "union_tag_not_found" and slot is not None:
        allowed = ", ".join(entry.name for entry in slot.entries())
        return f"{path}.name: missing; give the {slot.registry.kind} name, one of: {allowed}"
    if kind == "extra_forbidden":
        return f"{path}: unknown key{_allowed_keys(model, item['loc'])}"
    if kind == "missing":
        return f"{path}: missing (required)"
    if kind in ("model_type", "dict_type", "model_attributes_type") and slot is not None and parts[-1] != "config":
        return f'{path}: must be an object {{"name": ..., "config": {{...}}}} (given: {_short(given)})'
    if kind == "value_error":  # our validators' messages already name what was given
        return f"{path}: {error_message(item)}"
    return f"{path}: {item['msg']} (given: {_short(given)})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """``; allowed: a, b (did you mean 'a'?)`` for an unknown key at ``loc``."""
    parent = _model_at(model, loc[:-1])
    if parent is None:
        return ""
    keys = sorted(field.alias or name for name, field in parent.model_fields.items())
    close = difflib.get_close_matches(str(loc[-1]), keys, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{hint}; allowed: {', '.join(keys)}"


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class pydantic validated at ``loc`` (discriminator tags included in ``loc``)."""
    current: Any = model
    for part in loc:
        current = _descend(current, part)
        if current is None:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _descend(annotation: Any, part: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _descend(get_args(annotation)[0], part)
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            tag = getattr(arg, "model_fields", {}).get("name")
            if tag is not None and get_args(tag.annotation) == (part,):
                return arg
        options = [arg for arg in get_args(annotation) if arg is not type(None)]
        return _descend(options[0], part) if len(options) == 1 else None
    if origin in (list, tuple) and isinstance(part, int):
        return get_args(annotation)[0]
    if origin is dict and isinstance(part, str):
        return get_args(annotation)[1]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        if set(annotation.model_fields) == {"name", "config"}:
            return annotation  # a single-member slot: pydantic adds no tag to the location
    return None


__all__ = ["describe"]
