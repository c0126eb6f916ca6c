"""`/healthz` (alive), `/readyz` (store and broker really reachable, consumers attached),
`/metrics` (Prometheus)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kit.openapi import file_response

if TYPE_CHECKING:
    from kit.app import Service


def health_router(service: Service) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service.name}

    @router.get(
        "/readyz",
        summary="Store, broker and consumers are ready",
        responses={503: {"description": "Not ready"}},
    )
    async def readyz() -> JSONResponse:
        checks = await service.readiness()
        ready = all(c["ok"] for c in checks.values())
        return JSONResponse(
            {
                "status": "ready" if ready else "not_ready",
                "service": service.name,
                "checks": checks,
            },
            status_code=200 if ready else 503,
        )

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        **file_response("Prometheus text format", "text/plain"),
    )
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def check(name: str, probe: Any, timeout: float = 2.0) -> tuple[str, dict[str, Any]]:
    try:
        detail = await asyncio.wait_for(probe(), timeout)
        ok = detail is not False
        return name, {"ok": ok, **(detail if isinstance(detail, dict) else {})}
    except Exception as exc:
        return name, {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
