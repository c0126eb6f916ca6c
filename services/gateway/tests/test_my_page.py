"""GET /api/v1/me/overview: parts fetched concurrently as the caller, each part degrading
on its own."""

from __future__ import annotations

from typing import Any

from kit.testing import TestIssuer

PAGE = {
    "bookings": {"service": "bookings", "path": "/bookings/mine"},
    "registrations": {"service": "events", "path": "/registrations/mine"},
    "notices": {"service": "notifications", "path": "/notifications/inbox?unread=true"},
    "reports": {"service": "analytics", "path": "/analytics/reports/mine"},
}


async def test_overview_degrades_per_part(
    make_gateway: Any, echoes: dict[str, Any], issuer: TestIssuer, dead_url: str
) -> None:
    upstreams = {
        "bookings": echoes["bookings"].url,
        "events": echoes["events"].url,
        "notifications": dead_url,
    }
    async with make_gateway(upstreams, my_page=PAGE) as (client, _):
        token = issuer.token(sub="u-7", municipality="kouvola")
        response = await client.get(
            "/api/v1/me/overview",
            headers={"Authorization": f"Bearer {token}", "X-Correlation-ID": "corr-page"},
        )
        assert response.status_code == 200
        page = response.json()
        assert page["subject"] == "u-7" and page["municipality"] == "kouvola"
        assert page["complete"] is False
        parts = page["parts"]
        bookings = parts["bookings"]
        assert bookings["status"] == "ok" and bookings["service"] == "bookings"
        assert bookings["data"]["path"] == "/bookings/mine"
        assert bookings["data"]["headers"]["authorization"] == f"Bearer {token}"
        assert bookings["data"]["headers"]["x-correlation-id"] == "corr-page"
        assert parts["registrations"]["status"] == "ok"
        assert parts["registrations"]["data"]["path"] == "/registrations/mine"
        assert parts["notices"]["status"] == "unavailable"
        assert parts["notices"]["problem"]["status"] == 502
        assert parts["reports"]["status"] == "not_deployed"
        assert parts["reports"]["problem"]["status"] == 503


async def test_overview_passes_service_refusals_on(
    make_gateway: Any, echoes: dict[str, Any], issuer: TestIssuer
) -> None:
    page = {"bookings": {"service": "bookings", "path": "/bookings/mine?status=403"}}
    async with make_gateway({"bookings": echoes["bookings"].url}, my_page=page) as (client, _):
        response = await client.get("/api/v1/me/overview", headers=issuer.headers())
        part = response.json()["parts"]["bookings"]
        assert part["status"] == "error" and part["problem"]["status"] == 403
        assert response.json()["complete"] is False


async def test_overview_needs_a_token(make_gateway: Any, echoes: dict[str, Any]) -> None:
    async with make_gateway({"bookings": echoes["bookings"].url}) as (client, _):
        response = await client.get("/api/v1/me/overview")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
