"""Public links: every URL a user or partner receives (feed URLs, JSON-LD, ICS) names the
site's public address, never a service's internal one.

The base is, in order: the configured `KOHTAAMO_PUBLIC_URL` (the site's public origin) with
`KOHTAAMO_PUBLIC_API_PREFIX` (`/api/v1`, where the gateway serves the services' paths);
else what a trusted proxy (the gateway) says in X-Forwarded-Proto/-Host/-Prefix; else the
address the request itself came to (a service called directly). Configure the public URL
in production: the forwarded host is the caller's Host header."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from kit.settings import KitSettings

_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?$")
_PREFIX = re.compile(r"^(/[A-Za-z0-9._~-]{1,64}){0,8}$")


def public_base(request: Request, settings: KitSettings) -> str:
    """The public URL under which this service's paths are reachable, without a trailing
    slash: `f"{public_base(request, settings)}/events/{id}"`."""
    if settings.public_url:
        return settings.public_url.rstrip("/") + settings.public_api_prefix.rstrip("/")
    if getattr(request.state, "via_trusted_proxy", False):
        host = request.headers.get("x-forwarded-host", "")
        proto = request.headers.get("x-forwarded-proto", request.url.scheme)
        prefix = request.headers.get("x-forwarded-prefix", "").rstrip("/")
        if _HOST.match(host) and proto in ("http", "https") and _PREFIX.match(prefix):
            return f"{proto}://{host}{prefix}"
    return str(request.base_url).rstrip("/")


class ProxyPeer:
    """Marks a request whose immediate peer is one of the trusted proxies
    (`request.state.via_trusted_proxy`). Outermost: uvicorn's proxy-header handling then
    replaces the peer by the client it names, after which the peer is no longer known."""

    def __init__(self, app: ASGIApp, *, trusted: list[str]) -> None:
        self.app = app
        self.networks = [ipaddress.ip_network(n, strict=False) for n in trusted]

    def _trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client: Any = scope.get("client")
            state = scope.setdefault("state", {})
            state["via_trusted_proxy"] = bool(client) and self._trusted(client[0])
        await self.app(scope, receive, send)
