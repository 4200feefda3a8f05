"""``report.pdf``: title and summary, configuration, training, figures, metrics and the reference's numbers.

Built with matplotlib's PdfPages (see :mod:`remvae.report.layout`): no dependency beyond the
plotting library the figures already use, the same Unicode-capable fonts in figures and text, and
the figures embedded pixel for pixel. Every section reads only files of the run folder; a stage
whose files are missing is reported as missing and the rest of the report is still written.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from remvae.core.runfolder import RunFolder, write_bytes
from remvae.report.catalog import FIGURES, FIGURES_BY_NAME
from remvae.report.figures.curves import curves_figure
from remvae.report.layout import Column, Document
from remvae.report.references import SOURCE, find_ours, references_for
from remvae.report.runfolder import RunFiles, flatten
from remvae.report.style import BAD, MUTED, png_bytes
from remvae.report.values import (
    config_rows,
    format_duration,
    format_share,
    format_value,
    judge_text,
    metric_items,
)

HEADLINE_PATTERNS = (
    r"(^|\.)text_to_image_top1$", r"(^|\.)image_to_text_vs_judge$", r"(^|\.)image_to_text_f1_micro$",
    r"(^|\.)text_to_image_attribute_accuracy$",
    r"(^|\.)joint_coherence$", r"(^|\.)text_exact_match$", r"^perplexity\.perplexity$", r"_fid$",
)
HEADLINE_COUNT = 6
SUMMARY_FIELDS = (
    ("steps", "steps"), ("epochs", "epochs"), ("train_seconds", "training time (this session)"),
    ("total_train_seconds", "training time (all sessions)"), ("samples_per_s", "samples / s"),
    ("device", "device"), ("num_threads", "torch threads"), ("world_size", "processes"),
    ("precision", "precision"), ("final_loss", "final loss"), ("best_metric", "best checkpoint metric"),
    ("resumed_from_step", "resumed from step"),
)


def write_report(run_dir: RunFolder | Path) -> Path:
    """Write the run's ``report.pdf`` from the run folder's files and return its path."""
    run = RunFiles(run_dir)
    buffer = io.BytesIO()
    with Document(buffer, footer=f"{run.name} · remvae report") as doc:
        title_page(doc, run)
        configuration_section(doc, run)
        training_section(doc, run)
        figures_section(doc, run)
        evaluation_section(doc, run)
    return write_bytes(run.folder.report, buffer.getvalue())


# Title page.


def title_page(doc: Document, run: RunFiles) -> None:
    config, environment = run.config or {}, run.environment or {}
    evaluation = run.evaluation or {}
    doc.new_page()
    doc.space(0.8)
    doc.heading(run.name, level=0)
    if config.get("description"):
        doc.text(str(config["description"]), color=MUTED)
    doc.space(0.2)
    packages = environment.get("packages") or {}
    rows = [
        ("report written", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("evaluated", format_value(evaluation.get("created"))),
        ("remvae version", format_value(packages.get("remvae") or evaluation.get("remvae_version"))),
        ("git commit", format_value(environment.get("git_commit"))),
        ("device", format_value(environment.get("device_name") or environment.get("device"))),
        ("data", format_value(run.reader)),
        ("model", model_text(config)),
        ("run folder", str(run.root.resolve())),
    ]
    doc.table([Column("", 0), Column("", 1)], rows)
    doc.heading("Summary", level=2)
    doc.text(summary_text(run))
    doc.heading("Stages", level=2)
    doc.table([Column("stage", 0), Column("status", 0), Column("details", 1)], stage_rows(run))


def model_text(config: dict[str, Any]) -> str:
    image, text = config.get("image") or {}, config.get("text") or {}
    if not image and not text:
        return "—"
    latent = config.get("latent_dim") or (image.get("config") or {}).get("latent_dim")
    return f"image VAE {image.get('name', '?')}, text VAE {text.get('name', '?')}, latent size {format_value(latent)}"


def headline_metrics(run: RunFiles) -> list[tuple[str, Any]]:
    """The most telling metrics of eval.json (cross-modal accuracy, exact match, perplexity, FID), in that order."""
    keys = {f"{e}.{m}": v for e, values in metric_items(run.evaluation).items() for m, v in values.items()}
    chosen: list[tuple[str, Any]] = []
    for pattern in HEADLINE_PATTERNS:
        for key, value in keys.items():
            if re.search(pattern, key) and key not in dict(chosen) and isinstance(value, (int, float)):
                chosen.append((key, value))
    return chosen[:HEADLINE_COUNT]


def summary_text(run: RunFiles) -> str:
    sentences = []
    summary = run.train_summary
    if summary:
        sentences.append(
            f"Trained for {format_value(summary.get('steps'))} steps ({format_value(summary.get('epochs'))} epochs) "
            f"in {format_duration(summary.get('total_train_seconds', summary.get('train_seconds')))} on "
            f"{format_value(summary.get('device'))} at {format_value(summary.get('samples_per_s'))} samples/s; "
            f"final training loss {format_value(summary.get('final_loss'))}."
        )
    else:
        sentences.append(f"Training results are missing (metrics/train_summary.json: "
                         f"{run.problem(run.folder.train_summary)}).")
    evaluation = run.evaluation
    if evaluation is None:
        sentences.append(f"No evaluation results (metrics/eval.json: {run.problem(run.folder.evaluation)}).")
    else:
        n_values = {entry.get("n") for entry in evaluation["evaluators"].values() if isinstance(entry, dict)}
        counts = ", ".join(str(n) for n in sorted(v for v in n_values if isinstance(v, int)))
        headline = headline_metrics(run)
        if headline:
            listed = "; ".join(f"{key} = {format_value(value)}" for key, value in headline)
            sentences.append(f"On {counts or 'the'} test items: {listed}.")
        else:
            sentences.append(f"{len(evaluation['evaluators'])} evaluator(s) ran; their metrics are listed below.")
        judges = [entry["judge"] for entry in evaluation["evaluators"].values()
                  if isinstance(entry, dict) and isinstance(entry.get("judge"), dict)]
        if judges:
            sentences.append(f"Generated images were judged by {judge_text(judges[0])}.")
        matched = [(ref, find_ours(ref, metric_items(evaluation))) for ref in references_for(run.reader)]
        compared = [f"{ref.measure} {present_reference_value(ref.measure, found[1])} (reference: {ref.published})"
                    for ref, found in matched if found is not None]
        if compared:
            sentences.append("Beside the reference's published numbers: " + "; ".join(compared) + ".")
    return " ".join(sentences)


def stage_rows(run: RunFiles) -> list[tuple[str, str, str]]:
    rows = []
    summary = run.train_summary
    checkpoints = [run.relative(folder) for folder in (run.folder.best, run.folder.last)
                   if (folder / "model.safetensors").is_file()]
    if summary is not None:
        detail = f"{format_value(summary.get('steps'))} steps; checkpoints: {', '.join(checkpoints) or 'none found'}"
        rows.append(("training", "complete", detail))
    else:
        rows.append(("training", "missing", problem_text(run, run.folder.train_summary, run.folder.train_log)))
    present = [spec for spec in FIGURES if run.folder.figure(spec.name).is_file()]
    absent = [spec.name for spec in FIGURES if spec not in present]
    status = "complete" if not absent else ("missing" if not present else "partial")
    rows.append(("figures", status, f"{len(present)} of {len(FIGURES)} figures"
                 + (f"; missing: {', '.join(absent)}" if absent else "")))
    evaluation = run.evaluation
    if evaluation is not None:
        rows.append(("evaluation", "complete", f"{len(evaluation['evaluators'])} evaluator(s): "
                     + ", ".join(evaluation["evaluators"])))
    else:
        rows.append(("evaluation", "missing", problem_text(run, run.folder.evaluation)))
    return rows


def problem_text(run: RunFiles, *files: Path) -> str:
    return "; ".join(f"{run.relative(path)}: {run.problem(path)}" for path in files)


def present_reference_value(measure: str, value: Any) -> str:
    return format_share(value) if "accuracy" in measure else format_value(value)


# Configuration and training.


def configuration_section(doc: Document, run: RunFiles) -> None:
    doc.new_page()
    doc.heading("Configuration")
    config = run.config
    if config is None:
        doc.text(f"The resolved configuration is missing (config.json: {run.problem(run.folder.config)}).", color=BAD)
        return
    doc.text("The resolved experiment (config.json): every setting with its default filled in.", color=MUTED)
    doc.space(0.08)
    doc.table([Column("setting", 0), Column("value", 1)], config_rows(config))


def training_section(doc: Document, run: RunFiles) -> None:
    doc.heading("Training")
    summary = run.train_summary
    if summary is None:
        doc.text("Training summary missing — " + problem_text(run, run.folder.train_summary), color=BAD)
    else:
        rows = [(label, format_duration(summary[key]) if key.endswith("seconds") else format_value(summary[key]))
                for key, label in SUMMARY_FIELDS if key in summary]
        doc.table([Column("", 0), Column("", 1)], rows)
    environment = run.environment
    if environment is not None:
        doc.heading("Environment", level=2)
        doc.table([Column("", 0), Column("", 1)],
                  [(key, format_value(value)) for key, value in flatten(environment).items()])
    records = run.train_records()
    try:
        figure = curves_figure({run.name: records}, title="Training curves", width=8.0)
    except ValueError as error:
        doc.heading("Training curves: missing", level=2)
        doc.text(problem_text(run, run.folder.train_log) if not records else f"{error}.", color=BAD)
        return
    caption = f"{len(records)} logged steps. {FIGURES_BY_NAME['training_curves'].caption}"
    if run.relative(run.folder.train_log) in run.problems:
        caption += f" (metrics/train.jsonl: {run.problem(run.folder.train_log)}.)"
    doc.image(png_bytes(figure), caption=caption, title="Training curves")


# Figures, metrics and the reference.


def figures_section(doc: Document, run: RunFiles) -> None:
    doc.new_page()
    doc.heading("Figures")
    manifest = (run.figure_manifest or {}).get("figures") or {}
    number = 0
    for spec in FIGURES:
        if spec.name == "training_curves":
            continue  # drawn from metrics/train.jsonl in the training section
        path = run.folder.figure(spec.name)
        if path.is_file():
            number += 1
            doc.image(path, caption=spec.caption, title=f"Figure {number}. {spec.title}")
        else:
            entry = manifest.get(spec.name) if isinstance(manifest.get(spec.name), dict) else {}
            reason = entry.get("reason") or f"{run.relative(path)} not found (run `remvae visualize` on this run)"
            doc.heading(f"{spec.title}: missing", level=2)
            doc.text(str(reason), color=BAD)


def evaluation_section(doc: Document, run: RunFiles) -> None:
    doc.new_page()
    doc.heading("Evaluation")
    evaluation = run.evaluation
    if evaluation is None:
        doc.text("Evaluation results missing — " + problem_text(run, run.folder.evaluation)
                 + " (run `remvae eval` on this run).", color=BAD)
    else:
        doc.text(f"Every metric of metrics/eval.json (written {format_value(evaluation.get('created'))} by remvae "
                 f"{format_value(evaluation.get('remvae_version'))}).", color=MUTED)
        metrics = metric_items(evaluation)
        for name, entry in evaluation["evaluators"].items():
            entry = entry if isinstance(entry, dict) else {}
            doc.heading(name, level=2)
            doc.text(f"N = {format_value(entry.get('n'))} test items · seed {format_value(entry.get('seed'))} · "
                     f"judge: {judge_text(entry.get('judge'))} · {format_duration(entry.get('seconds'))}",
                     color=MUTED)
            doc.space(0.05)
            doc.table([Column("metric", 0), Column("value", 1)],
                      [(key, format_value(value)) for key, value in metrics.get(name, {}).items()])
    reference_section(doc, run)


def reference_section(doc: Document, run: RunFiles) -> None:
    references = references_for(run.reader)
    if not references:
        return
    doc.heading("Beside the reference", level=2)
    doc.text(f"Published numbers from {SOURCE}, beside ours from metrics/eval.json (judged by this project's "
             "judges, whose own accuracies are listed with each evaluator above).", color=MUTED)
    metrics = metric_items(run.evaluation)
    rows = []
    for reference in references:
        found = find_ours(reference, metrics)
        ours = present_reference_value(reference.measure, found[1]) if found else "not evaluated"
        rows.append((reference.measure, reference.published, ours, found[0] if found else "—"))
    doc.table([Column("measure", 2), Column("reference", 1, "right"), Column("ours", 1, "right"),
               Column("our metric", 2.5)], rows)
