"""What an evaluator's raw values mean for this run, in a sentence or two beside its table.

The glossary (:mod:`remvae.report.glossary`) defines each metric in general; a note reads the run's own
values: how large the intrinsic perplexity's KL is, how much closer paired posteriors are than random
pairs, how joint coherence compares with chance, what the probe was fitted on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from remvae.report.values import format_share, format_value

Values = Mapping[str, float | None]  # the evaluator's metrics (means over seeds for a seed parent)
Note = Callable[[Values, "int | None", "int | None"], list[str]]  # (values, classes, evaluated items)


def _get(values: Values, name: str) -> float | None:
    value = values.get(name)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def intrinsic_perplexity(values: Values, classes: int | None, n: int | None) -> list[str]:
    kl, tokens = _get(values, "kl"), _get(values, "tokens")
    perplexity, reconstruction = _get(values, "perplexity"), _get(values, "reconstruction")
    if kl is None or perplexity is None:
        return []
    per_caption = f" over {tokens / n:.1f} tokens per caption" if tokens and n else ""
    return [(f"Intrinsic perplexity {format_value(perplexity)}: the text VAE's own log p(x) includes what each "
             f"caption's posterior costs under the prior, here a KL of {kl:.1f} nats per caption{per_caption}, "
             f"while decoding a caption from its own posterior costs {format_value(reconstruction)} nats. A large "
             "value therefore means an informative latent, not bad captions: it compares between runs of the same "
             "data, never with a language model's perplexity (see caption_perplexity for that).")]


def latent_space(values: Values, classes: int | None, n: int | None) -> list[str]:
    notes = []
    ratio = _get(values, "distance_ratio")
    if ratio is not None and ratio > 0:
        notes.append(f"distance_ratio {ratio:.3f}: a caption's posterior lies {1 / ratio:.1f}× closer to its own "
                     "image's than to a random image's (1 = no alignment, 0 = paired posteriors coincide).")
    fitted = values.get("probe_fitted_on_train_set")
    if fitted is not None:
        notes.append("The linear probes were fitted on train-set posterior means and scored on the test items."
                     if fitted else "No train set was available: the linear probes were fitted on half of the "
                     "evaluated items and scored on the other half, so their accuracy is noisier.")
    return notes


def cross_modal(values: Values, classes: int | None, n: int | None) -> list[str]:
    notes = []
    coherence, named = _get(values, "joint_coherence"), _get(values, "image_to_text_named")
    if coherence is not None and classes and _get(values, "text_to_image_attribute_accuracy") is None:
        notes.append(f"Joint coherence {format_share(coherence)} against a chance level of {format_share(1 / classes)} "
                     f"(1 of {classes} classes): prior samples whose image and caption agree.")
    recall = _get(values, "text_to_image_recall_micro")
    if coherence is not None and recall is not None and _get(values, "text_to_image_attribute_accuracy") is not None:
        notes.append(f"Joint coherence {format_share(coherence)}: of the attributes prior captions name, the share the "
                     f"judge sees on the paired prior faces; faces generated from test captions show "
                     f"{format_share(recall)} of theirs, so joint generation is {abs(coherence - recall) * 100:.1f} "
                     f"points {'below' if coherence < recall else 'above'} translation on the same measure.")
    if named is not None and named < 1:
        notes.append(f"{format_share(1 - named)} of the captions generated from images name no single class; both "
                     "image → text accuracies count them as wrong.")
    agreement, majority = _get(values, "text_to_image_attribute_accuracy"), _get(values, "majority_attribute_accuracy")
    if agreement is not None and majority is not None:
        notes.append(f"Attribute agreement {format_share(agreement)} against {format_share(majority)} for always "
                     "answering each attribute's more frequent value: only the difference is the model's doing.")
    return notes


def caption_perplexity(values: Values, classes: int | None, n: int | None) -> list[str]:
    ratios = [(name, _get(values, f"{name}_ratio_to_original")) for name in ("reconstruction", "image_to_text")]
    shown = [f"{name.replace('_', ' ')} ×{ratio:.3f}" for name, ratio in ratios if ratio is not None]
    if values.get("available") is False:
        reason = str(values.get("reason") or "no reason recorded").rstrip(".")
        return [f"The language model was not available: {reason}."]
    if not shown:
        return []
    return ["Perplexities relative to the test captions' own: " + ", ".join(shown) + " (1 = as fluent as the test "
            "captions; the ratio, not the absolute value, compares with other language models)."]


NOTES: dict[str, Note] = {
    "perplexity": intrinsic_perplexity,
    "latent": latent_space,
    "cross_modal": cross_modal,
    "caption_perplexity": caption_perplexity,
    "lm_perplexity": caption_perplexity,
}


def notes_for(evaluator: str, values: Values, classes: int | None, n: int | None) -> list[str]:
    """The notes on the values of the registered evaluator ``evaluator`` (none for evaluators without notes)."""
    note = NOTES.get(evaluator)
    return note(values, classes, n) if note else []
