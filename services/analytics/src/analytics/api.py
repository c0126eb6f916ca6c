"""HTTP API: thin routers that check role and municipality, then call the report code."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from analytics import catalog, charts, exports
from analytics.dashboard import dashboard
from analytics.periods import parse_period
from analytics.rebuild import rebuild
from analytics.reports import Report
from analytics.scope import READERS, resolve
from analytics.settings import AnalyticsSettings
from analytics.views import DashboardOut, Rebuilt, ReportOut
from kit.app import Service
from kit.auth import Principal, ensure_municipality
from kit.openapi import file_response, returns


class ReportName(StrEnum):
    esf = "esf"
    usage = "usage"
    utilisation = "utilisation"
    network = "network"


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


class ChartFormat(StrEnum):
    png = "png"
    svg = "svg"


MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
    "svg": "image/svg+xml",
}


def build_router(svc: Service, settings: AnalyticsSettings) -> APIRouter:
    router = APIRouter(prefix="/analytics", tags=["analytics"])
    reader = Depends(svc.auth.require(*READERS))
    admin = Depends(svc.auth.require("admin"))
    db = svc.store.db
    tz = settings.timezone

    period_query = Query(
        default=None,
        description="2026, 2026-H1, 2026-Q2 or 2026-05; default the current year",
        max_length=16,
    )
    municipality_query = Query(
        default=None,
        description="Default your own; another one or `network` needs the analyst role",
        max_length=64,
    )

    async def build(
        name: str, principal: Principal, period: str | None, municipality: str | None
    ) -> Report:
        scope = resolve(principal, municipality)
        parsed = parse_period(period or str(datetime.now(UTC).year), tz)
        return await catalog.build(
            name, db, scope=scope, period=parsed, threshold=settings.suppression_threshold, tz=tz
        )

    def download(body: bytes | str, fmt: str, report: Report) -> Response:
        filename = f"kohtaamo-{report.report}-{report.scope}-{report.period}.{fmt}"
        return Response(
            body,
            media_type=MEDIA[fmt],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @router.get(
        "/reports/{name}",
        summary="A report as JSON (suppressed cells are null)",
        name="report",
        **returns(ReportOut, "The report"),
    )
    async def get_report(
        name: ReportName,
        principal: Principal = reader,
        period: str | None = period_query,
        municipality: str | None = municipality_query,
    ) -> dict[str, Any]:
        """A report for the caller's municipality and a period as JSON tables; cells under the
        suppression threshold are null so that no small group can be singled out."""
        return (await build(name.value, principal, period, municipality)).as_dict()

    @router.get(
        "/exports/{name}.{fmt}",
        summary="A report as CSV (long format) or XLSX",
        **file_response("The report as `fmt`", "text/csv", MEDIA["xlsx"]),
    )
    async def export(
        name: ReportName,
        fmt: ExportFormat,
        principal: Principal = reader,
        period: str | None = period_query,
        municipality: str | None = municipality_query,
    ) -> Response:
        """A report as a file: CSV in long format (one figure per row) or an XLSX workbook, with the
        same suppression as the JSON report."""
        # The audit entry is the export's scope (a municipality or `network`), not the caller's.
        async with svc.audit.action(
            principal,
            "report.export",
            "report",
            name.value,
            standalone=True,
            format=fmt.value,
            period=period,
        ) as entry:
            report = await build(name.value, principal, period, municipality)
            entry.municipality = report.scope
            entry.note(period=report.period, requested=municipality)
        if fmt is ExportFormat.csv:
            return download(exports.to_csv(report), fmt.value, report)
        return download(await asyncio.to_thread(exports.to_xlsx, report), fmt.value, report)

    @router.get(
        "/charts/{name}.{fmt}",
        summary="The main chart of a report as PNG or SVG",
        **file_response("The chart as `fmt`", MEDIA["png"], MEDIA["svg"]),
    )
    async def chart(
        name: ReportName,
        fmt: ChartFormat,
        principal: Principal = reader,
        period: str | None = period_query,
        municipality: str | None = municipality_query,
    ) -> Response:
        """The main chart of a report drawn as PNG or SVG, from the same suppressed figures as the
        report."""
        report = await build(name.value, principal, period, municipality)
        body = await asyncio.to_thread(charts.render, report, fmt.value)
        return Response(body, media_type=MEDIA[fmt.value])

    @router.get(
        "/dashboard",
        summary="Headline figures and chart series for the web UI",
        name="dashboard",
        **returns(DashboardOut, "Headline figures and chart series"),
    )
    async def get_dashboard(
        principal: Principal = reader,
        period: str | None = period_query,
        municipality: str | None = municipality_query,
    ) -> dict[str, Any]:
        """Headline figures and the chart series the web UI's dashboard draws, for the caller's
        municipality."""
        reports = {
            name: await build(name, principal, period, municipality) for name in catalog.REPORTS
        }
        return dashboard(reports)

    @router.post(
        "/rebuild",
        summary="Drop the projections and rebuild them from the facts",
        name="rebuild",
        **returns(Rebuilt, "How many facts were replayed"),
    )
    async def post_rebuild(principal: Principal = admin) -> dict[str, Any]:
        """Drops the read projections and rebuilds them from the stored facts (admins)."""
        # Projections hold every municipality this site serves: only its own admins. The
        # rebuild drops collections, which no transaction holds: its entry is standalone.
        async with svc.audit.action(
            principal,
            "projections.rebuild",
            "projections",
            settings.municipality,
            standalone=True,
        ) as entry:
            ensure_municipality(principal, settings.municipality)
            done = await rebuild(db, tz=tz)
            entry.note(**{k: v for k, v in done.items() if isinstance(v, int | str)})
        return done

    return router
