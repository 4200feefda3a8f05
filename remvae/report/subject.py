"""What a report or a comparison column describes: one run, or an experiment repeated over seeds.

A folder whose ``seeds/seed-<k>/`` holds runs (``remvae run ARGS --seeds N``) is a *seed parent*: its
numbers are the mean and 95% confidence interval over its seed runs, and its configuration, figures
and curves are those of its seed runs. Any other folder is one run and shows its own values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from remvae.core.runfolder import RunFolder
from remvae.report.figures.curves import CurveSet
from remvae.report.runfolder import RunDirError, RunFiles
from remvae.report.statistics import Interval, seed_interval
from remvae.report.values import (
    format_interval,
    format_share,
    format_value,
    metric_items,
)


@dataclass(frozen=True)
class Cell:
    """One metric of a subject: the value of a run, or the interval over the seeds that have it."""

    value: float | None
    interval: Interval | None
    present: int  # runs holding the metric
    runs: int  # runs of the subject

    def format(self, percent: bool = False, decimals: int | None = None) -> str:
        """``94.50%`` / ``94.5 ± 1.2%`` for a share, ``12.3`` / ``12.30 ± 0.81`` for another number (the interval to
        two significant digits, a single value to ``decimals`` places when given); ``—`` without a value, and
        ``(2 of 3 seeds)`` when some seeds lack it."""
        if self.value is None:
            return "—"
        if self.interval is not None and self.interval.half_width is not None:
            text = format_interval(self.interval.mean, self.interval.half_width, percent)
        elif percent:
            text = format_share(self.value)
        else:
            text = format_value(self.value) if decimals is None else f"{self.value:.{decimals}f}"
        if self.present < self.runs:
            text += f" ({self.present} of {self.runs} seeds)"
        return text


class Subject:
    """A run folder as reports and comparisons see it (see the module docstring)."""

    def __init__(self, root: RunFolder | Path | str) -> None:
        folder = root if isinstance(root, RunFolder) else RunFolder(root)
        if not folder.root.is_dir():
            raise RunDirError(f"{folder.root}: not a folder (expected a run folder with config.json, metrics/, ...)")
        self.folder = folder
        seed_runs = folder.seed_runs()
        self.seeded = bool(seed_runs)
        self.runs = [RunFiles(run) for run in seed_runs] if seed_runs else [RunFiles(folder)]

    @property
    def root(self) -> Path:
        return self.folder.root

    @property
    def primary(self) -> RunFiles:
        """The run whose configuration, figures and checkpoint stand for the subject (the first seed's)."""
        return self.runs[0]

    @property
    def name(self) -> str:
        return self.primary.name if self.primary.config else self.root.name

    @property
    def seeds(self) -> list[int | None]:
        """The trainer seed of each run."""
        return [run.seed for run in self.runs]

    def describe_seeds(self) -> str:
        """``"3 seeds (0, 1, 2)"`` for a seed parent, ``"seed 0"`` for a run."""
        if not self.seeded:
            return f"seed {format_value(self.primary.seed)}"
        return f"{len(self.runs)} seeds ({', '.join(format_value(seed) for seed in self.seeds)})"

    def curves(self) -> CurveSet:
        """The training and validation records of every run of the subject, under its name."""
        return curve_set(self.name, self.runs)

    @cached_property
    def metrics(self) -> list[dict[str, dict[str, Any]]]:
        """``{evaluator key: {dotted metric: value}}`` of each run."""
        return [metric_items(run.evaluation) for run in self.runs]

    def metric_names(self) -> dict[str, list[str]]:
        """Every evaluator key and its metric names, over all runs, in the order first seen."""
        keys: dict[str, list[str]] = {}
        for metrics in self.metrics:
            for evaluator, values in metrics.items():
                listed = keys.setdefault(evaluator, [])
                listed += [name for name in values if name not in listed]
        return keys

    def cell(self, evaluator: str, metric: str) -> Cell:
        """The metric's value (one run) or its mean and 95% interval over the seeds that have a finite value."""
        return self.derived(evaluator, lambda metrics: metrics.get(metric))

    def derived(self, evaluator: str, value: Callable[[Mapping[str, Any]], Any]) -> Cell:
        """Like :meth:`cell` for a value computed from each run's metrics of ``evaluator`` (e.g. a difference)."""
        numbers = [float(v) for v in (value(m.get(evaluator, {})) for m in self.metrics) if _number(v)]
        if not self.seeded:
            return Cell(numbers[0] if numbers else None, None, len(numbers), 1)
        interval = seed_interval(numbers) if numbers else None
        return Cell(interval.mean if interval else None, interval, len(numbers), len(self.runs))

    def entry(self, evaluator: str) -> Mapping[str, Any]:
        """The eval.json entry (n, split, seed, judge, config) of ``evaluator`` in the first run that has it."""
        for run in self.runs:
            entry = ((run.evaluation or {}).get("evaluators") or {}).get(evaluator)
            if isinstance(entry, Mapping):
                return entry
        return {}

    def evaluator_names(self) -> dict[str, str]:
        """``{eval.json key: registered evaluator name}`` over all runs."""
        names: dict[str, str] = {}
        for run in self.runs:
            names.update({k: v for k, v in run.evaluator_names().items() if k not in names})
        return names

    def key_of(self, evaluator_name: str, metric: str) -> str | None:
        """The first eval.json key of the registered evaluator ``evaluator_name`` that holds ``metric``."""
        keys = self.metric_names()
        for key, name in self.evaluator_names().items():
            if name == evaluator_name and metric in keys.get(key, []):
                return key
        return None


def curve_set(label: str, runs: Sequence[RunFiles]) -> CurveSet:
    """The training and validation records of ``runs`` as one set of curves."""
    return CurveSet(label, [run.train_records() for run in runs], [run.validation_records() for run in runs])


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
