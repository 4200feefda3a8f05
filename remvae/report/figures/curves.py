"""Training curves from ``metrics/train.jsonl`` records: every logged term against steps, smoothed."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter

from remvae.report.style import FONT_SIZE, report_style, text_width, wrap

# Known terms in display order, with their axis titles; any other numeric key is shown after them.
TERMS: dict[str, str] = {
    "loss": "total loss",
    "image_reconstruction": "image reconstruction",
    "text_reconstruction": "text reconstruction",
    "image_kl": "image KL",
    "text_kl": "text KL",
    "alignment": "alignment loss",
    "beta": "β (annealing weight)",
    "lr": "learning rate",
    "grad_norm": "gradient norm",
    "samples_per_s": "samples / s",
}
NOT_CURVES = {"step", "epoch", "time"}
LINEAR_ONLY = {"beta", "lr", "samples_per_s"}


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Bias-corrected exponential moving average: s_t = w s_(t-1) + (1 - w) x_t, shown as s_t / (1 - w^t)."""
    out = np.empty_like(values, dtype=np.float64)
    state, norm = 0.0, 0.0
    for i, value in enumerate(values):
        state = weight * state + (1.0 - weight) * value
        norm = weight * norm + (1.0 - weight)
        out[i] = state / norm
    return out


def smoothing_weight(n: int) -> float:
    """Heavier smoothing for longer curves: about n / 10 points of memory, at most 0.98."""
    return float(min(0.98, max(0.0, 1.0 - 10.0 / max(n, 1))))


def curve_terms(runs: Mapping[str, Sequence[Mapping[str, object]]]) -> list[str]:
    """Terms with at least one finite value in any run: the known ones in order, then the rest alphabetically."""
    present: set[str] = set()
    for records in runs.values():
        for record in records:
            present.update(k for k, v in record.items() if k not in NOT_CURVES and _finite(v))
    return [t for t in TERMS if t in present] + sorted(present - set(TERMS))


def series(records: Sequence[Mapping[str, object]], term: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values of ``term`` where it was logged with a finite value."""
    pairs = [(float(r.get("step", i)), float(r[term])) for i, r in enumerate(records)  # type: ignore[arg-type]
             if _finite(r.get(term))]
    if not pairs:
        return np.empty(0), np.empty(0)
    steps, values = zip(*pairs)
    return np.asarray(steps), np.asarray(values)


def curves_figure(runs: Mapping[str, Sequence[Mapping[str, object]]], title: str = "Training curves",
                  width: float = 11.0) -> Figure:
    """One panel per term; each run's raw values faint and their EMA solid, in one colour per run."""
    terms = curve_terms(runs)
    if not terms:
        raise ValueError("no logged values to plot: the training records hold no numeric terms")
    ncols = 3 if len(terms) > 4 else 2
    nrows = math.ceil(len(terms) / ncols)
    with report_style():
        fig = Figure(figsize=(width, 1.0 + 2.5 * nrows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, term in zip(axes, terms):
            _panel(ax, term, runs, title_width=width / ncols - 0.5)
        for ax in axes[len(terms):]:
            ax.set_visible(False)
        if len(runs) > 1:
            palette = colormaps["tab10"]
            handles = [Line2D([], [], color=palette(i % palette.N), linewidth=1.6, label=name)
                       for i, name in enumerate(runs)]
            widest = max(text_width(name, FONT_SIZE - 1) for name in runs) / 72 + 0.8  # inches, with the line
            fig.legend(handles=handles, loc="outside lower center", frameon=False,
                       ncols=max(1, min(len(handles), int((width - 0.5) // widest))))
        heading = f"{title}  (faint: logged values; solid: exponential moving average)"
        fig.suptitle("\n".join(wrap(heading, width - 0.4, FONT_SIZE + 2, "bold")), fontsize=FONT_SIZE + 2,
                     fontweight="bold")
    return fig


def _panel(ax: Axes, term: str, runs: Mapping[str, Sequence[Mapping[str, object]]], title_width: float) -> None:
    palette = colormaps["tab10"]
    logged = []
    for index, records in enumerate(runs.values()):
        steps, values = series(records, term)
        if len(values):
            colour = palette(index % palette.N)
            ax.plot(steps, values, color=colour, alpha=0.22, linewidth=0.8)
            ax.plot(steps, ema(values, smoothing_weight(len(values))), color=colour, linewidth=1.6)
            logged.append(values)
    values = np.concatenate(logged)
    low, high = float(values.min()), float(values.max())
    if low > 0 and high / low > 50 and term not in LINEAR_ONLY:
        ax.set_yscale("log")
        # plain-text tick labels: the default ones are mathtext, which the report style turns off
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    else:
        ax.ticklabel_format(axis="y", useOffset=False)
        if high - low <= 1e-9 * max(abs(high), 1e-30):  # a constant, such as a fixed learning rate
            ax.set_ylim(low - 0.5 * abs(low) - 1e-12, high + 0.5 * abs(high) + 1e-12)
    ax.set_title("\n".join(wrap(TERMS.get(term, term), title_width, FONT_SIZE + 1)), loc="left")
    ax.set_xlabel("step")
    ax.grid(alpha=0.25)


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
