"""args.json files written for remvae 0.1 (before model families): recognising them, and rewriting them.

0.1 kept the loss weights as ``trainer.config.w_*``, the alignment loss in the trainer, the text VAE's
training mode in a top-level ``wrapper`` and the conditional prior at the top level. Validation names
each moved key with its new place; :func:`upgrade` (``remvae upgrade ARGS``) rewrites a file.
"""

from __future__ import annotations

import copy
from typing import Any

WEIGHT_NAMES = {
    "w_img": "image_reconstruction",
    "w_txt": "text_reconstruction",
    "w_kl_img": "image_kl",
    "w_kl_txt": "text_kl",
    "w_align": "alignment",
    "w_img_from_txt": "image_from_text",
    "w_txt_from_img": "text_from_image",
    "w_conditional_prior": "conditional_prior",
}
WRAPPER_FIELDS = {"word_dropout": "word_dropout", "mode": "decoding"}
HINT = "`remvae upgrade ARGS` rewrites the file"


def _trainer_config(data: dict[str, Any]) -> dict[str, Any] | None:
    trainer = data.get("trainer")
    config = trainer.get("config") if isinstance(trainer, dict) else None
    return config if isinstance(config, dict) else None


def is_legacy(data: Any) -> bool:
    """Whether a parsed args.json uses any 0.1 key."""
    if not isinstance(data, dict):
        return False
    config = _trainer_config(data) or {}
    return "wrapper" in data or "conditional_prior" in data or "alignment" in config or bool(set(config) & set(WEIGHT_NAMES))


def legacy_problems(data: dict[str, Any]) -> list[str]:
    """One line per 0.1 key of ``data`` (a prepared copy), naming its new place; the keys are removed from ``data``."""
    problems = []
    if "wrapper" in data:
        del data["wrapper"]
        problems.append(f"wrapper: moved: its word_dropout and mode are now text.config.word_dropout and "
                        f"text.config.decoding ({HINT})")
    if "conditional_prior" in data:
        del data["conditional_prior"]
        problems.append(f"conditional_prior: moved to model.config.conditional_prior ({HINT})")
    config = _trainer_config(data) or {}
    if "alignment" in config:
        del config["alignment"]
        problems.append(f"trainer.config.alignment: moved to model.config.alignment ({HINT})")
    for old, new in WEIGHT_NAMES.items():
        if old in config:
            del config[old]
            problems.append(f"trainer.config.{old}: renamed to trainer.config.weights.{new} ({HINT})")
    return problems


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A 0.1 args.json rewritten in this version's form (other keys kept as they are, in their order)."""
    data = copy.deepcopy(data)
    model = data.setdefault("model", {"name": "aligned"})
    model_config = model.setdefault("config", {})
    wrapper = data.pop("wrapper", None) or {}
    if wrapper and isinstance(data.get("text"), dict):
        text_config = data["text"].setdefault("config", {})
        for old, new in WRAPPER_FIELDS.items():
            if old in wrapper:
                text_config[new] = wrapper[old]
    if "conditional_prior" in data:
        model_config["conditional_prior"] = data.pop("conditional_prior")
    config = _trainer_config(data)
    if config is not None:
        if "alignment" in config:
            model_config["alignment"] = config.pop("alignment")
        weights = {new: config.pop(old) for old, new in WEIGHT_NAMES.items() if old in config}
        if weights:
            config["weights"] = {**weights, **config.get("weights", {})}
    if not model_config:
        del model["config"]
    return _model_after_reader(data)


def _model_after_reader(data: dict[str, Any]) -> dict[str, Any]:
    """The same document with ``model`` placed right after ``reader``, where a reader looks for it."""
    if "model" not in data or "reader" not in data:
        return data
    ordered: dict[str, Any] = {}
    for key, value in data.items():
        if key != "model":
            ordered[key] = value
        if key == "reader":
            ordered["model"] = data["model"]
    return ordered


__all__ = ["WEIGHT_NAMES", "is_legacy", "legacy_problems", "upgrade"]
