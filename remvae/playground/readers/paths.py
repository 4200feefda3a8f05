"""Where readers look for data, where they may download it, and the error when it is nowhere.

A reader's data root is, in order: the ``root`` of its config; else the ``REMVAE_DATA``
environment variable; else the per-user cache ``$XDG_CACHE_HOME/remvae/data`` (default
``~/.cache/remvae/data``). With ``download=True`` the cache is searched too, and downloads go
to the first of these folders that is writable, so a read-only root is never written to.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path
from typing import Callable, TypeVar

from remvae.core.data import DataNotFoundError

ENVIRONMENT_VARIABLE = "REMVAE_DATA"
T = TypeVar("T")

# What a failing download may raise: urllib/OS errors, torchvision's RuntimeError after every
# mirror failed, an md5 mismatch (RuntimeError), a missing optional downloader (ImportError).
DOWNLOAD_ERRORS = (OSError, RuntimeError, ValueError, ImportError)


def cache_dir() -> Path:
    """The per-user data cache: ``$XDG_CACHE_HOME/remvae/data``, by default ``~/.cache/remvae/data``."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "remvae" / "data"


def data_roots(root: str | os.PathLike[str] | None, download: bool = False) -> list[Path]:
    """The roots to search, in order: ``root`` or ``$REMVAE_DATA`` or the cache, then the cache when downloading."""
    primary = Path(root or os.environ.get(ENVIRONMENT_VARIABLE) or cache_dir()).expanduser()
    roots = [primary]
    if download and cache_dir() != primary:
        roots.append(cache_dir())
    return roots


def is_writable(path: Path) -> bool:
    """Whether ``path`` (or, if it does not exist yet, its nearest existing parent) may be written.

    A folder whose permission bits forbid writing counts as read-only even for a superuser,
    whom ``os.access`` would let through.
    """
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return False
    if not os.access(existing, os.W_OK) or not existing.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return False
    statvfs = getattr(os, "statvfs", None)
    return statvfs is None or not statvfs(existing).f_flag & getattr(os, "ST_RDONLY", 1)


def one_line(error: BaseException) -> str:
    """An exception as one short line (torchvision's download errors span several)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def locate(
    name: str,
    roots: list[Path],
    folder: str,
    wanted: str,
    find: Callable[[Path], T | None],
    download: Callable[[Path], None] | None = None,
) -> T:
    """Return ``find(root)`` for the first root that holds the data, downloading it if allowed.

    ``folder`` is the data set's folder under a root (``MNIST/raw``), ``wanted`` names the files
    looked for (for the error message). ``download(root)`` fetches the data under ``root``.
    Raises :class:`DataNotFoundError` whose one-line message lists every folder searched and
    how to provide the data.
    """
    for root in roots:
        found = find(root)
        if found is not None:
            return found
    failure = ""
    if download is not None:
        target = next((root for root in roots if is_writable(root / folder)), None)
        if target is None:
            failure = f"; no writable folder to download into (tried {', '.join(str(r) for r in roots)})"
        else:
            if target != roots[0]:
                message = f"{roots[0] / folder} is read-only; downloading {name} into {target / folder}"
                warnings.warn(message, stacklevel=3)
            try:
                download(target)
            except DOWNLOAD_ERRORS as error:
                failure = f"; download into {target / folder} failed: {one_line(error)}"
            else:
                found = find(target)
                if found is not None:
                    return found
                failure = f"; download into {target / folder} did not produce {wanted}"
    looked = ", ".join(str(root / folder) for root in roots)
    hint = (f"set data_root in args.json (the reader's root) to a folder that holds {folder}/, or set "
            f"{ENVIRONMENT_VARIABLE}")
    if download is None:
        hint += ", or set reader.config.download to true (download=True in Python)"
    raise DataNotFoundError(f"{name} not found: looked for {wanted} in {looked}{failure}; {hint}")
