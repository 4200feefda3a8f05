"""The report's appendix: the configuration as a difference from the defaults, the training run's details,
the stages' status and the environment."""

from __future__ import annotations

from pathlib import Path

from remvae.report.catalog import FIGURES
from remvae.report.configdiff import changed_settings, differing_settings
from remvae.report.layout import Column, Document
from remvae.report.runfolder import RunFiles, flatten
from remvae.report.style import BAD, MUTED
from remvae.report.subject import Subject
from remvae.report.values import format_duration, format_value

SUMMARY_FIELDS = (
    ("steps", "steps"), ("epochs", "epochs"), ("train_seconds", "training time (this session)"),
    ("total_train_seconds", "training time (all sessions)"), ("samples_per_s", "samples / s"),
    ("device", "device"), ("num_threads", "torch threads"), ("world_size", "processes"),
    ("precision", "precision"), ("final_loss", "final loss"), ("best_metric", "best checkpoint metric"),
    ("resumed_from_step", "resumed from step"),
)


def appendix(doc: Document, subject: Subject) -> None:
    doc.heading("Appendix")
    configuration(doc, subject)
    training(doc, subject.primary)
    doc.heading("Stages", level=2)
    doc.table([Column("stage", 0), Column("status", 0), Column("details", 1)], stage_rows(subject.primary))
    environment = subject.primary.environment
    if environment is not None:
        doc.heading("Environment", level=2)
        doc.table([Column("", 0), Column("", 1)],
                  [(key, format_value(value)) for key, value in flatten(environment).items()])


def configuration(doc: Document, subject: Subject) -> None:
    doc.heading("Configuration: what differs from the defaults", level=2)
    run = subject.primary
    config = run.config
    if config is None:
        doc.text(f"The resolved configuration is missing (config.json: {run.problem(run.folder.config)}).", color=BAD)
        return
    doc.text("Settings of config.json whose value differs from the default of its component's config class (component "
             "names always shown); config.json holds every setting.", color=MUTED)
    if subject.seeded:
        trained, other = differing_settings([r.config or {} for r in subject.runs])
        doc.text(f"The seed runs differ only in: {', '.join(trained + other) or 'nothing'} (values of the first "
                 "seed shown).", color=MUTED)
    doc.space(0.05)
    rows = [(setting.key, format_value(setting.value), format_value(setting.default) if setting.has_default else "—")
            for setting in changed_settings(config)]
    doc.table([Column("setting", 0), Column("value", 1), Column("default", 1)], rows)


def training(doc: Document, run: RunFiles) -> None:
    doc.heading("Training", level=2)
    summary = run.train_summary
    if summary is None:
        doc.text(f"Training summary missing — {problem_text(run, run.folder.train_summary)}", color=BAD)
        return
    rows = [(label, format_duration(summary[key]) if key.endswith("seconds") else format_value(summary[key]))
            for key, label in SUMMARY_FIELDS if key in summary]
    doc.table([Column("", 0), Column("", 1)], rows)


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
