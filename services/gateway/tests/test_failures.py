"""Upstream failures become clear problems within a deadline, and the breaker stops
sending to a failing service until it recovers. All against real processes."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import REGISTRY

from gateway.breaker import REJECTED
from kit.testing import eventually


def upstream_calls(upstream: str, outcome: str) -> float:
    """kohtaamo_gateway_upstream_duration_seconds' count for the upstream and outcome."""
    labels = {"upstream": upstream, "outcome": outcome}
    return (
        REGISTRY.get_sample_value("kohtaamo_gateway_upstream_duration_seconds_count", labels) or 0.0
    )


def breaker_state(upstream: str) -> list[str]:
    """The states kohtaamo_gateway_breaker_state shows as current (1) for the upstream."""
    return [
        state
        for state in ("closed", "opened", "half-opened")
        if REGISTRY.get_sample_value(
            "kohtaamo_gateway_breaker_state", {"upstream": upstream, "state": state}
        )
        == 1
    ]


PROBLEM = "application/problem+json"


async def test_upstream_down_is_502_naming_the_service(make_gateway: Any, dead_url: str) -> None:
    async with make_gateway({"events": dead_url}) as (client, _):
        unreachable = upstream_calls("events", "upstream-unreachable")
        response = await client.get("/api/v1/events")
        assert response.status_code == 502
        # Timed per upstream and outcome.
        assert upstream_calls("events", "upstream-unreachable") == unreachable + 1
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert body["service"] == "events"
        assert body["type"].endswith("/upstream-unreachable")
        status = (await client.get("/upstreams")).json()["events"]
        assert status["ready"] is False and status["breaker"]["failures"] == 1


async def test_slow_upstream_is_504_not_a_hang(make_gateway: Any, echoes: dict[str, Any]) -> None:
    async with make_gateway({"events": echoes["events"].url}, upstream_timeout_s=0.5) as (
        client,
        _,
    ):
        response = await client.get("/api/v1/events?sleep=5")
        assert response.status_code == 504
        assert response.json()["type"].endswith("/upstream-timeout")
        assert response.json()["service"] == "events"
        # The pooled client is still usable afterwards.
        assert (await client.get("/api/v1/events")).status_code == 200


async def test_breaker_opens_on_failures_then_recovers(
    make_gateway: Any, echoes: dict[str, Any]
) -> None:
    echo = echoes["bookings"]
    async with make_gateway({"bookings": echo.url}, breaker_threshold=3, breaker_pause_s=1.0) as (
        client,
        svc,
    ):
        assert breaker_state("bookings") == ["closed"]
        failed = upstream_calls("bookings", "5xx")
        for _ in range(3):
            failing = await client.get("/api/v1/bookings?status=503")
            # The service's own 503 is passed on, and counted against its breaker.
            assert failing.status_code == 503 and failing.json()["title"] == "asked to fail"
        before = echo.hits()
        rejected = REJECTED.labels("bookings")._value.get()
        paused = await client.get("/api/v1/bookings")
        assert paused.status_code == 503
        assert paused.json()["type"].endswith("/circuit-open")
        assert int(paused.headers["Retry-After"]) >= 1
        assert echo.hits() == before  # failed fast: the service was not called
        # Counted for the "breaker open" alert (deploy/k8s/base/monitoring).
        assert REJECTED.labels("bookings")._value.get() == rejected + 1
        assert (await svc.upstreams.breakers.state("bookings"))["state"] == "opened"
        assert breaker_state("bookings") == ["opened"]
        assert upstream_calls("bookings", "5xx") == failed + 3

        async def recovered() -> bool:
            return (await client.get("/api/v1/bookings")).status_code == 200

        await eventually(recovered, timeout=15)
        assert (await svc.upstreams.breakers.state("bookings"))["state"] == "closed"
        assert breaker_state("bookings") == ["closed"]


async def test_client_errors_do_not_trip_the_breaker(
    make_gateway: Any, echoes: dict[str, Any]
) -> None:
    async with make_gateway({"events": echoes["events"].url}, breaker_threshold=2) as (client, svc):
        for _ in range(4):
            assert (await client.get("/api/v1/events?status=404")).status_code == 404
        assert (await svc.upstreams.breakers.state("events"))["state"] == "closed"
        assert (await client.get("/api/v1/events")).status_code == 200


async def test_service_that_dies_and_comes_back(make_gateway: Any, spawn_echo: Any) -> None:
    echo = spawn_echo("events")
    async with make_gateway({"events": echo.url}, breaker_pause_s=0.5) as (client, _):
        assert (await client.get("/api/v1/events")).status_code == 200
        echo.stop()
        down = await client.get("/api/v1/events")
        assert down.status_code == 502
        assert down.json()["service"] == "events"
        spawn_echo("events", port=echo.port)  # back at the same address

        async def back() -> bool:
            return (await client.get("/api/v1/events")).status_code == 200

        await eventually(back, timeout=20)


async def test_full_connection_pool_is_503_busy_not_a_hang(
    make_gateway: Any, echoes: dict[str, Any]
) -> None:
    """Every connection to a service in use past the connect timeout: 503 with
    Retry-After, telling the caller to come back, rather than waiting without end."""
    async with make_gateway(
        {"events": echoes["events"].url},
        upstream_max_connections=1,
        upstream_connect_timeout_s=0.3,
        upstream_timeout_s=5.0,
    ) as (client, _):
        before = await asyncio.to_thread(echoes["events"].hits)
        slow = asyncio.create_task(client.get("/api/v1/events?sleep=1.5"))

        # The one connection is taken once the slow request reached the service (a fixed
        # pause was too short on a loaded machine: the next request got the connection).
        async def reached() -> bool:
            return bool(await asyncio.to_thread(echoes["events"].hits) > before)

        await eventually(reached)
        response = await client.get("/api/v1/events")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["type"].endswith("/gateway-busy")
        assert (await slow).status_code == 200
        assert (await client.get("/api/v1/events")).status_code == 200  # freed again
