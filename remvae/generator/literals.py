"""Values as Python source: the only way a value from args.json gets into a generated script.

Every value becomes a literal (``None``, booleans, numbers, strings through ``repr``, lists,
tuples, dicts) that :func:`ast.literal_eval` reads back unchanged, except two fixed forms:
``float("inf")`` for infinities and, for an absolute path inside the run folder,
``str(HERE / "relative")`` so the script works wherever the folder moves. Strings only ever appear
as ``repr`` output, so no string in args.json can become code.
"""

from __future__ import annotations

import ast
import math
import os
from pathlib import Path, PurePath
from typing import Any

WIDTH = 100


class Code(str):
    """Python source produced here (or by a template filter that checks its input)."""


class UnrenderableValue(TypeError):
    """A value of a type that has no safe literal form."""


def literal(value: Any, base: Path | None = None, indent: int = 0) -> Code:
    """``value`` as Python source; paths under ``base`` become ``str(HERE / 'relative')``."""
    return Code(_render(value, base, indent))


def _render(value: Any, base: Path | None, indent: int) -> str:
    if isinstance(value, PurePath):
        value = str(value)
    if isinstance(value, str):
        relative = _relative(value, base)
        return f"str(HERE / {_string(relative)})" if relative is not None else _string(value)
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float({_string(repr(value))})"
    if isinstance(value, list):
        return _container("[", "]", [_render(v, base, indent + 4) for v in value], indent)
    if isinstance(value, tuple):
        items = [_render(v, base, indent + 4) for v in value]
        return _container("(", ")", items, indent) if len(items) != 1 else f"({items[0]},)"
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise UnrenderableValue(f"dict key {key!r} is neither a string nor an integer")
            items.append(f"{_render(key, None, indent + 4)}: {_render(item, base, indent + 4)}")
        return _container("{", "}", items, indent)
    raise UnrenderableValue(f"{type(value).__name__} value {value!r} has no literal form")


def _string(text: str) -> str:
    """``repr`` (always a valid, inert literal), with double quotes where that needs no escapes."""
    source = repr(text)
    if source.startswith("'") and '"' not in text:
        source = '"' + source[1:-1] + '"'
    if ast.literal_eval(source) != text:  # pragma: no cover - repr round-trips by definition
        raise UnrenderableValue(f"string {text!r} does not round-trip")
    return source


def _relative(text: str, base: Path | None) -> str | None:
    """``text`` relative to ``base`` when it is an absolute path inside it, else ``None``."""
    if base is None or not os.path.isabs(text) or "\n" in text:
        return None
    try:
        relative = Path(text).relative_to(base)
    except ValueError:
        return None
    return relative.as_posix()


def _container(open_: str, close: str, items: list[str], indent: int) -> str:
    flat = open_ + ", ".join(items) + close
    if "\n" not in flat and indent + len(flat) <= WIDTH:
        return flat
    pad = " " * (indent + 4)
    return open_ + "\n" + "".join(f"{pad}{item},\n" for item in items) + " " * indent + close
