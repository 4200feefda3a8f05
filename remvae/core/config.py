"""Typed, validated component configs.

Every component declares a ``ComponentConfig`` subclass beside its module. Configs
are pydantic models that forbid unknown keys and validate on construction, so a
bad value fails before any training starts, with a message that names the field.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

C = TypeVar("C", bound="ComponentConfig")

FINGERPRINT_KEY = "x-remvae-fingerprint"
IGNORED = {FINGERPRINT_KEY: "ignored"}
"""``json_schema_extra`` of a field that changes how a run is done, not what it trains (log cadence, device):
left out of the run's config fingerprint."""
RUN_LENGTH = {FINGERPRINT_KEY: "length"}
"""``json_schema_extra`` of a field that sets how long a run trains (epochs): left out of the fingerprint, so a
trained run may continue to a new length where its schedules allow."""


class ConfigError(ValueError):
    """A component config that does not validate; the message names every bad field."""


class ComponentConfig(BaseModel):
    """Base of every component config: strict keys, validated assignment, frozen after build."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def error_message(item: Any) -> str:
    """A pydantic error's message without the "Value error, " prefix of messages our validators raise."""
    message = str(item["msg"])
    return message.removeprefix("Value error, ") if item["type"] == "value_error" else message


def format_validation_error(error: ValidationError, prefix: str = "") -> list[str]:
    """One readable line per error: ``path: message (given: value)``."""
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        message = "unknown key" if item["type"] == "extra_forbidden" else error_message(item)
        given = item.get("input")
        # A value error raised by our own validators already says what was given.
        shown = "" if item["type"] in ("missing", "extra_forbidden", "value_error") else f" (given: {given!r})"
        lines.append(f"{path or '<root>'}: {message}{shown}")
    return lines


def validate_config(cls: type[C], config: dict[str, Any] | ComponentConfig | None, where: str = "") -> C:
    """Return ``config`` as an instance of ``cls``; raise :class:`ConfigError` naming each bad field."""
    if isinstance(config, cls):
        return config
    if isinstance(config, ComponentConfig):
        config = config.model_dump()
    try:
        return cls.model_validate(config or {})
    except ValidationError as error:
        raise ConfigError("; ".join(format_validation_error(error, where))) from None
