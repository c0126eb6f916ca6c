"""The aggregated OpenAPI document: the routed operations of every deployed service under
/api/v1, clashing schema names kept apart, the gateway's own answers documented with
examples, and services that are absent said so."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi import Depends, FastAPI

from gateway.openapi import merge
from gateway.routes import RouteTable
from gateway.settings import DEFAULT_ROUTES
from kit.auth import Auth, Principal, TokenVerifier
from kit.openapi import PROBLEM_SCHEMA
from kit.problems import install_problem_handlers


async def test_aggregated_document(
    make_gateway: Any, echoes: dict[str, Any], dead_url: str
) -> None:
    upstreams = {
        "events": echoes["events"].url,
        "bookings": echoes["bookings"].url,
        "notifications": dead_url,
    }
    async with make_gateway(upstreams) as (client, _):
        response = await client.get("/openapi.json")
        assert response.status_code == 200
        doc = response.json()
        assert (await client.get("/api/v1/openapi.json")).json()["paths"] == doc["paths"]
        paths = doc["paths"]
        assert "/api/v1/events/typed/{item_id}" in paths
        assert "/api/v1/bookings/typed/{item_id}" in paths
        assert "/api/v1/me/overview" in paths  # the gateway's own
        assert "/readyz" in paths  # the gateway's own operations, once
        assert not any(p.startswith("/api/v1/readyz") for p in paths)  # not the services'

        # Both services call their model Item, with different fields: one is renamed.
        schemas = doc["components"]["schemas"]
        names = {n for n in schemas if n.endswith("Item")}
        assert names == {"Item", "EventsItem"} or names == {"Item", "BookingsItem"}
        events_op = paths["/api/v1/events/typed/{item_id}"]["get"]
        bookings_op = paths["/api/v1/bookings/typed/{item_id}"]["get"]
        refs = {
            op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
            for op in (events_op, bookings_op)
        }
        assert len(refs) == 2
        assert events_op["operationId"] != bookings_op["operationId"]

        # The gateway's own answers, as problem+json with examples; 422 is problem+json.
        for code in ("429", "502", "503", "504"):
            answer = events_op["responses"][code]["content"]["application/problem+json"]
            assert answer["schema"] == {"$ref": "#/components/schemas/Problem"}
            assert answer["examples"], code
        assert "application/problem+json" in events_op["responses"]["422"]["content"]
        examples = events_op["responses"]["503"]["content"]["application/problem+json"]
        assert examples["examples"]["not-deployed"]["value"]["type"].endswith(
            "/service-not-deployed"
        )

        services = doc["info"]["x-kohtaamo-services"]
        assert services["included"] == ["bookings", "events"]
        assert services["unavailable"] == ["notifications"]
        assert set(services["not_deployed"]) == {"identity", "analytics"}

        # The merged document is a valid OpenAPI document schemathesis can test from.
        schema = schemathesis.openapi.from_dict(doc)
        operations = [op.ok().label for op in schema.get_all_operations()]
        assert "GET /api/v1/events/typed/{item_id}" in operations


async def test_document_served_from_cache_when_a_service_goes_away(
    make_gateway: Any, spawn_echo: Any
) -> None:
    echo = spawn_echo("events")
    async with make_gateway({"events": echo.url}) as (client, _):
        first = (await client.get("/openapi.json")).json()
        assert "/api/v1/events/typed/{item_id}" in first["paths"]
        echo.stop()
        again = (await client.get("/openapi.json")).json()
        assert "/api/v1/events/typed/{item_id}" in again["paths"]


def test_service_and_gateway_answers_are_one() -> None:
    """A kit service documents its own 401 and 503 (kit.openapi); the merged operation
    keeps them and adds the gateway's examples, under the one shared Problem schema."""
    service = FastAPI()
    install_problem_handlers(service)
    signed_in = Depends(Auth(TokenVerifier([], audience="kohtaamo")).principal)

    @service.get("/events/{event_id}")
    async def one(event_id: str, principal: Principal = signed_in) -> dict[str, str]:
        return {}

    own = {"openapi": "3.1.0", "info": {"title": "gw", "version": "1"}, "paths": {}}
    doc = merge(own, {"events": service.openapi()}, RouteTable(DEFAULT_ROUTES))
    responses = doc["paths"]["/api/v1/events/{event_id}"]["get"]["responses"]
    assert {"401", "403", "404", "422", "429", "502", "503", "504"} <= set(responses)
    for code in ("401", "503"):
        media = responses[code]["content"]["application/problem+json"]
        assert media["schema"] == {"$ref": "#/components/schemas/Problem"}
        assert media["examples"], code
    assert responses["503"]["description"].startswith("The database is not reachable")
    assert "not deployed" in responses["503"]["description"]
    assert doc["components"]["schemas"]["Problem"] == PROBLEM_SCHEMA
    assert not any(
        name.endswith("Problem") and name != "Problem" for name in doc["components"]["schemas"]
    )
