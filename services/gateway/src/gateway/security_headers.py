"""Browser-facing protections: security headers on every answer (a plain ASGI middleware,
cheaper than BaseHTTPMiddleware on the hot path) and CORS from configuration."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kit.http import HEADER as CORRELATION_HEADER

API_CSP = "default-src 'none'; frame-ancestors 'none'"
# Swagger UI at /docs loads its script and styles from jsDelivr and runs an inline starter.
DOCS_CSP = (
    "default-src 'none'; frame-ancestors 'none'; connect-src 'self'; "
    "script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:"
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts_seconds: int = 0) -> None:
        self.app = app
        base = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        if hsts_seconds > 0:
            base.append((b"strict-transport-security", f"max-age={hsts_seconds}".encode()))
        self.api = [*base, (b"content-security-policy", API_CSP.encode())]
        self.docs = [*base, (b"content-security-policy", DOCS_CSP.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.docs if scope["path"] == "/docs" else self.api

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in extra if k not in present]
                if b"cache-control" not in present:
                    # API answers are personal unless the service said otherwise.
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_browser_protections(
    app: FastAPI, *, cors_origins: list[str], allow_credentials: bool, hsts_seconds: int
) -> None:
    app.add_middleware(SecurityHeaders, hsts_seconds=hsts_seconds)
    if cors_origins:
        # Added last, so outermost: preflights are answered before limits and routing.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_credentials=allow_credentials,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept-Language", CORRELATION_HEADER],
            expose_headers=[CORRELATION_HEADER, "Retry-After", "Location"],
            max_age=600,
        )
