"""The experiment schema: an ``args.json`` validated against the registered components.

An experiment names one component per slot (``reader``, ``image``, ``text``, ``trainer``) and a list
of ``evaluators``, each as ``{"name": ..., "config": {...}}``. The schema is built from the registries,
so each component's ``config`` is validated by that component's own config class, and
``remvae schema`` prints it as a JSON Schema with one ``oneOf`` branch per registered name.

Before validation:

* relative paths (every ``Path``-typed field, and ``output`` / ``data_root``) are resolved against the
  args.json's own folder, so commands work from any working directory;
* the shared values ``latent_dim``, ``image_size`` and ``channels``, declared once at the top level,
  are passed to every component whose config has that field (a component that sets a different value
  is an error); ``seed`` and ``device`` fill the components that leave them unset; ``data_root`` is
  the reader's ``root`` (left unset, the readers use ``$REMVAE_DATA`` or the per-user cache).

Every problem is reported at once, one line each: ``JSON path: what is wrong (given: value)``.
"""

from __future__ import annotations

import difflib
import json
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, create_model, field_validator

from remvae.core.conditional_prior import ConditionalPriorConfig
from remvae.core.config import ComponentConfig, error_message
from remvae.core.registry import ARCHITECTURES, EVALUATORS, READERS, TRAINERS, Registry
from remvae.experiment import ModelSpec, WrapperConfig

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

SHARED_FIELDS = ("latent_dim", "image_size", "channels")
"""Declared once at the top level; every component with the field must agree."""

DEFAULT_FIELDS = ("seed", "device")
"""Declared at the top level as defaults for the components that leave them unset."""

MANAGED_READER_FIELDS = {"train": "data", "split": "data", "length": "data.train_length and data.test_length"}
"""Reader fields the experiment sets itself when it reads the train and test splits."""

RUN_DEFAULTS = {"trainer": {"resume": True}}
"""Defaults an experiment changes: an interrupted run continues from its last checkpoint."""


class ArgsError(ValueError):
    """An args.json that does not validate; one line per problem, each naming the JSON path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {problem}" for problem in problems))


@dataclass(frozen=True)
class Slot:
    """A place in args.json that holds one registered component."""

    key: str
    registry: Registry[Any]
    modality: str | None = None

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
            return f"{name!r} is {_article(other)} {other} {self.registry.kind}, not {_article(self.modality)} " \
                f"{self.modality} one; allowed: {allowed}"
        close = difflib.get_close_matches(str(name), [entry.name for entry in self.entries()], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {self.registry.kind} {name!r}{hint}; registered: {allowed}"


def _article(word: object) -> str:
    return "an" if str(word)[:1] in "aeiou" else "a"


SLOTS = (
    Slot("reader", READERS),
    Slot("image", ARCHITECTURES, "image"),
    Slot("text", ARCHITECTURES, "text"),
    Slot("trainer", TRAINERS),
)
EVALUATOR_SLOT = Slot("evaluators", EVALUATORS)
ALL_SLOTS = {slot.key: slot for slot in (*SLOTS, EVALUATOR_SLOT)}

_STRICT = ConfigDict(extra="forbid", populate_by_name=True)


class DataConfig(BaseModel):
    """How many items of each split the experiment uses."""

    model_config = _STRICT

    train_length: PositiveInt | None = Field(None, description="training items (default: the whole split)")
    validation_length: int = Field(
        0, ge=0, description="further training-split items held out for validation and the best checkpoint"
    )
    test_length: PositiveInt | None = Field(None, description="test items for evaluation (default: all)")


class EvaluationConfig(BaseModel):
    """How eval.py runs the evaluators."""

    model_config = _STRICT

    checkpoint: Literal["best", "last"] = Field("best", description="which checkpoint is evaluated")
    judge: str | None = Field(
        None, description="judge name, path or 'hf:<model>'; default: the judge of the reader's data set"
    )
    device: str = Field("cpu", description="device of the evaluation")
    batch_size: PositiveInt = Field(500, description="items per evaluation batch")
    limit: int | None = Field(None, ge=2, description="evaluate a seeded subset of this many test items")
    seed: int = Field(0, ge=0, description="seed of the subset and of sampled latents")


class ExperimentBase(BaseModel):
    """Top-level fields of args.json; the component slots are added from the registries."""

    model_config = _STRICT

    schema_: str | None = Field(None, alias="$schema", description="JSON Schema for editors (ignored)")
    name: str = Field(min_length=1, max_length=200, description="experiment name shown in figures and reports")
    description: str = Field("", description="what the experiment is for")
    output: Path = Field(
        Path("."), description="run folder (scripts, checkpoints, metrics, report), relative to this file"
    )
    data_root: Path | None = Field(
        None, description="data root for the reader; default: $REMVAE_DATA, else the per-user cache"
    )
    latent_dim: PositiveInt | None = Field(None, description="latent size shared by both VAEs")
    image_size: int | None = Field(None, ge=2, description="image side shared by the reader and image VAE")
    channels: Literal[1, 3] | None = Field(None, description="image channels shared by reader and image VAE")
    seed: int | None = Field(None, ge=0, description="seed for every component that does not set its own")
    device: str | None = Field(None, description="device for every component that does not set its own")
    data: DataConfig = Field(default_factory=DataConfig)
    wrapper: WrapperConfig = Field(default_factory=WrapperConfig, description="text VAE training mode")
    conditional_prior: ConditionalPriorConfig | None = Field(
        None,
        description="a full-covariance p(z | caption) for sampled text->image, fitted to the image posteriors "
        "of each caption's images (needs trainer.config.w_conditional_prior > 0); default: none",
    )
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)


_EVALUATOR_KEY = Field(
    None,
    pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
    description="name its metrics are stored under in eval.json (default: the evaluator's name); lets one "
    "evaluator be listed twice with different configs, e.g. cross_modal with z = mean and z sampled",
)


def _component_model(slot: Slot, entry: Any) -> type[BaseModel]:
    title = "".join(part.capitalize() for part in f"{slot.key}_{entry.name}".replace("-", "_").split("_"))
    extra: dict[str, Any] = {"key": (str | None, _EVALUATOR_KEY)} if slot is EVALUATOR_SLOT else {}
    return create_model(
        title,
        __config__=_STRICT,
        __doc__=entry.description,
        name=(Literal[entry.name], Field(description=entry.description)),
        config=(entry.config, Field(default={}, validate_default=True)),
        **extra,
    )


class _Unfillable(BaseModel):
    """A slot no component is registered for."""

    model_config = _STRICT
    name: str
    config: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _refuse(cls, name: str) -> str:
        raise ValueError("nothing is registered for this slot")


def _slot_type(slot: Slot) -> Any:
    models = [_component_model(slot, entry) for entry in slot.entries()]
    if not models:
        return _Unfillable
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Field(discriminator="name")]


_model_cache: dict[tuple, type[ExperimentBase]] = {}


def experiment_model() -> type[ExperimentBase]:
    """The pydantic model of args.json for the components registered now."""
    key = tuple((slot.key, tuple((e.name, id(e.config)) for e in slot.entries())) for slot in ALL_SLOTS.values())
    if key not in _model_cache:
        fields: dict[str, Any] = {slot.key: (_slot_type(slot), ...) for slot in SLOTS}
        fields["evaluators"] = (list[_slot_type(EVALUATOR_SLOT)], Field(default_factory=list))
        _model_cache[key] = create_model("Experiment", __base__=ExperimentBase, **fields)
    return _model_cache[key]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of args.json, component configs included as one branch per registered name."""
    schema = experiment_model().model_json_schema(by_alias=True)
    return {"$schema": SCHEMA_DIALECT, **schema, "title": "remvae experiment (args.json)"}


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: the typed ``spec`` and the args file it came from."""

    spec: ExperimentBase
    source: Path

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def run_dir(self) -> Path:
        return self.spec.output

    def component(self, key: str) -> tuple[str, dict[str, Any]]:
        """``(name, config)`` of a slot, the config with every default filled in.

        The reader's config leaves out the fields the experiment sets per split.
        """
        value = getattr(self.spec, key)
        config = value.config.model_dump()
        if key == "reader":
            config = {k: v for k, v in config.items() if k not in MANAGED_READER_FIELDS}
        return value.name, config

    def model_spec(self) -> ModelSpec:
        """The model the experiment declares: its image and text architectures, the wrapper and the conditional prior."""
        prior = self.spec.conditional_prior
        return ModelSpec(
            *self.component("image"), *self.component("text"), self.spec.wrapper.model_dump(),
            None if prior is None else prior.model_dump(),
        )

    def evaluators(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(key, name, config)`` per listed evaluator; ``key`` names its entry in eval.json."""
        return [
            (item.key or item.name, item.name, item.config.model_dump())
            for item in self.spec.evaluators  # type: ignore[attr-defined]
        ]

    def prior_scale(self) -> float | None:
        """``prior_scale`` of the first evaluator drawing text->image from the conditional prior, else ``None``."""
        for _, _, config in self.evaluators():
            if config.get("conditional_prior") and config.get("sample"):
                return float(config["prior_scale"])
        return None

    def resolved(self) -> dict[str, Any]:
        """Every field with its default filled in and paths absolute: the run folder's ``config.json``."""
        document = self.spec.model_dump(mode="json", by_alias=True, exclude={"schema_"})
        reader = document["reader"]["config"]
        document["reader"]["config"] = {k: v for k, v in reader.items() if k not in MANAGED_READER_FIELDS}
        return document


# Reading and validating.


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an args.json; raise :class:`ArgsError` listing every problem."""
    path = Path(path)
    source = str(path)
    if path.is_dir():
        path = path / "args.json"
        source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArgsError(source, ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ArgsError(source, [f"cannot be read ({error})"]) from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as error:
        raise ArgsError(source, [f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"]) from None
    except _DuplicateKey as error:
        raise ArgsError(source, [str(error)]) from None
    return validate_experiment(data, path.resolve().parent, source=source, path=path.resolve())


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(f"{key}: key given twice in one object (the second would silently win)")
        seen[key] = value
    return seen


def validate_experiment(data: Any, base_dir: Path, source: str = "args.json", path: Path | None = None) -> Experiment:
    """Validate a parsed args.json whose relative paths are relative to ``base_dir``."""
    if not isinstance(data, dict):
        raise ArgsError(source, [f"<root>: must be a JSON object, got {type(data).__name__}"])
    model = experiment_model()
    prepared, problems = _prepare(data, base_dir)
    spec = None
    try:
        spec = model.model_validate_json(json.dumps(prepared), strict=True)
    except ValidationError as error:
        problems += [_describe(item, model) for item in error.errors()]
    if spec is not None:
        problems += _cross_checks(spec)
    if problems:
        raise ArgsError(source, problems)
    assert spec is not None
    return Experiment(spec, path or base_dir / "args.json")


def _prepare(data: dict[str, Any], base_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """Resolve paths and distribute the shared values; return the new document and any conflicts."""
    data = json.loads(json.dumps(data))  # a deep copy; the caller's dict is never changed
    problems: list[str] = []
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
    for key, slot, component in _components(data):
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


def _components(data: dict[str, Any]):
    for slot in SLOTS:
        if isinstance(data.get(slot.key), dict):
            yield slot.key, slot, data[slot.key]
    evaluators = data.get("evaluators")
    if isinstance(evaluators, list):
        for index, item in enumerate(evaluators):
            if isinstance(item, dict):
                yield f"evaluators.{index}", EVALUATOR_SLOT, item


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


def _model_type(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Annotated, Union, types.UnionType):
        found = [m for m in map(_model_type, get_args(annotation)) if m is not None]
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
        nested = _model_type(field.annotation)
        if nested is not None and isinstance(config[key], dict):
            _resolve_paths(nested, config[key], base_dir)


# Turning pydantic's errors into one line each.


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


def _describe(item: Any, model: type[BaseModel]) -> str:
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


def _cross_checks(spec: ExperimentBase) -> list[str]:
    """Agreement between components that the shared top-level values did not already enforce."""
    problems: list[str] = []
    image, text, reader = spec.image.config, spec.text.config, spec.reader.config  # type: ignore[attr-defined]
    pairs = [("image", image, "text", text, "latent_dim"), ("reader", reader, "image", image, "image_size"),
             ("reader", reader, "image", image, "channels")]
    for left, left_config, right, right_config, field in pairs:
        a, b = getattr(left_config, field, None), getattr(right_config, field, None)
        if a is not None and b is not None and a != b:
            problems.append(
                f"{right}.config.{field}: {b!r} differs from {left}.config.{field} {a!r}; "
                f"declare {field} once at the top level"
            )
    keys = [item.key or item.name for item in spec.evaluators]  # type: ignore[attr-defined]
    for index, key in enumerate(keys):
        if key in keys[:index]:
            problems.append(
                f"evaluators.{index}: {key!r} is listed twice (metrics are stored by name); "
                "give one of them its own \"key\""
            )
    return problems + _conditional_prior_checks(spec)


def _conditional_prior_checks(spec: ExperimentBase) -> list[str]:
    """A declared conditional prior is trained, and evaluators only ask for one the model has."""
    has_prior = spec.conditional_prior is not None
    weight = getattr(spec.trainer.config, "w_conditional_prior", 0.0)  # type: ignore[attr-defined]
    problems: list[str] = []
    if has_prior and weight <= 0:
        problems.append(
            "trainer.config.w_conditional_prior: must be positive when conditional_prior is declared "
            "(otherwise the prior is never trained)"
        )
    if not has_prior and weight > 0:
        problems.append(
            "trainer.config.w_conditional_prior: is positive but no conditional_prior is declared; add "
            "\"conditional_prior\": {} at the top level"
        )
    for index, item in enumerate(spec.evaluators):  # type: ignore[attr-defined]
        if getattr(item.config, "conditional_prior", False) and not has_prior:
            problems.append(
                f"evaluators.{index}.config.conditional_prior: the model has no conditional prior; "
                "declare conditional_prior at the top level (and trainer.config.w_conditional_prior > 0)"
            )
    return problems


__all__ = [
    "ArgsError",
    "Experiment",
    "ExperimentBase",
    "SHARED_FIELDS",
    "experiment_model",
    "json_schema",
    "load_experiment",
    "validate_experiment",
]
