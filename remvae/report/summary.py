"""Sentences that say what was trained, which checkpoint the numbers come from and why, and which prior drew
the prior samples, from config.json, metrics/train_summary.json and metrics/eval.json."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remvae.report.subject import Subject
from remvae.report.values import format_duration, format_value

PRIORS = {
    "standard_normal": "the standard normal N(0, I)",
    "gmm": "a Gaussian mixture fitted to the training latents after training (the run's learned prior)",
    "maf": "a masked autoregressive flow fitted to the training latents after training (the run's learned prior)",
    "vamp": "the VampPrior learned with the model (a mixture of the posteriors of learned pseudo-images)",
}


def component(config: Mapping[str, Any], slot: str) -> str | None:
    item = config.get(slot)
    return str(item["name"]) if isinstance(item, Mapping) and item.get("name") else None


def model_text(config: Mapping[str, Any]) -> str:
    """``family aligned: image VAE conv, text VAE gru, latent size 32`` (``—`` without a model)."""
    image, text = component(config, "image"), component(config, "text")
    if not image and not text:
        return "—"
    image_config = (config.get("image") or {}).get("config") or {}
    latent = config.get("latent_dim") or image_config.get("latent_dim")
    family = component(config, "model") or "aligned"
    return f"family {family}: image VAE {image or '—'}, text VAE {text or '—'}, latent size {format_value(latent)}"


def trained_text(subject: Subject) -> str:
    """What was trained, on what and for how long."""
    run = subject.primary
    config = run.config or {}
    if not config:
        return f"What was trained is unknown (config.json: {run.problem(run.folder.config)})."
    data = config.get("data") or {}
    sizes = ", ".join(f"{label} {format_value(data.get(key))}" for key, label in
                      (("train_length", "train"), ("validation_length", "validation"), ("test_length", "test"))
                      if data.get(key) is not None)
    trainer = config.get("trainer") or {}
    epochs = (trainer.get("config") or {}).get("epochs")
    text = (f"Trained: {model_text(config)}; data {run.reader or '—'}" + (f" ({sizes} items)" if sizes else "")
            + f"; trainer {trainer.get('name', '—')} for {format_value(epochs)} epochs")
    summary = run.train_summary
    if summary:
        text += (f" ({format_value(summary.get('steps'))} steps, "
                 f"{format_duration(summary.get('total_train_seconds', summary.get('train_seconds')))} on "
                 f"{format_value(summary.get('device'))})")
    return text + "."


def checkpoint_text(subject: Subject) -> str:
    """Which checkpoint was evaluated, and why that one: ``best = epoch 14 of 30 (lowest validation loss)``."""
    parts = []
    for run in subject.runs:
        checkpoint = (run.evaluation or {}).get("checkpoint")
        selection = (run.train_summary or {}).get("selection") or {}
        if not isinstance(checkpoint, Mapping):
            parts.append(None)
            continue
        name = checkpoint.get("name")
        of = selection.get("epochs") or (run.train_summary or {}).get("epochs")
        where = f"epoch {format_value(checkpoint.get('epoch'))} of {format_value(of)}"
        parts.append(f"{name} = {where}, step {format_value(checkpoint.get('step'))}")
    if all(part is None for part in parts):
        return "No checkpoint was evaluated yet (metrics/eval.json holds no checkpoint)."
    first = subject.primary
    selection = (first.train_summary or {}).get("selection") or {}
    checkpoint = (first.evaluation or {}).get("checkpoint") or {}
    why = reason(checkpoint.get("name"), selection)
    shown = parts[0] if not subject.seeded else "; ".join(
        f"seed {format_value(seed)}: {part or 'not evaluated'}" for seed, part in zip(subject.seeds, parts))
    sha = str(checkpoint.get("sha256") or "")[:12]
    return (f"Numbers from checkpoint {shown}{why}, evaluated once after training on the {split_of(subject)} split"
            + (f" (weights {sha})." if sha and not subject.seeded else "."))


def checkpoint_short(subject: Subject) -> str:
    """``best = epoch 16 of 30`` (``best = epochs 16, 14 of 30`` over seeds); ``—`` when nothing was evaluated."""
    checkpoints = [(run.evaluation or {}).get("checkpoint") or {} for run in subject.runs]
    epochs = [format_value(c.get("epoch")) for c in checkpoints if c]
    if not epochs:
        return "—"
    of = ((subject.primary.train_summary or {}).get("selection") or {}).get("epochs")
    plural = "s" if len(epochs) > 1 else ""
    return f"{checkpoints[0].get('name')} = epoch{plural} {', '.join(epochs)} of {format_value(of)}"


def reason(name: Any, selection: Mapping[str, Any]) -> str:
    """Why this checkpoint: the selection rule train_summary records."""
    if name == "best" and selection:
        metric = selection.get("metric") or "the selection metric"
        stopped = "; training stopped early" if selection.get("stopped_early") else ""
        return f" (lowest {metric} on the {selection.get('split', '?')} split{stopped})"
    if name == "last":
        return " (the end of training)"
    return ""


def split_of(subject: Subject) -> str:
    splits = {entry.get("split") for run in subject.runs
              for entry in ((run.evaluation or {}).get("evaluators") or {}).values() if isinstance(entry, Mapping)}
    return ", ".join(sorted(str(s) for s in splits if s)) or "test"


def prior_text(subject: Subject) -> str:
    """Which prior drew the prior samples (joint coherence, prior FID, the prior-samples figure)."""
    names = sorted({str(run.evaluation.get("prior")) for run in subject.runs
                    if run.evaluation is not None and run.evaluation.get("prior")})
    if not names:
        return ""
    described = "; ".join(f"{name}, {PRIORS.get(name, 'a prior registered by a plugin')}" for name in names)
    return f"Prior samples (joint coherence, prior FID, prior-sample figure) are drawn from {described}."


def seeds_text(subject: Subject) -> str:
    """How a seed parent's numbers are made (empty for a plain run)."""
    if not subject.seeded:
        return ""
    return (f"Every number is the mean ± the 95% confidence interval (Student t) over {subject.describe_seeds()}; "
            "each seed is a complete run in seeds/seed-<k>/, and the figures are those of the first seed.")
