"""Fixtures: one bookings service per test session on the real broker and store, an
HTTP client on its app, a token issuer, and helpers that create locations and resources."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
import httpx
import pytest
from fastapi import FastAPI

from bookings.main import service
from bookings.settings import BookingsSettings
from bookings.testing import Actors, EventLog
from kit.app import Service
from kit.testing import TestIssuer, partner_signer

WEEK = {str(d): [{"opens": "08:00", "closes": "20:00"}] for d in range(7)}


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="session")
async def served(
    make_settings: Callable[..., Any], issuer: TestIssuer
) -> AsyncIterator[tuple[Service[BookingsSettings], FastAPI]]:
    """The service, started, and its app (the ASGI transport runs no lifespan)."""
    # Espoo's site as a trusted partner: the forgery tests sign as it.
    settings = make_settings(
        "bookings",
        cls=BookingsSettings,
        no_show_sweep_s=3600.0,
        event_signers=[partner_signer()],
    )
    svc = service(settings)
    svc.verifier.trust(issuer.issuer, issuer.jwks)
    app = svc.create_app()
    await svc.start()
    try:
        yield svc, app
    finally:
        await svc.stop()


@pytest.fixture(scope="session")
def svc(served: tuple[Service[BookingsSettings], FastAPI]) -> Service[BookingsSettings]:
    return served[0]


@pytest.fixture(scope="session")
def app(served: tuple[Service[BookingsSettings], FastAPI]) -> FastAPI:
    return served[1]


@pytest.fixture(scope="session")
async def events(amqp_url: str, svc: Service) -> AsyncIterator[EventLog]:
    """Every event the service publishes, read from the real broker."""
    log = EventLog()
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(f"bookings-test-{uuid.uuid4().hex[:6]}", auto_delete=True)
    await queue.bind("kohtaamo.bookings.events", routing_key="bookings.#")
    await queue.consume(log.on_message)
    try:
        yield log
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def client(app: FastAPI, events: EventLog) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bookings") as c:
        yield c


@pytest.fixture
async def replica(
    svc: Service[BookingsSettings], issuer: TestIssuer
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on a second replica: another service from the factory with the same
    settings (store, database, broker) as `svc`, with its own process-local caches."""
    other = service(svc.settings)
    other.verifier.trust(issuer.issuer, issuer.jwks)
    app = other.create_app()
    await other.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bookings-2") as c:
            yield c
    finally:
        await other.stop()


@pytest.fixture(scope="session")
def actors(issuer: TestIssuer) -> Actors:
    return Actors(issuer)


@pytest.fixture
def book(client: httpx.AsyncClient) -> Callable[..., Awaitable[httpx.Response]]:
    """POST /bookings for a timed booking (times as `testing.at` gives them, or with an
    offset); `via` sends it to another replica's client."""

    async def post(
        headers: dict[str, str],
        resource: dict[str, Any],
        starts_at: str,
        ends_at: str,
        *,
        via: httpx.AsyncClient | None = None,
        **extra: Any,
    ) -> httpx.Response:
        body = {"resource_id": resource["id"], "starts_at": starts_at, "ends_at": ends_at}
        return await (via or client).post("/bookings", json={**body, **extra}, headers=headers)

    return post


@pytest.fixture
def make_location(client: httpx.AsyncClient, actors: Actors) -> Callable[..., Any]:
    async def make(
        municipality: str = "helsinki", weekly: dict[str, Any] | None = None, **extra: Any
    ) -> dict[str, Any]:
        body = {
            "name": {"fi": "Testitoimisto", "en": "Test office"},
            "kind": "urban_office",
            "hours": {"weekly": weekly or WEEK, "exceptions": extra.pop("exceptions", [])},
            **extra,
        }
        response = await client.post("/locations", json=body, headers=actors.staff(municipality))
        assert response.status_code == 201, response.text
        made: dict[str, Any] = response.json()
        return made

    return make


@pytest.fixture
def make_resource(
    client: httpx.AsyncClient, actors: Actors, make_location: Callable[..., Any]
) -> Callable[..., Any]:
    async def make(
        rules: dict[str, Any] | None = None,
        *,
        location: dict[str, Any] | None = None,
        kind: str = "meeting_room",
        **extra: Any,
    ) -> dict[str, Any]:
        location = location or await make_location()
        body = {
            "location_id": location["id"],
            "kind": kind,
            "name": {"fi": "Huone", "en": "Room"},
            "capacity": 6,
            "rules": {"slot_minutes": 30, "min_minutes": 30, "max_minutes": 240, **(rules or {})},
            **extra,
        }
        response = await client.post(
            "/resources", json=body, headers=actors.staff(location["municipality"])
        )
        assert response.status_code == 201, response.text
        made: dict[str, Any] = response.json()
        return made

    return make
