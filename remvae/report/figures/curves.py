"""Training curves from ``metrics/train.jsonl`` and ``metrics/validation.jsonl`` records: one panel per term.

Training values are drawn faint with their exponential moving average over them; validation values (one
per epoch, at beta = 1) as markers joined by a thin line. Several runs stay distinguishable in print and
for colour-blind readers: each run has its own colour, line style and marker, named in the legend.
A run repeated over seeds draws one line per seed in its style.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter

from remvae.report.style import FONT_SIZE, MUTED, report_style, text_width, wrap

Records = Sequence[Mapping[str, object]]

# Known terms in display order, with their axis titles; any other numeric key is shown after them.
TERMS: dict[str, str] = {
    "loss": "total loss",
    "image_reconstruction": "image reconstruction",
    "text_reconstruction": "text reconstruction",
    "image_kl": "image KL",
    "text_kl": "text KL",
    "alignment": "alignment loss",
    "image_from_text": "image from text latent",
    "text_from_image": "text from image latent",
    "beta": "β (annealing weight)",
    "lr": "learning rate",
    "grad_norm": "gradient norm",
    "samples_per_s": "samples / s",
}
NOT_CURVES = {"step", "epoch", "time"}
LINEAR_ONLY = {"beta", "lr", "samples_per_s"}
LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


@dataclass(frozen=True)
class CurveSet:
    """One run's curves (or one per seed of a run repeated over seeds), under one legend label."""

    label: str
    train: Sequence[Records]
    validation: Sequence[Records] = field(default_factory=tuple)


@dataclass(frozen=True)
class Style:
    colour: tuple[float, ...]
    line: str
    marker: str


def style(index: int) -> Style:
    """Colour, line style and marker of the ``index``-th run: all three change from one run to the next."""
    palette = colormaps["tab10"]
    return Style(palette(index % palette.N), LINE_STYLES[index % len(LINE_STYLES)], MARKERS[index % len(MARKERS)])


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


def curve_terms(sets: Sequence[CurveSet]) -> list[str]:
    """Terms with at least one finite value in any record: the known ones in order, then the rest alphabetically."""
    present: set[str] = set()
    for curve in sets:
        for records in (*curve.train, *curve.validation):
            for record in records:
                present.update(k for k, v in record.items() if k not in NOT_CURVES and _finite(v))
    return [t for t in TERMS if t in present] + sorted(present - set(TERMS))


def series(records: Records, term: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values of ``term`` where it was logged with a finite value."""
    pairs = [(float(r.get("step", i)), float(r[term])) for i, r in enumerate(records)  # type: ignore[arg-type]
             if _finite(r.get(term))]
    if not pairs:
        return np.empty(0), np.empty(0)
    steps, values = zip(*pairs)
    return np.asarray(steps), np.asarray(values)


def curves_figure(sets: Sequence[CurveSet], title: str = "Training curves", width: float = 11.0) -> Figure:
    """One panel per term, every run in its :func:`style`; a legend names the runs and the two kinds of line."""
    terms = curve_terms(sets)
    if not terms:
        raise ValueError("no logged values to plot: the training records hold no numeric terms")
    ncols = 3 if len(terms) > 4 else 2
    nrows = math.ceil(len(terms) / ncols)
    with_validation = any(records for curve in sets for records in curve.validation)
    with report_style():
        fig = Figure(figsize=(width, 1.3 + 2.5 * nrows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, term in zip(axes, terms):
            _panel(ax, term, sets, title_width=width / ncols - 0.5)
        for ax in axes[len(terms):]:
            ax.set_visible(False)
        handles = _legend_handles(sets, with_validation)
        widest = max(text_width(str(h.get_label()), FONT_SIZE - 1) for h in handles) / 72 + 0.8  # inches, with the line
        fig.legend(handles=handles, loc="outside lower center", frameon=False,
                   ncols=max(1, min(len(handles), int((width - 0.5) // widest))))
        kinds = "faint: logged values; line: exponential moving average"
        if with_validation:
            kinds += "; markers: validation at β = 1, once per epoch"
        heading = f"{title}  ({kinds})"
        fig.suptitle("\n".join(wrap(heading, width - 0.4, FONT_SIZE + 2, "bold")), fontsize=FONT_SIZE + 2,
                     fontweight="bold")
    return fig


def _legend_handles(sets: Sequence[CurveSet], with_validation: bool) -> list[Line2D]:
    handles = []
    if len(sets) > 1:
        for index, curve in enumerate(sets):
            look = style(index)
            handles.append(Line2D([], [], color=look.colour, linestyle=look.line, marker=look.marker, markersize=4,
                                  linewidth=1.6, label=curve.label))
    handles.append(Line2D([], [], color=MUTED, linewidth=1.6, label="training (moving average)"))
    if with_validation:
        handles.append(Line2D([], [], color=MUTED, linewidth=0.8, marker="o", markersize=4, markerfacecolor="white",
                              label="validation (β = 1)"))
    return handles


def _panel(ax: Axes, term: str, sets: Sequence[CurveSet], title_width: float) -> None:
    logged = []
    for index, curve in enumerate(sets):
        look = style(index)
        for records in curve.train:
            steps, values = series(records, term)
            if len(values):
                ax.plot(steps, values, color=look.colour, alpha=0.18, linewidth=0.8, linestyle="-")
                ax.plot(steps, ema(values, smoothing_weight(len(values))), color=look.colour, linewidth=1.6,
                        linestyle=look.line, marker=look.marker if len(sets) > 1 else None, markersize=3.5,
                        markevery=max(1, len(values) // 6))
                logged.append(values)
        for records in curve.validation:
            steps, values = series(records, term)
            if len(values):
                ax.plot(steps, values, color=look.colour, linewidth=0.8, linestyle=look.line,
                        marker=look.marker if len(sets) > 1 else "o", markersize=4, markerfacecolor="white")
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
