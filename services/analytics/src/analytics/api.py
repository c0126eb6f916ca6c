"""HTTP API: thin routers that check role and municipality, then call the report code."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from analytics import catalog
from analytics.periods import parse_period
from analytics.scope import READERS, resolve
from analytics.settings import AnalyticsSettings
from kit.app import Service
from kit.auth import Principal
from kit.problems import Problem


class ReportName(StrEnum):
    esf = "esf"
    usage = "usage"
    utilisation = "utilisation"
    network = "network"


def build_router(svc: Service, settings: AnalyticsSettings) -> APIRouter:
    router = APIRouter(prefix="/analytics", tags=["analytics"])
    reader = Depends(svc.auth.require(*READERS))
    db = svc.store.db
    tz = settings.timezone

    PeriodQuery = Query(
        default=None,
        description="2026, 2026-H1, 2026-Q2 or 2026-05; default the current year",
        max_length=16,
    )
    MunicipalityQuery = Query(
        default=None,
        description="Default your own; another one or `network` needs the analyst role",
        max_length=64,
    )

    async def report(
        name: str, principal: Principal, period: str | None, municipality: str | None
    ) -> Any:
        scope = resolve(principal, municipality)
        parsed = parse_period(period or str(datetime.now(UTC).year), tz)
        return await catalog.build(
            name,
            db,
            scope=scope,
            period=parsed,
            threshold=settings.suppression_threshold,
            tz=tz,
        )

    @router.get("/reports/{name}", summary="A report as JSON (suppressed cells are null)")
    async def get_report(
        name: ReportName,
        principal: Principal = reader,
        period: str | None = PeriodQuery,
        municipality: str | None = MunicipalityQuery,
    ) -> dict[str, Any]:
        built = await report(name.value, principal, period, municipality)
        return built.as_dict()  # type: ignore[no-any-return]

    _ = (Response, Problem)
    return router
