"""Request body size limit for every service's own port (partner sites may expose services
without the gateway in front). Over the limit: 413 problem+json, before the app sees it.

A plain ASGI middleware: the declared Content-Length is refused at once; a body without
one (chunked) is counted while the app reads it, and refused when it passes the limit."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kit.openapi import PROBLEM_JSON

TYPE = "https://kohtaamo.fi/problems/body-too-large"


class BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` while the app reads the body. An HTTP exception, so that FastAPI
    passes it on (it turns other errors while reading a body into 400) to the problem
    handler (kit.problems), which answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, "Request body too large")
        self.limit = limit


def refusal(limit: int, path: str) -> dict[str, object]:
    return {
        "type": TYPE,
        "title": "Request body too large",
        "status": 413,
        "detail": f"The body may be at most {limit} bytes.",
        "instance": path,
        "errors": [{"field": "body", "message": f"at most {limit} bytes"}],
    }


class BodyLimit:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length":
                if not value.isdigit() or int(value) > self.limit:
                    await self._refuse(scope, send)
                    return
                break
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = json.dumps(refusal(self.limit, scope.get("path", ""))).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
