"""Reading an args.json file into plain JSON data, refusing what no experiment needs: duplicate keys,
files of many megabytes, nesting deeper than any config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from remvae.args.errors import ArgsError

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 32


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(f"{key}: key given twice in one object (the second would silently win)")
        seen[key] = value
    return seen


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply ``value``'s lists and objects nest (counting stops past ``limit``), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def read_document(path: Path, source: str) -> Any:
    """The parsed JSON of ``path``; :class:`ArgsError` (one line) when it cannot be read or is hostile."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ArgsError(source, [f"{size} bytes; an args.json is at most {MAX_BYTES} bytes"])
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArgsError(source, ["file not found"]) from None
    except IsADirectoryError:
        raise ArgsError(source, ["is a folder, not a file"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ArgsError(source, [f"cannot be read ({error})"]) from None
    return parse_document(text, source)


def parse_document(text: str, source: str) -> Any:
    """Parse args.json text (see :func:`read_document`)."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as error:
        raise ArgsError(source, [f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"]) from None
    except _DuplicateKey as error:
        raise ArgsError(source, [str(error)]) from None
    except RecursionError:
        raise ArgsError(source, [f"nested too deeply (more than {MAX_DEPTH} levels of lists and objects)"]) from None
    if depth(data) > MAX_DEPTH:
        raise ArgsError(source, [f"nested too deeply (more than {MAX_DEPTH} levels of lists and objects)"])
    return data


__all__ = ["MAX_BYTES", "MAX_DEPTH", "depth", "parse_document", "read_document"]
