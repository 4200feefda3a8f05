"""English captions from CelebA's 40 binary attributes, and the parser that reads them back.

A caption names the person's gender and up to ``k`` of their positive attributes, e.g.
``"a smiling woman with wavy blond hair and eyeglasses wearing a hat"``::

    caption  := [ "a blurry photo of" ] article adjective* ("man" | "woman")
                [ "with" list(feature) ] [ "wearing" list(garment) ]
    list(x)  := x | x "and" x | x "," x ... "and" x

Features that share a noun take their attributes as modifiers ("wavy blond hair", "bushy arched
eyebrows", "a big pointy nose"). Every phrase maps to a fixed set of attributes, so the same
tables write captions and parse them: :meth:`CelebAAttributeGrammar.parse` returns the
attributes a caption mentions (positive mentions only; "woman" asserts nothing about ``Male``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from remvae.text.tokenizer import Tokenizer

CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
    "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)
INDEX = {name: i for i, name in enumerate(CELEBA_ATTRIBUTES)}
MALE = INDEX["Male"]

BLURRY_PREFIX = "a blurry photo of"
# Adjectives before the noun, in the order they are written.
ADJECTIVES = (
    ("Attractive", "attractive"), ("Chubby", "chubby"), ("Young", "young"), ("Bald", "bald"),
    ("No_Beard", "clean-shaven"), ("Smiling", "smiling"),
)
MEN_ONLY = frozenset({INDEX["No_Beard"]})  # "a clean-shaven woman" says nothing: almost every woman is


@dataclass(frozen=True)
class Feature:
    """A noun phrase of the "with"/"wearing" lists.

    Either a fixed phrase for one attribute (``attribute``), or a ``noun`` whose attributes are
    modifier words drawn from ``groups`` (at most one word of each group: a person has one hair
    colour), written in group order.
    """

    noun: str
    attribute: str | None = None
    groups: tuple[tuple[tuple[str, str], ...], ...] = ()
    article: bool = False

    def realisations(self) -> Iterable[tuple[str, frozenset[int]]]:
        """Every phrase this feature can be written as, with the attributes it mentions."""
        if self.attribute is not None:
            yield _with_article(self.noun, self.article), frozenset({INDEX[self.attribute]})
            return
        for words in itertools.product(*(((None, None), *group) for group in self.groups)):
            chosen = [(name, word) for name, word in words if name is not None]
            if chosen:
                phrase = " ".join([*(word for _, word in chosen), self.noun])
                yield _with_article(phrase, self.article), frozenset(INDEX[name] for name, _ in chosen)

    def attributes(self) -> frozenset[int]:
        if self.attribute is not None:
            return frozenset({INDEX[self.attribute]})
        return frozenset(INDEX[name] for group in self.groups for name, _ in group)


HAIR_STYLE = (("Wavy_Hair", "wavy"), ("Straight_Hair", "straight"))
HAIR_COLOUR = (("Black_Hair", "black"), ("Blond_Hair", "blond"), ("Brown_Hair", "brown"), ("Gray_Hair", "gray"))
FEATURES = (
    Feature("hair", groups=(HAIR_STYLE, HAIR_COLOUR)),
    Feature("bangs", "Bangs"),
    Feature("receding hairline", "Receding_Hairline", article=True),
    Feature("eyebrows", groups=((("Bushy_Eyebrows", "bushy"),), (("Arched_Eyebrows", "arched"),))),
    Feature("narrow eyes", "Narrow_Eyes"),
    Feature("bags under the eyes", "Bags_Under_Eyes"),
    Feature("eyeglasses", "Eyeglasses"),
    Feature("nose", groups=((("Big_Nose", "big"),), (("Pointy_Nose", "pointy"),)), article=True),
    Feature("high cheekbones", "High_Cheekbones"),
    Feature("rosy cheeks", "Rosy_Cheeks"),
    Feature("oval face", "Oval_Face", article=True),
    Feature("pale skin", "Pale_Skin"),
    Feature("big lips", "Big_Lips"),
    Feature("slightly open mouth", "Mouth_Slightly_Open", article=True),
    Feature("double chin", "Double_Chin", article=True),
    Feature("five o'clock shadow", "5_o_Clock_Shadow", article=True),
    Feature("goatee", "Goatee", article=True),
    Feature("mustache", "Mustache", article=True),
    Feature("sideburns", "Sideburns"),
)
GARMENTS = (
    Feature("hat", "Wearing_Hat", article=True),
    Feature("heavy makeup", "Heavy_Makeup"),
    Feature("lipstick", "Wearing_Lipstick"),
    Feature("earrings", "Wearing_Earrings"),
    Feature("necklace", "Wearing_Necklace", article=True),
    Feature("necktie", "Wearing_Necktie", article=True),
)
# Attributes of which a caption names at most one (one hair colour, one hair style).
EXCLUSIVE = tuple(frozenset(INDEX[name] for name, _ in group) for group in (HAIR_STYLE, HAIR_COLOUR))


def _with_article(phrase: str, article: bool) -> str:
    return f"{'an' if phrase[0] in 'aeiou' else 'a'} {phrase}" if article else phrase


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(Tokenizer.split(text))


class CelebAAttributeGrammar:
    """Writes captions from attribute vectors and parses captions back into attribute vectors."""

    attributes: tuple[str, ...] = CELEBA_ATTRIBUTES

    def __init__(self) -> None:
        self._features = {_tokens(text): mentioned for f in FEATURES for text, mentioned in f.realisations()}
        self._garments = {_tokens(text): mentioned for f in GARMENTS for text, mentioned in f.realisations()}
        self._adjectives = {word: INDEX[name] for name, word in ADJECTIVES}
        mentions = {**self._features, **self._garments, _tokens(BLURRY_PREFIX): frozenset({INDEX["Blurry"]})}
        mentions.update({(word,): frozenset({i}) for word, i in self._adjectives.items()})
        mentions.update({("man",): frozenset({MALE}), ("woman",): frozenset()})
        # Lenient parsing also finds features written without their article ("big nose").
        for phrase, mentioned in [*self._features.items(), *self._garments.items()]:
            if phrase[0] in ("a", "an"):
                mentions.setdefault(phrase[1:], mentioned)
        self._mentions: dict[tuple[str, ...], frozenset[int]] = mentions
        self._longest = max(len(phrase) for phrase in mentions)

    # -- writing --------------------------------------------------------------------------------
    def caption(self, mentioned: Iterable[int], male: bool) -> str:
        """The caption of a man or woman with the attributes ``mentioned`` (indices; ``Male`` is ignored)."""
        chosen = set(mentioned) - {MALE}
        adjectives = [word for name, word in ADJECTIVES if INDEX[name] in chosen]
        person = " ".join([*adjectives, "man" if male else "woman"])
        parts = [_with_article(person, True)]
        if INDEX["Blurry"] in chosen:
            parts.insert(0, BLURRY_PREFIX)
        for keyword, features in (("with", FEATURES), ("wearing", GARMENTS)):
            items = [self._realise(feature, chosen) for feature in features if feature.attributes() & chosen]
            if items:
                parts += [keyword, _join(items)]
        return " ".join(parts)

    @staticmethod
    def _realise(feature: Feature, chosen: set[int]) -> str:
        wanted = feature.attributes() & chosen
        return next(text for text, mentioned in feature.realisations() if mentioned == wanted)

    def choose(self, positive: np.ndarray, count: int, rng: np.random.Generator) -> list[int]:
        """Up to ``count`` attributes of a 0/1 row to mention, drawn with ``rng`` (never two exclusive ones)."""
        male = bool(positive[MALE])
        candidates = [int(i) for i in np.flatnonzero(positive) if i != MALE and (male or i not in MEN_ONLY)]
        chosen: list[int] = []
        for j in rng.permutation(len(candidates)):
            if len(chosen) == count:
                break
            i = candidates[j]
            if not any(i in group and group & set(chosen) for group in EXCLUSIVE):
                chosen.append(i)
        return chosen

    def captions(self, labels: Tensor | np.ndarray, seed: int, attributes_per_caption: int = 3) -> list[str]:
        """One caption per row of 0/1 ``labels [N, 40]``; which attributes are named is drawn with ``seed``."""
        rows = np.asarray(labels) > 0
        rng = np.random.default_rng(seed)
        return [self.caption(self.choose(row, attributes_per_caption, rng), bool(row[MALE])) for row in rows]

    # -- reading --------------------------------------------------------------------------------
    def parse_strict(self, caption: str) -> frozenset[int] | None:
        """The attributes of a caption of this grammar (any adjective or list order), else ``None``."""
        tokens = _tokens(caption)
        found: set[int] = set()

        def add(attributes: Iterable[int]) -> bool:
            attributes = set(attributes)
            if attributes & found:
                return False  # an attribute named twice
            found.update(attributes)
            return True

        prefix = _tokens(BLURRY_PREFIX)
        i = 0
        if tokens[: len(prefix)] == prefix:
            found.add(INDEX["Blurry"])
            i = len(prefix)
        if i + 1 >= len(tokens) or tokens[i] != ("an" if tokens[i + 1][0] in "aeiou" else "a"):
            return None
        i += 1
        while i < len(tokens) and tokens[i] in self._adjectives:
            if not add({self._adjectives[tokens[i]]}):
                return None
            i += 1
        if i >= len(tokens) or tokens[i] not in ("man", "woman"):
            return None
        if tokens[i] == "man":
            found.add(MALE)
        rest = tokens[i + 1 :]
        for keyword, table in (("with", self._features), ("wearing", self._garments)):
            if rest[:1] != (keyword,):
                continue
            end = rest.index("wearing") if keyword == "with" and "wearing" in rest else len(rest)
            items = self._split_list(rest[1:end])
            if items is None or not all(item in table and add(table[item]) for item in items):
                return None
            rest = rest[end:]
        return frozenset(found) if not rest else None

    @staticmethod
    def _split_list(tokens: tuple[str, ...]) -> list[tuple[str, ...]] | None:
        """``a, b and c`` (or ``a and b``, or ``a``) as items; ``None`` for an empty item or a misplaced comma."""
        items, current, separators = [], [], []
        for token in tokens:
            if token in (",", "and"):
                items.append(tuple(current))
                separators.append(token)
                current = []
            else:
                current.append(token)
        items.append(tuple(current))
        if any(not item for item in items) or (separators and separators[-1] != "and"):
            return None
        return items if all(s == "," for s in separators[:-1]) else None

    def is_well_formed(self, caption: str) -> bool:
        """Whether the caption is a sentence of this grammar."""
        return self.parse_strict(caption) is not None

    def mentioned(self, caption: str) -> frozenset[int]:
        """The attributes a caption mentions, found phrase by phrase (longest first) even in a broken sentence."""
        strict = self.parse_strict(caption)
        if strict is not None:
            return strict
        tokens = _tokens(caption)
        found: set[int] = set()
        i = 0
        while i < len(tokens):
            for width in range(min(self._longest, len(tokens) - i), 0, -1):
                mentioned = self._mentions.get(tokens[i : i + width])
                if mentioned is not None:
                    found |= mentioned
                    i += width
                    break
            else:
                i += 1
        return frozenset(found)

    def parse(self, caption: str) -> Tensor:
        """The 0/1 long vector ``[40]`` of the attributes a caption mentions."""
        vector = torch.zeros(len(self.attributes), dtype=torch.long)
        vector[sorted(self.mentioned(caption))] = 1
        return vector


CELEBA_GRAMMAR = CelebAAttributeGrammar()
