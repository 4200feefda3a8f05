"""Agreement between the components of a validated experiment that no single config can check alone."""

from __future__ import annotations

from typing import Any

from remvae.args.schema import ExperimentBase
from remvae.core.model import resolve_weights
from remvae.core.registry import EVALUATORS, READERS

AGREEING_FIELDS = (("image", "text", "latent_dim"), ("reader", "image", "image_size"), ("reader", "image", "channels"))


def cross_checks(spec: ExperimentBase) -> list[str]:
    """One line per disagreement: modalities, shared sizes, evaluator keys, loss weights, conditional prior."""
    problems = _modalities(spec)
    for left, right, field in AGREEING_FIELDS:
        a, b = _field(spec, left, field), _field(spec, right, field)
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
    model = spec.model.config  # type: ignore[attr-defined]
    try:
        resolve_weights(model.terms(), getattr(spec.trainer.config, "weights", {}))  # type: ignore[attr-defined]
    except ValueError as error:
        problems.append(f"trainer.config.weights.{error}")
    reads = set(model.modalities)
    for index, item in enumerate(spec.evaluators):  # type: ignore[attr-defined]
        needs = EVALUATORS.get(item.name).builder.requirements(item.config)
        if not needs <= reads:
            problems.append(
                f"evaluators.{index}: {item.name} needs {' and '.join(sorted(needs))}; the model family "
                f"{spec.model.name!r} reads {' and '.join(sorted(reads))}"  # type: ignore[attr-defined]
            )
        if getattr(item.config, "conditional_prior", False) and not model.has_conditional_prior:
            problems.append(
                f"evaluators.{index}.config.conditional_prior: the model has no conditional prior; declare "
                "model.config.conditional_prior (an aligned model) to train one"
            )
    return problems


def _field(spec: ExperimentBase, slot: str, field: str) -> Any:
    component = getattr(spec, slot)
    return None if component is None else getattr(component.config, field, None)


def _modalities(spec: ExperimentBase) -> list[str]:
    """The image and text slots are filled exactly for the modalities the model family reads, and the reader
    provides them."""
    family, reads = spec.model.name, spec.model.config.modalities  # type: ignore[attr-defined]
    provides = getattr(READERS.get(spec.reader.name).config, "provides", frozenset({"image", "text"}))  # type: ignore
    problems = [
        f"reader: {spec.reader.name!r} gives {' and '.join(sorted(provides))} only; the model family {family!r} "  # type: ignore
        f"reads {modality}" for modality in reads if modality not in provides
    ]
    for modality in ("image", "text"):
        given = getattr(spec, modality) is not None
        if modality in reads and not given:
            problems.append(f"{modality}: missing; the model family {family!r} reads {modality}: name "
                            f"{'an' if modality == 'image' else 'a'} {modality} architecture")
        elif given and modality not in reads:
            problems.append(f"{modality}: the model family {family!r} does not read {modality}; remove this entry")
    return problems


__all__ = ["cross_checks"]
