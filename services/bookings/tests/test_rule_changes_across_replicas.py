"""Rule and hours changes made through one replica apply to the very next booking on
another: two service instances from the factory share one database, each with its own
cached copy of the resource (filled by booking through it before the change)."""

from __future__ import annotations

from typing import Any

import httpx

from bookings.testing import Actors, at, future_day

RULES = {"slot_minutes": 30, "min_minutes": 30, "max_minutes": 240}


async def test_a_change_through_one_replica_is_enforced_by_the_other_at_once(
    client: httpx.AsyncClient,
    replica: httpx.AsyncClient,
    actors: Actors,
    make_location: Any,
    make_resource: Any,
    book: Any,
) -> None:
    location = await make_location()
    room = await make_resource(RULES, location=location)
    day = future_day(4)
    user = actors.user("replica-user")

    # the second replica books once under the first rules (and so caches them)
    first = await book(user, room, at(day, "08:00"), at(day, "10:00"), via=replica)
    assert first.status_code == 201, first.text

    # a shorter maximum, set through the first replica
    patched = await client.patch(
        f"/resources/{room['id']}",
        json={"rules": {**RULES, "max_minutes": 60}},
        headers=actors.staff(),
    )
    assert patched.status_code == 200, patched.text
    too_long = await book(user, room, at(day, "10:00"), at(day, "12:00"), via=replica)
    assert too_long.status_code == 422, too_long.text
    assert too_long.json()["errors"][0]["field"] == "ends_at"
    assert (
        await book(user, room, at(day, "10:00"), at(day, "11:00"), via=replica)
    ).status_code == 201

    # approval required from now on: the other replica's next request waits for staff
    patched = await client.patch(
        f"/resources/{room['id']}",
        json={"rules": {**RULES, "max_minutes": 60, "approval_required": True}},
        headers=actors.staff(),
    )
    assert patched.status_code == 200, patched.text
    waiting = await book(user, room, at(day, "11:00"), at(day, "12:00"), via=replica)
    assert waiting.status_code == 201 and waiting.json()["status"] == "pending", waiting.text

    # the location closes at 14:00 from now on: 15:00 is refused by the other replica
    hours = {
        "weekly": {str(d): [{"opens": "08:00", "closes": "14:00"}] for d in range(7)},
        "exceptions": [],
    }
    put = await client.put(
        f"/locations/{location['id']}/hours", json={"hours": hours}, headers=actors.staff()
    )
    assert put.status_code == 200, put.text
    closed = await book(user, room, at(day, "15:00"), at(day, "16:00"), via=replica)
    assert closed.status_code == 422, closed.text
    assert closed.json()["errors"][0]["field"] == "starts_at"

    # the other way round: the first replica caches the rules by booking, the second
    # drops the approval and the first confirms the next request at once
    cached = await book(user, room, at(day, "12:00"), at(day, "13:00"))
    assert cached.status_code == 201 and cached.json()["status"] == "pending", cached.text
    patched = await replica.patch(
        f"/resources/{room['id']}", json={"rules": RULES}, headers=actors.staff()
    )
    assert patched.status_code == 200, patched.text
    at_once = await book(user, room, at(day, "13:00"), at(day, "14:00"))
    assert at_once.status_code == 201 and at_once.json()["status"] == "confirmed", at_once.text
