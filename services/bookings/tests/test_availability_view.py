"""The availability read model (timetable.py) on the real store: after random bookings,
cancellations, blocks and lifted blocks it answers exactly what a plain computation from
the store answers (`search.availability`, one query for the held time); the writer and
another replica read a write at once; a restarted process answers the same, ETag
included; If-None-Match gives 304 until something changes; memory stays in its bound."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bookings import timetable
from bookings.location import load_location
from bookings.main import service
from bookings.resource import load_resource
from bookings.search import availability
from bookings.testing import Actors
from kit.auth import Principal

HEL = ZoneInfo("Europe/Helsinki")
RULES = {"slot_minutes": 15, "min_minutes": 15, "max_minutes": 120, "buffer_after_minutes": 15,
         "min_notice_minutes": 60, "max_days_ahead": 3}  # fmt: skip


def principal(*roles: str, sub: str = "viewer") -> Principal:
    return Principal(sub, "helsinki", frozenset(roles), "test")


async def plain(
    svc: Any, resource_id: str, first: date, last: date, who: Principal, now: Any
) -> dict[str, Any]:
    """The same answer computed straight from the store, as the route did before."""
    resource = await load_resource(svc, resource_id, who)
    location = await load_location(svc, resource["location_id"])
    staff = who.has("staff")
    [result] = await availability(
        svc, location=location, resources=[resource], first=first, last=last, staff=staff,
        now=now,
    ) or [{"resource_id": resource_id, "kind": resource["kind"], "slots": []}]  # fmt: skip
    return {**result, "timezone": location["timezone"]}


def local(day: date, quarter: int) -> datetime:
    return datetime.combine(day, time(quarter // 4, 15 * (quarter % 4)), tzinfo=HEL)


steps = st.lists(
    st.tuples(
        st.sampled_from(["book", "book", "book", "cancel", "block", "lift"]),
        st.integers(0, 2),  # day
        st.integers(30, 78),  # start, quarter hours from midnight
        st.integers(1, 8),  # length in quarter hours
        st.integers(0, 1000),  # which booking or block
    ),
    min_size=2,
    max_size=7,
)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=steps, clock=st.integers(0, 4 * 24 * 4))
@example(  # every kind of change at least once, whatever hypothesis draws
    steps=[("book", 0, 40, 4, 0), ("book", 1, 48, 2, 0), ("cancel", 0, 0, 1, 0),
           ("block", 1, 44, 8, 0), ("lift", 0, 0, 1, 0)],
    clock=4 * 24 + 40,
)  # fmt: skip
async def test_views_equal_a_plain_computation_from_the_store(
    steps: list[tuple[str, int, int, int, int]],
    clock: int,
    svc: Any,
    client: httpx.AsyncClient,
    actors: Actors,
    make_resource: Any,
) -> None:
    room = await make_resource(RULES)
    rid = room["id"]
    base = datetime.now(UTC).date() + timedelta(days=1)
    staff = actors.staff()
    bookings: list[str] = []
    blocks: list[str] = []
    views = [(base, base), (base + timedelta(days=1), base + timedelta(days=1)),
             (base - timedelta(days=1), base + timedelta(days=3))]  # fmt: skip
    # the clock somewhere from before the range to its end: every cut is met
    now = datetime.combine(base - timedelta(days=1), time(), tzinfo=HEL) + timedelta(
        minutes=15 * clock
    )
    readers = [principal("resident"), principal("staff")]
    model = timetable.timetable_for(svc)
    for action, day, quarter, length, pick in steps:
        start = local(base + timedelta(days=day), quarter)
        end = start + timedelta(minutes=15 * length)
        span = {"starts_at": start.isoformat(), "ends_at": end.isoformat()}
        if action == "book":
            r = await client.post(
                "/bookings", json={"resource_id": rid, **span}, headers=actors.user()
            )
            assert r.status_code in (201, 409, 422), r.text
            if r.status_code == 201:
                bookings.append(r.json()["id"])
        elif action == "cancel" and bookings:
            gone = bookings.pop(pick % len(bookings))
            r = await client.post(f"/bookings/{gone}/cancel", json={}, headers=staff)
            assert r.status_code == 200, r.text
        elif action == "block":
            r = await client.post(f"/resources/{rid}/blocks", json=span, headers=staff)
            assert r.status_code in (201, 409, 422), r.text
            if r.status_code != 201:
                continue
            blocks.append(r.json()["id"])
            cancelled = set(r.json()["cancelled_booking_ids"])
            bookings = [b for b in bookings if b not in cancelled]
        elif action == "lift" and blocks:
            gone = blocks.pop(pick % len(blocks))
            assert (await client.delete(f"/blocks/{gone}", headers=staff)).status_code == 204
        for first, last in views:
            for who in readers:
                answer = await model.read(rid, first, last, who, now=now)
                assert json.loads(answer.body) == await plain(svc, rid, first, last, who, now)


async def test_writer_and_replica_read_a_booking_at_once_and_a_restart_answers_the_same(
    svc: Any,
    client: httpx.AsyncClient,
    replica: httpx.AsyncClient,
    actors: Actors,
    make_resource: Any,
) -> None:
    room = await make_resource({"slot_minutes": 30, "min_minutes": 30, "max_minutes": 120})
    day = datetime.now(UTC).date() + timedelta(days=2)
    url = f"/resources/{room['id']}/availability"
    params = {"from": day.isoformat(), "to": day.isoformat()}
    me = actors.user("rw-reader")
    before = await client.get(url, params=params, headers=me)
    assert before.status_code == 200 and before.headers["cache-control"] == "private, no-cache"
    assert (await replica.get(url, params=params, headers=me)).json() == before.json()
    slot = before.json()["slots"][4]
    r = await client.post(
        "/bookings",
        json={"resource_id": room["id"], **slot},
        headers=actors.user("rw-writer"),
    )
    assert r.status_code == 201, r.text
    for reader in (client, replica):  # the writer's process and another replica
        after = await reader.get(url, params=params, headers=me)
        assert slot not in after.json()["slots"]
        assert after.headers["etag"] != before.headers["etag"]
    writer = actors.user("rw-writer")
    assert (await replica.post(f"/bookings/{r.json()['id']}/cancel", headers=writer)).is_success
    again = await client.get(url, params=params, headers=me)
    assert again.json() == before.json() and again.headers["etag"] == before.headers["etag"]

    # A fresh process (nothing in memory) answers the same bytes and ETag.
    restarted = service(svc.settings)
    try:
        fresh = await timetable.timetable_for(restarted).read(
            room["id"], day, day, principal("resident", sub="rw-reader")
        )
    finally:
        await restarted.store.close()
    assert fresh.body == again.content and fresh.etag == again.headers["etag"]


async def test_if_none_match_gives_304_until_a_change(
    client: httpx.AsyncClient, actors: Actors, make_resource: Any
) -> None:
    room = await make_resource({"slot_minutes": 60, "min_minutes": 60, "max_minutes": 120})
    first = datetime.now(UTC).date() + timedelta(days=3)
    url = f"/resources/{room['id']}/availability"
    params = {"from": first.isoformat(), "to": (first + timedelta(days=29)).isoformat()}
    me = actors.user("etag-reader")
    r = await client.get(url, params=params, headers=me)
    etag = r.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    same = await client.get(url, params=params, headers=me | {"If-None-Match": etag})
    assert same.status_code == 304 and same.headers["etag"] == etag and not same.content
    listed = await client.get(url, params=params, headers=me | {"If-None-Match": f'"x", {etag}'})
    assert listed.status_code == 304
    staff = actors.staff()
    r = await client.post(
        f"/resources/{room['id']}/blocks",
        json={"starts_at": f"{first}T10:00:00+02:00", "ends_at": f"{first}T12:00:00+02:00"},
        headers=staff,
    )
    assert r.status_code == 201
    changed = await client.get(url, params=params, headers=me | {"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    # a rules change is a change too
    r = await client.patch(
        f"/resources/{room['id']}",
        json={"rules": {"slot_minutes": 30, "min_minutes": 30, "max_minutes": 120}},
        headers=staff,
    )
    assert r.status_code == 200, r.text
    finer = await client.get(url, params=params, headers=me)
    assert len(finer.json()["slots"]) > len(changed.json()["slots"])
    # bad input is still a 4xx naming the field
    wrong = await client.get(url, params={"from": params["to"], "to": params["from"]}, headers=me)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "to"
    gone = await client.get(f"/resources/res-{uuid.uuid4().hex}/availability", params=params,
                            headers=me)  # fmt: skip
    assert gone.status_code == 404


async def test_memory_stays_within_its_bound(svc: Any, make_resource: Any) -> None:
    rooms = [
        await make_resource({"slot_minutes": 30, "min_minutes": 30, "max_minutes": 120})
        for _ in range(3)
    ]
    model = timetable.Timetable(svc, max_slots=100)  # a day is 24 slots (08-20)
    first = datetime.now(UTC).date() + timedelta(days=2)
    who = principal("resident")
    for room in rooms:
        for offset in range(3):
            day = first + timedelta(days=offset)
            await model.read(room["id"], day, day, who)
            assert model.slots <= 100
            assert model.slots == sum(len(v.parts) for v in model.views.values())
    assert len(model.views) == 4  # the 4 most recently read days
    month = await model.read(rooms[0]["id"], first, first + timedelta(days=29), who)
    assert json.loads(month.body)["slots"] and model.slots <= 100  # served, not kept


async def test_a_locations_availability_comes_from_the_read_model(
    svc: Any,
    client: httpx.AsyncClient,
    actors: Actors,
    make_location: Any,
    make_resource: Any,
) -> None:
    """`/locations/{id}/availability` answers each active resource's views as the
    resource's own availability does (kept in the read model, equal to the plain
    computation from the store), with an ETag that moves with a booking."""
    place = await make_location()
    rooms = [
        await make_resource(RULES, location=place),
        await make_resource({"slot_minutes": 60, "min_minutes": 60, "max_minutes": 120},
                            location=place, kind="workstation"),
    ]  # fmt: skip
    ids = sorted(r["id"] for r in rooms)
    day = datetime.now(UTC).date() + timedelta(days=1)
    model = timetable.timetable_for(svc)
    url = f"/locations/{place['id']}/availability"
    params = {"from": day.isoformat(), "to": (day + timedelta(days=2)).isoformat()}
    r = await client.post("/bookings", headers=actors.user("loc-booker"), json={
        "resource_id": ids[0], "starts_at": local(day, 48).isoformat(),
        "ends_at": local(day, 52).isoformat()})  # fmt: skip
    assert r.status_code == 201, r.text
    me = actors.user("loc-reader")
    before = await client.get(url, params=params, headers=me)
    assert before.status_code == 200 and before.headers["cache-control"] == "private, no-cache"
    for rid in ids:  # read through the model, which now holds each resource's view
        assert (rid, day, day + timedelta(days=2)) in model.views
    # Equal to the plain computation from the store, for a resident and for staff.
    location = await load_location(svc, place["id"])
    now = datetime.now(UTC)
    for who in (principal("resident"), principal("staff")):
        views = await model.read_many(ids, day, day + timedelta(days=2), who, now=now)
        resources = [await load_resource(svc, rid) for rid in ids]
        plain_answer = await availability(
            svc, location=location, resources=resources, first=day,
            last=day + timedelta(days=2), staff=who.has("staff"), now=now,
        )  # fmt: skip
        assert [json.loads(v) for v in views] == plain_answer
    shown = before.json()
    assert shown["location_id"] == place["id"] and shown["timezone"] == "Europe/Helsinki"
    assert [e["resource_id"] for e in shown["resources"]] == ids
    only = await client.get(url, params=params | {"kind": "workstation"}, headers=me)
    assert [e["resource_id"] for e in only.json()["resources"]] == [rooms[1]["id"]]
    # Unchanged: 304. A booking through the API: a new answer at once.
    etag = before.headers["etag"]
    same = await client.get(url, params=params, headers=me | {"If-None-Match": etag})
    assert same.status_code == 304 and not same.content
    second = shown["resources"][1]
    slot = second["slots"][0]
    body = {"resource_id": second["resource_id"], **slot}
    r = await client.post("/bookings", headers=actors.user("loc-booker"), json=body)
    assert r.status_code == 201, r.text
    after = await client.get(url, params=params, headers=me | {"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    assert slot not in after.json()["resources"][1]["slots"]
    wrong = await client.get(url, params={"from": params["to"], "to": params["from"]}, headers=me)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "to"
