"""Turning a judge spec (name, path, ``hf:`` model, torch module) into a :class:`Judge` checked against the data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from remvae.core.evaluator import EvaluationContext
from remvae.playground.evaluators.judges.huggingface import load_hf_judge
from remvae.playground.evaluators.judges.judge import Judge, JudgeError
from remvae.playground.evaluators.judges.store import load_judge

# Data sets judged by another data set's judge (the bundled digits are MNIST digits).
JUDGE_OF_DATASET = {"bundled_digits": "mnist"}


def resolve_judge(spec: Any, local_files_only: bool = False) -> Judge:
    """A :class:`Judge` from a judge, a ``torch.nn.Module`` (logits), ``"hf:<id or path>"``, a Hugging Face
    model folder, a judge file path or a judge name (searched as :func:`~.store.search_dirs` says)."""
    if isinstance(spec, Judge):
        return spec
    if isinstance(spec, nn.Module):
        return Judge(spec, name=type(spec).__name__)
    if not isinstance(spec, (str, Path)):
        raise JudgeError(f"judge must be a name, a path, 'hf:<model>' or a torch module, got {type(spec).__name__}")
    text = str(spec)
    if text.startswith("hf:"):
        return load_hf_judge(text[3:], local_files_only=local_files_only)
    if (Path(text).expanduser() / "config.json").is_file():
        return load_hf_judge(text, local_files_only=True)
    return load_judge(text)


def check_judge(judge: Judge, label_names: list[str], multilabel: bool) -> None:
    """Refuse a judge whose outputs cannot be the data's labels (count, kind, or names when it has them)."""
    kind = "attributes" if multilabel else "classes"
    if judge.multilabel != multilabel:
        have = "multi-label" if judge.multilabel else "single-label"
        raise JudgeError(f"judge {judge.name!r} is {have} but the data has {len(label_names)} {kind}")
    if judge.label_names is not None:
        if [n.lower() for n in judge.label_names] != [n.lower() for n in label_names]:
            raise JudgeError(
                f"judge {judge.name!r} was trained on {judge.label_names[:4]}... but the data's {kind} are "
                f"{label_names[:4]}...; pick the judge of this data set"
            )


LABEL_CHECK_ITEMS = 512
"""Labelled items a judge classifies before it is trusted."""


def check_label_order(name: str, predicted: Tensor, labels: Tensor, label_names: list[str], margin: float = 0.1) -> None:
    """Refuse a single-label judge whose outputs are the data's classes in another order: on a labelled batch,
    the best assignment of outputs to classes (Hungarian algorithm on the confusion matrix) must not be a
    competent classifier (>= 50% right) beating the judge's own order by ``margin`` or more. A weak judge,
    whose best assignment is itself poor, is not refused by this check (its own accuracy is recorded)."""
    # Imported here, not with the module: scipy.optimize takes a third of a second to import.
    from scipy.optimize import linear_sum_assignment

    classes = len(label_names)
    confusion = torch.zeros(classes, classes, dtype=torch.long)
    confusion.index_put_((predicted, labels), torch.ones_like(labels), accumulate=True)
    rows, columns = linear_sum_assignment(confusion.numpy(), maximize=True)
    as_given = float(confusion.trace()) / len(labels)
    best = float(confusion.numpy()[rows, columns].sum()) / len(labels)
    if best >= 0.5 and best - as_given >= margin:
        swapped = [f"output {r} looks like {label_names[c]!r}" for r, c in zip(rows, columns) if r != c][:3]
        raise JudgeError(
            f"judge {name!r}: its outputs are not in the data's class order ({as_given:.0%} right as given, "
            f"{best:.0%} with another order: {'; '.join(swapped)}); give it the data's label order"
        )


def judge_for(ctx: EvaluationContext) -> Judge:
    """The context's judge (``ctx.judge``, else the judge named like ``ctx.dataset``), loaded once and cached."""

    def load() -> Judge:
        spec = ctx.judge if ctx.judge is not None else JUDGE_OF_DATASET.get(ctx.dataset or "", ctx.dataset)
        if spec is None:
            raise JudgeError("no judge: give one (a name, a path, 'hf:<model>' or a torch module) or the data set name")
        judge = resolve_judge(spec).to(ctx.device)
        items = ctx.items
        check_judge(judge, items.label_names, items.multilabel)
        batch = slice(0, min(LABEL_CHECK_ITEMS, ctx.n))
        logits = judge.logits(ctx.images(batch))
        if logits.shape[1] != len(items.label_names):
            raise JudgeError(
                f"judge {judge.name!r} gives {logits.shape[1]} outputs but the data has {len(items.label_names)} labels"
            )
        if not items.multilabel:
            check_label_order(judge.name, logits.argmax(1).cpu(), items.labels[batch].long(), items.label_names)
        ctx.judge_info = judge.info()
        return judge

    return ctx.cached("judge", load)
