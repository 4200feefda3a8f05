"""``remvae serve RUN``: a local web page and JSON API to play with a trained run.

FastAPI + uvicorn with one static HTML page (vanilla JS and CSS beside it) rather than Gradio: two small
pure-Python dependencies instead of a large tree whose bundled front end fetches fonts and telemetry from
the internet, so the page works offline and loads nothing from anywhere else (its Content-Security-Policy
forbids it). FastAPI's in-process test client exercises every endpoint without a socket, and the plain page,
with stable element ids, is easy to drive from a real browser.

    from remvae.serve import create_app, serve, Limits
    serve("experiments/quickstart")                       # http://127.0.0.1:8000/
    app = create_app(remvae.load(run), Limits(max_samples=8))

``create_app`` and ``serve`` import FastAPI and uvicorn (the ``serve`` extra) on first use, so the CLI
can offer ``remvae serve`` without them installed.
"""

from __future__ import annotations

from typing import Any

from remvae.serve.limits import InputError, Limits

DEFAULT_HOST = "127.0.0.1"
"""Loopback only: other machines cannot reach the server unless ``host`` says so."""
DEFAULT_PORT = 8000
_LAZY = {"create_app": "remvae.serve.app", "serve": "remvae.serve.server", "build_server": "remvae.serve.server"}


def __getattr__(name: str) -> Any:
    """``create_app``, ``serve`` and ``build_server``, imported when first asked for."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_LAZY[name]), name)


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "InputError", "Limits", "build_server", "create_app", "serve"]
