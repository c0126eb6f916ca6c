"""Fixtures: one events service per run on the real broker and store, an HTTP client on
its app, tokens from a test issuer, and a log of every event it publishes (read from a
real RabbitMQ queue bound to its exchange)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aio_pika
import httpx
import pytest

from contracts import topology
from events.main import service
from events.settings import EventsSettings
from kit.app import Service
from kit.testing import TestIssuer, eventually, partner_signer


def helsinki_now() -> datetime:
    """Wall-clock time in Helsinki: naive times in requests are the municipality's."""
    return datetime.now(ZoneInfo("Europe/Helsinki")).replace(tzinfo=None)


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="session")
async def svc(
    make_settings: Callable[..., Any], issuer: TestIssuer
) -> AsyncIterator[Service[EventsSettings]]:
    # Espoo's site as a trusted partner: the forgery tests sign as it.
    settings = make_settings(
        "events", cls=EventsSettings, outbox_poll_s=0.1, event_signers=[partner_signer()]
    )
    events = service(settings)
    events.verifier.trust(issuer.issuer, issuer.jwks)
    await events.start()
    yield events
    await events.stop()


@pytest.fixture(scope="session")
async def app(svc: Service[EventsSettings]) -> Any:
    return svc.create_app()  # started by `svc`; the ASGI transport runs no lifespan


@pytest.fixture(scope="session")
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://events.test") as c:
        yield c


class Published:
    """Every event the service published during the run, as parsed envelopes."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def of(self, type_: str, **data: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.items
            if e["type"] == type_ and all(e["data"].get(k) == v for k, v in data.items())
        ]

    async def wait(self, type_: str, count: int = 1, **data: Any) -> list[dict[str, Any]]:
        async def enough() -> bool:
            return len(self.of(type_, **data)) >= count

        await eventually(enough, timeout=60)  # the relay lags on a busy machine
        return self.of(type_, **data)


@pytest.fixture(scope="session")
async def published(svc: Service[EventsSettings], amqp_url: str) -> AsyncIterator[Published]:
    log = Published()
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    queue = await channel.declare_queue("", exclusive=True)
    await queue.bind(topology.exchange("events"), routing_key="events.#")

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            log.items.append(json.loads(message.body))

    await queue.consume(on_message)
    yield log
    await connection.close()


class Api:
    """Shorthands for tests: tokens and ready-made venues and events."""

    def __init__(self, client: httpx.AsyncClient, issuer: TestIssuer) -> None:
        self.client = client
        self.issuer = issuer

    def auth(
        self, role: str = "staff", municipality: str = "helsinki", sub: str | None = None, **kw: Any
    ) -> dict[str, str]:
        return self.issuer.headers(roles=[role], municipality=municipality, sub=sub, **kw)

    async def venue(self, municipality: str = "helsinki", **fields: Any) -> dict[str, Any]:
        body = {"kind": "library", "name": {"fi": "Testikirjasto"}, **fields}
        r = await self.client.post("/venues", json=body, headers=self.auth("staff", municipality))
        assert r.status_code == 201, r.text
        answer: dict[str, Any] = r.json()
        return answer

    async def event(
        self,
        *,
        municipality: str = "helsinki",
        publish: bool = True,
        days: float = 7,
        **fields: Any,
    ) -> dict[str, Any]:
        starts = (helsinki_now() + timedelta(days=days)).replace(microsecond=0)
        body = {
            "kind": "workshop",
            "title": {"fi": "Työpaja", "en": "Workshop"},
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            **fields,
        }
        staff = self.auth("staff", municipality)
        r = await self.client.post("/events", json=body, headers=staff)
        assert r.status_code == 201, r.text
        if publish:
            r = await self.client.post(f"/events/{r.json()['id']}/publish", headers=staff)
            assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer

    async def register(
        self, event_id: str, sub: str, municipality: str = "helsinki", **body: Any
    ) -> httpx.Response:
        return await self.client.post(
            f"/events/{event_id}/registrations",
            json=body,
            headers=self.auth("resident", municipality, sub=sub),
        )


@pytest.fixture(scope="session")
def api(client: httpx.AsyncClient, issuer: TestIssuer) -> Api:
    return Api(client, issuer)
