"""A validated experiment: typed access to its components, its resolved config and its fingerprint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remvae.args.fingerprint import fingerprint
from remvae.args.schema import ExperimentBase
from remvae.args.slots import MANAGED_READER_FIELDS
from remvae.core.model import resolve_weights
from remvae.core.runfolder import RunFolder
from remvae.modelspec import ModelSpec


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

    @property
    def run(self) -> RunFolder:
        return RunFolder(self.spec.output)

    def component(self, key: str) -> tuple[str | None, dict[str, Any] | None]:
        """``(name, config)`` of a slot, the config with every default filled in (``(None, None)`` when empty).

        The reader's config leaves out the fields the experiment sets per split.
        """
        value = getattr(self.spec, key)
        if value is None:
            return None, None
        config = value.config.model_dump(mode="json")
        if key == "reader":
            config = {k: v for k, v in config.items() if k not in MANAGED_READER_FIELDS}
        return value.name, config

    def model_spec(self) -> ModelSpec:
        """The model the experiment declares: its family and its image and text architectures."""
        model, model_config = self.component("model")
        assert model is not None and model_config is not None
        return ModelSpec(model, model_config, *self.component("image"), *self.component("text"))

    def weights(self) -> dict[str, float]:
        """Every loss term's weight (the trainer's, defaults filled in from the model family)."""
        given = getattr(self.spec.trainer.config, "weights", {})  # type: ignore[attr-defined]
        return resolve_weights(self.spec.model.config.terms(), given)  # type: ignore[attr-defined]

    def evaluators(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(key, name, config)`` per listed evaluator; ``key`` names its entry in eval.json."""
        return [
            (item.key or item.name, item.name, item.config.model_dump(mode="json"))
            for item in self.spec.evaluators  # type: ignore[attr-defined]
        ]

    def prior_scale(self) -> float | None:
        """``prior_scale`` of the first evaluator drawing text->image from the conditional prior, else ``None``."""
        for _, _, config in self.evaluators():
            if config.get("conditional_prior") and config.get("sample"):
                return float(config["prior_scale"])
        return None

    def resolved(self) -> dict[str, Any]:
        """Every field with its default filled in, paths absolute and every loss weight given, and the fingerprint
        of the result: the run folder's ``config.json``."""
        document = self.spec.model_dump(mode="json", by_alias=True, exclude={"schema_", "fingerprint"})
        reader = document["reader"]["config"]
        document["reader"]["config"] = {k: v for k, v in reader.items() if k not in MANAGED_READER_FIELDS}
        if "weights" in document["trainer"]["config"]:
            document["trainer"]["config"]["weights"] = self.weights()
        return {"fingerprint": fingerprint(document), **document}

    def fingerprint(self) -> str:
        return self.resolved()["fingerprint"]

    def seeds(self, count: int | None = None) -> list[int]:
        """The trainer seeds to run: ``0 .. count-1`` when given, else the experiment's ``seeds`` (none: one run)."""
        if count is not None:
            return list(range(count))
        return list(self.spec.seeds or [])  # type: ignore[attr-defined]


__all__ = ["Experiment"]
