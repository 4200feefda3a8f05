"""Several runs or seed parents side by side: ``comparison.pdf``, ``comparison.md`` and the PNGs they show.

The comparison holds the runs' overview, the settings that differ, every metric (mean ± 95% interval for
a seed parent), paired tests of each run against the first on the same test items (Holm-corrected), the
reference's Table 1 where a run is on its data, the text → image grids side by side and the training
curves, one style per run.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from remvae.core.runfolder import write_bytes
from remvae.report.configdiff import differing_keys, training_keys
from remvae.report.figures.curves import curves_figure
from remvae.report.figures.side_by_side import side_by_side_figure
from remvae.report.headline import judge_summary, sample_text
from remvae.report.layout import Column, Document
from remvae.report.metric_sections import NESTED, display
from remvae.report.paired import PairedRow, paired_tests
from remvae.report.references import (
    CITATION,
    TABLE_1,
    TABLE_1_NAMES,
    TABLE_1_READERS,
    format_published,
)
from remvae.report.runfolder import flatten
from remvae.report.statistics import PairedTest
from remvae.report.style import MUTED, png_bytes
from remvae.report.subject import Subject, curve_set
from remvae.report.summary import checkpoint_short, model_text
from remvae.report.values import format_duration, format_value

PDF, MARKDOWN, SAMPLES, CURVES = "comparison.pdf", "comparison.md", "samples.png", "curves.png"


@dataclass
class Section:
    """A titled table of the comparison, printed in the PDF and mirrored in the Markdown."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""
    widths: list[float] = field(default_factory=list)


def default_output(run_dirs: Sequence[Path | str]) -> Path:
    """``comparison-<time>`` beside the first run: where ``remvae compare`` writes without ``--out``."""
    return Path(run_dirs[0]).expanduser().resolve().parent / f"comparison-{datetime.now():%Y%m%d-%H%M%S}"


def compare(run_dirs: Sequence[Path | str], out_dir: Path | str, n_resamples: int = 1000) -> list[Path]:
    """Compare runs (or seed parents) into ``out_dir`` and return every file written (PDF, Markdown, PNGs).

    ``n_resamples`` is the number of paired-bootstrap resamples per FID or perplexity test.
    """
    if not run_dirs:
        raise ValueError("compare needs at least one run folder")
    subjects = [Subject(Path(path)) for path in run_dirs]
    names = run_names(subjects)
    out = Path(out_dir).expanduser().resolve()
    sections = [overview(subjects, names), *settings(subjects, names), metrics(subjects, names)]
    sections += [paired_section(subject, subjects[0], name, names[0], n_resamples)
                 for subject, name in zip(subjects[1:], names[1:])]
    reference = reference_section(subjects, names)
    if reference is not None:
        sections.append(reference)
    pngs = {SAMPLES: samples_png(subjects, names), CURVES: curves_png(subjects, names)}
    images = {name: write_bytes(out / name, data) for name, data in pngs.items() if data is not None}
    pdf = write_bytes(out / PDF, pdf_bytes(sections, names, images))
    text = write_bytes(out / MARKDOWN, markdown(sections, names, list(images)).encode("utf-8"))
    return [pdf, text, *images.values()]


def run_names(subjects: Sequence[Subject]) -> list[str]:
    """Experiment names, told apart by their folders (relative to the folder they share) where two are equal."""
    names = [subject.name for subject in subjects]
    folders = [subject.root for subject in subjects]
    common = Path(os.path.commonpath(folders)) if len(folders) > 1 else folders[0].parent
    unique = [f"{name} ({folder.relative_to(common) if folder != common else folder.name})"
              if names.count(name) > 1 else name for name, folder in zip(names, folders)]
    return [f"{name} #{index + 1}" if unique.count(name) > 1 else name for index, name in enumerate(unique)]


def overview(subjects: Sequence[Subject], names: Sequence[str]) -> Section:
    summaries = [subject.primary.train_summary or {} for subject in subjects]
    rows = [
        ["folder", *(str(subject.root) for subject in subjects)],
        ["data", *(format_value(subject.primary.reader) for subject in subjects)],
        ["model", *(model_text(subject.primary.config or {}) for subject in subjects)],
        ["seeds", *(subject.describe_seeds() for subject in subjects)],
        ["checkpoint evaluated", *(checkpoint_short(subject) for subject in subjects)],
    ]
    for key, label in (("steps", "steps"), ("epochs", "epochs"), ("samples_per_s", "samples / s"),
                       ("device", "device")):
        rows.append([label, *(format_value(s.get(key)) if s else "missing" for s in summaries)])
    rows.append(["training time", *(format_duration(s.get("total_train_seconds", s.get("train_seconds")))
                                    if s else "missing" for s in summaries)])
    note = "A seed parent's training details are its first seed's." if any(s.seeded for s in subjects) else ""
    return Section("Runs", ["", *names], rows, note)


def setting_values(subject: Subject) -> dict[str, str]:
    """Every dotted setting of the subject's config.json; a value that differs between its seeds joined by `` | ``."""
    flats = [flatten(run.config or {}) for run in subject.runs]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    return {key: " | ".join(dict.fromkeys(format_value(flat.get(key)) for flat in flats)) for key in keys}


def settings(subjects: Sequence[Subject], names: Sequence[str]) -> list[Section]:
    """The settings that differ between the runs: those defining the trained model, then the others."""
    values = [setting_values(subject) for subject in subjects]
    differing = differing_keys(values)
    trained = training_keys([run.config or {} for subject in subjects for run in subject.runs])
    sections = []
    for title, keys, note in (
        ("Settings that differ", [k for k in differing if k in trained],
         ("Dotted keys of config.json whose values differ between the runs and that define the trained model or its "
          "length (the run fingerprint's settings).")),
        ("Other settings that differ", [k for k in differing if k not in trained],
         "Outside the run fingerprint: names, logging, devices, data location and evaluation settings."),
    ):
        rows = [[key, *(v.get(key, "—") for v in values)] for key in keys] or [["(none)", *("" for _ in names)]]
        sections.append(Section(title, ["setting", *names], rows, note))
    return sections


def metrics(subjects: Sequence[Subject], names: Sequence[str]) -> Section:
    """One row per ``evaluator.metric`` of any run (with each evaluator's N and judge), one column per run."""
    keys: dict[str, list[str]] = {}
    for subject in subjects:
        for key, listed in subject.metric_names().items():
            known = keys.setdefault(key, [])
            known += [m for m in listed if m not in known and not m.startswith(NESTED)]
    rows: list[list[str]] = []
    for key, listed in keys.items():
        rows.append([f"{key}: N · split",
                     *(sample_text(s, s.entry(key)) if s.entry(key) else "—" for s in subjects)])
        if any(isinstance(s.entry(key).get("judge"), dict) for s in subjects):
            rows.append([f"{key}: judge", *(judge_summary(s.entry(key).get("judge")) for s in subjects)])
        rows += [[f"{key}.{metric}", *(display(s, key, metric) if metric in s.metric_names().get(key, []) else "—"
                                        for s in subjects)] for metric in listed]
    for index, subject in enumerate(subjects):
        if all(run.evaluation is None for run in subject.runs):
            for row in rows:
                row[index + 1] = "missing"
    note = "Judge: its accuracy on the evaluated items / on its own test set." + (
        " Mean ± 95% confidence interval (Student t) over the seeds of a seed parent."
        if any(s.seeded for s in subjects) else "")
    return Section("Metrics", ["metric", *names], rows or [["metrics/eval.json", *("missing" for _ in subjects)]], note)


def paired_section(subject: Subject, first: Subject, name: str, first_name: str, n_resamples: int) -> Section:
    rows, pooled = paired_tests(subject, first, n_resamples=n_resamples)
    table = [paired_cells(row) for row in rows] or [["(no per-item scores in common)", "", "", "", "", "", ""]]
    note = (f"Difference = {name} − {first_name} on the same test items: McNemar's exact test on per-item "
            f"correctness (in percentage points), a paired bootstrap ({n_resamples} resamples) otherwise; 95% "
            "intervals. Holm: significant after Holm's correction over the metrics tested here, at α = 0.05."
            + (f" Seeds: {pooled}, N counting every (item, seed) pair." if pooled else ""))
    return Section(f"Paired tests: {name} vs {first_name}",
                   ["metric", "test", "difference [95% CI]", "p", "Holm", "N", "note"], table, note,
                   [1.9, 0.85, 1.55, 0.5, 0.75, 0.45, 0.9])


def paired_cells(row: PairedRow) -> list[str]:
    result = row.result
    if result is None:
        return [row.metric, "not tested", "—", "—", "—", "—", row.note]
    return [row.metric, result.test, difference_text(result), p_text(result.p_value),
            "significant" if row.significant else "—", str(result.n), row.note]


def difference_text(result: PairedTest) -> str:
    """``+1.20 pts [-0.40, +2.80]`` for accuracies (percentage points), ``-10.12 [-12.25, -7.607]`` otherwise."""
    scale, unit = (100.0, " pts") if result.points else (1.0, "")

    def signed(value: float) -> str:
        text = f"{value:.2f}" if result.points else format_value(value)
        return text if text.startswith("-") or value == 0 else f"+{text}"

    return f"{signed(result.difference * scale)}{unit} [{signed(result.low * scale)}, {signed(result.high * scale)}]"


def p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def reference_section(subjects: Sequence[Subject], names: Sequence[str]) -> Section | None:
    """The reference's Table 1 beside each run on one of its data sets (``None`` when no run is)."""
    readers = [subject.primary.reader for subject in subjects]
    if not any(reader in TABLE_1_READERS for reader in readers):
        return None
    rows = []
    for row in TABLE_1:
        cells = []
        for subject, reader in zip(subjects, readers):
            key = next((k for evaluator in row.evaluators if (k := subject.key_of(evaluator, row.metric))), None)
            cells.append(subject.cell(key, row.metric).format(percent=row.share)
                         if key and reader in TABLE_1_READERS else "—")
        published = [f"{TABLE_1_NAMES[r]} {format_published(row.published[r], row.share)}" for r in TABLE_1_READERS]
        rows.append([row.measure, "; ".join(published), *cells])
    note = (f"Published by {CITATION} (README, Table 1; its own classifiers, perplexities under GPT-2). remvae's "
            "perplexities are under the shipped caption LM, so only their ratios to the original captions compare.")
    return Section("Beside the reference", ["measure", "reference", *names], rows, note)


def samples_png(subjects: Sequence[Subject], names: Sequence[str]) -> bytes | None:
    """Each run's text → image grid side by side (``None`` when no run has one)."""
    arrays = []
    for subject in subjects:
        path = subject.primary.folder.figure("text_to_image")
        arrays.append(np.asarray(Image.open(path).convert("RGB")) if path.is_file() else None)
    if all(array is None for array in arrays):
        return None
    figure = side_by_side_figure(arrays, names, missing="no text → image figure (run `remvae visualize`)")
    return png_bytes(figure).getvalue()


def curves_png(subjects: Sequence[Subject], names: Sequence[str]) -> bytes | None:
    """Every run's training and validation curves, one panel per term (``None`` when no run logged any)."""
    sets = [curve_set(name, subject.runs) for subject, name in zip(subjects, names)]
    try:
        figure = curves_figure(sets, title="Training curves", width=11.0)
    except ValueError:
        return None
    return png_bytes(figure).getvalue()


def pdf_bytes(sections: Sequence[Section], names: Sequence[str], pngs: dict[str, Path]) -> bytes:
    buffer = io.BytesIO()
    with Document(buffer, footer=f"remvae comparison: {', '.join(names)}") as doc:
        doc.new_page()
        doc.heading(f"Comparison of {len(names)} runs", level=0)
        for section in sections:
            doc.heading(section.title)
            if section.note:
                doc.text(section.note, color=MUTED)
                doc.space(0.04)
            widths = section.widths or [0.0, *([1.0] * (len(section.header) - 1))]  # the first sized to its keys
            columns = [Column(h, w, "left" if i == 0 or section.widths else "right")
                       for i, (h, w) in enumerate(zip(section.header, widths))]
            doc.table(columns, section.rows, size=7.5 if len(section.header) > 4 else 8.5)
        if SAMPLES in pngs:
            doc.image(pngs[SAMPLES], title="Text → image, side by side",
                      caption="Each run's text → image figure (a seed parent's first seed).")
        if CURVES in pngs:
            doc.image(pngs[CURVES], title="Training curves",
                      caption="One colour, line style and marker per run; a seed parent draws one line per seed.")
        else:
            doc.text("No run has training records (metrics/train.jsonl).", color=MUTED)
    return buffer.getvalue()


def markdown(sections: Sequence[Section], names: Sequence[str], pngs: Sequence[str]) -> str:
    """The comparison's tables as Markdown, the PNGs linked below them."""
    parts = [f"# Comparison of {len(names)} runs\n"]
    for section in sections:
        parts.append(f"## {section.title}\n")
        if section.note:
            parts.append(section.note + "\n")
        parts.append(markdown_table(section.header, section.rows))
    parts += [f"![{name}]({name})\n" for name in pngs]
    return "\n".join(parts)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
