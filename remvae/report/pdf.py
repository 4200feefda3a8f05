"""``report.pdf``, results first: page 1 holds the headline table and the one figure that shows the model working;
then the reference's tables beside ours, the figures, every metric with its definition, and an appendix.

Built with matplotlib's PdfPages (see :mod:`remvae.report.layout`): no dependency beyond the plotting
library the figures already use, the same Unicode-capable fonts in figures and text, and the figures
embedded pixel for pixel. Every section reads only files of the run folder; a stage whose files are
missing is reported as missing and the rest of the report is still written. The report of an
experiment repeated over seeds (a folder with ``seeds/seed-<k>/`` runs) aggregates its seed runs.
"""

from __future__ import annotations

import io
from pathlib import Path

from remvae.core.runfolder import RunFolder, write_bytes
from remvae.report.appendix import appendix
from remvae.report.catalog import FIGURES, FIGURES_BY_NAME, OPTIONAL_FIGURES, FigureSpec
from remvae.report.figures.curves import curves_figure
from remvae.report.headline import HEADER, headline_rows
from remvae.report.layout import Column, Document
from remvae.report.metric_sections import metrics_section
from remvae.report.reference_pages import reference_pages
from remvae.report.references import CITATION
from remvae.report.style import BAD, MUTED, png_bytes
from remvae.report.subject import Subject
from remvae.report.summary import checkpoint_text, prior_text, seeds_text, trained_text

HEADLINE_FIGURES = ("text_to_image", "reconstructions", "prior_samples")
"""Page 1's figure: the first of these the run has (text -> image; a single-modality model's own output)."""
DRAWN_HERE = ("training_curves",)  # drawn from the metrics files with the validation curve, not read from figures/


def write_report(run_dir: RunFolder | Path) -> Path:
    """Write the run's (or seed parent's) ``report.pdf`` from its files and return its path."""
    subject = Subject(run_dir)
    buffer = io.BytesIO()
    with Document(buffer, footer=f"{subject.name} · remvae report") as doc:
        shown = page_one(doc, subject)
        pages = doc.pages
        reference_pages(doc, subject)
        if doc.pages == pages:  # page 1 holds only the results; a reference page may take the figures below it
            doc.new_page()
        figures_section(doc, subject, shown)
        metrics_section(doc, subject)
        appendix(doc, subject)
    return write_bytes(subject.folder.report, buffer.getvalue())


def page_one(doc: Document, subject: Subject) -> str | None:
    """Title, what was trained, which checkpoint and prior, the headline table and figure; returns the figure's
    name (``None`` when the run has none of :data:`HEADLINE_FIGURES`)."""
    config = subject.primary.config or {}
    doc.new_page()
    doc.heading(subject.name, level=0)
    if config.get("description"):
        doc.text(str(config["description"]), color=MUTED)
        doc.space(0.06)
    for sentence in (trained_text(subject), checkpoint_text(subject), prior_text(subject), seeds_text(subject)):
        if sentence:
            doc.text(sentence)
    doc.heading("Results", level=2)
    headline_table(doc, subject)
    folder = subject.primary.folder
    shown = next((name for name in HEADLINE_FIGURES if folder.figure(name).is_file()), None)
    if shown is None:
        spec = FIGURES_BY_NAME[HEADLINE_FIGURES[0]]
        doc.text(f"{spec.title}: missing — {figure_problem(subject, spec)}", color=BAD)
        return None
    spec = FIGURES_BY_NAME[shown]
    doc.image(folder.figure(shown), caption=spec.caption, title=f"Figure 1. {spec.title}", fit=True)
    return shown


def headline_table(doc: Document, subject: Subject) -> None:
    run = subject.primary
    if run.evaluation is None:
        doc.text(f"No evaluation results ({run.relative(run.folder.evaluation)}: {run.problem(run.folder.evaluation)};"
                 " run `remvae eval` on this run).", color=BAD)
        return
    rows = headline_rows(subject, run.reader)
    if not rows:
        doc.text("The evaluation holds none of the headline metrics; every metric is listed under Metrics.")
        return
    with_reference = any(row.reference != "—" for row in rows)
    columns = [Column(HEADER[0], 2.0), Column(HEADER[1], 0.95, "right"), Column(HEADER[2], 1.05),
               *([Column(HEADER[3], 0.75, "right")] if with_reference else []), Column(HEADER[4], 1.15),
               Column(HEADER[5], 1.65)]
    cells = [row.cells() if with_reference else row.cells()[:3] + row.cells()[4:] for row in rows]
    doc.table(columns, cells, size=7.5)
    legend = ("Accuracies vs true: the true class; vs judge: the class the judge sees in the real image. Baseline: "
              "what the value must beat (chance = 1/classes; the per-attribute majority answer) or the test captions' "
              "own score. PPL: perplexity under the data set's shipped caption language model. N: evaluated items and "
              "their split. Judge: the classifier (or caption LM) that scored the generations, with its accuracy on "
              "these items and on its own test set. Every metric is defined under Metrics.")
    if with_reference:
        legend += f" Reference: published by {CITATION} (judged by its own classifiers)."
    doc.text(legend, size=7.5, color=MUTED)


def figure_problem(subject: Subject, spec: FigureSpec) -> str:
    run = subject.primary
    manifest = (run.figure_manifest or {}).get("figures") or {}
    entry = manifest.get(spec.name) if isinstance(manifest.get(spec.name), dict) else {}
    return str(entry.get("reason") or f"{run.relative(run.folder.figure(spec.name))} not found (run `remvae visualize` "
                                      "on this run)")


def figures_section(doc: Document, subject: Subject, shown: str | None) -> None:
    """Every figure of the run but page 1's (and optional ones figures.json lists), then the training curves; the
    figures that are missing in one table at the end."""
    doc.heading("Figures")
    if subject.seeded:
        doc.text(f"The figures of seed {subject.seeds[0]} ({subject.primary.root}).", color=MUTED)
    run = subject.primary
    manifest = (run.figure_manifest or {}).get("figures") or {}
    optional = [spec for spec in OPTIONAL_FIGURES if (manifest.get(spec.name) or {}).get("status") == "written"]
    missing = []
    number = 0 if shown is None else 1
    for spec in (*FIGURES, *optional):
        if spec.name in (shown, *DRAWN_HERE):
            continue
        path = run.folder.figure(spec.name)
        if path.is_file():
            number += 1
            caption = (manifest.get(spec.name) or {}).get("caption") or spec.caption
            doc.image(path, caption=str(caption), title=f"Figure {number}. {spec.title}")
        else:
            missing.append((spec.title, figure_problem(subject, spec)))
    curves(doc, subject, number + 1)
    if missing:
        doc.heading("Missing figures", level=2)
        doc.table([Column("figure", 0), Column("why it is missing", 1)], missing)


def curves(doc: Document, subject: Subject, number: int) -> None:
    """The training curves with the validation curve, from metrics/train.jsonl and metrics/validation.jsonl."""
    curve_set = subject.curves()
    try:
        figure = curves_figure([curve_set], title="Training curves", width=8.0)
    except ValueError as error:
        run = subject.primary
        doc.heading("Training curves: missing", level=2)
        doc.text(f"{run.relative(run.folder.train_log)}: {run.problem(run.folder.train_log, str(error))}", color=BAD)
        return
    logged = sum(len(records) for records in curve_set.train)
    epochs = sum(len(records) for records in curve_set.validation)
    caption = (f"{logged} logged steps and {epochs} validation epochs"
               + (f" over {len(subject.runs)} seeds" if subject.seeded else "") + ". "
               + FIGURES_BY_NAME["training_curves"].caption)
    problems = [f"{name}: {why}" for run in subject.runs for name, why in run.problems.items()
                if name.endswith(".jsonl")]
    if problems:
        caption += f" ({'; '.join(problems)}.)"
    doc.image(png_bytes(figure), caption=caption, title=f"Figure {number}. Training curves")
