"""An ASGI middleware that answers only requests addressed to this server's own names (DNS-rebinding defence).

A web page from elsewhere can point a name it controls at 127.0.0.1 and then call a local server from the
user's browser as if same-origin; such requests still carry the attacker's name in ``Host``. A server bound
to loopback therefore answers only ``Host: 127.0.0.1``, ``localhost`` or ``[::1]`` (any port) and refuses the
rest with HTTP 400 and the server's one-line JSON error on ``Host``.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from remvae.serve.limits import BAD_REQUEST

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
"""The names a loopback-bound server answers to."""


def host_name(header: str) -> str:
    """The name in a ``Host`` header without its port, lower-case: ``[::1]:8000`` → ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class HostCheck:
    """Pass on HTTP requests whose ``Host`` names one of ``allowed``; refuse the others."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(name.lower() for name in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if host_name(header) not in self.allowed:
                names = ", ".join(sorted(self.allowed))
                message = (f"Host: {header or '(missing)'!r} is not a name this server answers to ({names}); "
                           "open the page at one of those")
                await JSONResponse({"error": message, "field": "Host"}, status_code=BAD_REQUEST)(scope, receive, send)
                return
        await self.app(scope, receive, send)


__all__ = ["HostCheck", "LOOPBACK_NAMES", "host_name"]
