"""Turning run-folder values into table cells: numbers, durations, metric and configuration rows."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from remvae.report.runfolder import flatten


def format_value(value: Any) -> str:
    """A number with 4 significant digits (integers exact), ``—`` for none, JSON for anything else."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def format_interval(mean: float, half_width: float, percent: bool = False) -> str:
    """``mean ± half_width`` with the half-width to two significant digits and the mean to the same decimals
    (``"94.5 ± 1.2%"`` for a share given as a fraction with ``percent``)."""
    scale = 100.0 if percent else 1.0
    mean, half_width = mean * scale, half_width * scale
    unit = "%" if percent else ""
    if not math.isfinite(half_width):  # a diverged seed
        return f"{format_value(mean)} ± {format_value(half_width)}{unit}"
    if half_width <= 1e-9 * max(1.0, abs(mean)):  # identical seeds, their spread only float rounding
        return f"{format_value(mean)} ± 0{unit}"
    decimals = min(6, max(0, 1 - math.floor(math.log10(half_width))))
    return f"{mean:.{decimals}f} ± {half_width:.{decimals}f}{unit}"


def format_duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "—"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)} min {rest:.0f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)} h {int(minutes)} min"


def format_share(value: Any) -> str:
    """An accuracy stored as a fraction in [0, 1] (or already as a percentage) shown as a percentage."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "—"
    return f"{value * 100:.2f}%" if value <= 1.0 else f"{value:.2f}%"


def metric_items(evaluation: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``{evaluator: {dotted metric name: value}}`` from an eval.json document."""
    evaluators = (evaluation or {}).get("evaluators") or {}
    return {
        str(name): flatten(entry.get("metrics") or {}) if isinstance(entry, Mapping) else {}
        for name, entry in evaluators.items()
    }


def judge_text(judge: Any) -> str:
    """``name (own test accuracy 99.31%)`` for an eval.json judge record; ``none`` without one."""
    if not isinstance(judge, Mapping):
        return "none"
    name = judge.get("name") or judge.get("path") or "unnamed judge"
    accuracy = judge.get("test_accuracy")
    if accuracy is None:
        return f"{name} (own accuracy not recorded)"
    return f"{name} (own test accuracy {format_share(accuracy)})"
