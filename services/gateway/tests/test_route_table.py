"""The route table on its own: longest prefix, rewrites, and the reverse mapping the
aggregated OpenAPI uses."""

from __future__ import annotations

import pytest

from gateway.routes import RouteTable
from gateway.settings import DEFAULT_ROUTES, GatewaySettings
from kit.problems import Problem

TABLE = RouteTable(DEFAULT_ROUTES)


@pytest.mark.parametrize(
    ("path", "service", "upstream"),
    [
        ("/events", "events", "/events"),
        ("/events/e1/registrations", "events", "/events/e1/registrations"),
        ("/registrations/mine", "events", "/registrations/mine"),
        ("/bookings/mine", "bookings", "/bookings/mine"),
        ("/resources/r1/availability", "bookings", "/resources/r1/availability"),
        ("/me", "identity", "/me"),
        ("/me/feed", "bookings", "/me/feed"),
        ("/feeds/events.ics", "events", "/feeds/events.ics"),
        ("/feeds/abc.ics", "bookings", "/feeds/abc.ics"),
        ("/booking-series/s1/cancel", "bookings", "/series/s1/cancel"),
        ("/series/s1", "events", "/series/s1"),
        ("/notifications/inbox", "notifications", "/notifications/inbox"),
        ("/analytics/reports/esf", "analytics", "/analytics/reports/esf"),
        ("/auth/login", "identity", "/auth/login"),
    ],
)
def test_default_routes(path: str, service: str, upstream: str) -> None:
    route = TABLE.match(path)
    assert route is not None
    assert (route.service, route.upstream_path) == (service, upstream)


def test_no_route_and_dot_segments() -> None:
    assert TABLE.match("/nowhere") is None
    assert TABLE.match("/") is None
    with pytest.raises(Problem) as raised:
        TABLE.match("/events/%2e%2e/admin")
    assert raised.value.status == 400 and raised.value.field == "path"


def test_reverse_mapping_for_openapi() -> None:
    assert TABLE.gateway_path("bookings", "/series/{series_id}") == "/booking-series/{series_id}"
    assert TABLE.gateway_path("events", "/series/{series_id}") == "/series/{series_id}"
    assert TABLE.gateway_path("events", "/readyz") is None
    # bookings' /series is not served under /series (that is events').
    assert TABLE.gateway_path("bookings", "/events") is None
    assert TABLE.gateway_path("identity", "/me") == "/me"


def test_unknown_service_in_configuration_is_refused() -> None:
    settings = GatewaySettings(extra_routes={"rooms": "roomservice"})
    with pytest.raises(ValueError, match="roomservice"):
        settings.route_table()


def test_upstreams_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOHTAAMO_UPSTREAMS__EVENTS", "https://events.partner.example/api/")
    monkeypatch.setenv("KOHTAAMO_UPSTREAMS__ANALYTICS", "")
    deployed = GatewaySettings().upstreams.deployed()
    assert deployed["events"] == "https://events.partner.example/api"
    assert "analytics" not in deployed
    assert deployed["bookings"] == "http://127.0.0.1:8003"  # untouched defaults stay
