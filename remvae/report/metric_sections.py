"""The report's metric sections: every metric of eval.json with its value and its glossary definition.

One section per evaluator entry, with a note on what its values mean for this run; the per-class FIDs
(one column per evaluator that has them) and CelebA's per-attribute scores follow once, as tables of
their own, instead of inside every section.
"""

from __future__ import annotations

import math
from typing import Any

from remvae.report.glossary import define
from remvae.report.headline import class_count, judge_summary, sample_text
from remvae.report.layout import Column, Document
from remvae.report.notes import notes_for
from remvae.report.references import CITATION
from remvae.report.style import BAD, MUTED
from remvae.report.subject import Subject
from remvae.report.values import format_duration, format_value

NESTED = ("class_fid.", "per_attribute.")
"""Metrics shown in tables of their own rather than in their evaluator's section."""
COMPARISONS = (("image_to_text", "image → text F1"), ("text_to_image", "text → image F1"),
               ("reference_captions", "test captions F1"), ("reference_judge", "judge on real F1"))
UNDEFINED = "(no definition: the evaluator's docstring has no Metrics entry for it)"


def display(subject: Subject, key: str, metric: str) -> str:
    """The metric's value (mean ± interval over seeds), or the first run's value when it is not a number."""
    cell = subject.cell(key, metric)
    if cell.value is not None:
        return cell.format()
    raw = next((m[key][metric] for m in subject.metrics if metric in m.get(key, {})), None)
    return format_value(raw)


def raw_values(subject: Subject, key: str) -> dict[str, Any]:
    """The evaluator's metrics for the notes: means over seeds for numbers, the first run's value otherwise."""
    values: dict[str, Any] = {}
    for metric in subject.metric_names().get(key, []):
        cell = subject.cell(key, metric)
        values[metric] = cell.value if cell.value is not None else next(
            (m[key][metric] for m in subject.metrics if metric in m.get(key, {})), None)
    return values


def metrics_section(doc: Document, subject: Subject) -> None:
    """Every evaluator's metrics with definitions, then the per-class and per-attribute tables."""
    doc.heading("Metrics")
    run = subject.primary
    if run.evaluation is None:
        doc.text(f"Evaluation results missing — {run.relative(run.folder.evaluation)}: "
                 f"{run.problem(run.folder.evaluation)} (run `remvae eval` on this run).", color=BAD)
        return
    doc.text("Every metric of metrics/eval.json, defined in plain words by the evaluator's own documentation"
             + (" (mean ± 95% interval over the seeds)" if subject.seeded else "")
             + f". The reference named in some definitions is {CITATION}.", color=MUTED)
    names = subject.evaluator_names()
    defined: dict[str, str] = {}  # registered name -> the section that printed its definitions
    for key, metrics in subject.metric_names().items():
        name = names.get(key, key)
        entry = subject.entry(key)
        doc.heading(key if name == key else f"{key} ({name})", level=2)
        doc.text(f"N = {sample_text(subject, entry)} items · evaluation seed {format_value(entry.get('seed'))} · "
                 f"judge: {judge_summary(entry.get('judge'))} · {format_duration(entry.get('seconds'))}", color=MUTED)
        for note in notes_for(name, raw_values(subject, key), class_count(subject, key), entry.get("n")):
            doc.text(note)
        earlier = defined.setdefault(name, key)
        rows = [(metric, display(subject, key, metric),
                 f"as in {earlier}" if earlier != key else define(name, metric) or UNDEFINED)
                for metric in metrics if not metric.startswith(NESTED)]
        doc.space(0.04)
        doc.table([Column("metric", 0), Column("value", 0, "right"), Column("definition", 1)], rows)
    per_class_table(doc, subject)
    per_attribute_table(doc, subject)


def per_class_table(doc: Document, subject: Subject) -> None:
    """The per-class text → image FIDs once, one column per evaluator entry that has them."""
    keys = {key: [m for m in metrics if m.startswith("class_fid.")] for key, metrics in subject.metric_names().items()}
    keys = {key: metrics for key, metrics in keys.items() if metrics}
    if not keys:
        return
    classes = list(dict.fromkeys(m.removeprefix("class_fid.") for metrics in keys.values() for m in metrics))
    doc.heading("Per-class judge FID, text → image", level=2)
    doc.text("Judge-feature FID between the images generated from one class's captions and that class's real "
             "images (text_to_image_class_fid is their mean).", color=MUTED)
    rows = [(name, *(display(subject, key, f"class_fid.{name}") for key in keys)) for name in classes]
    doc.table([Column("class", 1), *(Column(key, 1, "right") for key in keys)], rows)


def per_attribute_table(doc: Document, subject: Subject) -> None:
    """CelebA's per-attribute F1 in the four comparisons of the first evaluator entry that has them."""
    key = next((k for k, metrics in subject.metric_names().items()
                if any(m.startswith("per_attribute.") for m in metrics)), None)
    if key is None:
        return
    metrics = set(subject.metric_names()[key])
    attributes = list(dict.fromkeys(m.split(".")[2] for m in subject.metric_names()[key]
                                    if m.startswith("per_attribute.") and m.count(".") == 3))
    doc.heading(f"Per-attribute F1 ({key})", level=2)
    doc.text("F1 of each attribute in the four comparisons defined above; support: test images with the attribute.",
             color=MUTED)
    rows = []
    for attribute in attributes:
        cells = [display(subject, key, f"per_attribute.{prefix}.{attribute}.f1")
                 if f"per_attribute.{prefix}.{attribute}.f1" in metrics else "—" for prefix, _ in COMPARISONS]
        support = subject.cell(key, f"per_attribute.image_to_text.{attribute}.support").value
        rows.append((attribute, *cells, "—" if support is None or math.isnan(support) else f"{support:.0f}"))
    doc.table([Column("attribute", 1.4), *(Column(label, 1, "right") for _, label in COMPARISONS),
               Column("support", 0.8, "right")], rows)
