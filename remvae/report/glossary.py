"""Plain-language definitions of every metric, read from the evaluators' own docstrings.

The convention: an evaluator class's docstring ends with a ``Metrics:`` section, one entry per metric it
writes to eval.json, ``name: definition`` indented under the header, a long definition continuing on
lines indented further::

    Metrics:
        image_mse: mean squared error per pixel between test images and their reconstructions.
        text_to_image_top<k>: share of images generated from test captions whose ... (chance k/C).
        <set>_fid: Fréchet distance between ...
        image_to_text_{precision,recall,f1}_{macro,micro}: CelebA: ...

In a name, ``<word>`` stands for any non-empty part (a class, a caption set, a k, a strength such as
``0.5``) and ``{a,b}`` for one of the listed words; a nested metric is named with dots, as the report
flattens it (``class_fid.<class>``). An exact name wins over a pattern, and a more specific pattern (more literal
characters) over a looser one. The report prints these definitions next to the values, so they cannot
drift from the code that documents them.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from functools import lru_cache

from remvae.core.registry import EVALUATORS

HEADER = "Metrics:"
_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9_.<>{},]+):\s+(?P<text>\S.*)$")
_PART = re.compile(r"<[A-Za-z_]+>|\{[A-Za-z0-9_,]+\}")


class GlossaryError(ValueError):
    """A ``Metrics:`` section that does not follow the convention; the message names the evaluator and the line."""


@dataclass(frozen=True)
class Definition:
    """One ``name: definition`` entry; ``name`` may hold ``<word>`` and ``{a,b}`` parts (see the module docstring)."""

    name: str
    text: str

    @property
    def regex(self) -> re.Pattern[str]:
        parts, start = [], 0
        for match in _PART.finditer(self.name):
            parts.append(re.escape(self.name[start:match.start()]))
            token = match.group()
            words = token[1:-1].split(",")
            parts.append(".+" if token.startswith("<") else "(?:" + "|".join(map(re.escape, words)) + ")")
            start = match.end()
        parts.append(re.escape(self.name[start:]))
        return re.compile("".join(parts) + r"\Z")

    @property
    def literal(self) -> int:
        """How specific the name is: its characters outside ``<word>`` parts."""
        return len(re.sub(r"<[A-Za-z_]+>", "", self.name))

    def matches(self, metric: str) -> bool:
        return self.regex.match(metric) is not None


def parse_metrics(doc: str | None, where: str = "evaluator") -> list[Definition]:
    """The entries of the ``Metrics:`` section of ``doc`` (none without one); :class:`GlossaryError` on a line
    inside the section that is neither an entry nor a continuation."""
    lines = inspect.cleandoc(doc or "").splitlines()
    if HEADER not in (line.strip() for line in lines):
        return []
    start = next(i for i, line in enumerate(lines) if line.strip() == HEADER)
    base = len(lines[start]) - len(lines[start].lstrip())
    entries: list[list[str]] = []
    entry_indent: int | None = None
    for line in lines[start + 1:]:
        if not line.strip():
            if entries:
                break
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= base:
            break
        if entry_indent is None or indent == entry_indent:
            match = _ENTRY.match(line.strip())
            if match is None:
                raise GlossaryError(f"{where}: {HEADER} line {line.strip()!r} is not 'name: definition'")
            entry_indent = indent
            entries.append([match["name"], match["text"]])
        elif indent > entry_indent:
            entries[-1][1] += " " + line.strip()
        else:
            raise GlossaryError(f"{where}: {HEADER} line {line.strip()!r} is indented less than the entries")
    return [Definition(name, text) for name, text in entries]


@lru_cache(maxsize=64)
def _parsed(evaluator: str, doc: str | None) -> tuple[Definition, ...]:
    return tuple(parse_metrics(doc, evaluator))


def definitions(evaluator: str) -> tuple[Definition, ...]:
    """The ``Metrics:`` entries of the registered evaluator ``evaluator`` (none when it is unknown or has none)."""
    if evaluator not in EVALUATORS:
        return ()
    return _parsed(evaluator, EVALUATORS.get(evaluator).builder.__doc__)


def define(evaluator: str, metric: str) -> str | None:
    """The definition of ``metric`` (a dotted eval.json name) of the registered evaluator ``evaluator``, if any."""
    entries = definitions(evaluator)
    exact = [entry for entry in entries if entry.name == metric]
    if exact:
        return exact[0].text
    matching = sorted((entry for entry in entries if entry.matches(metric)), key=lambda entry: -entry.literal)
    return matching[0].text if matching else None
