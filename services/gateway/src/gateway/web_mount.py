"""The reference web UI: static files (HTML, CSS, JavaScript modules, translations) served
at /app, with a content security policy that lets them load from this origin only. The UI
talks to /api/v1 like any other frontend; "/" sends a browser to it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEB_DIR = Path(__file__).parent / "web"
WEB_PATH = "/app"
WEB_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class _WebHeaders:
    """Own CSP and caching for the UI's files (the gateway's API headers forbid scripts)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"content-security-policy", b"cache-control")
                ]
                headers.append((b"content-security-policy", WEB_CSP.encode()))
                headers.append((b"cache-control", b"no-cache"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def mount_web(app: FastAPI) -> None:
    """Serve the UI at /app (call after the API routes, so they keep precedence)."""

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(WEB_PATH + "/", status_code=307)

    app.mount(WEB_PATH, _WebHeaders(StaticFiles(directory=WEB_DIR, html=True)), name="web")
