"""HTTP middleware: correlation id in and out, request logging context, metrics.

A plain ASGI middleware rather than Starlette's BaseHTTPMiddleware: that one runs the app
in a second task with memory streams, which costs every request (the gateway pays it
twice, once itself and once in the service behind it)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kit import tracing
from kit.context import correlation_id
from kit.metrics import HTTP_LATENCY, HTTP_REQUESTS

HEADER = "X-Correlation-ID"
_HEADER_RAW = HEADER.lower().encode("latin-1")
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_QUIET = frozenset({"/healthz", "/readyz", "/readyz/consumers", "/metrics"})
log = structlog.get_logger("kit.http")


class RequestContext:
    def __init__(self, app: ASGIApp, *, service: str, municipality: str) -> None:
        self.app = app
        self.service = service
        self.municipality = municipality

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for key, value in scope["headers"]:
            if key == _HEADER_RAW:
                incoming = value.decode("latin-1")
                break
        cid = incoming if _VALID.match(incoming) else str(uuid.uuid4())
        state: dict[str, Any] = scope.setdefault("state", {})
        state["correlation_id"] = cid  # request.state.correlation_id
        correlation_id.set(cid)
        structlog.contextvars.clear_contextvars()
        # The site's municipality until the caller's token says otherwise.
        structlog.contextvars.bind_contextvars(correlation_id=cid, municipality=self.municipality)
        if tracing.enabled:
            # The request's span is found by its correlation id (docs/operations.md).
            tracing.current_span().set_attribute("kohtaamo.correlation_id", cid)
        cid_raw = cid.encode("latin-1")
        started = time.perf_counter()
        recorded = False

        async def send_with_id(message: Message) -> None:
            nonlocal recorded
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != _HEADER_RAW]
                headers.append((_HEADER_RAW, cid_raw))
                message["headers"] = headers
                # Logged before the answer leaves: whoever got it can find the line.
                recorded = True
                self._record(scope, state, message["status"], time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if not recorded:  # an exception escaped the app: the server answers 500
                self._record(scope, state, 500, time.perf_counter() - started)

    def _record(self, scope: Scope, state: dict[str, Any], status: int, elapsed: float) -> None:
        method = scope["method"]
        route = scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(self.service, method, path, str(status)).inc()
        HTTP_LATENCY.labels(self.service, method, path).observe(elapsed)
        principal = state.get("principal")
        if principal is not None:
            structlog.contextvars.bind_contextvars(municipality=principal.municipality)
        if path not in _QUIET:
            log.info(
                "http.request", method=method, path=path, status=status, ms=round(elapsed * 1000, 1)
            )


def install_request_context(app: FastAPI, *, service: str, municipality: str) -> None:
    app.add_middleware(RequestContext, service=service, municipality=municipality)
