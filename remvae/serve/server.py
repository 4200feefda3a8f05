"""Serving a run over HTTP with uvicorn, on 127.0.0.1 unless asked otherwise."""

from __future__ import annotations

from pathlib import Path

import uvicorn
from PIL import Image

from remvae.model import LoadedModel, load
from remvae.serve import DEFAULT_HOST, DEFAULT_PORT
from remvae.serve.app import create_app
from remvae.serve.hostcheck import LOOPBACK_NAMES
from remvae.serve.limits import Limits


def build_server(
    model: LoadedModel, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, limits: Limits | None = None
) -> uvicorn.Server:
    """A uvicorn server for ``model`` (not yet started; ``port=0`` picks a free one when it starts). Bound to a
    loopback address it answers only requests addressed to a loopback name; bound elsewhere, any."""
    allowed = LOOPBACK_NAMES if host.lower() in LOOPBACK_NAMES else None
    app = create_app(model, limits, allowed_hosts=allowed)
    config = uvicorn.Config(app, host=host, port=port, access_log=False, log_level="info")
    return uvicorn.Server(config)


def serve(
    run_dir: str | Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, checkpoint: str = "best",
    device: str = "cpu", limits: Limits | None = None,
) -> None:
    """Load the run's ``checkpoint`` onto ``device`` and serve it at ``http://host:port/`` until interrupted.

    It lowers Pillow's ``MAX_IMAGE_PIXELS`` to the uploads' limit for this process, a second guard behind
    the server's own check of each image's header.
    """
    limits = limits or Limits()
    Image.MAX_IMAGE_PIXELS = limits.max_image_pixels
    model = load(run_dir, device=device, checkpoint=checkpoint)
    address = f"[{host}]" if ":" in host else host
    print(f"remvae: serving {model!r} at http://{address}:{port}/ (Ctrl-C stops it)", flush=True)
    build_server(model, host, port, limits).run()


__all__ = ["build_server", "serve"]
