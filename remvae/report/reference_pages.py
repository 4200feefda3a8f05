"""Pages in the reference's own layout, its published numbers beside remvae's: Table 1 (MNIST and
Fashion-MNIST: accuracies and perplexities) and Table 2 (CelebA: FIDs), for runs on those data sets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remvae.report.layout import Column, Document
from remvae.report.references import (
    CITATION,
    TABLE_1,
    TABLE_1_NAMES,
    TABLE_1_RATIOS,
    TABLE_1_READERS,
    TABLE_2,
    TABLE_2_READERS,
    TEXT_NAMES,
    Table1Row,
    format_published,
    published_ratio,
)
from remvae.report.style import MUTED
from remvae.report.subject import Subject
from remvae.report.values import judge_text

PerplexityColumn = tuple[str, str]  # (header, eval.json key of a perplexity evaluator that measured)


def reference_pages(doc: Document, subject: Subject) -> None:
    """The page of each reference table the subject's data set belongs to (nothing for other data sets)."""
    reader = subject.primary.reader
    if reader in TABLE_1_READERS:
        table_1_page(doc, subject, reader)
    if reader in TABLE_2_READERS:
        table_2_page(doc, subject)


def perplexity_columns(subject: Subject) -> tuple[list[PerplexityColumn], list[str]]:
    """remvae's perplexity columns (the shipped caption LM, and GPT-2 when lm_perplexity ran with it) and notes on
    any language model that could not be loaded."""
    columns, notes = [], []
    names = subject.evaluator_names()
    for key, metrics in subject.metric_names().items():
        if names.get(key) == "caption_perplexity":
            judge = subject.entry(key).get("judge") or {}
            columns.append((f"remvae, caption LM {judge.get('name') or ''}".strip(), key))
        elif names.get(key) == "lm_perplexity":
            available = [m.get(key, {}).get("available") for m in subject.metrics]
            if all(flag is True for flag in available if flag is not None) and "original_perplexity" in metrics:
                columns.append((f"remvae, {(subject.entry(key).get('judge') or {}).get('name') or 'LM'}", key))
            else:
                reason = next((m[key].get("reason") for m in subject.metrics if m.get(key, {}).get("reason")), None)
                notes.append(f"{key} ran without its language model ({reason or 'not available'}), so there is no "
                             "GPT-2 column.")
    return columns, notes


def table_1_page(doc: Document, subject: Subject, reader: str) -> None:
    doc.new_page()
    doc.heading("Beside the reference: Table 1")
    columns, notes = perplexity_columns(subject)
    cross_modal = subject.key_of("cross_modal", "text_to_image_top1")
    judge = judge_text(subject.entry(cross_modal).get("judge")) if cross_modal else "none"
    doc.text(f"Published numbers of {CITATION}, its README's Table 1, beside this run's on "
             f"{TABLE_1_NAMES[reader]}.", color=MUTED)
    doc.text(f"Accuracies: the reference judged generated images and captions with its own classifiers; remvae's "
             f"judge is {judge}. Perplexities: the reference measured them with GPT-2; remvae measures them under "
             "its shipped caption LM (caption_perplexity), and under GPT-2 only when lm_perplexity could load it. A "
             "different language model makes absolute perplexities incomparable: compare the ratios to the "
             "original captions' perplexity in the last two rows. " + " ".join(notes))
    doc.space(0.05)
    ours = [name for name, _ in columns] or ["remvae"]
    header = [Column("measure", 1.6), *(Column(f"Re-MVAE {TABLE_1_NAMES[r]}", 1, "right") for r in TABLE_1_READERS),
              *(Column(f"{name} ({TABLE_1_NAMES[reader]})", 1.2, "right") for name in ours)]
    rows = [table_1_row(subject, row, columns) for row in TABLE_1]
    for label, caption_set in TABLE_1_RATIOS:
        published = [f"{published_ratio(r, caption_set):.3f}" for r in TABLE_1_READERS]
        mine = [subject.cell(key, f"{caption_set}_ratio_to_original").format(decimals=3) for _, key in columns]
        mine = mine or ["—"]
        rows.append((label, *published, *mine))
    doc.table(header, rows)


def table_1_row(subject: Subject, row: Table1Row, columns: list[PerplexityColumn]) -> tuple[str, ...]:
    published = [format_published(row.published[r], row.share) for r in TABLE_1_READERS]
    if row.share:
        key = subject.key_of(row.evaluators[0], row.metric)
        value = subject.cell(key, row.metric).format(percent=True) if key else "not evaluated"
        return (row.measure, *published, value, *(["—"] * (len(columns) - 1)))
    return (row.measure, *published, *([subject.cell(key, row.metric).format() for _, key in columns] or ["—"]))


def table_2_page(doc: Document, subject: Subject) -> None:
    doc.new_page()
    doc.heading("Beside the reference: Table 2")
    config = subject.primary.config or {}
    text = (config.get("text") or {}).get("name")
    size = config.get("image_size") or ((config.get("image") or {}).get("config") or {}).get("image_size")
    doc.text(f"Published numbers of {CITATION}, its README's Table 2: CelebA FIDs of reconstructions, of generated "
             "images and their difference (generation − reconstruction), per text architecture and image size; "
             "configurations whose numbers the README does not give are marked not given.", color=MUTED)
    doc.text("remvae's generations are its prior samples; its FIDs are measured in the judge's features (judge_fid) "
             "and in Inception features when the fid evaluator ran. The reference's feature network is not the "
             "judge's, so absolute FIDs do not compare across the two: read the difference column, which says how "
             "much worse generations are than reconstructions.")
    doc.space(0.05)
    rows = []
    for row in TABLE_2:
        mark = "  ◀ this run's configuration" if (row.text, row.image_size) == (text, size) else ""
        rows.append((row.label + mark, format_published(row.reconstruction), format_published(row.generation),
                     format_published(row.difference)))
    label = f"{TEXT_NAMES.get(str(text), text)} {size}×{size}"
    for evaluator, features in (("judge_fid", "judge features"), ("fid", "Inception features")):
        key = subject.key_of(evaluator, "reconstruction_fid")
        if key is not None:
            rows.append((f"remvae, this run ({label}), {features}", subject.cell(key, "reconstruction_fid").format(),
                         subject.cell(key, "prior_fid").format(), subject.derived(key, difference).format()))
    doc.table([Column("configuration", 2.2), Column("reconstruction FID", 1, "right"),
               Column("generation FID", 1, "right"), Column("difference", 1, "right")], rows)


def difference(metrics: Mapping[str, Any]) -> float | None:
    """Generation (prior-sample) FID minus reconstruction FID of one run."""
    generation, reconstruction = metrics.get("prior_fid"), metrics.get("reconstruction_fid")
    if not isinstance(generation, (int, float)) or not isinstance(reconstruction, (int, float)):
        return None
    return float(generation) - float(reconstruction)
