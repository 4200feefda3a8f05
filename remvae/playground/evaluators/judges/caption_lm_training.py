"""Training a data set's caption language model (:class:`CaptionLM`) on its training captions.

Loss per batch: the mean token NLL, sum_x NLL(x) / sum_x T(x) (see :mod:`.caption_lm`), minimised with
AdamW at a constant learning rate and the gradient norm clipped. A fixed share of the training split's
captions is held out for validation (never the test split); after every epoch their perplexity is
measured, training stops after ``patience`` epochs without a better one and the best epoch's weights are
kept. Those weights are rounded to fp16, as they are saved, and the validation perplexity recorded is
that of the rounded weights. Training runs on one thread under a forked RNG: a seed gives the same LM.
"""

from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from pydantic import Field

from remvae.core.config import ComponentConfig, validate_config
from remvae.core.registry import READERS
from remvae.playground.evaluators.judges.caption_lm import (
    CaptionLM,
    CaptionLMConfig,
    CaptionLMError,
    CaptionLMInfo,
    save_caption_lm,
)
from remvae.playground.evaluators.judges.store import default_judge_dir
from remvae.playground.evaluators.judges.training import reader_options
from remvae.text.tokenizer import Tokenizer

SPLIT_SEED = 0  # the validation captions are the same whatever the training seed
MAX_VALIDATION_SHARE = 0.2  # CelebA's 9,000 training captions would otherwise lose 5,000 to validation
READER_IMAGE_SIZE = 8  # only the captions are used; the smallest images a reader makes


class CaptionLMTrainingConfig(ComponentConfig):
    """How a caption LM is trained; the presets below reach a plateau in under a minute of one CPU thread."""

    epochs: int = Field(30, ge=1, description="most epochs; early stopping usually ends sooner")
    batch_size: int = Field(128, ge=1)
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    clip_norm: float = Field(1.0, gt=0, description="clip the global gradient norm to this value")
    patience: int = Field(3, ge=1, description="epochs without a better validation perplexity before stopping")
    min_improvement: float = Field(1e-3, ge=0, description="relative drop of the validation perplexity that counts")


PRESETS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # dataset: (model config, training config)
    "mnist": ({"embedding_dim": 16, "hidden_dim": 32}, {"epochs": 8, "batch_size": 256}),
    "fashion_mnist": ({"embedding_dim": 16, "hidden_dim": 32}, {"epochs": 8, "batch_size": 256}),
    "bundled_digits": ({"embedding_dim": 16, "hidden_dim": 32}, {"epochs": 12, "batch_size": 64}),
    "celeba": ({"embedding_dim": 32, "hidden_dim": 64}, {"epochs": 60, "patience": 5}),
}


CAPTION_SETTINGS: dict[str, tuple[dict[str, Any], ...]] = {
    # the reader options of every caption style the shipped experiments use (the reference's Table 2 configurations
    # name up to 3 CelebA attributes, remvae's CelebA defaults up to 8); a data set not listed: its reader's defaults
    "celeba": ({"attributes_per_caption": 3}, {"attributes_per_caption": 8}),
}


def caption_settings(dataset: str) -> tuple[dict[str, Any], ...]:
    """The reader options of each caption setting ``dataset``'s LM is trained on (``({},)``: the reader's defaults)."""
    return CAPTION_SETTINGS.get(dataset, ({},))


def training_captions(dataset: str, root: str | Path | None = None, setting: dict[str, Any] | None = None) -> list[str]:
    """The captions of ``dataset``'s training split, as its reader writes them with ``setting``'s options (by
    default, as it writes them by default)."""
    options = {**reader_options(dataset, root, True, READER_IMAGE_SIZE), **(setting or {})}
    return list(READERS.build(dataset, options).captions)


def caption_split(dataset: str, root: str | Path | None, validation_size: int) -> tuple[list[str], list[str]]:
    """``(train, validation)`` captions of every caption setting of ``dataset`` (:func:`caption_settings`): the
    same images are held out in each setting, so no face's captions are on both sides."""
    parts = [split_validation(training_captions(dataset, root, setting), validation_size)
             for setting in caption_settings(dataset)]
    return [c for train, _ in parts for c in train], [c for _, validation in parts for c in validation]


def split_validation(captions: list[str], validation_size: int) -> tuple[list[str], list[str]]:
    """``(train, validation)``: a seeded (``SPLIT_SEED``) random subset of ``validation_size`` captions held out,
    at most ``MAX_VALIDATION_SHARE`` of them; both keep the captions' order."""
    size = min(validation_size, int(MAX_VALIDATION_SHARE * len(captions)))
    if size < 1:
        raise CaptionLMError(f"validation_size: cannot hold out {validation_size} of {len(captions)} captions")
    held = set(np.random.default_rng(SPLIT_SEED).choice(len(captions), size=size, replace=False).tolist())
    return [c for i, c in enumerate(captions) if i not in held], [c for i, c in enumerate(captions) if i in held]


@contextmanager
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit_caption_lm(
    train: list[str],
    validation: list[str],
    model_config: CaptionLMConfig,
    config: CaptionLMTrainingConfig,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> tuple[CaptionLM, int, int]:
    """Train a :class:`CaptionLM` (tokenizer fitted on ``train``) with early stopping on ``validation``.

    Returns the model in eval mode with the best epoch's weights rounded to fp16, the epochs run and the best epoch.
    """
    tokenizer = Tokenizer.fit(train)
    batches = tokenizer.encode_batch(train)
    with _one_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        model = CaptionLM(tokenizer, model_config)
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        best_perplexity, best_state, best_epoch = float("inf"), copy.deepcopy(model.state_dict()), 0
        for epoch in range(1, config.epochs + 1):
            start = time.time()
            model.train()
            order = torch.randperm(len(train), generator=generator)
            for first in range(0, len(train), config.batch_size):
                batch = batches[order[first : first + config.batch_size]]
                loss = model.sequence_nll(batch).sum() / (batch.lengths - 1).sum()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
                optimizer.step()
            perplexity = model.perplexity(validation)
            log(f"epoch {epoch}/{config.epochs}: validation perplexity {perplexity:.4f} ({time.time() - start:.1f} s)")
            if perplexity < best_perplexity * (1 - config.min_improvement):
                best_perplexity, best_state, best_epoch = perplexity, copy.deepcopy(model.state_dict()), epoch
            elif epoch - best_epoch >= config.patience:
                break
    model.load_state_dict({key: value.half().float() for key, value in best_state.items()})
    return model.eval(), epoch, best_epoch


def train_caption_lm(
    dataset: str,
    root: str | None = None,
    out_dir: str | None = None,
    epochs: int | None = None,
    seed: int = 0,
    validation_size: int = 5000,
    *,
    log: Callable[[str], None] = print,
) -> CaptionLMInfo:
    """Train the caption LM of ``dataset`` (``mnist``, ``fashion_mnist``, ``celeba``, ``bundled_digits``) on
    its training captions and save it as ``out_dir/<dataset>_lm.{safetensors,json}``.

    ``root`` is the reader's data root; ``out_dir`` defaults to the first ``$REMVAE_JUDGES`` folder, else
    the user cache ``~/.cache/remvae/judges``; ``epochs`` overrides the preset's most epochs;
    ``validation_size`` captions (at most a fifth) of the training split are held out; a data set whose
    experiments write captions in several ways (:data:`CAPTION_SETTINGS`) is trained on each. Returns the saved
    LM's info (its ``path`` and ``validation_perplexity``).
    """
    if dataset not in PRESETS:
        raise CaptionLMError(f"dataset: no caption LM preset for {dataset!r}; one of {', '.join(sorted(PRESETS))}")
    model_options, training_options = PRESETS[dataset]
    model_config = validate_config(CaptionLMConfig, model_options, where="model")
    training = validate_config(
        CaptionLMTrainingConfig, {**training_options, **({"epochs": epochs} if epochs else {})}, where="training"
    )
    train, validation = caption_split(dataset, root, validation_size)
    log(f"training the {dataset} caption LM on {len(train)} captions, validating on {len(validation)}")
    start = time.time()
    model, epochs_run, best_epoch = fit_caption_lm(train, validation, model_config, training, seed, log)
    info = CaptionLMInfo(
        dataset=dataset,
        validation_perplexity=model.perplexity(validation),
        validation_n=len(validation),
        train_n=len(train),
        epochs=epochs_run,
        best_epoch=best_epoch,
        seed=seed,
        seconds=round(time.time() - start, 1),
        training=training.model_dump(),
        captions=list(caption_settings(dataset)),
    )
    info = save_caption_lm(model, info, out_dir if out_dir is not None else default_judge_dir(), f"{dataset}_lm")
    log(f"saved {info.path} (validation perplexity {info.validation_perplexity:.4f}, best epoch {best_epoch})")
    return info
