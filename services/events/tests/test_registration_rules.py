"""The waiting list through the service's own API, registrar and rules on the kit's
in-memory fakes (kit.memory): no broker, no store (the fast tier). Seats, places in line,
groups that wait whole, promotion on cancellation and capacity raised, and the events each
step commits. The same path on the real store and broker: test_registrations.py,
test_concurrency.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from contracts import events as ev
from events.main import service
from events.settings import EventsSettings
from kit.memory import Memory, use_memory
from kit.testing import TestIssuer


class Api:
    def __init__(self, client: httpx.AsyncClient, memory: Memory, issuer: TestIssuer) -> None:
        self.client = client
        self.memory = memory
        self.issuer = issuer

    def auth(self, role: str = "staff", sub: str | None = None) -> dict[str, str]:
        return self.issuer.headers(roles=[role], municipality="helsinki", sub=sub)

    async def event(self, capacity: int) -> str:
        starts = datetime.now(ZoneInfo("Europe/Helsinki")).replace(tzinfo=None, microsecond=0)
        starts += timedelta(days=7)
        body = {
            "kind": "workshop",
            "title": {"fi": "Työpaja"},
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "capacity": capacity,
        }
        made = await self.client.post("/events", json=body, headers=self.auth())
        assert made.status_code == 201, made.text
        event_id = str(made.json()["id"])
        published = await self.client.post(f"/events/{event_id}/publish", headers=self.auth())
        assert published.status_code == 200, published.text
        return event_id

    async def register(
        self, event_id: str, sub: str, correlation: str | None = None, **body: Any
    ) -> dict[str, Any]:
        headers = self.auth("resident", sub)
        if correlation:
            headers["X-Correlation-ID"] = correlation
        answer = await self.client.post(
            f"/events/{event_id}/registrations", json=body, headers=headers
        )
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    async def cancel(self, registration: dict[str, Any]) -> None:
        answer = await self.client.post(
            f"/registrations/{registration['id']}/cancel",
            headers=self.auth("resident", registration["user_id"]),
        )
        assert answer.status_code == 200, answer.text

    async def status(self, registration: dict[str, Any]) -> str:
        answer = await self.client.get(
            f"/registrations/{registration['id']}",
            headers=self.auth("resident", registration["user_id"]),
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["status"])

    def told(self, type_: str) -> list[str]:
        return [e.data["user_id"] for e in self.memory.published(type_)]


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture
async def api(issuer: TestIssuer) -> AsyncIterator[Api]:
    svc = service(EventsSettings())
    svc.verifier.trust(issuer.issuer, issuer.jwks)
    memory = use_memory(svc)
    app = svc.create_app()  # not started: nothing connects
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://events.test") as client:
        yield Api(client, memory, issuer)


async def test_full_event_waitlists_in_order_and_promotes_the_head(api: Api) -> None:
    eid = await api.event(capacity=2)
    a, b, c, d = [await api.register(eid, f"w-{x}") for x in "abcd"]
    assert [r["status"] for r in (a, b, c, d)] == ["confirmed"] * 2 + ["waitlisted"] * 2
    assert (c["place"], d["place"]) == (1, 2)
    assert api.told(ev.REGISTRATION_CONFIRMED) == ["w-a", "w-b"]
    assert api.told(ev.REGISTRATION_WAITLISTED) == ["w-c", "w-d"]

    await api.cancel(a)
    assert api.told(ev.REGISTRATION_PROMOTED) == ["w-c"]  # the head, not the newest
    assert await api.status(c) == "confirmed"
    assert await api.status(d) == "waitlisted"
    seats = await api.client.get(f"/events/{eid}")
    assert seats.json()["seats_free"] == 0

    await api.cancel(d)  # leaving the line promotes nobody and frees no seat
    assert api.told(ev.REGISTRATION_PROMOTED) == ["w-c"]
    [left] = [
        e for e in api.memory.published(ev.REGISTRATION_CANCELLED) if e.data["user_id"] == "w-d"
    ]
    assert left.data["was_waitlisted"] is True


async def test_a_group_waits_whole_and_nobody_passes_it(api: Api) -> None:
    eid = await api.event(capacity=4)
    await api.register(eid, "g-a", seats=3)
    group = await api.register(eid, "g-b", seats=2)  # 1 seat left: the pair waits
    single = await api.register(eid, "g-c")  # fits, but may not pass the pair
    assert group["status"] == "waitlisted" and single["status"] == "waitlisted"
    assert (group["place"], single["place"]) == (1, 2)


async def test_a_seat_freed_goes_to_nobody_while_the_head_does_not_fit(api: Api) -> None:
    eid = await api.event(capacity=3)
    first = await api.register(eid, "h-a")
    await api.register(eid, "h-b", seats=2)
    trio = await api.register(eid, "h-c", seats=3)
    single = await api.register(eid, "h-d")
    await api.cancel(first)  # one seat free: the trio at the head needs three
    assert api.told(ev.REGISTRATION_PROMOTED) == []
    assert [await api.status(r) for r in (trio, single)] == ["waitlisted", "waitlisted"]


async def test_sign_ups_together_fill_exactly_the_seats(api: Api) -> None:
    eid = await api.event(capacity=5)
    answers = await asyncio.gather(*(api.register(eid, f"t-{n}") for n in range(12)))
    confirmed = [r for r in answers if r["status"] == "confirmed"]
    waiting = sorted(r["place"] for r in answers if r["status"] == "waitlisted")
    assert len(confirmed) == 5
    assert waiting == list(range(1, 8))
    held = await api.memory.db.registrations.count_documents(
        {"event_id": eid, "status": "confirmed"}
    )
    assert held == 5


async def test_sign_ups_written_together_keep_their_own_correlation_ids(api: Api) -> None:
    """Sign-ups written in one batch (one unit of work): each one's message continues its
    own request's chain, not that of the request which started the batch."""
    eid = await api.event(capacity=3)
    commits = api.memory.uow.commits
    answers = await asyncio.gather(
        *(api.register(eid, f"k-{n}", correlation=f"chain-{n}") for n in range(8))
    )
    assert api.memory.uow.commits - commits < len(answers)  # some were written together
    made = api.memory.published(ev.REGISTRATION_CONFIRMED)
    made += api.memory.published(ev.REGISTRATION_WAITLISTED)
    chains = {e.data["user_id"]: e.correlationid for e in made if e.data["event_id"] == eid}
    assert chains == {f"k-{n}": f"chain-{n}" for n in range(8)}
    assert {a["user_id"] for a in answers} == set(chains)


async def test_raising_capacity_promotes_from_the_waiting_list(api: Api) -> None:
    eid = await api.event(capacity=1)
    await api.register(eid, "r-a")
    waiting = [await api.register(eid, f"r-{x}") for x in "bcd"]
    raised = await api.client.patch(f"/events/{eid}", json={"capacity": 3}, headers=api.auth())
    assert raised.status_code == 200, raised.text
    assert api.told(ev.REGISTRATION_PROMOTED) == ["r-b", "r-c"]
    assert [await api.status(r) for r in waiting] == ["confirmed", "confirmed", "waitlisted"]
