"""A small caption language model shipped as an offline judge of caption likelihood (GPT-2's stand-in).

A :class:`CaptionLM` is a causal word-level LSTM over its own :class:`~remvae.text.tokenizer.Tokenizer`
(fitted on a data set's training captions). A caption ``w_1 .. w_n`` is scored as the sequence
``<bos> w_1 .. w_n <eos>``: with ``w_0 = <bos>`` and ``w_{n+1} = <eos>``,

    NLL(caption) = -sum_{t=1}^{n+1} log p(w_t | w_0 .. w_{t-1}),   T(caption) = n + 1 tokens,
    perplexity(captions) = exp(sum NLL / sum T),

the convention of :func:`remvae.playground.evaluators.perplexity.lm_token_nll` for Hugging Face LMs.

Files, found like the image judges (:func:`~remvae.playground.evaluators.judges.store.search_dirs`):
``NAME.safetensors`` (weights in fp16) and ``NAME.json`` (``"format": "remvae-caption-lm"``, version 1,
the model config, the vocabulary and how the LM was trained and how good it is on held-out captions).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from remvae.core.config import ComponentConfig, format_validation_error
from remvae.playground.evaluators.judges.judge import JudgeError
from remvae.playground.evaluators.judges.store import (
    find_record,
    read_record,
    save_weights_and_record,
)
from remvae.text.batch import TextBatch
from remvae.text.tokenizer import Tokenizer, TokenizerError

FORMAT = "remvae-caption-lm"
VERSION = 1


class CaptionLMError(JudgeError):
    """A caption LM that cannot be found, loaded or used; the message names the file and says why."""


class CaptionLMConfig(ComponentConfig):
    """Sizes of a :class:`CaptionLM` (the vocabulary comes from its tokenizer)."""

    embedding_dim: int = Field(32, ge=1, description="word embedding size")
    hidden_dim: int = Field(64, ge=1, description="LSTM state size")
    layers: int = Field(1, ge=1, le=4, description="stacked LSTM layers")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout of the embeddings, between layers, before the output")


class CaptionLMInfo(BaseModel):
    """Where a saved caption LM came from and how good it is (the JSON file's fields besides the model).

    ``validation_perplexity`` is measured with the saved (fp16) weights on ``validation_n`` captions
    held out of the training split; ``epochs`` were run and ``best_epoch`` is the one kept.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    validation_perplexity: float = Field(gt=0)
    validation_n: int = Field(ge=1)
    train_n: int = Field(ge=1)
    epochs: int = Field(ge=1)
    best_epoch: int = Field(ge=1)
    seed: int
    seconds: float = Field(ge=0)
    training: dict[str, Any] = Field(default_factory=dict, description="the training config used")
    captions: list[dict[str, Any]] = Field(
        default_factory=lambda: [{}],
        description="the reader options of each caption setting trained on ({}: the reader's defaults)",
    )
    path: str | None = Field(None, exclude=True, description="the JSON file, once saved or loaded")


class CaptionLM(nn.Module):
    """Causal word-level LSTM language model of captions: ``forward`` gives next-word logits at every position.

    An LSTM fits this job: the captions are short (at most ~20 words) sentences of small template
    grammars over fewer than 100 words, which a one-layer LSTM of a few tens of thousands of weights
    learns to near their entropy in CPU minutes, with no position limit and nothing to gain from attention.

    Unknown words: a word outside the tokenizer's vocabulary is one ``<unk>`` token, scored by the
    probability the model gives ``<unk>``. No training caption contains ``<unk>`` (the vocabulary holds
    every training word), so that probability is tiny and each unknown word adds a large NLL (with the
    shipped LMs, 9-11 nats more than a known word in its place): captions that leave the data's vocabulary
    are judged unlikely, as they should be. (A literal ``"<unk>"`` in a caption is split by the tokenizer
    into ``<``, ``unk``, ``>``: three unknown tokens.)
    """

    def __init__(self, tokenizer: Tokenizer, config: CaptionLMConfig | None = None) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.config = config if config is not None else CaptionLMConfig()
        self.info: CaptionLMInfo | None = None
        vocab, c = len(tokenizer), self.config
        self.embedding = nn.Embedding(vocab, c.embedding_dim, padding_idx=tokenizer.pad_id)
        between = c.dropout if c.layers > 1 else 0.0
        self.lstm = nn.LSTM(c.embedding_dim, c.hidden_dim, num_layers=c.layers, batch_first=True, dropout=between)
        self.dropout = nn.Dropout(c.dropout)
        self.output = nn.Linear(c.hidden_dim, vocab)

    def forward(self, tokens: Tensor) -> Tensor:
        """Logits ``[B, T, V]`` of the word after each of ``tokens [B, T]``."""
        states, _ = self.lstm(self.dropout(self.embedding(tokens)))
        return self.output(self.dropout(states))

    def sequence_nll(self, batch: TextBatch) -> Tensor:
        """Per caption ``[B]``: -sum_t log p(w_t | w_<t) over the tokens after ``<bos>`` up to ``<eos>`` included."""
        tokens = batch.tokens.to(self.output.weight.device)
        targets = tokens[:, 1:]
        logits = self(tokens[:, :-1])
        nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        scored = torch.arange(targets.shape[1], device=tokens.device) < (batch.lengths.to(tokens.device) - 1)[:, None]
        return (nll * scored).sum(1)

    @torch.no_grad()
    def caption_nll(self, captions: list[str], batch_size: int = 512) -> tuple[Tensor, Tensor]:
        """Per caption (eval mode): the summed NLL ``[N]`` (float64) and the number of scored tokens ``[N]``."""
        was_training = self.training
        self.eval()
        try:
            nll, tokens = [], []
            for start in range(0, len(captions), batch_size):
                batch = self.tokenizer.encode_batch(captions[start : start + batch_size])
                nll.append(self.sequence_nll(batch).double().cpu())
                tokens.append(batch.lengths - 1)
            return torch.cat(nll), torch.cat(tokens)
        finally:
            self.train(was_training)

    def token_nll(self, captions: list[str], batch_size: int = 512) -> tuple[float, int]:
        """Summed NLL (nats) of ``captions`` and the number of scored tokens (words + one ``<eos>`` each)."""
        nll, tokens = self.caption_nll(captions, batch_size)
        return float(nll.sum()), int(tokens.sum())

    def perplexity(self, captions: list[str]) -> float:
        """exp(summed token NLL / token count) of ``captions``."""
        if not captions:
            raise CaptionLMError("perplexity of no captions: give at least one")
        total, count = self.token_nll(captions)
        return math.exp(total / count)


def save_caption_lm(model: CaptionLM, info: CaptionLMInfo, out_dir: str | Path, name: str) -> CaptionLMInfo:
    """Write ``out_dir/name.safetensors`` (fp16) and ``out_dir/name.json`` atomically; return ``info`` with its path."""
    record = {
        "format": FORMAT,
        "version": VERSION,
        "dataset": info.dataset,
        "config": model.config.model_dump(),
        "vocabulary": model.tokenizer.itos,
        **info.model_dump(exclude={"dataset"}),
    }
    path = save_weights_and_record(model.state_dict(), record, out_dir, name)
    return info.model_copy(update={"path": str(path)})


def find_caption_lm(name_or_path: str | Path) -> Path:
    """The JSON file of a caption LM given as a ``.json``/``.safetensors`` path or a name (``mnist_lm``)."""
    return find_record(name_or_path, "caption LM", "*_lm.json", "train one with train_caption_lm or pass a path",
                       CaptionLMError)


def _read_record(json_path: Path) -> dict[str, Any]:
    return read_record(json_path, FORMAT, VERSION, "caption LM", CaptionLMError)


def _build(json_path: Path, record: dict[str, Any]) -> CaptionLM:
    """The (untrained) model the record describes, with its info."""
    fields = {k: v for k, v in record.items() if k not in ("format", "version", "config", "vocabulary")}
    try:
        config = CaptionLMConfig.model_validate(record.get("config"))
    except ValidationError as error:
        problems = "; ".join(format_validation_error(error, "config"))
        raise CaptionLMError(f"{json_path}: bad config: {problems}") from None
    try:
        info = CaptionLMInfo.model_validate({**fields, "path": str(json_path)})
    except ValidationError as error:
        raise CaptionLMError(f"{json_path}: bad metadata: {'; '.join(format_validation_error(error))}") from None
    vocabulary = record.get("vocabulary")
    try:
        if not isinstance(vocabulary, list):
            raise TokenizerError("'vocabulary' must be a list of words")
        tokenizer = Tokenizer([str(word) for word in vocabulary])
    except TokenizerError as error:
        raise CaptionLMError(f"{json_path}: bad vocabulary: {error}") from None
    model = CaptionLM(tokenizer, config)
    model.info = info
    return model


def load_caption_lm(name_or_path: str | Path, device: str | torch.device = "cpu") -> CaptionLM:
    """A saved caption LM (by name, searched as :func:`find_caption_lm` says, or path) in eval mode on ``device``."""
    json_path = find_caption_lm(name_or_path)
    model = _build(json_path, _read_record(json_path))
    weights = json_path.with_suffix(".safetensors")
    try:
        state = load_file(str(weights))
    except (OSError, SafetensorError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CaptionLMError(f"{weights}: cannot read caption LM weights ({reason})") from None
    try:
        model.load_state_dict({key: value.float() for key, value in state.items()})
    except RuntimeError as error:
        first = " ".join(str(error).strip().splitlines()[:2])
        raise CaptionLMError(f"{weights}: weights do not match the model in {json_path.name} ({first})") from None
    return model.to(device).eval()
