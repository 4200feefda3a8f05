"""Reading a run folder's files for figures and reports, tolerating whatever is missing.

A stage that has not run (or failed) leaves its files missing or unreadable; every reader here
returns ``None`` (or an empty list) then and records why in :attr:`RunFiles.problems`, so the
report can say what is missing instead of failing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from remvae.core.evaluator import read_items
from remvae.core.runfolder import RunFolder


class RunDirError(ValueError):
    """A path that is not a run folder at all; the message names it."""


class RunFiles:
    """The JSON files of one run folder, read once each; ``problems`` maps a file (relative to the run) to why it
    could not be used."""

    def __init__(self, run: RunFolder | Path | str) -> None:
        self.folder = run if isinstance(run, RunFolder) else RunFolder(run)
        self.root = self.folder.root
        if not self.root.is_dir():
            raise RunDirError(f"{self.root}: not a folder (expected a run folder with config.json, metrics/, ...)")
        self.problems: dict[str, str] = {}
        self._cache: dict[str, Any] = {}

    def relative(self, path: Path) -> str:
        """``path`` as the report names it: relative to the run folder."""
        return path.relative_to(self.root).as_posix()

    def problem(self, path: Path, default: str = "missing") -> str:
        """Why ``path`` could not be used (``default`` when it was not read or had no problem)."""
        return self.problems.get(self.relative(path), default)

    def json(self, path: Path) -> Any:
        """The parsed file, or ``None`` when it is missing or unreadable (the reason is kept in ``problems``)."""
        key = self.relative(path)
        if key not in self._cache:
            self._cache[key] = self._read(path)
        return self._cache[key]

    def _read(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.problems[self.relative(path)] = "missing"
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            self.problems[self.relative(path)] = f"unreadable ({error})"
        return None

    def mapping(self, path: Path) -> dict[str, Any] | None:
        data = self.json(path)
        if data is not None and not isinstance(data, dict):
            self.problems[self.relative(path)] = f"unexpected content (a JSON {type(data).__name__}, not an object)"
            return None
        return data

    @property
    def config(self) -> dict[str, Any] | None:
        return self.mapping(self.folder.config)

    @property
    def environment(self) -> dict[str, Any] | None:
        return self.mapping(self.folder.environment)

    @property
    def train_summary(self) -> dict[str, Any] | None:
        return self.mapping(self.folder.train_summary)

    @property
    def evaluation(self) -> dict[str, Any] | None:
        data = self.mapping(self.folder.evaluation)
        if data is not None and not isinstance(data.get("evaluators"), dict):
            self.problems[self.relative(self.folder.evaluation)] = "no 'evaluators' object"
            return None
        return data

    @property
    def figure_manifest(self) -> dict[str, Any] | None:
        return self.mapping(self.folder.figure_manifest)

    def train_records(self) -> list[dict[str, Any]]:
        """The records of ``metrics/train.jsonl``; unparsable lines (a run killed mid-write) are skipped and counted."""
        return self.records(self.folder.train_log)

    def validation_records(self) -> list[dict[str, Any]]:
        """The per-epoch records of ``metrics/validation.jsonl`` (none for a run without a validation split)."""
        return self.records(self.folder.validation_log)

    def records(self, path: Path) -> list[dict[str, Any]]:
        """The JSON objects of a JSON-lines file, read once; bad lines are skipped and counted in ``problems``."""
        relative = self.relative(path)
        if relative in self._cache:
            return self._cache[relative]
        records: list[dict[str, Any]] = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            self.problems[relative] = "missing"
            lines = []
        except (OSError, UnicodeDecodeError) as error:
            self.problems[relative] = f"unreadable ({error})"
            lines = []
        bad = 0
        for line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if isinstance(record, dict):
                records.append(record)
            else:
                bad += 1
        if bad:
            self.problems[relative] = f"{bad} unreadable line(s) skipped"
        elif lines and not records:
            self.problems[relative] = "no records"
        self._cache[relative] = records
        return records

    def items(self) -> dict[str, np.ndarray]:
        """The per-item scores of the evaluation (``{"<evaluator key>/<name>": array}``; empty when there are none)."""
        relative = self.relative(self.folder.evaluation_items)
        if relative not in self._cache:
            self._cache[relative] = {key: value.float().numpy() if value.dtype.is_floating_point else value.numpy()
                                     for key, value in read_items(self.folder.evaluation_items).items()}
        return self._cache[relative]

    def evaluator_names(self) -> dict[str, str]:
        """``{eval.json key: registered evaluator name}`` from config.json's evaluator list (a key names itself
        when the list does not mention it)."""
        listed = (self.config or {}).get("evaluators")
        names: dict[str, str] = {}
        for item in listed if isinstance(listed, list) else []:
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                names[str(item.get("key") or item["name"])] = item["name"]
        for key in ((self.evaluation or {}).get("evaluators") or {}):
            names.setdefault(str(key), str(key))
        return names

    @property
    def seed(self) -> int | None:
        """The trainer's seed (which seed of an experiment repeated over seeds this run is), if config.json says."""
        config = self.config or {}
        trainer = config.get("trainer") if isinstance(config.get("trainer"), Mapping) else {}
        seed = (trainer.get("config") or {}).get("seed", config.get("seed"))
        return seed if isinstance(seed, int) and not isinstance(seed, bool) else None

    @property
    def name(self) -> str:
        """The experiment's name from config.json, else the folder's name."""
        config = self.config or {}
        return str(config.get("name") or self.root.resolve().name)

    @property
    def reader(self) -> str | None:
        """The name of the experiment's reader (``mnist``, ``celeba``, ...), if config.json says."""
        reader = (self.config or {}).get("reader")
        return str(reader.get("name")) if isinstance(reader, Mapping) and reader.get("name") else None


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level with dotted keys; lists of scalars are kept as one value."""
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out if out or not prefix else {prefix: {}}
    if isinstance(data, list) and any(isinstance(item, Mapping) for item in data):
        out = {}
        for index, value in enumerate(data):
            out.update(flatten(value, f"{prefix}[{index}]"))
        return out
    return {prefix: data}
