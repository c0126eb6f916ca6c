"""Routing by configuration, pass-through of identity and correlation, and the answers for
paths nobody serves, against real upstream processes."""

from __future__ import annotations

from typing import Any

from kit.testing import TestIssuer

PROBLEM = "application/problem+json"


def urls(echoes: dict[str, Any], *names: str) -> dict[str, str]:
    return {n: echoes[n].url for n in names}


async def test_paths_go_to_their_service_with_token_and_correlation_id(
    make_gateway: Any, echoes: dict[str, Any], issuer: TestIssuer
) -> None:
    async with make_gateway(urls(echoes, "identity", "events", "bookings")) as (client, _):
        token = issuer.token(sub="u-1", roles=["resident"])
        response = await client.get(
            "/api/v1/events/e%2F1?q=avaa+tila&lang=fi&lang=sv",
            headers={"Authorization": f"Bearer {token}", "X-Correlation-ID": "corr-gw-1"},
        )
        assert response.status_code == 200
        echoed = response.json()
        assert echoed["service"] == "events"
        assert echoed["path"] == "/events/e%2F1"  # encoding kept, /api/v1 stripped
        assert echoed["query"] == "q=avaa+tila&lang=fi&lang=sv"
        assert echoed["headers"]["authorization"] == f"Bearer {token}"
        assert echoed["headers"]["x-correlation-id"] == "corr-gw-1"
        assert echoed["headers"]["x-forwarded-prefix"] == "/api/v1"
        assert echoed["headers"]["x-forwarded-proto"] == "http"
        assert echoed["headers"]["x-forwarded-host"] == "gw.test"
        assert echoed["headers"]["x-forwarded-for"] == "127.0.0.1"
        assert response.headers["X-Correlation-ID"] == "corr-gw-1"

        # Longest prefix wins: me/feed belongs to bookings, me to identity, and
        # feeds/events.ics to events while other feeds are bookings'.
        auth = {"Authorization": f"Bearer {token}"}
        feed = await client.post("/api/v1/me/feed", headers=auth)
        assert feed.json()["service"] == "bookings" and feed.json()["path"] == "/me/feed"
        ics = await client.get("/api/v1/feeds/events.ics")
        assert ics.json()["service"] == "events"
        personal = await client.get("/api/v1/feeds/tok123.ics")
        assert personal.json()["service"] == "bookings"
        # A rewritten prefix: both services have /series; bookings' is booking-series here.
        series = await client.get("/api/v1/booking-series/s%201/x")
        assert series.json()["service"] == "bookings"
        assert series.json()["path"] == "/series/s%201/x"
        events_series = await client.get("/api/v1/series/s1")
        assert events_series.json()["service"] == "events"
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["service"] == "identity" and me.json()["path"] == "/me"
        # The gateway's own /api/v1 routes win over the catch-all (my page, not identity's
        # /me/overview); in a method they do not serve, the catch-all forwards as before.
        own = await client.get("/api/v1/me/overview", headers=auth)
        assert own.status_code == 200 and own.json()["subject"] == "u-1"
        assert "service" not in own.json()
        other = await client.post("/api/v1/me/overview", headers=auth)
        assert other.json()["service"] == "identity" and other.json()["path"] == "/me/overview"
        # A generated correlation id still reaches the service.
        generated = me.headers["X-Correlation-ID"]
        assert me.json()["headers"]["x-correlation-id"] == generated


async def test_bodies_status_and_headers_pass_both_ways(
    make_gateway: Any, echoes: dict[str, Any]
) -> None:
    async with make_gateway(urls(echoes, "bookings")) as (client, _):
        response = await client.post(
            "/api/v1/bookings",
            json={"resource": "ws-1", "start": "2026-12-01T09:00:00+02:00"},
            headers={
                "X-Forwarded-For": "6.6.6.6",
                "Connection": "keep-alive, X-Hop-Secret",
                "X-Hop-Secret": "for the gateway only",
            },
        )
        assert response.status_code == 201
        # The service's own path comes back as the gateway's.
        assert response.headers["Location"] == "/api/v1/bookings/1"
        assert response.headers["X-Upstream"] == "bookings"
        echoed = response.json()
        assert echoed["method"] == "POST"
        assert '"resource":"ws-1"' in echoed["body"].replace(" ", "")
        assert echoed["headers"]["content-type"] == "application/json"
        # Fields the Connection header names stop at the gateway (RFC 9110 §7.6.1).
        assert "x-hop-secret" not in echoed["headers"]
        # A caller cannot forge its address to the services (no trusted proxy configured).
        assert echoed["headers"]["x-forwarded-for"] == "127.0.0.1"

        for method in ("put", "patch", "delete"):
            answer = await client.request(method.upper(), "/api/v1/bookings/b-1")
            assert answer.json()["method"] == method.upper()

        # Conditional and idempotent requests' headers pass both ways (kit.conditional,
        # kit.idempotency).
        keyed = await client.post(
            "/api/v1/bookings?etag=%22r3%22",
            json={},
            headers={"Idempotency-Key": "k-123", "If-Match": '"r2"', "If-None-Match": '"r1"'},
        )
        sent = keyed.json()["headers"]
        assert sent["idempotency-key"] == "k-123"
        assert sent["if-match"] == '"r2"' and sent["if-none-match"] == '"r1"'
        assert keyed.headers["ETag"] == '"r3"'
        assert keyed.headers["Idempotent-Replayed"] == "true"

        # The service's own problems arrive unchanged.
        failed = await client.get("/api/v1/bookings/b-1?status=409")
        assert failed.status_code == 409
        assert failed.headers["content-type"] == PROBLEM
        assert failed.json()["title"] == "asked to fail"


async def test_a_cookie_set_for_one_caller_is_not_sent_on_for_the_next(
    make_gateway: Any, echoes: dict[str, Any]
) -> None:
    # By host name: aiohttp's default cookie jar ignores cookies of bare IP addresses, and
    # deployments name their services (compose, Kubernetes, a partner's address).
    by_name = echoes["bookings"].url.replace("127.0.0.1", "localhost")
    async with make_gateway({"bookings": by_name}) as (client, _):
        cookie = await client.get("/api/v1/bookings/b-1?cookie=session=alice")
        assert cookie.headers["set-cookie"].startswith("session=alice")  # passed on
        client.cookies.clear()  # the test client keeps cookies; a second caller has none
        other = await client.get("/api/v1/bookings/b-2")
        assert other.status_code == 200
        assert "cookie" not in other.json()["headers"]


async def test_not_deployed_service_answers_503_naming_it(
    make_gateway: Any, echoes: dict[str, Any]
) -> None:
    async with make_gateway(urls(echoes, "events")) as (client, _):
        response = await client.get("/api/v1/analytics/reports/esf")
        assert response.status_code == 503
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert body["service"] == "analytics"
        assert body["type"].endswith("/service-not-deployed")
        assert "analytics service is not deployed" in body["detail"]
        assert body["correlation_id"] == response.headers["X-Correlation-ID"]
        # Readiness does not depend on optional upstreams; their state is reported apart.
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        # The gateway consumes nothing and has no broker: its consumer check has nothing
        # to fail (a 503 there would read as an outage).
        assert (await client.get("/readyz/consumers")).status_code == 200
        status = (await client.get("/upstreams")).json()
        assert status["analytics"] == {"deployed": False}
        assert status["events"]["deployed"] and status["events"]["ready"] is True


async def test_unknown_and_malformed_paths(make_gateway: Any, echoes: dict[str, Any]) -> None:
    async with make_gateway(urls(echoes, "events")) as (client, _):
        unknown = await client.get("/api/v1/nowhere/1")
        assert unknown.status_code == 404
        assert unknown.json()["type"].endswith("/no-route")
        climbing = await client.get("/api/v1/events/%2E%2E/admin")
        assert climbing.status_code == 400
        assert climbing.json()["errors"][0]["field"] == "path"
        # The catch-all serves five methods; others are refused as problems, not forwarded.
        before = echoes["events"].hits()
        other = await client.request("TRACE", "/api/v1/events/1")
        assert other.status_code == 405
        assert other.headers["content-type"] == PROBLEM
        assert echoes["events"].hits() == before
        # Proxied requests are counted under the catch-all's template, not the raw path.
        metrics = (await client.get("/metrics")).text
        for status in (404, 400, 405):
            assert f'route="/api/v1/{{path:path}}",service="gateway",status="{status}"' in metrics


async def test_extra_routes_point_a_prefix_at_another_service(
    make_gateway: Any, echoes: dict[str, Any]
) -> None:
    async with make_gateway(
        urls(echoes, "events", "bookings"), extra_routes={"studios": "bookings"}
    ) as (client, _):
        response = await client.get("/api/v1/studios/s-1")
        assert response.json()["service"] == "bookings"
        assert response.json()["path"] == "/studios/s-1"


async def test_body_over_the_limit_is_refused_at_the_edge(
    make_gateway: Any, echoes: dict[str, Any]
) -> None:
    async with make_gateway(urls(echoes, "events"), max_body_bytes=100) as (client, _):
        before = echoes["events"].hits()
        response = await client.post("/api/v1/events", content=b"x" * 500)
        assert response.status_code == 413
        assert response.json()["errors"][0]["field"] == "body"
        assert echoes["events"].hits() == before


async def test_upstream_locations_become_the_gateways_own_or_are_dropped(
    make_gateway: Any, echoes: dict[str, Any]
) -> None:
    """A service knows only its internal address (a trailing-slash redirect of events said
    `Location: http://127.0.0.1:8002/events`): the caller gets the gateway's path."""
    async with make_gateway(urls(echoes, "events", "bookings")) as (client, _):
        internal = echoes["events"].url.rstrip("/")
        cases = {
            f"{internal}/events": "/api/v1/events",
            f"{internal}/events/e1?lang=sv": "/api/v1/events/e1?lang=sv",
            "/venues/v%2F1": "/api/v1/venues/v%2F1",
            "http://10.0.0.7:8002/events": None,  # another internal address
            "https://elsewhere.example/phish": None,
            "//elsewhere.example/x": None,
            f"{internal}/metrics": None,  # not routed by the gateway
            "relative/path": None,
        }
        for given, expected in cases.items():
            answer = await client.get("/api/v1/events/x", params={"location": given})
            assert answer.status_code == 200
            assert answer.headers.get("Location") == expected, given
        booked = echoes["bookings"].url.rstrip("/")
        series = await client.get("/api/v1/bookings/x", params={"location": f"{booked}/series/s1"})
        assert series.headers["Location"] == "/api/v1/booking-series/s1"
