"""The evaluator interface, the context evaluators share, and the ``metrics/eval.json`` writer.

An :class:`Evaluator` turns an :class:`EvaluationContext` (model, tokenizer, test set, judge spec,
seed, sample limit) into a flat dict of metrics. Evaluators share expensive intermediate
results (posteriors, generations, the loaded judge) through :meth:`EvaluationContext.cached`, so
running several of them costs little more than running the most expensive one.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Mapping, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from remvae.core.data import ImageTextDataset
from remvae.core.model import LatentModel
from remvae.core.runfolder import write_bytes, write_json
from remvae.text.batch import TextBatch
from remvae.text.tokenizer import Tokenizer
from remvae.version import __version__

T = TypeVar("T")


class EvaluationError(ValueError):
    """An evaluation that cannot run as configured (missing judge, model or weights); one line saying why."""


@dataclass
class EvaluationContext:
    """Everything an evaluator reads.

    Attributes:
        model: the trained model (put in eval mode by :func:`run_evaluators`).
        tokenizer: the run's tokenizer.
        test_set: the items evaluated (the first ``limit`` of a seeded permutation when ``limit`` is set).
        train_set: optional; used by evaluators that fit something (the linear probe).
        validation_set: optional; used by evaluators that choose a setting (the transfer strength) before
            measuring on ``test_set``.
        split: which split ``test_set`` is (``test`` after training; ``validation`` while choosing).
        dataset: the reader name (``mnist``, ``fashion_mnist``, ``celeba``...): the default judge.
        judge: a judge name, a path, ``"hf:<model id or path>"``, a ``torch.nn.Module`` returning
            logits, or ``None`` for the data set's judge. Resolved lazily, once, by the evaluators.
        judge_info: ``{"name", "path", "test_accuracy", "accuracy", "split"}`` of the judge once resolved: its own
            test accuracy when it was trained, and its accuracy on the evaluated items of ``split``.
        device, seed, batch_size, limit: where, how reproducibly, how batched and on how many items.
        cache: intermediate results shared between evaluators (see :meth:`cached`).
        per_item: what the running evaluator scored per item (``[n]`` correctness, losses, ``[n, F]`` judge
            features), kept beside eval.json for paired tests between runs on the same items.
        fitted: what the running evaluator fitted on training or validation items that the model's API reuses
            (the transfer's content basis), stored in eval.json as the evaluator's ``fitted`` (nested lists).
    """

    model: LatentModel
    tokenizer: Tokenizer
    test_set: ImageTextDataset
    train_set: ImageTextDataset | None = None
    validation_set: ImageTextDataset | None = None
    split: str = "test"
    dataset: str | None = None
    judge: Any = None
    device: str | torch.device = "cpu"
    seed: int = 0
    batch_size: int = 500
    limit: int | None = None
    judge_info: dict[str, Any] | None = None
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    per_item: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    fitted: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise EvaluationError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.limit is not None and self.limit < 2:
            raise EvaluationError(f"limit must be at least 2 items, got {self.limit}")
        if len(self.test_set) < 2:
            raise EvaluationError(f"the test set has {len(self.test_set)} items; evaluation needs at least 2")
        self.device = torch.device(self.device)

    @property
    def n(self) -> int:
        """How many test items are evaluated."""
        return len(self.items)

    @property
    def items(self) -> ImageTextDataset:
        """The evaluated test items: all of them, or ``limit`` drawn by a permutation seeded with ``seed``."""

        def choose() -> ImageTextDataset:
            if self.limit is None or self.limit >= len(self.test_set):
                return self.test_set
            order = torch.randperm(len(self.test_set), generator=torch.Generator().manual_seed(self.seed))
            return self.test_set.subset(order[: self.limit].sort().values)

        return self.cached("items", choose)

    def cached(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` the first time ``key`` is asked for, the stored value afterwards."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    def generator(self, tag: str, device: str | torch.device = "cpu") -> torch.Generator:
        """A generator seeded from ``seed`` and ``tag``: the same draws in every run and every evaluator."""
        return torch.Generator(device=device).manual_seed(self.seed * 1_000_003 + zlib.crc32(tag.encode()))

    def slices(self, n: int | None = None) -> Iterator[slice]:
        """Consecutive batches ``slice(start, start + batch_size)`` covering ``n`` (default: ``self.n``) items."""
        total = self.n if n is None else n
        for start in range(0, total, self.batch_size):
            yield slice(start, min(start + self.batch_size, total))

    def images(self, index: slice) -> torch.Tensor:
        """Evaluated test images ``index`` as float [0, 1] on ``device``."""
        return self.items.images[index].to(self.device).float().div_(255.0)

    def text(self) -> TextBatch:
        """The evaluated captions, tokenized once (cut to the text VAE's ``max_length``)."""
        max_length = self.model.max_text_length
        return self.cached("text", lambda: self.tokenizer.encode_batch(self.items.captions, max_length))

    def text_batch(self, index: slice) -> TextBatch:
        return self.text()[index].to(self.device)


class Evaluator(ABC):
    """Computes metrics of a trained model on a test set.

    Subclasses set ``uses_judge`` when their numbers depend on the judge classifier, so that
    eval.json records the judge (name, path, own test accuracy) beside them.
    """

    uses_judge: ClassVar[bool] = False
    needs: ClassVar[frozenset[str]] = frozenset({"image", "text"})
    """The modalities a model must have for this evaluator (see :meth:`requirements`)."""

    @classmethod
    def requirements(cls, config: Any) -> frozenset[str]:
        """The modalities the evaluator needs under ``config`` (its ``needs`` unless the config changes them)."""
        return cls.needs

    @abstractmethod
    def evaluate(self, ctx: EvaluationContext) -> dict[str, Any]:
        """Metrics as a JSON-serialisable dict (numbers, or nested dicts of numbers)."""

    def judge_record(self, ctx: EvaluationContext) -> dict[str, Any] | None:
        """The model that judged this evaluator's outputs, for eval.json: the image judge by default."""
        return dict(ctx.judge_info) if self.uses_judge and ctx.judge_info else None


def run_evaluators(
    ctx: EvaluationContext,
    evaluators: Mapping[str, Evaluator],
    out_path: str | Path | None,
    log: Callable[[str], None] | None = None,
    checkpoint: Mapping[str, Any] | None = None,
    items_path: str | Path | None = None,
) -> dict[str, Any]:
    """Run ``evaluators`` in order (no grad, model in eval mode, seeded) and write their results.

    After each evaluator the results are merged into ``out_path`` (``metrics/eval.json``) and its per-item
    scores into ``items_path`` (safetensors, keys ``<evaluator key>/<name>``), each replaced atomically, so a
    failure later on keeps what was computed. Entries of evaluators not run now are kept when they were
    computed from the same ``checkpoint`` (its identity, recorded in the document), dropped otherwise.
    Returns the full eval.json document.
    """
    path = Path(out_path) if out_path is not None else None
    document = _read_existing(path) if path is not None else _empty_document()
    same_model = document.get("checkpoint") == (dict(checkpoint) if checkpoint is not None else None)
    if not same_model:
        document = _empty_document()
    document["checkpoint"] = dict(checkpoint) if checkpoint is not None else None
    document["prior"] = ctx.model.prior().name  # what drew every prior sample (joint coherence, prior FID)
    stored = _read_items(Path(items_path)) if items_path is not None and same_model else {}
    was_training = ctx.model.training
    ctx.model.eval()
    try:
        for name, evaluator in evaluators.items():
            torch.manual_seed(ctx.seed)
            ctx.per_item, ctx.fitted = {}, {}
            start = time.perf_counter()
            with torch.no_grad():
                metrics = evaluator.evaluate(ctx)
            seconds = time.perf_counter() - start
            stored = {key: value for key, value in stored.items() if not key.startswith(f"{name}/")}
            stored.update({f"{name}/{item}": value.detach().cpu().contiguous() for item, value in ctx.per_item.items()})
            document["evaluators"][name] = {
                "metrics": _jsonable(metrics),
                "split": ctx.split,
                "n": ctx.n,
                "seed": ctx.seed,
                "judge": with_judge_digest(evaluator.judge_record(ctx)),
                "config": _config_of(evaluator),
                "items": sorted(ctx.per_item),
                "seconds": round(seconds, 3),
            }
            if ctx.fitted:
                document["evaluators"][name]["fitted"] = {key: value.tolist() for key, value in ctx.fitted.items()}
            document["remvae_version"] = __version__
            document["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            if items_path is not None:
                write_bytes(Path(items_path), safetensors_bytes(stored, metadata={"checkpoint": json.dumps(checkpoint)}))
            if path is not None:
                write_json(path, document)
            if log is not None:
                log(f"{name}: {seconds:.1f} s")
    finally:
        ctx.model.train(was_training)
    if path is not None and not evaluators:  # records the checkpoint evaluated, so the stage counts as done
        document["remvae_version"] = __version__
        document["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_json(path, document)
    return document


def judge_digest(path: str | Path) -> str | None:
    """SHA-256 over a judge's files: its JSON record and, beside it, its ``.safetensors`` weights (``None``: the
    path names no file, e.g. a Hugging Face model id)."""
    record = Path(path)
    if not record.is_file():
        return None
    digest = hashlib.sha256(record.read_bytes())
    weights = record.with_suffix(".safetensors")
    if weights.is_file():
        digest.update(weights.read_bytes())
    return digest.hexdigest()


def with_judge_digest(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """The judge record with the digest of the files it names (``sha256``), so a re-trained judge is noticed."""
    path = (record or {}).get("path")
    digest = judge_digest(path) if isinstance(path, str) else None
    return record if digest is None else {**record, "sha256": digest}  # type: ignore[dict-item]


def judge_changed(record: Any) -> bool:
    """Whether the judge files an eval.json entry's ``judge`` record names are no longer those it was scored by
    (a record without a digest, from before digests were kept, counts as unchanged)."""
    if not isinstance(record, Mapping) or not isinstance(record.get("sha256"), str):
        return False
    path = record.get("path")
    return not isinstance(path, str) or judge_digest(path) != record["sha256"]


def _read_items(path: Path) -> dict[str, torch.Tensor]:
    """The per-item scores saved beside eval.json (nothing when absent or unreadable: they are recomputed)."""
    try:
        return load_file(str(path))
    except (OSError, SafetensorError):
        return {}


def read_items(path: str | Path) -> dict[str, torch.Tensor]:
    """``{"<evaluator key>/<name>": tensor}`` of a run's per-item scores (empty when it has none)."""
    return _read_items(Path(path))


def _empty_document() -> dict[str, Any]:
    return {"remvae_version": None, "created": None, "checkpoint": None, "prior": None, "evaluators": {}}


def _config_of(evaluator: Evaluator) -> dict[str, Any] | None:
    """The evaluator's resolved config, recorded so a changed config is recomputed."""
    config = getattr(evaluator, "config", None)
    return config.model_dump(mode="json") if hasattr(config, "model_dump") else None


def _read_existing(path: Path) -> dict[str, Any]:
    if not path.exists():
        return _empty_document()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise EvaluationError(
            f"{path}: existing eval results are unreadable ({error}); move or delete the file"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("evaluators"), dict):
        raise EvaluationError(f"{path}: not a remvae eval.json (no 'evaluators' object); move or delete the file")
    return document


def _jsonable(value: Any) -> Any:
    """Tensors and numpy scalars as Python numbers; NaN and infinities as ``None`` (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _jsonable(value.tolist())
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
