"""CORS from configuration and security headers on every answer, including problems."""

from __future__ import annotations

from typing import Any

ORIGIN = "https://kirjasto.example"


async def test_cors_for_configured_origins_only(make_gateway: Any, echoes: dict[str, Any]) -> None:
    async with make_gateway({"events": echoes["events"].url}, cors_origins=[ORIGIN]) as (
        client,
        _,
    ):
        preflight = await client.options(
            "/api/v1/events",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()

        simple = await client.get("/api/v1/events", headers={"Origin": ORIGIN})
        assert simple.headers["access-control-allow-origin"] == ORIGIN
        assert "X-Correlation-ID" in simple.headers["access-control-expose-headers"]

        foreign = await client.options(
            "/api/v1/events",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert foreign.status_code == 400
        assert "access-control-allow-origin" not in foreign.headers
    async with make_gateway({"events": echoes["events"].url}) as (client, _):
        # No origins configured: no CORS at all.
        plain = await client.get("/api/v1/events", headers={"Origin": ORIGIN})
        assert "access-control-allow-origin" not in plain.headers


async def test_security_headers_everywhere(
    make_gateway: Any, echoes: dict[str, Any], dead_url: str
) -> None:
    async with make_gateway(
        {"events": echoes["events"].url, "bookings": dead_url}, hsts_seconds=31536000
    ) as (client, _):
        for path in ("/api/v1/events", "/api/v1/bookings", "/api/v1/nowhere", "/readyz"):
            response = await client.get(path)
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert response.headers["x-frame-options"] == "DENY", path
            assert response.headers["referrer-policy"] == "no-referrer", path
            assert response.headers["content-security-policy"].startswith("default-src 'none'")
            assert response.headers["strict-transport-security"] == "max-age=31536000"
            assert response.headers["cache-control"] == "no-store"
        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert "/api/v1/openapi.json" in docs.text
        assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
