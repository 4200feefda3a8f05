"""``model.json``: which model family and which image and text architectures, with their configs.

It is what :func:`remvae.load` rebuilds a trained model from. Version 2 names the family; version 1
files (written before families existed: an aligned pair with a ``wrapper`` and an optional
``conditional_prior``) are read and converted on the fly, with their checkpoints' weight names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import Tensor

from remvae.core.config import validate_config
from remvae.core.model import MultimodalModel
from remvae.core.registry import ARCHITECTURES, MODELS
from remvae.core.runfolder import RunFolder, RunFolderError, read_json, write_json
from remvae.text.tokenizer import Tokenizer

FORMAT = "remvae-model"
VERSION = 2
V1_WEIGHT_NAMES = (("text.vae.", "text."), ("conditional_prior.", "prior_net."))
"""How version-1 checkpoints named the weights that version 2 names otherwise."""


@dataclass
class ModelSpec:
    """A model family and its parts, each ``(registered name, config)``; a part the family does not read is ``None``."""

    model: str
    model_config: dict[str, Any]
    image: str | None = None
    image_config: dict[str, Any] | None = None
    text: str | None = None
    text_config: dict[str, Any] | None = None
    source_version: int = VERSION

    def resolved(self) -> ModelSpec:
        """The same spec with every config validated and its defaults filled in."""
        model = validate_config(MODELS.get(self.model).config, self.model_config, where=f"model ({self.model})")
        parts = {}
        for slot, name, config in (("image", self.image, self.image_config), ("text", self.text, self.text_config)):
            parts[slot] = None if name is None else validate_config(
                ARCHITECTURES.get(name).config, config, where=f"{slot} ({name})"
            ).model_dump()
        return ModelSpec(self.model, model.model_dump(mode="json"), self.image, parts["image"], self.text,
                         parts["text"], self.source_version)

    def build(self, tokenizer: Tokenizer | None = None, seed: int | None = None) -> MultimodalModel:
        """The model with freshly initialised weights: drawn from ``seed`` when given (the global random state
        is left as it was), so the same spec and seed give the same first weights."""
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            image = None if self.image is None else ARCHITECTURES.build(self.image, self.image_config)
            text = None if self.text is None else ARCHITECTURES.build(self.text, self.text_config, tokenizer=tokenizer)
            return MODELS.build(self.model, self.model_config, image=image, text=text)

    def to_json(self) -> dict[str, Any]:
        spec = self.resolved()
        part = lambda name, config: None if name is None else {"name": name, "config": config}  # noqa: E731
        return {
            "format": FORMAT,
            "version": VERSION,
            "model": {"name": spec.model, "config": spec.model_config},
            "image": part(spec.image, spec.image_config),
            "text": part(spec.text, spec.text_config),
        }

    def save(self, run: RunFolder) -> None:
        """Write ``model.json`` (configs resolved) atomically; refuse to replace another model's description while
        the run holds checkpoints of that model."""
        document = self.to_json()
        if run.model_spec.is_file() and run.checkpoints.is_dir():
            try:
                existing = read_json(run.model_spec, "model description")
            except RunFolderError:
                existing = None
            if existing != document and any(run.checkpoints.iterdir()):
                raise RunFolderError(
                    f"{run.model_spec}: the run's checkpoints are of another model than this one; start over with "
                    "`remvae run ARGS --fresh` or train into a new run folder"
                )
        write_json(run.model_spec, document)

    @classmethod
    def load(cls, run: RunFolder) -> ModelSpec:
        """Read ``model.json`` (version 1 or 2); :class:`RunFolderError` naming the file when it cannot."""
        path = run.model_spec
        if not path.is_file():
            raise RunFolderError(f"{path}: not found; is {run.root} a trained run folder (train.py writes it)?")
        data = read_json(path, "model description")
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RunFolderError(f"{path}: not a remvae model description (format {FORMAT!r} expected)")
        version = data.get("version")
        try:
            if version == 1:
                return _from_version_1(data, run)
            if version == VERSION:
                return cls(data["model"]["name"], data["model"]["config"], *_part(data["image"]), *_part(data["text"]))
        except (KeyError, TypeError):
            raise RunFolderError(f"{path}: needs a model entry and image/text entries with a name and a config") from None
        raise RunFolderError(f"{path}: version {version!r} is not supported (1 or {VERSION})")

    def upgrade_weights(self, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """A checkpoint's weights under the names this version's model uses."""
        if self.source_version != 1:
            return dict(state)
        renamed = {}
        for key, value in state.items():
            for old, new in V1_WEIGHT_NAMES:
                if key.startswith(old):
                    key = new + key[len(old):]
                    break
            renamed[key] = value
        return renamed


def _part(entry: Any) -> tuple[str | None, dict[str, Any] | None]:
    return (None, None) if entry is None else (entry["name"], entry["config"])


def _from_version_1(data: dict[str, Any], run: RunFolder) -> ModelSpec:
    """A version-1 aligned pair: the wrapper's fields move into the text config, the conditional prior and the
    alignment (read from the run's config.json when there) into the family's config."""
    wrapper = data.get("wrapper") or {}
    text_config = dict(data["text"]["config"])
    text_config["word_dropout"] = wrapper.get("word_dropout", 0.0)
    text_config["decoding"] = wrapper.get("mode", "teacher_forcing")
    model_config: dict[str, Any] = {"conditional_prior": data.get("conditional_prior")}
    try:
        config = run.recorded_config() or {}
    except RunFolderError:
        config = {}
    alignment = ((config.get("trainer") or {}).get("config") or {}).get("alignment")
    if isinstance(alignment, dict):
        model_config["alignment"] = alignment
    return ModelSpec("aligned", model_config, data["image"]["name"], data["image"]["config"],
                     data["text"]["name"], text_config, source_version=1)


__all__ = ["ModelSpec"]
