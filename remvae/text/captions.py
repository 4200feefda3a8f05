"""Caption templates for labelled image datasets, and the grammar that reads a label back out.

A :class:`CaptionGrammar` is the set of captions ``template.format(x=class_name)``. The same
object writes captions for a reader (seeded template choice) and parses generated captions in
the evaluators (which label does a caption name; is it well-formed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from remvae.text.tokenizer import Tokenizer

MNIST_CLASSES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
MNIST_TEMPLATES = ("{x}", "a {x}", "image of a {x}", "a photo of a {x}", "{x} in a picture", "a painting of a {x}")

FASHION_MNIST_CLASSES = (
    "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot",
)
FASHION_MNIST_TEMPLATES = (
    "{x}", "a {x}", "image of a {x}", "a photo of a {x}", "{x} in a picture", "a clothing item: {x}",
    "a fashion item called {x}",
)


@dataclass(frozen=True)
class CaptionGrammar:
    """Captions ``template.format(x=class_name)``: written from labels, parsed back into labels."""

    classes: tuple[str, ...]
    templates: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.classes:
            raise ValueError("a caption grammar needs at least one class name")
        if not self.templates:
            raise ValueError("a caption grammar needs at least one template")
        for template in self.templates:
            if template.count("{x}") != 1 or re.search(r"\{(?!x\})", template):
                raise ValueError(f"caption template {template!r} must contain '{{x}}' exactly once and no other field")

    def captions(self, labels: Sequence[int] | np.ndarray, seed: int) -> list[str]:
        """One caption per label; the template of each item is drawn from a generator seeded with ``seed``."""
        rng = np.random.default_rng(seed)
        choice = rng.integers(0, len(self.templates), size=len(labels))
        return [self.templates[t].format(x=self.classes[int(y)]) for t, y in zip(choice, labels)]

    def _normal(self, text: str) -> tuple[str, ...]:
        return tuple(Tokenizer.split(text))

    @property
    def _parses(self) -> dict[tuple[str, ...], int]:
        table = self.__dict__.get("_parse_table")
        if table is None:
            table = {
                self._normal(template.format(x=name)): label
                for template in self.templates
                for label, name in enumerate(self.classes)
            }
            object.__setattr__(self, "_parse_table", table)
        return table

    def parse(self, caption: str) -> int | None:
        """The label of a well-formed caption, else ``None``."""
        return self._parses.get(self._normal(caption))

    def is_well_formed(self, caption: str) -> bool:
        return self.parse(caption) is not None

    def mentioned_label(self, caption: str) -> int | None:
        """The label whose class name appears in the caption (well-formed or not), if exactly one does."""
        words = " " + " ".join(self._normal(caption)) + " "
        found = {label for label, name in enumerate(self.classes) if f" {' '.join(self._normal(name))} " in words}
        # "shirt" also occurs inside "t-shirt" only as a separate token, so token-boundary matching suffices.
        return found.pop() if len(found) == 1 else None


MNIST_GRAMMAR = CaptionGrammar(MNIST_CLASSES, MNIST_TEMPLATES)
FASHION_MNIST_GRAMMAR = CaptionGrammar(FASHION_MNIST_CLASSES, FASHION_MNIST_TEMPLATES)
