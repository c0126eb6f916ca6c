"""HTTP middleware: correlation id in and out, request logging context, metrics."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request, Response

from kit.context import correlation_id
from kit.metrics import HTTP_LATENCY, HTTP_REQUESTS

HEADER = "X-Correlation-ID"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
log = structlog.get_logger("kit.http")


def install_request_context(app: FastAPI, *, service: str, municipality: str) -> None:
    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get(HEADER, "")
        cid = incoming if _VALID.match(incoming) else str(uuid.uuid4())
        request.state.correlation_id = cid
        correlation_id.set(cid)
        structlog.contextvars.clear_contextvars()
        # The site's municipality until the caller's token says otherwise.
        structlog.contextvars.bind_contextvars(correlation_id=cid, municipality=municipality)
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(service, request.method, path, str(response.status_code)).inc()
        HTTP_LATENCY.labels(service, request.method, path).observe(elapsed)
        response.headers[HEADER] = cid
        principal = getattr(request.state, "principal", None)
        if principal is not None:
            structlog.contextvars.bind_contextvars(municipality=principal.municipality)
        if path not in {"/healthz", "/readyz", "/metrics"}:
            log.info(
                "http.request",
                method=request.method,
                path=path,
                status=response.status_code,
                ms=round(elapsed * 1000, 1),
            )
        return response
