"""The web app over one loaded model: the page at ``/``, its files under ``/static``, the JSON API under ``/api``.

    GET  /api/info               the run, its checkpoint, which features it offers, the limits
    POST /api/caption-to-images  {"captions": [...], "samples": 4, "seed": 0, "prior_scale": null}
    POST /api/image-to-caption   {"image": "data:image/png;base64,...", "samples": 3, "temperature": 1.0, "seed": 0}
    POST /api/interpolate        {"a": {"caption": "..."}, "b": {"image": "data:..."}, "steps": 8}
    POST /api/prior-samples      {"n": 8, "seed": 0, "temperature": 0.0}
    POST /api/transfer           {"image": "data:...", "caption": "..."}   (models with a transfer method)

A feature the model lacks has no route (404). By default only requests addressed to 127.0.0.1, localhost or
[::1] are answered (:mod:`.hostcheck`, against DNS rebinding). Every refusal is one line of JSON,
``{"error": "<field>: <what is allowed>", "field": "<field>"}``, with status 400, 404, 413 or 415. The
page loads nothing from elsewhere, and its Content-Security-Policy forbids it to.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from remvae.model import LoadedModel
from remvae.serve.actions import Actions
from remvae.serve.bodylimit import BodyLimit
from remvae.serve.hostcheck import LOOPBACK_NAMES, HostCheck
from remvae.serve.limits import BAD_REQUEST, InputError, Limits

STATIC = Path(__file__).with_name("static")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
NOT_FOUND = "no such page or endpoint here (GET /api/info lists the features this model offers)"
ROUTES = {
    "caption_to_images": "/api/caption-to-images",
    "image_to_caption": "/api/image-to-caption",
    "interpolate": "/api/interpolate",
    "prior_samples": "/api/prior-samples",
    "transfer": "/api/transfer",
}
"""Each feature's route; :class:`Actions` answers it with the method of the feature's name."""


def create_app(
    model: LoadedModel, limits: Limits | None = None, allowed_hosts: Iterable[str] | None = LOOPBACK_NAMES
) -> FastAPI:
    """The app serving ``model`` within ``limits`` (default :class:`Limits`); no route for a feature it lacks.

    It answers only requests whose ``Host`` names one of ``allowed_hosts`` (any name with ``None``, for a
    server opened to the network under names it cannot know).
    """
    actions = Actions(model, limits or Limits())
    app = FastAPI(title="remvae serve", docs_url=None, redoc_url=None)  # the docs pages would load a CDN
    app.add_middleware(BodyLimit, limit=actions.limits.max_request_bytes)
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, allowed=allowed_hosts)  # added last, so it runs first
    app.middleware("http")(_security_headers)
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.get("/api/info")(actions.info)
    for feature, path in ROUTES.items():
        if actions.features[feature]:
            app.post(path)(getattr(actions, feature))
    app.get("/", include_in_schema=False)(_page)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _page() -> FileResponse:
    return FileResponse(STATIC / "index.html")


async def _security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    return response


def error_response(status: int, field: str, message: str) -> JSONResponse:
    """The server's one-line JSON refusal."""
    return JSONResponse({"error": f"{field}: {' '.join(message.split())}", "field": field}, status_code=status)


async def _input_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, InputError)
    return error_response(error.status, error.field, error.message)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    """Pydantic's first complaint (a wrong type, a missing or unknown field, bad JSON), named by its field."""
    assert isinstance(error, RequestValidationError)
    first: dict[str, Any] = error.errors()[0]
    if first["type"] == "json_invalid":
        return error_response(BAD_REQUEST, "body", "not valid JSON")
    message = "not a field of this request" if first["type"] == "extra_forbidden" else first["msg"]
    return error_response(BAD_REQUEST, _field(first["loc"]), message)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    """Starlette's own refusals (an unknown path, a wrong method) in the same one-line form."""
    assert isinstance(error, HTTPException)
    message = NOT_FOUND if error.status_code == 404 else str(error.detail)
    return error_response(error.status_code, request.url.path, message)


def _field(location: tuple[Any, ...]) -> str:
    """``("body", "a", "caption")`` as ``a.caption``, ``("body", "captions", 2)`` as ``captions[2]``."""
    parts = list(location[1:] if location and location[0] == "body" else location)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


__all__ = ["ROUTES", "create_app", "error_response"]
