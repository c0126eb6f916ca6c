"""The booking rules through the service's own HTTP API and booking path, on the kit's
in-memory fakes (kit.memory): no broker, no store (the fast tier). What the real store
adds, the write conflicts between replicas, is tested in test_concurrency_processes.py and
test_property.py."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bookings.main import service
from bookings.settings import BookingsSettings
from bookings.testing import Actors, at, future_day
from contracts import bookings as ev
from kit.memory import Memory, use_memory
from kit.testing import TestIssuer

WEEK = {str(d): [{"opens": "08:00", "closes": "20:00"}] for d in range(7)}


class Desk:
    def __init__(self, client: httpx.AsyncClient, memory: Memory, actors: Actors) -> None:
        self.client = client
        self.memory = memory
        self.actors = actors

    async def resource(self, rules: dict[str, Any] | None = None, **extra: Any) -> str:
        staff = self.actors.staff()
        location = await self.client.post(
            "/locations",
            json={"name": {"fi": "Toimisto"}, "kind": "urban_office", "hours": {"weekly": WEEK}},
            headers=staff,
        )
        assert location.status_code == 201, location.text
        body = {
            "location_id": location.json()["id"],
            "kind": "meeting_room",
            "name": {"fi": "Huone"},
            "capacity": 6,
            "rules": {"slot_minutes": 30, "min_minutes": 30, "max_minutes": 240, **(rules or {})},
            **extra,
        }
        resource = await self.client.post("/resources", json=body, headers=staff)
        assert resource.status_code == 201, resource.text
        return str(resource.json()["id"])

    async def book(
        self, resource_id: str, start: str, end: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            "/bookings",
            json={"resource_id": resource_id, "starts_at": start, "ends_at": end},
            headers=headers or self.actors.user(),
        )


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()  # a key pair is slow to make: one for the module


@pytest.fixture
async def desk(issuer: TestIssuer) -> AsyncIterator[Desk]:
    svc = service(BookingsSettings())
    svc.verifier.trust(issuer.issuer, issuer.jwks)
    memory = use_memory(svc)
    app = svc.create_app()  # not started: nothing connects
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bookings") as client:
        yield Desk(client, memory, Actors(issuer))


async def test_an_overlap_with_the_buffer_is_refused_and_the_next_slot_taken(desk: Desk) -> None:
    room = await desk.resource({"buffer_after_minutes": 30})
    day = future_day(3)
    first = await desk.book(room, at(day, "10:00"), at(day, "11:00"))
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "confirmed"
    inside_buffer = await desk.book(room, at(day, "11:00"), at(day, "12:00"))
    assert inside_buffer.status_code == 409, inside_buffer.text
    problem = inside_buffer.json()
    assert problem["type"].endswith("/booking-conflict")
    assert problem["errors"][0]["field"] == "starts_at" or problem.get("field") == "starts_at"
    after = await desk.book(room, at(day, "11:30"), at(day, "12:30"))
    assert after.status_code == 201, after.text
    stored = await desk.memory.db.bookings.count_documents({"resource_id": room})
    assert stored == 2
    # Each accepted booking was requested and confirmed, committed with it.
    assert len(desk.memory.published(ev.BOOKING_REQUESTED)) == 2
    assert len(desk.memory.published(ev.BOOKING_CONFIRMED)) == 2


async def test_requests_together_never_overlap(desk: Desk) -> None:
    room = await desk.resource()
    day = future_day(4)
    starts = ["09:00", "09:30", "10:00", "09:00", "10:30", "09:30"]
    answers = await asyncio.gather(
        *(desk.book(room, at(day, s), at(day, f"{int(s[:2]) + 1:02d}:{s[3:]}")) for s in starts)
    )
    assert sorted(a.status_code for a in answers) == [201, 201, 409, 409, 409, 409]
    held = await desk.memory.db.bookings.find({"resource_id": room}).to_list()
    held.sort(key=lambda b: b["starts_at"])
    assert [b["starts_at"] for b in held] == sorted({b["starts_at"] for b in held})
    for a, b in itertools.pairwise(held):
        assert a["ends_at"] <= b["starts_at"]


async def test_requests_written_together_keep_their_own_correlation_ids(desk: Desk) -> None:
    """Requests for two rooms written in one batch of the desk (one unit of work): each
    accepted booking's messages continue its own request's chain."""
    rooms = [await desk.resource(), await desk.resource()]
    day = future_day(5)
    commits = desk.memory.uow.commits
    wanted = [(rooms[n % 2], f"{9 + n // 2:02d}:00") for n in range(8)]
    answers = await asyncio.gather(
        *(
            desk.book(room, at(day, s), at(day, f"{int(s[:2]) + 1:02d}:00"), chained(desk, n))
            for n, (room, s) in enumerate(wanted)
        )
    )
    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers]
    assert desk.memory.uow.commits - commits < len(answers)  # some were written together
    chain_of = {a.json()["id"]: f"chain-{n}" for n, a in enumerate(answers)}
    for type_ in (ev.BOOKING_REQUESTED, ev.BOOKING_CONFIRMED):
        made = {
            e.data["booking_id"]: e.correlationid
            for e in desk.memory.published(type_)
            if e.data["booking_id"] in chain_of
        }
        assert made == chain_of, type_


def chained(desk: Desk, n: int) -> dict[str, str]:
    return desk.actors.user() | {"X-Correlation-ID": f"chain-{n}"}


@pytest.mark.parametrize(
    ("rules", "start", "end", "status", "field"),
    [
        ({}, "07:00", "08:30", 422, "starts_at"),  # before opening
        ({}, "10:00", "10:15", 422, "ends_at"),  # shorter than min_minutes... and off-grid
        ({}, "10:10", "11:10", 422, "starts_at"),  # off the 30-minute grid
        ({"max_minutes": 60}, "10:00", "11:30", 422, "ends_at"),
        ({"max_days_ahead": 1}, "10:00", "11:00", 422, "starts_at"),
    ],
)
async def test_rules_refuse_with_the_field(
    desk: Desk, rules: dict[str, Any], start: str, end: str, status: int, field: str
) -> None:
    room = await desk.resource(rules)
    day = future_day(3)
    answer = await desk.book(room, at(day, start), at(day, end))
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert problem["type"].endswith("/booking-rule"), problem
    assert field in str(problem), problem
    assert await desk.memory.db.bookings.count_documents({}) == 0
    assert desk.memory.published(ev.BOOKING_REQUESTED) == []


async def test_a_daily_quota_counts_the_persons_own_bookings(desk: Desk) -> None:
    room = await desk.resource({"max_bookings_per_day": 2})
    day = future_day(5)
    me = desk.actors.user("quota-person")
    for hour in ("09", "11"):
        ok = await desk.book(room, at(day, f"{hour}:00"), at(day, f"{hour}:30"), me)
        assert ok.status_code == 201, ok.text
    third = await desk.book(room, at(day, "13:00"), at(day, "13:30"), me)
    assert third.status_code == 409, third.text
    assert "2 bookings a day" in third.json()["detail"]
    other = await desk.book(room, at(day, "13:00"), at(day, "13:30"))
    assert other.status_code == 201, other.text
    next_day = day + timedelta(days=1)
    again = await desk.book(room, at(next_day, "09:00"), at(next_day, "09:30"), me)
    assert again.status_code == 201, again.text


async def test_approval_makes_a_pending_booking_that_staff_confirms(desk: Desk) -> None:
    room = await desk.resource({"approval_required": True})
    day = future_day(3)
    asked = await desk.book(room, at(day, "10:00"), at(day, "11:00"))
    assert asked.status_code == 201, asked.text
    assert asked.json()["status"] == "pending"
    assert len(desk.memory.published(ev.BOOKING_PENDING)) == 1
    # A pending booking holds its time too.
    clash = await desk.book(room, at(day, "10:30"), at(day, "11:30"))
    assert clash.status_code == 409, clash.text


async def test_cancelling_gives_the_time_back(desk: Desk) -> None:
    room = await desk.resource()
    day = future_day(3)
    me = desk.actors.user("canceller")
    first = await desk.book(room, at(day, "10:00"), at(day, "11:00"), me)
    assert first.status_code == 201, first.text
    booking_id = first.json()["id"]
    cancelled = await desk.client.post(f"/bookings/{booking_id}/cancel", json={}, headers=me)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    [event] = desk.memory.published(ev.BOOKING_CANCELLED)
    assert event.subject == f"booking/{booking_id}"
    again = await desk.book(room, at(day, "10:00"), at(day, "11:00"))
    assert again.status_code == 201, again.text


async def test_refusals_answer_as_problems_naming_what_is_missing(desk: Desk) -> None:
    room = await desk.resource({"min_age": 18})
    day = future_day(3)
    unknown = await desk.book(room, at(day, "10:00"), at(day, "11:00"))
    assert unknown.status_code == 403, unknown.text
    assert unknown.json()["type"].endswith("/birthdate-needed")
    assert unknown.json()["min_age"] == 18
    young = desk.actors.user(birthdate=(day - timedelta(days=365 * 10)).isoformat())
    too_young = await desk.book(room, at(day, "10:00"), at(day, "11:00"), young)
    assert too_young.status_code == 403, too_young.text
    assert too_young.json()["type"].endswith("/age-limit")
    for_someone = await desk.client.post(
        "/bookings",
        json={
            "resource_id": room,
            "starts_at": at(day, "12:00"),
            "ends_at": at(day, "13:00"),
            "user_id": "someone-else",
        },
        headers=desk.actors.user(birthdate="1990-01-01"),
    )
    assert for_someone.status_code == 403, for_someone.text
    assert "on behalf" in for_someone.json()["detail"]
    missing = await desk.book("no-such-room", at(day, "10:00"), at(day, "11:00"))
    assert missing.status_code == 404, missing.text
    assert await desk.memory.db.bookings.count_documents({}) == 0
