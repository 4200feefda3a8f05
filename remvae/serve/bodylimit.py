"""An ASGI middleware that refuses request bodies over a byte limit before the app parses them.

A declared ``Content-Length`` over the limit is refused at once; a body without one (chunked) is read
only up to the limit. Refusals are HTTP 413 with the server's one-line JSON error on ``body``.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from remvae.serve.limits import TOO_LARGE


class BodyLimit:
    """Buffer each HTTP request body (at most ``limit`` bytes) and hand it on whole; refuse longer ones."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            more = message.get("more_body", False)
        body: Message | None = {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        async def replay() -> Message:
            nonlocal body
            if body is None:
                return await receive()
            message, body = body, None
            return message

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"body: the request is larger than the {self.limit:,} bytes allowed"
        await JSONResponse({"error": message, "field": "body"}, status_code=TOO_LARGE)(scope, receive, send)


__all__ = ["BodyLimit"]
