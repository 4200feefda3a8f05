"""Named registries of components, extensible by user code and by plugins.

A component is registered under a name with a typed config class::

    from remvae.core.registry import ARCHITECTURES
    from remvae.core.config import ComponentConfig

    class MyConfig(ComponentConfig):
        latent_dim: int = 16

    @ARCHITECTURES.register("my_arch", config=MyConfig)
    def build_my_arch(config: MyConfig, **runtime) -> ImageVAE:
        '''One-line description shown by `remvae list`.'''

Separate packages add components through the ``remvae.plugins`` entry-point
group: every entry point in that group is imported once, the first time any
registry is queried, and registers its components on import.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Generic, Iterator, TypeVar

from pydantic import Field

from remvae.core.config import ComponentConfig, ConfigError, validate_config

ENTRY_POINT_GROUP = "remvae.plugins"

T = TypeVar("T")


class UnknownComponentError(KeyError):
    """Raised for a name that no component of a kind is registered under."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0])


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    builder: Callable[..., T]
    config: type[ComponentConfig]
    description: str

    def build(self, config: dict[str, Any] | ComponentConfig | None = None, /, **runtime: Any) -> T:
        """Validate ``config`` against this entry's config class and call the builder."""
        resolved = validate_config(self.config, config, where=f"{self.name}")
        return self.builder(resolved, **runtime)


class Registry(Generic[T]):
    """Components of one kind (architectures, trainers, ...) by name."""

    def __init__(self, kind: str, description: str) -> None:
        self.kind = kind
        self.description = description
        self._entries: dict[str, Entry[T]] = {}

    def register(
        self,
        name: str,
        *,
        config: type[ComponentConfig] = ComponentConfig,
        description: str | None = None,
        replace: bool = False,
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering a builder (a class or a factory function) under ``name``."""
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"{self.kind} name {name!r} must be alphanumeric with '_' or '-'")

        def decorator(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries and not replace:
                raise ValueError(
                    f"a {self.kind} named {name!r} is already registered; pass replace=True to override it"
                )
            text = description or _first_line(builder.__doc__) or f"{self.kind} {name}"
            self._entries[name] = Entry(name, builder, config, text)
            return builder

        return decorator

    def get(self, name: str) -> Entry[T]:
        load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownComponentError(self.unknown_message(name)) from None

    def build(self, name: str, config: dict[str, Any] | ComponentConfig | None = None, /, **runtime: Any) -> T:
        """Build the component registered as ``name`` from a config dict (validated) and runtime objects."""
        return self.get(name).build(config, **runtime)

    def unknown_message(self, name: str) -> str:
        known = self.names()
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {self.kind} {name!r}{hint}; registered: {', '.join(known) or 'none'}"

    def names(self) -> list[str]:
        load_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries[name] for name in self.names())

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)


class ComponentRef(ComponentConfig):
    """A registered component by name with its config, as args.json names one inside another's config."""

    name: str
    config: dict[str, Any] = Field(default_factory=dict)

    def check(self, registry: Registry[Any]) -> None:
        """Raise ValueError (for pydantic to report at this field) unless ``name`` and ``config`` fit ``registry``."""
        try:
            entry = registry.get(self.name)
        except UnknownComponentError as error:
            raise ValueError(str(error)) from None
        try:
            validate_config(entry.config, self.config, where=self.name)
        except ConfigError as error:
            raise ValueError(str(error)) from None

    def build(self, registry: Registry[Any], /, **runtime: Any) -> Any:
        return registry.build(self.name, self.config, **runtime)


def _first_line(doc: str | None) -> str:
    return doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""


MODELS: Registry[Any] = Registry("model", "model families: how the modalities share one latent space")
ARCHITECTURES: Registry[Any] = Registry("architecture", "image and text VAEs")
READERS: Registry[Any] = Registry("reader", "datasets")
TRAINERS: Registry[Any] = Registry("trainer", "training procedures")
SCHEDULES: Registry[Any] = Registry("schedule", "KL annealing schedules")
ALIGNMENTS: Registry[Any] = Registry("alignment", "alignment losses between posteriors")
EVALUATORS: Registry[Any] = Registry("evaluator", "evaluation metrics")
PRIORS: Registry[Any] = Registry("prior", "learned latent priors fitted after training")

ALL_REGISTRIES: tuple[Registry[Any], ...] = (
    MODELS, ARCHITECTURES, READERS, TRAINERS, SCHEDULES, ALIGNMENTS, EVALUATORS, PRIORS,
)

_plugins_loaded = False


def load_plugins() -> None:
    """Import every ``remvae.plugins`` entry point once (remvae's own components are one of them)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry_point.load()
        except Exception as error:  # a broken plugin must not break remvae itself
            import warnings

            warnings.warn(f"remvae plugin {entry_point.name!r} failed to load: {error}", stacklevel=2)


__all__ = [
    "ALIGNMENTS",
    "ALL_REGISTRIES",
    "ARCHITECTURES",
    "ComponentRef",
    "ConfigError",
    "ENTRY_POINT_GROUP",
    "EVALUATORS",
    "Entry",
    "MODELS",
    "PRIORS",
    "READERS",
    "Registry",
    "SCHEDULES",
    "TRAINERS",
    "UnknownComponentError",
    "load_plugins",
]
