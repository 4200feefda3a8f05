"""The places in args.json that hold one registered component, and the values the experiment manages itself."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from remvae.core.config import ComponentConfig
from remvae.core.registry import (
    ARCHITECTURES,
    EVALUATORS,
    MODELS,
    PRIORS,
    READERS,
    TRAINERS,
    Registry,
)

SHARED_FIELDS = ("latent_dim", "image_size", "channels")
"""Declared once at the top level; every component with the field must agree."""

DEFAULT_FIELDS = ("seed", "device")
"""Declared at the top level as defaults for the components that leave them unset."""

MANAGED_READER_FIELDS = {"split": "data", "length": "data.train_length, data.validation_length and data.test_length"}
"""Reader fields the experiment sets itself when it reads the train and test splits."""

RUN_DEFAULTS = {"trainer": {"resume": True}}
"""Defaults an experiment changes: an interrupted run continues from its last checkpoint."""

DEFAULT_MODEL = {"name": "aligned"}
"""The model family of an experiment that names none."""


@dataclass(frozen=True)
class Slot:
    """A place in args.json that holds one registered component."""

    key: str
    registry: Registry[Any]
    modality: str | None = None
    optional: bool = False

    def entries(self) -> list[Any]:
        return [entry for entry in self.registry if self.admits(entry.config)]

    def admits(self, config: type[ComponentConfig]) -> bool:
        own = getattr(config, "modality", None)
        return self.modality is None or own is None or own == self.modality

    def unknown(self, name: object) -> str:
        """Why ``name`` cannot fill this slot, and what can."""
        allowed = ", ".join(entry.name for entry in self.entries()) or "none registered"
        if isinstance(name, str) and name in self.registry:
            other = getattr(self.registry.get(name).config, "modality", "other")
            return f"{name!r} is {article(other)} {other} {self.registry.kind}, not {article(self.modality)} " \
                f"{self.modality} one; allowed: {allowed}"
        close = difflib.get_close_matches(str(name), [entry.name for entry in self.entries()], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {self.registry.kind} {name!r}{hint}; registered: {allowed}"


def article(word: object) -> str:
    return "an" if str(word)[:1] in "aeiou" else "a"


SLOTS = (
    Slot("reader", READERS),
    Slot("model", MODELS, optional=True),
    Slot("image", ARCHITECTURES, "image", optional=True),
    Slot("text", ARCHITECTURES, "text", optional=True),
    Slot("trainer", TRAINERS),
    Slot("prior", PRIORS, optional=True),
)
TRAINING_SLOTS = ("reader", "model", "image", "text", "trainer")
"""The slots that define the trained model (a learned prior is fitted afterwards, to the trained model)."""
EVALUATOR_SLOT = Slot("evaluators", EVALUATORS)
ALL_SLOTS = {slot.key: slot for slot in (*SLOTS, EVALUATOR_SLOT)}


def components(data: dict[str, Any]):
    """``(JSON path, slot, component object)`` of every component in a parsed args.json."""
    for slot in SLOTS:
        if isinstance(data.get(slot.key), dict):
            yield slot.key, slot, data[slot.key]
    evaluators = data.get("evaluators")
    if isinstance(evaluators, list):
        for index, item in enumerate(evaluators):
            if isinstance(item, dict):
                yield f"evaluators.{index}", EVALUATOR_SLOT, item


__all__ = [
    "ALL_SLOTS",
    "DEFAULT_FIELDS",
    "DEFAULT_MODEL",
    "EVALUATOR_SLOT",
    "MANAGED_READER_FIELDS",
    "RUN_DEFAULTS",
    "SHARED_FIELDS",
    "SLOTS",
    "TRAINING_SLOTS",
    "Slot",
    "article",
    "components",
]
