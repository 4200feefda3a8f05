"""The headline table of page 1: the experiment's key metrics, each with its N, split, judge and baseline.

A row is shown when the run has its metric. The baseline is what the value must beat or can reach:
chance (1/classes) for class accuracies and joint coherence, the per-attribute majority answer for
CelebA's attribute agreement, text → image's share of named attributes seen for CelebA's joint coherence, the test captions' own perplexity for generated captions, the test
captions' own scores for micro-F1. The reference's published value sits beside ours where its
Table 1 has one for the run's data set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remvae.report.references import TABLE_1, format_published, table_1_value
from remvae.report.subject import Subject
from remvae.report.values import format_share, format_value, judge_text

Baseline = Callable[[Subject, str], str]  # (subject, eval.json key of the row's evaluator) -> text


def class_count(subject: Subject, key: str) -> int | None:
    """How many classes the judge of ``key`` tells apart: its file's label names, else the per-class FIDs' count."""
    judge = subject.entry(key).get("judge")
    path = judge.get("path") if isinstance(judge, Mapping) else None
    if isinstance(path, str) and path.endswith(".json"):
        try:
            names = json.loads(Path(path).read_text(encoding="utf-8")).get("label_names")
        except (OSError, ValueError, AttributeError):
            names = None
        if isinstance(names, list) and names:
            return len(names)
    per_class = [name for name in subject.metric_names().get(key, []) if name.startswith("class_fid.")]
    return len(per_class) or None


def chance(subject: Subject, key: str) -> str:
    """``chance 10.00% (1/10)``, or ``chance 1/classes`` when the class count is unknown."""
    classes = class_count(subject, key)
    return f"chance {format_share(1 / classes)}" if classes else "chance 1/classes"


def from_metric(metric: str, label: str, share: bool) -> Baseline:
    """A baseline read from another metric of the same evaluator entry (e.g. the majority answer's accuracy)."""

    def baseline(subject: Subject, key: str) -> str:
        cell = subject.cell(key, metric)
        return "—" if cell.value is None else f"{label} {cell.format(percent=share)}"

    return baseline


def no_baseline(subject: Subject, key: str) -> str:
    return "—"


@dataclass(frozen=True)
class Headline:
    """One headline metric: the registered evaluator and eval.json metric holding it, how to show it, its baseline."""

    label: str
    evaluator: str
    metric: str
    share: bool
    baseline: Baseline = no_baseline


def joint_baseline(subject: Subject, key: str) -> str:
    """Chance for class data; for attribute data (CelebA), the same share measured on faces generated from test
    captions (the named attributes the judge sees), which joint generation is held to."""
    if "text_to_image_attribute_accuracy" in subject.metric_names().get(key, []):
        return from_metric("text_to_image_recall_micro", "text → image", True)(subject, key)
    return chance(subject, key)


HEADLINES: tuple[Headline, ...] = (
    Headline("text → image accuracy", "cross_modal", "text_to_image_top1", True, chance),
    Headline("image → text accuracy vs true", "cross_modal", "image_to_text_vs_true", True, chance),
    Headline("image → text accuracy vs judge", "cross_modal", "image_to_text_vs_judge", True, chance),
    Headline("text → image attribute agreement", "cross_modal", "text_to_image_attribute_accuracy", True,
             from_metric("majority_attribute_accuracy", "majority", True)),
    Headline("image → text attributes, micro-F1", "cross_modal", "image_to_text_f1_micro", True,
             from_metric("reference_captions_f1_micro", "test captions", True)),
    Headline("text → image attributes, micro-F1", "cross_modal", "text_to_image_f1_micro", True,
             from_metric("reference_judge_f1_micro", "real images", True)),
    Headline("joint coherence (prior samples)", "cross_modal", "joint_coherence", True, joint_baseline),
    Headline("text exact match (reconstruction)", "reconstruction", "text_exact_match", True),
    Headline("image → text caption PPL", "caption_perplexity", "image_to_text_perplexity", False,
             from_metric("original_perplexity", "test captions", False)),
    Headline("judge FID: reconstructions", "judge_fid", "reconstruction_fid", False),
    Headline("judge FID: text → image", "judge_fid", "text_to_image_fid", False),
    Headline("judge FID: prior samples", "judge_fid", "prior_fid", False),
)


@dataclass(frozen=True)
class HeadlineRow:
    label: str
    value: str
    baseline: str
    reference: str
    n: str
    judge: str
    key: str  # the eval.json key the value comes from

    def cells(self) -> tuple[str, ...]:
        return (self.label, self.value, self.baseline, self.reference, self.n, self.judge)


HEADER = ("metric", "value", "baseline", "reference", "N · split", "judge: accuracy here / own test")


def headline_rows(subject: Subject, reader: str | None) -> list[HeadlineRow]:
    """A row for every headline metric the subject's evaluation holds, in :data:`HEADLINES` order."""
    rows = []
    for headline in HEADLINES:
        key = subject.key_of(headline.evaluator, headline.metric)
        if key is None:
            continue
        entry = subject.entry(key)
        rows.append(HeadlineRow(
            label=headline.label,
            value=subject.cell(key, headline.metric).format(percent=headline.share),
            baseline=headline.baseline(subject, key),
            reference=reference_value(headline, reader),
            n=sample_text(subject, entry),
            judge=judge_summary(entry.get("judge")),
            key=key,
        ))
    return rows


def reference_value(headline: Headline, reader: str | None) -> str:
    """The reference's Table 1 value of the headline's metric for ``reader``, or ``—``."""
    for row in TABLE_1:
        if headline.evaluator in row.evaluators and row.metric == headline.metric:
            value = table_1_value(row, reader)
            return "—" if value is None else format_published(value, row.share)
    return "—"


def sample_text(subject: Subject, entry: Mapping[str, Any]) -> str:
    """``1000 test`` for a run, ``1000 test × 3 seeds`` for a seed parent."""
    text = f"{format_value(entry.get('n'))} {entry.get('split') or 'test'}"
    return f"{text} × {len(subject.runs)} seeds" if subject.seeded else text


def judge_summary(judge: Any) -> str:
    """The judge that scored a metric, with its accuracy on the evaluated items and its own test accuracy."""
    if not isinstance(judge, Mapping):
        return "—"
    if "validation_perplexity" in judge:  # a caption language model
        return f"{judge.get('name') or 'caption LM'}: validation PPL {format_value(judge.get('validation_perplexity'))}"
    if judge.get("accuracy") is None and judge.get("test_accuracy") is None:
        return str(judge.get("name") or judge.get("path") or "unnamed")
    if judge.get("accuracy") is None:
        return judge_text(judge)
    own = judge.get("test_accuracy")
    return f"{judge.get('name') or 'judge'}: {format_share(judge['accuracy'])} / {format_share(own)}"
