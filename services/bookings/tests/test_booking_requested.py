"""`booking.requested`: published (read back from the real broker) for every stored booking
request beside its booking.confirmed / booking.pending_approval, for staff bookings on
behalf of a user and for each booked occurrence of a series; never for a refused one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from bookings.testing import Actors, EventLog, at, future_day


async def test_every_stored_request_publishes_requested_beside_its_outcome(
    client: httpx.AsyncClient, actors: Actors, events: EventLog, make_resource: Any, book: Any
) -> None:
    room = await make_resource()
    studio = await make_resource({"approval_required": True}, kind="studio")
    day = future_day()

    confirmed = await book(actors.user("req-anna"), room, at(day, "10:00"), at(day, "11:00"))
    assert confirmed.status_code == 201, confirmed.text
    subject = f"booking/{confirmed.json()['id']}"
    [requested] = await events.find("booking.requested", subject)
    [outcome] = await events.find("booking.confirmed", subject)
    assert requested["data"]["status"] == "confirmed" and requested["data"]["on_behalf"] is False
    assert requested["data"]["user_id"] == "req-anna"
    assert requested["data"]["resource_id"] == room["id"]
    assert requested["data"]["location_id"] == room["location_id"]
    assert requested["data"]["resource_kind"] == "meeting_room"
    same = ("booking_id", "starts_at", "ends_at", "resource_name", "location_name", "people")
    assert {k: requested["data"][k] for k in same} == {k: outcome["data"][k] for k in same}
    assert "access_code" not in requested["data"]  # the code goes only to the booker

    pending = await book(actors.user("req-ben"), studio, at(day, "10:00"), at(day, "11:00"))
    assert pending.json()["status"] == "pending", pending.text
    subject = f"booking/{pending.json()['id']}"
    [requested] = await events.find("booking.requested", subject)
    assert await events.find("booking.pending_approval", subject)
    assert requested["data"]["status"] == "pending" and requested["data"]["user_id"] == "req-ben"

    # staff book for a walk-in: confirmed at once (no approval), marked as on behalf
    for_them = await book(
        actors.staff(),
        studio,
        at(day, "12:00"),
        at(day, "13:00"),
        user_id="req-walk-in",
    )
    assert for_them.status_code == 201, for_them.text
    [requested] = await events.find("booking.requested", f"booking/{for_them.json()['id']}")
    assert requested["data"]["status"] == "confirmed" and requested["data"]["on_behalf"] is True
    assert requested["data"]["user_id"] == "req-walk-in"

    # a request in conflict is not stored and publishes nothing
    lost = await book(actors.user("req-late"), room, at(day, "10:30"), at(day, "11:30"))
    assert lost.status_code == 409
    later = await book(actors.user("req-next"), room, at(day, "14:00"), at(day, "15:00"))
    assert await events.find("booking.requested", f"booking/{later.json()['id']}")
    assert not [
        b
        for b in events.bodies
        if b["type"].endswith(".booking.requested.v1") and b["data"]["user_id"] == "req-late"
    ]


async def test_each_booked_occurrence_of_a_series_is_a_request(
    client: httpx.AsyncClient, actors: Actors, events: EventLog, make_resource: Any, book: Any
) -> None:
    room = await make_resource()
    first = future_day(2, weekday=2)
    taken = await book(
        actors.user(),
        room,
        starts_at=at(first + timedelta(weeks=1), "10:00"),
        ends_at=at(first + timedelta(weeks=1), "11:00"),
    )
    assert taken.status_code == 201
    made = await client.post(
        "/series",
        headers=actors.user("req-serial"),
        json={
            "resource_id": room["id"],
            "starts_at": at(first, "10:00"),
            "ends_at": at(first, "11:00"),
            "count": 3,
        },
    )
    assert made.status_code == 201, made.text
    series = made.json()
    assert [o["outcome"] for o in series["occurrences"]] == ["confirmed", "conflict", "confirmed"]
    assert await events.find("series.created", f"series/{series['id']}")
    booked = [o["booking_id"] for o in series["occurrences"] if o.get("booking_id")]
    for booking_id in booked:
        [requested] = await events.find("booking.requested", f"booking/{booking_id}")
        assert requested["data"]["series_id"] == series["id"]
    of_series = [
        b
        for b in events.bodies
        if b["type"].endswith(".booking.requested.v1") and b["data"]["series_id"] == series["id"]
    ]
    assert sorted(b["data"]["booking_id"] for b in of_series) == sorted(booked)
