"""A word-level tokenizer with a deterministic vocabulary, saved as JSON."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import torch

from remvae.text.batch import TextBatch

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
FORMAT = "remvae-word-tokenizer"
VERSION = 1

# Words keep inner hyphens/apostrophes ("t-shirt"); punctuation marks are tokens of their own.
_TOKEN = re.compile(r"[\w]+(?:[-'][\w]+)*|[^\w\s]")
_NO_SPACE_BEFORE = set(",.:;!?)%'")


class TokenizerError(ValueError):
    """A tokenizer file that cannot be read."""


class Tokenizer:
    """Lower-cased word-level tokenizer.

    Ids: ``<pad>=0 <bos>=1 <eos>=2 <unk>=3``, then words by decreasing frequency, ties broken
    alphabetically, so the same texts give the same ids in every process.
    """

    def __init__(self, words: Sequence[str]) -> None:
        if tuple(words[: len(SPECIALS)]) != SPECIALS:
            raise TokenizerError(f"a vocabulary must start with {list(SPECIALS)}")
        if len(set(words)) != len(words):
            raise TokenizerError("the vocabulary has repeated words")
        self.itos: list[str] = list(words)
        self.stoi: dict[str, int] = {word: i for i, word in enumerate(self.itos)}

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    @staticmethod
    def split(text: str) -> list[str]:
        return _TOKEN.findall(text.lower())

    @classmethod
    def fit(cls, texts: Iterable[str], min_count: int = 1) -> Tokenizer:
        counts = Counter(word for text in texts for word in cls.split(text))
        words = sorted((w for w, c in counts.items() if c >= min_count and w not in SPECIALS), key=lambda w: (-counts[w], w))
        return cls([*SPECIALS, *words])

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """``<bos> w1 .. wn <eos>`` as ids; unknown words become ``<unk>``."""
        return [self.bos_id, *(self.stoi.get(w, self.unk_id) for w in self.split(text)), self.eos_id]

    def encode_batch(self, texts: Sequence[str], max_length: int | None = None) -> TextBatch:
        """Padded ``[B, T]`` ids and lengths; sequences longer than ``max_length`` are cut (keeping ``<eos>``)."""
        encoded = [self.encode(t) for t in texts]
        if max_length is not None:
            encoded = [ids if len(ids) <= max_length else [*ids[: max_length - 1], self.eos_id] for ids in encoded]
        width = max((len(ids) for ids in encoded), default=2)
        tokens = torch.full((len(encoded), width), self.pad_id, dtype=torch.long)
        for row, ids in enumerate(encoded):
            tokens[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        lengths = torch.tensor([len(ids) for ids in encoded], dtype=torch.long)
        return TextBatch(tokens, lengths)

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """Words up to the first ``<eos>``; ``<bos>`` and ``<pad>`` are skipped."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        words: list[str] = []
        for i in ids:
            if i == self.eos_id:
                break
            if i in (self.pad_id, self.bos_id):
                continue
            words.append(self.itos[i] if 0 <= i < len(self.itos) else UNK)
        return _join(words)

    def decode_batch(self, ids: torch.Tensor) -> list[str]:
        return [self.decode(row) for row in ids.tolist()]

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "vocabulary": self.itos}

    @classmethod
    def from_dict(cls, data: object, source: str = "tokenizer") -> Tokenizer:
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("vocabulary"), list):
            raise TokenizerError(f"{source}: not a remvae tokenizer (expected format {FORMAT!r} and a 'vocabulary' list)")
        if data.get("version") != VERSION:
            raise TokenizerError(f"{source}: tokenizer version {data.get('version')!r} is not supported (expected {VERSION})")
        return cls([str(w) for w in data["vocabulary"]])

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=0) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TokenizerError(f"{path}: tokenizer file not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise TokenizerError(f"{path}: not valid JSON ({error})") from None
        return cls.from_dict(data, str(path))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={len(self)})"


def _join(words: list[str]) -> str:
    text = ""
    for word in words:
        if text and not (len(word) == 1 and word in _NO_SPACE_BEFORE):
            text += " "
        text += word
    return text
