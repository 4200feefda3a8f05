"""Reading and validating an args.json: every problem reported at once, one line each naming its JSON path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from remvae.args.checks import cross_checks
from remvae.args.document import read_document
from remvae.args.errors import ArgsError
from remvae.args.experiment import Experiment
from remvae.args.legacy import legacy_problems
from remvae.args.messages import describe
from remvae.args.prepare import prepare
from remvae.args.schema import experiment_model


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an args.json (or a folder's args.json); raise :class:`ArgsError` listing every problem."""
    path = Path(path)
    if path.is_dir():
        path = path / "args.json"
    source = str(path)
    data = read_document(path, source)
    return validate_experiment(data, path.resolve().parent, source=source, path=path.resolve())


def validate_experiment(data: Any, base_dir: Path, source: str = "args.json", path: Path | None = None) -> Experiment:
    """Validate a parsed args.json whose relative paths are relative to ``base_dir``."""
    if not isinstance(data, dict):
        raise ArgsError(source, [f"<root>: must be a JSON object, got {type(data).__name__}"])
    model = experiment_model()
    prepared, problems = prepare(data, base_dir)
    problems = legacy_problems(prepared) + problems
    spec = None
    try:
        spec = model.model_validate_json(json.dumps(prepared), strict=True)
    except ValidationError as error:
        problems += [describe(item, model) for item in error.errors()]
    if spec is not None:
        problems += cross_checks(spec)
    if problems:
        raise ArgsError(source, problems)
    assert spec is not None
    return Experiment(spec, path or base_dir / "args.json")


def experiment_for_seed(experiment: Experiment, seed: int) -> Experiment:
    """The same experiment with trainer seed ``seed``, run in its own folder ``<output>/seeds/seed-<seed>``."""
    document = {k: v for k, v in experiment.resolved().items() if k not in ("fingerprint", "seeds")}
    document["output"] = str(experiment.run.seed_run(seed).root)
    document["trainer"]["config"]["seed"] = seed
    return validate_experiment(document, experiment.source.parent, source=str(experiment.source), path=experiment.source)


__all__ = ["experiment_for_seed", "load_experiment", "validate_experiment"]
