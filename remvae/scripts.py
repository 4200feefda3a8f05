"""Running a generated stage script (``train.py``, ``eval.py``, ...): known failures as one line, not a traceback."""

from __future__ import annotations

import sys
from typing import Callable

from remvae.core.runfolder import StorageError
from remvae.core.trainer import NonFiniteLossError
from remvae.exitcodes import EXIT_INTERRUPTED, EXIT_OK, EXIT_STAGE_FAILED

KNOWN_FAILURES = (ValueError, FileNotFoundError, StorageError, NonFiniteLossError)
"""Bad input (configs, data, run folders, checkpoints, judges), a full or read-only disk, a non-finite loss: each
says what is wrong in its message. Anything else is a bug and keeps its traceback."""


def run_script(main: Callable[[], None]) -> int:
    """Call ``main``; a known failure prints ``remvae: error: <message>`` (one line) and gives exit status 1,
    Ctrl-C gives 130 (the trainer has saved ``checkpoints/last`` by then)."""
    try:
        main()
    except KNOWN_FAILURES as error:
        message = " ".join(str(error.strerror if isinstance(error, StorageError) else error).split())
        print(f"remvae: error: {message}", file=sys.stderr, flush=True)
        return EXIT_STAGE_FAILED
    except KeyboardInterrupt:
        print("remvae: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    return EXIT_OK


__all__ = ["run_script"]
