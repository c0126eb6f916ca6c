"""One pooled HTTP client per deployed upstream service, with bounded timeouts, and the
breaker that guards it.

Proxied requests go through an aiohttp session: per request it costs a fraction of
httpx's pure-Python HTTP/1.1 stack, and the gateway pays that cost on every call. The
httpx client stays for the gateway's own occasional calls (OpenAPI documents, readiness)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx

from gateway.breaker import Breakers, show_state
from gateway.errors import not_deployed
from gateway.settings import SERVICES, GatewaySettings


@dataclass
class Upstream:
    name: str
    url: str
    client: httpx.AsyncClient
    session: aiohttp.ClientSession
    # Bounds the requests in flight like the connection pool, so that a full pool is
    # told apart from a slow upstream (503 "busy" instead of 504).
    slots: asyncio.Semaphore


class Upstreams:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.urls = settings.upstreams.deployed()
        self.breakers = Breakers(
            threshold=settings.breaker_threshold, pause_s=settings.breaker_pause_s
        )
        self._clients: dict[str, Upstream] = {}

    def start(self) -> None:
        s = self.settings
        timeout = httpx.Timeout(s.upstream_timeout_s, connect=s.upstream_connect_timeout_s)
        limits = httpx.Limits(
            max_connections=s.upstream_max_connections,
            max_keepalive_connections=s.upstream_keepalive,
        )
        for name, url in self.urls.items():
            client = httpx.AsyncClient(
                base_url=url,
                timeout=timeout,
                limits=limits,
                follow_redirects=False,  # the frontend follows redirects, not the gateway
                trust_env=False,  # never route internal calls through an env proxy
            )
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=s.upstream_max_connections, keepalive_timeout=30.0
                ),
                timeout=aiohttp.ClientTimeout(
                    total=s.upstream_timeout_s, sock_connect=s.upstream_connect_timeout_s
                ),
                # Nothing added on the caller's behalf: no compression on the internal hop.
                skip_auto_headers=("Accept-Encoding", "User-Agent"),
                auto_decompress=False,
                # Shared by every caller: a cookie one caller's answer set must never be
                # sent on with another caller's request (the answer still passes it on).
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
            slots = asyncio.Semaphore(s.upstream_max_connections)
            self._clients[name] = Upstream(name, url, client, session, slots)
            show_state(name, "closed")

    async def stop(self) -> None:
        clients, self._clients = self._clients, {}
        await asyncio.gather(*(u.client.aclose() for u in clients.values()))
        await asyncio.gather(*(u.session.close() for u in clients.values()))

    def get(self, service: str) -> Upstream:
        upstream = self._clients.get(service)
        if upstream is None:
            raise not_deployed(service)
        return upstream

    async def status(self) -> dict[str, dict[str, Any]]:
        """Each service: deployed or not, breaker state, and its /readyz answer now."""

        async def probe(name: str) -> tuple[str, dict[str, Any]]:
            upstream = self._clients.get(name)
            if upstream is None:
                return name, {"deployed": False}
            # Internal addresses are not shown: this endpoint is as public as /metrics.
            info: dict[str, Any] = {"deployed": True}
            info["breaker"] = await self.breakers.state(name)
            try:
                response = await upstream.client.get("/readyz", timeout=2.0)
                info["ready"] = response.status_code == 200
                info["status"] = response.status_code
            except httpx.HTTPError as exc:
                info["ready"] = False
                info["error"] = type(exc).__name__
            return name, info

        return dict(await asyncio.gather(*(probe(n) for n in SERVICES)))
