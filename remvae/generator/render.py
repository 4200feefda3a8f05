"""Render an experiment's scripts from the Jinja2 templates, keeping files the user edited.

``generate`` writes ``train.py``, ``visualize.py``, ``eval.py``, ``report.py`` and ``execute.sh``
into the run folder, with ``config.json`` (the resolved experiment and its fingerprint) and a small
manifest ``.remvae-generated.json`` naming the args file and holding the SHA-256 of each file as
generated. A file whose content
no longer matches its recorded hash was edited by the user: it is kept unless ``force``.

Templates print values only through the ``py`` filter (see :mod:`remvae.generator.literals`);
printing anything else fails the render, so a value cannot reach a script unescaped.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2

from remvae.args import Experiment
from remvae.core.registry import (
    ARCHITECTURES,
    EVALUATORS,
    MODELS,
    PRIORS,
    READERS,
    TRAINERS,
    Registry,
)
from remvae.core.runfolder import RunFolder, write_bytes, write_json
from remvae.generator.literals import Code, literal

SCRIPTS = ("train.py", "prior.py", "visualize.py", "eval.py", "report.py", "execute.sh")
MANIFEST_FORMAT = "remvae-generated"
TEMPLATES = Path(__file__).resolve().parent / "templates"

Status = Literal["written", "unchanged", "kept", "overwritten"]


@dataclass(frozen=True)
class FileResult:
    """What ``generate`` did with one file: ``kept`` means the user's edits were left in place."""

    path: Path
    status: Status


def _only_code(value: Any) -> Any:
    if isinstance(value, Code):
        return value
    raise TypeError(f"a template printed {value!r} without the py filter")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        finalize=_only_code,
    )
    return env


def _registered(registry: Registry[Any], name: str | None) -> Code:
    """A component name as a literal, after checking it is registered (``None`` for an empty slot)."""
    if name is not None and name not in registry:
        raise ValueError(registry.unknown_message(name))
    return literal(name)


def context(experiment: Experiment) -> dict[str, Code]:
    """The template variables: every value of the experiment as Python source."""
    spec = experiment.spec
    base = experiment.run_dir

    def py(value: Any) -> Code:
        return literal(value, base)

    reader, reader_config = experiment.component("reader")
    model, model_config = experiment.component("model")
    image, image_config = experiment.component("image")
    text, text_config = experiment.component("text")
    trainer, trainer_config = experiment.component("trainer")
    prior, prior_config = experiment.component("prior")
    assert trainer_config is not None
    trainer_config["weights"] = experiment.weights()
    evaluators = experiment.evaluators()
    for _, name, _ in evaluators:
        _registered(EVALUATORS, name)
    evaluation = spec.evaluation  # type: ignore[attr-defined]
    return {
        "reader": _registered(READERS, reader),
        "reader_config": py(reader_config),
        "train_length": py(spec.data.train_length),  # type: ignore[attr-defined]
        "validation_length": py(spec.data.validation_length),  # type: ignore[attr-defined]
        "test_length": py(spec.data.test_length),  # type: ignore[attr-defined]
        "model": _registered(MODELS, model),
        "model_config": py(model_config),
        "image": _registered(ARCHITECTURES, image),
        "image_config": py(image_config),
        "text": _registered(ARCHITECTURES, text),
        "text_config": py(text_config),
        "prior": _registered(PRIORS, prior),
        "prior_config": py(prior_config),
        "prior_seed": py(trainer_config["seed"]),
        "trainer": _registered(TRAINERS, trainer),
        "trainer_config": py(trainer_config),
        "checkpoint": py(evaluation.checkpoint),
        "judge": py(evaluation.judge),
        "eval_device": py(evaluation.device),
        "eval_batch_size": py(evaluation.batch_size),
        "eval_limit": py(evaluation.limit),
        "eval_seed": py(evaluation.seed),
        "prior_scale": py(experiment.prior_scale()),
        "evaluators": py(evaluators),
    }


def render(experiment: Experiment) -> dict[str, str]:
    """``{file name: content}`` of every script; each Python script is checked to parse."""
    env = _environment()
    variables = context(experiment)
    files = {}
    for name in SCRIPTS:
        content = env.get_template(f"{name}.jinja").render(variables)
        if name.endswith(".py"):
            ast.parse(content, filename=name)
        files[name] = content
    return files


def _sha256(text: str | bytes) -> str:
    return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()


def source_record(experiment: Experiment, run: RunFolder) -> str:
    """How the manifest names the experiment's args file: relative to the run folder when it lies inside it (so a
    run folder moved or copied elsewhere still owns its scripts), else its absolute path."""
    source = Path(experiment.source).resolve()
    try:
        return source.relative_to(run.root.resolve()).as_posix()
    except ValueError:
        return str(source)


def read_manifest(run: RunFolder) -> dict[str, Any]:
    """The manifest of generated files: ``{"source": args file, "experiment": name, "files": {name: SHA-256}}``
    (empty when absent or unreadable)."""
    try:
        data = json.loads(run.generated_manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return {}
    return data


def generate(experiment: Experiment, force: bool = False, dry_run: bool = False) -> list[FileResult]:
    """Write the scripts and ``config.json`` into the run folder; keep user-edited scripts unless ``force``.

    ``dry_run`` writes nothing and reports what would be done (``config.json`` and the manifest as extra results
    with status ``written`` when they would change)."""
    run = experiment.run
    recorded: dict[str, str] = {str(k): str(v) for k, v in read_manifest(run).get("files", {}).items()}
    manifest: dict[str, str] = {}
    results = []
    for name, content in render(experiment).items():
        path = run.script(name)
        data = content.encode("utf-8")
        existing = path.read_bytes() if path.is_file() else None
        if existing == data:
            status: Status = "unchanged"
        elif existing is not None and recorded.get(name) != _sha256(existing):
            status = "overwritten" if force else "kept"
        else:
            status = "written"
        if status == "kept":
            manifest[name] = recorded.get(name, _sha256(data))
        else:
            if status != "unchanged" and not dry_run:
                write_bytes(path, data, 0o755 if name.endswith(".sh") else 0o644)
            manifest[name] = _sha256(data)
        results.append(FileResult(path, status))
    documents = {
        run.config: experiment.resolved(),
        run.generated_manifest: {"format": MANIFEST_FORMAT, "version": 2, "source": source_record(experiment, run),
                                 "experiment": experiment.name, "files": manifest},
    }
    for path, document in documents.items():
        if _holds(path, document):
            continue
        if not dry_run:
            write_json(path, document)
        results.append(FileResult(path, "written"))
    return results


def _holds(path: Path, document: dict[str, Any]) -> bool:
    """Whether ``path`` already holds ``document`` (then it is not written again: a finished run stays untouched).

    The ``output`` entry says where the run was made; a run folder moved, copied or mounted elsewhere holds the
    same run, so a different ``output`` alone is no reason to write."""
    try:
        held = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if isinstance(held, dict) and "output" in document:
        held = {**held, "output": document["output"]}
    return held == document


__all__ = ["FileResult", "SCRIPTS", "context", "generate", "read_manifest", "render"]
