"""The pydantic model of args.json, built from the registries, and the JSON Schema ``remvae schema`` prints.

An experiment names one component per slot (``reader``, ``model``, ``image``, ``text``, ``trainer``)
and a list of ``evaluators``, each as ``{"name": ..., "config": {...}}``; each component's ``config``
is validated by that component's own config class, one ``oneOf`` branch per registered name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    create_model,
    field_validator,
)

from remvae.args.slots import ALL_SLOTS, EVALUATOR_SLOT, SLOTS, Slot

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
STRICT = ConfigDict(extra="forbid", populate_by_name=True)


class DataConfig(BaseModel):
    """How many items of each split the experiment uses."""

    model_config = STRICT

    train_length: PositiveInt | None = Field(None, description="training items (default: the whole train split)")
    validation_length: int | None = Field(
        None, ge=0,
        description="validation items, of the reader's fixed validation split, that choose the best checkpoint "
        "(default: all of it; 0: no validation set, the best checkpoint is chosen by the training loss)",
    )
    test_length: PositiveInt | None = Field(None, description="test items for evaluation (default: all)")


class EvaluationConfig(BaseModel):
    """How eval.py runs the evaluators."""

    model_config = STRICT

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

    model_config = STRICT

    schema_: str | None = Field(None, alias="$schema", description="JSON Schema for editors (ignored)")
    fingerprint: str | None = Field(
        None, description="written by remvae into config.json: the hash of what defines the model and its "
        "training (ignored when read)",
    )
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
    seeds: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, min_length=1,
        description="train the experiment once per trainer seed, each run in <output>/seeds/seed-<k>/ (as "
        "`remvae run --seeds N` does for seeds 0..N-1); compare them with `remvae compare <output>`",
    )
    device: str | None = Field(None, description="device for every component that does not set its own")
    data: DataConfig = Field(default_factory=DataConfig)
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
        __config__=STRICT,
        __doc__=entry.description,
        name=(Literal[entry.name], Field(description=entry.description)),
        config=(entry.config, Field(default={}, validate_default=True)),
        **extra,
    )


class _Unfillable(BaseModel):
    """A slot no component is registered for."""

    model_config = STRICT
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
        fields: dict[str, Any] = {
            slot.key: ((_slot_type(slot) | None, None) if slot.optional else (_slot_type(slot), ...)) for slot in SLOTS
        }
        fields["evaluators"] = (list[_slot_type(EVALUATOR_SLOT)], Field(default_factory=list))
        _model_cache[key] = create_model("Experiment", __base__=ExperimentBase, **fields)
    return _model_cache[key]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of args.json, component configs included as one branch per registered name."""
    schema = experiment_model().model_json_schema(by_alias=True)
    return {"$schema": SCHEMA_DIALECT, **schema, "title": "remvae experiment (args.json)"}


__all__ = ["DataConfig", "EvaluationConfig", "ExperimentBase", "STRICT", "experiment_model", "json_schema"]
