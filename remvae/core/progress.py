"""Progress bars for the long stages (training epochs, evaluation, figures): the one home of when to show one."""

from __future__ import annotations

from typing import Any, Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable_or_total: Iterable[T] | int, desc: str, quiet: bool = False, **options: Any) -> tqdm:
    """A tqdm bar: hidden when ``quiet`` and when stderr is not a terminal (logs, CI: tqdm's ``disable=None``),
    shown in notebooks (tqdm.auto's widget). ``options`` go to tqdm (``unit``, ``initial``, ``leave``...)."""
    source = {"total": iterable_or_total} if isinstance(iterable_or_total, int) else {"iterable": iterable_or_total}
    return tqdm(**source, desc=desc, disable=True if quiet else None, dynamic_ncols=True, **options)


__all__ = ["progress"]
