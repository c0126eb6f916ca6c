"""The gateway's composition root. It is a kit WebService (health, metrics, problem+json,
correlation ids, token verification): no store, broker or outbox of its own. It keeps no
state but its caches, so readiness does not depend on MongoDB or RabbitMQ, nor on any
optional upstream (their status is at /upstreams). It honours no revoked tokens itself: it
only forwards, and the services refuse them."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from starlette.middleware import Middleware

from gateway.api import proxy_route, signed_in
from gateway.edge import Edge
from gateway.errors import install_edge_problems
from gateway.my_page import my_page_router
from gateway.openapi import Aggregator, docs_router, drop_default_docs, own_document
from gateway.rate_limits import RateLimits
from gateway.routes import RouteTable
from gateway.security_headers import install_browser_protections
from gateway.settings import GatewaySettings
from gateway.shortcut import ProxyShortcut
from gateway.upstreams import Upstreams
from gateway.web_mount import mount_web
from kit.openapi import returns
from kit.web import WebService

DESCRIPTION = (
    "One versioned HTTP API for Kohtaamo frontends. Tokens are checked once here and passed "
    "on; each service still checks roles and municipality. Errors are RFC 9457 "
    "problem+json."
)


class BreakerState(BaseModel):
    state: str = Field(description="closed, open or half_open")
    failures: int


class UpstreamState(BaseModel):
    deployed: bool
    breaker: BreakerState | None = None
    ready: bool | None = None
    status: int | None = Field(default=None, description="Its /readyz status code")
    error: str | None = Field(default=None, description="Why it could not be asked")


class GatewayService(WebService[GatewaySettings]):
    def __init__(self, settings: GatewaySettings) -> None:
        super().__init__(
            "gateway", settings=settings, title="Kohtaamo API", description=DESCRIPTION
        )
        self.table = RouteTable(settings.route_table())
        self.upstreams = Upstreams(settings)
        self.limits = RateLimits(settings)
        self.edge = Edge(self.auth, self.limits)

        # The first hook to start and the last to stop: the others may call upstreams.
        @self.on_startup
        async def watch_upstreams() -> None:
            self.upstreams.start()

        self.on_shutdown(self.upstreams.stop)

    async def readiness(self) -> dict[str, dict[str, Any]]:
        return {
            "started": {"ok": self.started},
            "routes": {"ok": True, "services": sorted(self.upstreams.urls)},
            "rate_limits": await self.limits.limiter.status(),
        }

    def create_app(self) -> FastAPI:
        app = super().create_app()
        # httpx logs every upstream call at INFO: the gateway logs each request once itself.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        drop_default_docs(app)
        install_edge_problems(app)
        ops = APIRouter(tags=["operations"])

        @ops.get(
            "/upstreams",
            summary="Deployed services, their breakers and readiness",
            **returns(dict[str, UpstreamState], "Each service by name"),
        )
        async def upstreams() -> dict[str, dict[str, Any]]:
            """The services the gateway routes to: each one's address, circuit breaker state and
            last readiness, for operators."""
            return await self.upstreams.status()

        app.include_router(ops)
        app.include_router(my_page_router(self.upstreams, signed_in(self.edge)))

        def own() -> dict[str, Any]:
            return own_document(
                app, title=self.title, version=self.version, description=self.description
            )

        aggregator = Aggregator(self.upstreams, self.table, own)
        app.include_router(docs_router(aggregator, self.title))
        # Last, so the gateway's own /api/v1 routes win over the catch-all.
        app.router.routes.append(proxy_route(self.upstreams, self.table, self.edge))
        s = self.settings
        install_browser_protections(
            app,
            cors_origins=s.cors_origins,
            allow_credentials=s.cors_allow_credentials,
            hsts_seconds=s.hsts_seconds,
        )
        mount_web(app)  # the reference web UI at /app (after the API routes)
        # Innermost, inside the request context and the browser protections.
        app.user_middleware.append(Middleware(ProxyShortcut, gateway=app))
        return app


def service(settings: GatewaySettings | None = None) -> GatewayService:
    return GatewayService(settings or GatewaySettings())
