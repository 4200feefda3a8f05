"""The ``remvae serve RUN`` command: its arguments and what it runs (FastAPI and uvicorn load only when it runs)."""

from __future__ import annotations

import argparse
import sys

from remvae.exitcodes import EXIT_BAD_INPUT, EXIT_OK
from remvae.serve import DEFAULT_HOST, DEFAULT_PORT

EXTRA = {"fastapi", "starlette", "uvicorn"}
"""The packages of the ``serve`` extra."""


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add RUN, --host, --port, --checkpoint and --device to ``parser``."""
    parser.add_argument("run", metavar="RUN", help="trained run folder")
    parser.add_argument(
        "--host", default=DEFAULT_HOST,
        help=("address to listen on (default: %(default)s, this machine only, answering only requests addressed to "
              "127.0.0.1, localhost or [::1]; 0.0.0.0 opens it to the network under any name)"),
    )
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help="TCP port (default: %(default)s)")
    parser.add_argument("--checkpoint", default="best", help="best (default), last, or a checkpoint's name or path")
    parser.add_argument("--device", default="cpu", help="torch device to run the model on (default: %(default)s)")
    return parser


def serve_command(args: argparse.Namespace) -> int:
    """Serve ``args.run`` until interrupted; exit status 2 with one line when the ``serve`` extra is missing.

    A run folder that cannot be loaded raises the loader's error (a ``ValueError``), which ``remvae``
    reports as bad input.
    """
    try:
        from remvae.serve.server import serve
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in EXTRA:
            raise
        print(f"remvae: error: remvae serve needs {error.name}: pip install 'remvae[serve]'", file=sys.stderr)
        return EXIT_BAD_INPUT
    serve(args.run, host=args.host, port=args.port, checkpoint=args.checkpoint, device=args.device)
    return EXIT_OK


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is an integer from 0 to 65535, got {text!r}")
    return int(text)


__all__ = ["configure_parser", "serve_command"]
