"""`/healthz` (alive), `/readyz` (takes HTTP traffic: store reachable; a broker outage is
reported as degraded, not as not-ready), `/readyz/consumers` (broker reachable, consumers
attached and progressing), `/metrics` (Prometheus), `/.well-known/event-keys.json` (the
site's event keys)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from kit.openapi import file_response, returns

if TYPE_CHECKING:
    from kit.web import WebService


class Alive(BaseModel):
    status: str = Field(examples=["ok"])
    service: str = Field(examples=["events"])


class Readiness(BaseModel):
    status: str = Field(description="ready, degraded or not_ready")
    service: str
    checks: dict[str, dict[str, Any]] = Field(description="Each check: `ok` and its details")


class Jwk(BaseModel):
    """A public JSON Web Key (RFC 7517); members of its key type besides these kept."""

    model_config = ConfigDict(extra="allow")

    kty: str = Field(examples=["EC"])
    kid: str | None = None
    alg: str | None = None
    use: str | None = None


class Jwks(BaseModel):
    keys: list[Jwk]


def health_router(service: WebService) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Process is alive", **returns(Alive, "Alive"))
    async def healthz() -> dict[str, str]:
        """Liveness: 200 while the process runs, whatever its dependencies; for the orchestrator's
        restart decision, not for routing traffic."""
        return {"status": "ok", "service": service.name}

    @router.get(
        "/readyz",
        summary="Ready for HTTP traffic (a broker outage only degrades)",
        responses={
            200: {"description": "Ready (or degraded)", "model": Readiness},
            503: {"description": "Not ready"},
        },
    )
    async def readyz() -> JSONResponse:
        """Readiness for HTTP traffic: 503 while the store (or another dependency HTTP needs) is
        unreachable; a broker outage only degrades the answer, as requests can still be served."""
        return report(service.name, await service.readiness())

    @router.get(
        "/readyz/consumers",
        summary="Broker reachable, consumers attached and progressing",
        responses={
            200: {"description": "Working", "model": Readiness},
            503: {"description": "Consumers not working"},
        },
    )
    async def consumers() -> JSONResponse:
        """Whether the broker is reachable and every consumer is attached and making progress; 503
        otherwise, with each check's details."""
        return report(service.name, await service.consumer_health())

    @router.get(
        "/.well-known/event-keys.json",
        summary="The site's public event signing keys (JWKS)",
        **returns(Jwks, "The keys"),
    )
    async def event_keys() -> dict[str, Any]:
        """The public keys (JWKS) that verify the signatures of this site's published messages;
        cacheable, rotated keys stay listed while messages signed with them may still arrive."""
        # Partner sites verify this site's signed events with these (kit.signatures).
        return service.settings.site_jwks()

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        **file_response("Prometheus text format", "text/plain"),
    )
    async def metrics() -> Response:
        """Prometheus metrics of this process in the text exposition format; for the site's scraper,
        not for clients."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def report(service: str, checks: dict[str, dict[str, Any]]) -> JSONResponse:
    ready = all(c["ok"] for c in checks.values())
    degraded = any(c.get("degraded") for c in checks.values())
    status = "not_ready" if not ready else "degraded" if degraded else "ready"
    return JSONResponse(
        {"status": status, "service": service, "checks": checks},
        status_code=200 if ready else 503,
    )


async def check(name: str, probe: Any, timeout: float = 2.0) -> tuple[str, dict[str, Any]]:
    try:
        detail = await asyncio.wait_for(probe(), timeout)
        ok = detail is not False
        return name, {"ok": ok, **(detail if isinstance(detail, dict) else {})}
    except Exception as exc:
        return name, {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
