"""Render an experiment's scripts from the Jinja2 templates, keeping files the user edited.

``generate`` writes ``train.py``, ``visualize.py``, ``eval.py``, ``report.py`` and ``execute.sh``
into the run folder, with ``config.json`` (the resolved experiment) and a small manifest
``.remvae-generated.json`` holding the SHA-256 of each file as generated. A file whose content
no longer matches its recorded hash was edited by the user: it is kept unless ``force``.

Templates print values only through the ``py`` filter (see :mod:`remvae.generator.literals`);
printing anything else fails the render, so a value cannot reach a script unescaped.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2

from remvae.core.registry import ARCHITECTURES, EVALUATORS, READERS, TRAINERS, Registry
from remvae.generator.literals import Code, literal
from remvae.generator.schema import Experiment

SCRIPTS = ("train.py", "visualize.py", "eval.py", "report.py", "execute.sh")
MANIFEST = ".remvae-generated.json"
MANIFEST_FORMAT = "remvae-generated"
CONFIG = "config.json"
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


def _registered(registry: Registry[Any], name: str) -> Code:
    """A component name as a literal, after checking it is registered."""
    if name not in registry:
        raise ValueError(registry.unknown_message(name))
    return literal(name)


def context(experiment: Experiment) -> dict[str, Code]:
    """The template variables: every value of the experiment as Python source."""
    spec = experiment.spec
    base = experiment.run_dir

    def py(value: Any) -> Code:
        return literal(value, base)

    reader, reader_config = experiment.component("reader")
    image, image_config = experiment.component("image")
    text, text_config = experiment.component("text")
    trainer, trainer_config = experiment.component("trainer")
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
        "split_seed": py(spec.seed if spec.seed is not None else 0),
        "image": _registered(ARCHITECTURES, image),
        "image_config": py(image_config),
        "text": _registered(ARCHITECTURES, text),
        "text_config": py(text_config),
        "wrapper": py(spec.wrapper.model_dump()),  # type: ignore[attr-defined]
        "conditional_prior": py(experiment.model_spec().conditional_prior),
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


def read_manifest(run_dir: Path) -> dict[str, str]:
    """``{file name: SHA-256 as generated}``; empty when absent or unreadable."""
    try:
        data = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def generate(experiment: Experiment, force: bool = False) -> list[FileResult]:
    """Write the scripts and ``config.json`` into the run folder; keep user-edited scripts unless ``force``."""
    run_dir = experiment.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    recorded = read_manifest(run_dir)
    manifest: dict[str, str] = {}
    results = []
    for name, content in render(experiment).items():
        path = run_dir / name
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
            if status != "unchanged":
                _write(path, data, executable=name.endswith(".sh"))
            manifest[name] = _sha256(data)
        results.append(FileResult(path, status))
    config = (json.dumps(experiment.resolved(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if not (run_dir / CONFIG).is_file() or (run_dir / CONFIG).read_bytes() != config:
        _write(run_dir / CONFIG, config)
    document = {"format": MANIFEST_FORMAT, "version": 1, "files": manifest}
    manifest_bytes = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
    if not (run_dir / MANIFEST).is_file() or (run_dir / MANIFEST).read_bytes() != manifest_bytes:
        _write(run_dir / MANIFEST, manifest_bytes)
    return results


def _write(path: Path, data: bytes, executable: bool = False) -> None:
    """Replace ``path`` atomically (a temporary sibling renamed over it)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o755 if executable else 0o644)
    os.replace(tmp, path)


__all__ = ["CONFIG", "FileResult", "MANIFEST", "SCRIPTS", "context", "generate", "read_manifest", "render"]
