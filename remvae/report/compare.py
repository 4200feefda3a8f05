"""Several runs side by side (e.g. GRU vs LSTM vs xLSTM): one PDF and a Markdown table beside it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from remvae.report.figures.curves import curves_figure
from remvae.report.layout import Column, Document
from remvae.report.pdf import model_text, present_reference_value
from remvae.report.references import SOURCE, find_ours, references_for
from remvae.report.runfolder import RunFiles
from remvae.report.style import BAD, MUTED, png_bytes
from remvae.report.values import format_duration, format_value, judge_text, metric_items

Table = tuple[list[str], list[list[str]]]


def compare(run_dirs: Sequence[Path], out_path: Path) -> Path:
    """Write a PDF comparing the runs' settings, metrics and training curves, and ``out_path`` with ``.md``."""
    if not run_dirs:
        raise ValueError("compare needs at least one run folder")
    runs = [RunFiles(Path(path)) for path in run_dirs]
    names = run_names(runs)
    out_path = Path(out_path)
    tables = {
        "Runs": overview_table(runs, names),
        "Metrics": metrics_table(runs, names),
    }
    reference = reference_table(runs, names)
    if reference is not None:
        tables["Beside the reference"] = reference
    partial = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    try:
        with Document(partial, footer=f"remvae comparison: {', '.join(names)}") as doc:
            doc.new_page()
            doc.heading(f"Comparison of {len(runs)} runs", level=0)
            for title, (header, rows) in tables.items():
                doc.heading(title)
                if title == "Beside the reference":
                    doc.text(f"Published numbers from {SOURCE}.", color=MUTED)
                doc.table(columns(header), rows)
            curves(doc, runs, names)
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    markdown = out_path.with_suffix(".md")
    markdown.write_text(
        "\n".join(f"## {title}\n\n{markdown_table(header, rows)}" for title, (header, rows) in tables.items()),
        encoding="utf-8",
    )
    return out_path


def run_names(runs: Sequence[RunFiles]) -> list[str]:
    """Experiment names, told apart by their folders (relative to the folder they share) where two are equal."""
    names = [run.name for run in runs]
    folders = [run.root.resolve() for run in runs]
    common = Path(os.path.commonpath(folders)) if len(folders) > 1 else folders[0].parent
    unique = [f"{name} ({folder.relative_to(common) if folder != common else folder.name})"
              if names.count(name) > 1 else name for name, folder in zip(names, folders)]
    return [f"{name} #{index + 1}" if unique.count(name) > 1 else name for index, name in enumerate(unique)]


def columns(header: Sequence[str]) -> list[Column]:
    return [Column(header[0], 1.6)] + [Column(name, 1.0, "right") for name in header[1:]]


def overview_table(runs: Sequence[RunFiles], names: Sequence[str]) -> Table:
    rows: list[list[str]] = [
        ["folder", *(str(run.root) for run in runs)],
        ["data", *(format_value(run.reader) for run in runs)],
        ["model", *(model_text(run.config or {}) for run in runs)],
    ]
    summaries = [run.train_summary or {} for run in runs]
    for key, label in (("steps", "steps"), ("epochs", "epochs"), ("samples_per_s", "samples / s"),
                       ("device", "device"), ("final_loss", "final loss")):
        rows.append([label, *(format_value(summary.get(key)) if summary else "missing" for summary in summaries)])
    rows.append(["training time", *(format_duration(s.get("total_train_seconds", s.get("train_seconds")))
                                    if s else "missing" for s in summaries)])
    return ["", *names], rows


def metrics_table(runs: Sequence[RunFiles], names: Sequence[str]) -> Table:
    """One row per ``evaluator.metric`` found in any run (with each evaluator's N and judge), one column per run."""
    per_run = [metric_items(run.evaluation) for run in runs]
    entries = [(run.evaluation or {}).get("evaluators") or {} for run in runs]
    evaluators: list[str] = []
    for items in per_run:
        evaluators += [name for name in items if name not in evaluators]
    rows: list[list[str]] = []
    for evaluator in evaluators:
        rows.append([f"{evaluator}: N", *(_entry(e, evaluator, "n") for e in entries)])
        if any(isinstance(_raw(e, evaluator, "judge"), dict) for e in entries):
            rows.append([f"{evaluator}: judge", *(judge_text(_raw(e, evaluator, "judge")) if evaluator in e else "—"
                                                  for e in entries)])
        keys: list[str] = []
        for items in per_run:
            keys += [key for key in items.get(evaluator, {}) if key not in keys]
        for key in keys:
            rows.append([f"{evaluator}.{key}", *(format_value(items[evaluator][key])
                                                 if key in items.get(evaluator, {}) else "—" for items in per_run)])
    for index, run in enumerate(runs):
        if run.evaluation is None:
            for row in rows:
                row[index + 1] = "missing"
    if not rows:
        rows = [["metrics/eval.json", *("missing" for _ in runs)]]
    return ["metric", *names], rows


def _raw(entries: dict[str, Any], evaluator: str, field: str) -> Any:
    entry = entries.get(evaluator)
    return entry.get(field) if isinstance(entry, dict) else None


def _entry(entries: dict[str, Any], evaluator: str, field: str) -> str:
    return format_value(_raw(entries, evaluator, field)) if evaluator in entries else "—"


def reference_table(runs: Sequence[RunFiles], names: Sequence[str]) -> Table | None:
    """The reference's published numbers for the runs' data sets, beside each run's (None: no reference data set)."""
    readers = list(dict.fromkeys(run.reader for run in runs))
    references = [ref for reader in readers for ref in references_for(reader)]
    if not references:
        return None
    rows = []
    for ref in references:
        cells = []
        for run in runs:
            found = find_ours(ref, metric_items(run.evaluation)) if run.reader == ref.reader else None
            cells.append(present_reference_value(ref.measure, found[1]) if found else "—")
        rows.append([f"{ref.reader}: {ref.measure}", ref.published, *cells])
    return ["measure", "reference", *names], rows


def curves(doc: Document, runs: Sequence[RunFiles], names: Sequence[str]) -> None:
    records = {name: run.train_records() for name, run in zip(names, runs)}
    missing = [name for name, rows in records.items() if not rows]
    doc.new_page()
    doc.heading("Training curves")
    if missing:
        doc.text(f"No training records (metrics/train.jsonl) for: {', '.join(missing)}.", color=BAD)
    present = {name: rows for name, rows in records.items() if rows}
    if not present:
        return
    figure = curves_figure(present, title="Training curves", width=8.0)
    doc.image(png_bytes(figure), caption="One colour per run; faint: logged values, solid: exponential moving average.")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
