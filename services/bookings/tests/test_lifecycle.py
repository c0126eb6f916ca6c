"""Check-in, no-show sweep (safe with several replicas), loans, blocks, series and the
calendar feed, over HTTP against the real store."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from icalendar import Calendar

from bookings.checkin import sweep_no_shows
from bookings.testing import Actors, EventLog, at, future_day
from kit.app import Service

HEL = ZoneInfo("Europe/Helsinki")
ALL_DAY = {str(d): [{"opens": "00:00", "closes": "23:45"}] for d in range(7)}


def next_quarter(minutes_ahead: int = 0) -> datetime:
    now = datetime.now(HEL) + timedelta(minutes=minutes_ahead)
    return (now + timedelta(minutes=15 - now.minute % 15)).replace(second=0, microsecond=0)


def two_slots_start() -> datetime:
    """The next quarter hour with room for two 15-minute bookings before ALL_DAY closes at
    23:45; later than that, midnight (a booking never spans two opening periods, and
    midnight is then within the desk's hour of check-in)."""
    start = next_quarter()
    if start + timedelta(minutes=30) > start.replace(hour=23, minute=45):
        start = (start + timedelta(days=1)).replace(hour=0, minute=0)
    return start


async def test_check_in_and_no_show_sweep(
    client: httpx.AsyncClient,
    actors: Actors,
    svc: Service,
    events: EventLog,
    make_location: Any,
    make_resource: Any,
    book: Any,
) -> None:
    location = await make_location(weekly=ALL_DAY)
    desk = await make_resource(
        {
            "slot_minutes": 15,
            "min_minutes": 15,
            "max_minutes": 60,
            "check_in_opens_minutes": 60,
            "no_show_grace_minutes": 10,
        },
        location=location,
        kind="workstation",
    )
    start = two_slots_start()
    user = actors.user("checker")
    made = []
    for offset in (0, 15):
        s = start + timedelta(minutes=offset)
        response = await book(
            actors.staff(),
            desk,
            s.isoformat(),
            (s + timedelta(minutes=15)).isoformat(),
            user_id="checker",
        )
        assert response.status_code == 201, response.text
        made.append(response.json())
    checked = await client.post(f"/bookings/{made[0]['id']}/check-in", headers=user)
    assert checked.status_code == 200 and checked.json()["status"] == "checked_in"
    assert (
        await client.post(f"/bookings/{made[0]['id']}/check-in", headers=user)
    ).status_code == 409
    assert await events.find("booking.checked_in", f"booking/{made[0]['id']}")
    # far-future bookings cannot be checked in yet
    later = future_day(3)
    far = await book(user, desk, at(later, "10:00"), at(later, "10:15"))
    assert (
        await client.post(f"/bookings/{far.json()['id']}/check-in", headers=user)
    ).status_code == 409

    # two replicas sweeping at once: the second booking becomes a no-show exactly once
    when = datetime.fromisoformat(made[1]["starts_at"]) + timedelta(minutes=11)
    marked = await asyncio.gather(sweep_no_shows(svc, now=when), sweep_no_shows(svc, now=when))
    assert sum(marked) >= 1
    booking = await svc.store.db.bookings.find_one({"_id": made[1]["id"]})
    assert booking is not None and booking["status"] == "no_show"
    assert len(await events.find("booking.no_show", f"booking/{made[1]['id']}")) == 1
    first = await svc.store.db.bookings.find_one({"_id": made[0]["id"]})
    assert first is not None and first["status"] == "checked_in"


async def test_multi_day_loans(
    client: httpx.AsyncClient, actors: Actors, make_resource: Any, book: Any
) -> None:
    camera = await make_resource(
        {"loan": True, "max_loan_days": 5, "check_in_required": False}, kind="equipment"
    )
    first = future_day(3)
    user = actors.user("lender")

    async def loan(start: Any, end: Any, who: dict[str, str] = user) -> httpx.Response:
        return await client.post(
            "/bookings",
            headers=who,
            json={
                "resource_id": camera["id"],
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
            },
        )

    made = await loan(first, first + timedelta(days=2))
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["loan"] and datetime.fromisoformat(body["ends_at"]) - datetime.fromisoformat(
        body["starts_at"]
    ) in (timedelta(days=3), timedelta(days=3, hours=1), timedelta(days=3, hours=-1))
    clash = await loan(first + timedelta(days=2), first + timedelta(days=4), actors.user())
    assert clash.status_code == 409
    ok = await loan(first + timedelta(days=3), first + timedelta(days=4), actors.user())
    assert ok.status_code == 201
    too_long = await loan(first + timedelta(days=10), first + timedelta(days=16))
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "end_date"
    timed = await book(user, camera, at(first, "10:00"), at(first, "11:00"))
    assert timed.status_code == 422
    days = await client.get(
        f"/resources/{camera['id']}/availability",
        headers=user,
        params={"from": first.isoformat(), "to": (first + timedelta(days=6)).isoformat()},
    )
    assert days.json()["days"] == [(first + timedelta(days=d)).isoformat() for d in (5, 6)]


async def test_block_cancels_overlapping_bookings_and_tells_them(
    client: httpx.AsyncClient,
    actors: Actors,
    svc: Service,
    events: EventLog,
    make_resource: Any,
    book: Any,
) -> None:
    room = await make_resource()
    day = future_day(4)
    victim = await book(actors.user("victim"), room, at(day, "12:00"), at(day, "13:00"))
    span = {
        "starts_at": datetime.fromisoformat(at(day, "11:00")).replace(tzinfo=HEL).isoformat(),
        "ends_at": datetime.fromisoformat(at(day, "15:00")).replace(tzinfo=HEL).isoformat(),
        "reason": "projector repair",
    }
    refused = await client.post(
        f"/resources/{room['id']}/blocks",
        headers=actors.staff(),
        json={**span, "on_conflict": "refuse"},
    )
    assert refused.status_code == 409 and refused.json()["booking_ids"] == [victim.json()["id"]]
    assert (
        await client.post(f"/resources/{room['id']}/blocks", headers=actors.user(), json=span)
    ).status_code == 403
    assert (
        await client.post(
            f"/resources/{room['id']}/blocks", headers=actors.staff("kouvola"), json=span
        )
    ).status_code == 403
    block = await client.post(f"/resources/{room['id']}/blocks", headers=actors.staff(), json=span)
    assert block.status_code == 201 and block.json()["cancelled_booking_ids"] == [
        victim.json()["id"]
    ]
    [cancelled] = await events.find("booking.cancelled", f"booking/{victim.json()['id']}")
    assert cancelled["data"]["cancelled_by"] == "resource_blocked"
    assert cancelled["data"]["reason"] == "projector repair"
    [blocked] = await events.find("resource.blocked", f"resource/{room['id']}")
    assert blocked["data"]["cancelled_booking_ids"] == [victim.json()["id"]]
    inside = await book(actors.user(), room, at(day, "14:00"), at(day, "14:30"))
    assert inside.status_code == 409
    assert (
        await client.delete(f"/blocks/{block.json()['id']}", headers=actors.staff())
    ).status_code == 204
    after = await book(actors.user(), room, at(day, "14:00"), at(day, "14:30"))
    assert after.status_code == 201


async def test_block_can_flag_bookings_for_staff(
    client: httpx.AsyncClient, actors: Actors, events: EventLog, make_resource: Any, book: Any
) -> None:
    room = await make_resource()
    day = future_day(4)
    kept = await book(actors.user("kept"), room, at(day, "12:00"), at(day, "13:00"))
    span = {
        "starts_at": datetime.fromisoformat(at(day, "12:00")).replace(tzinfo=HEL).isoformat(),
        "ends_at": datetime.fromisoformat(at(day, "16:00")).replace(tzinfo=HEL).isoformat(),
        "reason": "painting",
        "on_conflict": "flag",
    }
    block = await client.post(f"/resources/{room['id']}/blocks", headers=actors.staff(), json=span)
    assert block.status_code == 201
    booking_id = kept.json()["id"]
    assert block.json()["flagged_booking_ids"] == [booking_id]
    assert block.json()["cancelled_booking_ids"] == []
    [flag] = await events.find("booking.flagged", f"booking/{booking_id}")
    assert flag["data"]["user_id"] == "kept" and flag["data"]["block_id"] == block.json()["id"]
    [blocked] = await events.find("resource.blocked", f"resource/{room['id']}")
    assert blocked["data"]["flagged_booking_ids"] == [booking_id]
    mine = await client.get(f"/bookings/{booking_id}", headers=actors.user("kept"))
    assert mine.json()["status"] == "confirmed" and mine.json()["flagged"]["reason"] == "painting"
    blocked_time = await book(actors.user(), room, at(day, "14:00"), at(day, "15:00"))
    assert blocked_time.status_code == 409


async def test_series_reports_conflicts_and_cancels(
    client: httpx.AsyncClient,
    actors: Actors,
    svc: Service,
    events: EventLog,
    make_resource: Any,
    book: Any,
) -> None:
    room = await make_resource()
    first = future_day(2, weekday=1)  # a Tuesday
    blocker = await book(
        actors.user(),
        room,
        at(first + timedelta(weeks=1), "11:00"),
        at(first + timedelta(weeks=1), "11:30"),
    )
    assert blocker.status_code == 201
    user = actors.user("serial")
    made = await client.post(
        "/series",
        headers=user,
        json={
            "resource_id": room["id"],
            "starts_at": at(first, "10:00"),
            "ends_at": at(first, "12:00"),
            "count": 4,
        },
    )
    assert made.status_code == 201, made.text
    series = made.json()
    outcomes = [o["outcome"] for o in series["occurrences"]]
    assert outcomes == ["confirmed", "conflict", "confirmed", "confirmed"]
    [created] = await events.find("series.created", f"series/{series['id']}")
    assert [o["outcome"] for o in created["data"]["occurrences"]] == outcomes
    ids = [o["booking_id"] for o in series["occurrences"] if o.get("booking_id")]
    one = await client.post(f"/bookings/{ids[0]}/cancel", headers=user)
    assert one.json()["status"] == "cancelled"
    assert (
        await client.post(f"/series/{series['id']}/cancel", headers=actors.user())
    ).status_code == 403
    whole = await client.post(f"/series/{series['id']}/cancel", headers=user)
    assert sorted(whole.json()["cancelled_booking_ids"]) == sorted(ids[1:])
    [event] = await events.find("series.cancelled", f"series/{series['id']}")
    assert sorted(event["data"]["cancelled_booking_ids"]) == sorted(ids[1:])
    assert (await client.post(f"/series/{series['id']}/cancel", headers=user)).status_code == 409
    bad = await client.post(
        "/series",
        headers=user,
        json={
            "resource_id": room["id"],
            "starts_at": at(first, "10:00"),
            "ends_at": at(first, "12:00"),
            "count": 1,
        },
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "count"


async def test_series_across_dst_keeps_local_time(
    client: httpx.AsyncClient, actors: Actors, make_resource: Any
) -> None:
    room = await make_resource()
    # Tuesdays around Helsinki's spring change (28 March 2027); staff may book that far.
    made = await client.post(
        "/series",
        headers=actors.staff(),
        json={
            "resource_id": room["id"],
            "starts_at": "2027-03-23T10:00:00",
            "ends_at": "2027-03-23T12:00:00",
            "count": 2,
            "user_id": "far-ahead",
        },
    )
    assert made.status_code == 201, made.text
    before, after = made.json()["occurrences"]
    assert before["outcome"] == after["outcome"] == "confirmed"
    assert datetime.fromisoformat(before["starts_at"]).hour == 8  # UTC+2
    assert datetime.fromisoformat(after["starts_at"]).hour == 7  # UTC+3
    for occurrence in (before, after):
        assert datetime.fromisoformat(occurrence["starts_at"]).astimezone(HEL).hour == 10


async def test_personal_feed_is_secret_and_revocable(
    client: httpx.AsyncClient, actors: Actors, make_resource: Any, book: Any
) -> None:
    room = await make_resource()
    day = future_day(5)
    user = actors.user("feeder")
    booking = await book(user, room, at(day, "10:00"), at(day, "11:00"))
    assert (await client.post("/me/feed")).status_code == 401
    issued = (await client.post("/me/feed", headers=user)).json()
    path = issued["url"].split("://", 1)[1].split("/", 1)[1]
    ics = await client.get(f"/{path}")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    [entry] = Calendar.from_ical(ics.text).walk("VEVENT")
    # The UID the notifications service's mail attachment gives the same booking.
    assert entry["UID"] == f"{booking.json()['id']}@kohtaamo.fi" and entry["SUMMARY"] == "Huone"
    assert entry["STATUS"] == "CONFIRMED"
    # Cancelled: still in the feed, the same entry, CANCELLED at a higher SEQUENCE.
    cancel = await client.post(f"/bookings/{booking.json()['id']}/cancel", json={}, headers=user)
    assert cancel.is_success, cancel.text
    [gone] = Calendar.from_ical((await client.get(f"/{path}")).text).walk("VEVENT")
    assert gone["UID"] == entry["UID"] and gone["STATUS"] == "CANCELLED"
    assert int(gone["SEQUENCE"]) > int(entry["SEQUENCE"])
    reissued = (await client.post("/me/feed", headers=user)).json()
    assert (await client.get(f"/{path}")).status_code == 404
    new_path = reissued["url"].split("://", 1)[1].split("/", 1)[1]
    assert (await client.get(f"/{new_path}")).status_code == 200
    # Behind the gateway the URL is the gateway's public one, never the service's own.
    forwarded = {"X-Forwarded-Host": "kohtaamo.example.fi", "X-Forwarded-Proto": "https",
                 "X-Forwarded-Prefix": "/api/v1"}  # fmt: skip
    public = (await client.post("/me/feed", headers={**user, **forwarded})).json()
    assert public["url"] == f"https://kohtaamo.example.fi/api/v1/feeds/{public['token']}.ics"
    new_path = public["url"].split("/api/v1/", 1)[1]
    assert (await client.delete("/me/feed", headers=user)).status_code == 204
    assert (await client.get(f"/{new_path}")).status_code == 404


async def test_staff_check_in_by_pass(
    client: httpx.AsyncClient, actors: Actors, make_location: Any, make_resource: Any, book: Any
) -> None:
    """The QR code's pass: staff of the booking's municipality check it in once; anyone
    else, a pass of nothing, a malformed one and a booking not confirmed get clear errors."""
    location = await make_location(weekly=ALL_DAY)
    desk = await make_resource(
        {"slot_minutes": 15, "min_minutes": 15, "max_minutes": 60, "check_in_opens_minutes": 60},
        location=location,
        kind="workstation",
    )
    start = two_slots_start()
    user = actors.user("passholder")
    made = await book(user, desk, start.isoformat(), (start + timedelta(minutes=15)).isoformat())
    assert made.status_code == 201, made.text
    booking = made.json()
    code = booking["checkin_pass"]
    assert code.startswith("B") and booking["id"] not in code
    mine = (await client.get("/bookings/mine", headers=user)).json()["items"]
    assert [b["checkin_pass"] for b in mine if b["id"] == booking["id"]] == [code]

    async def scan(text: str, headers: dict[str, str]) -> httpx.Response:
        return await client.post("/bookings/check-in", json={"code": text}, headers=headers)

    assert (await scan(code, user)).status_code == 403  # the person cannot check in by pass
    other_city = await scan(code, actors.staff("kouvola"))
    assert other_city.status_code == 403
    malformed = await scan(booking["id"], actors.staff())
    assert malformed.status_code == 422 and malformed.json()["type"].endswith("/pass-invalid")
    unknown = await scan("B" + "A" * 24, actors.staff())
    assert unknown.status_code == 404 and unknown.json()["type"].endswith("/pass-unknown")
    # two desks scan the same code at once (typed with spaces, in lower case): one wins
    spaced = " ".join(code[i : i + 5] for i in range(0, 25, 5)).lower()
    both = await asyncio.gather(scan(code, actors.staff()), scan(spaced, actors.staff()))
    assert sorted(r.status_code for r in both) == [200, 409], [r.text for r in both]
    won = next(r for r in both if r.status_code == 200).json()
    assert won["id"] == booking["id"] and won["status"] == "checked_in"
    again = await scan(code, actors.staff())
    assert again.status_code == 409 and again.json()["type"].endswith("/already-checked-in")
    assert again.json()["checked_in_at"]

    # a booking waiting for approval is not checked in by its pass
    room = await make_resource(
        {"slot_minutes": 15, "min_minutes": 15, "max_minutes": 60, "approval_required": True},
        location=location,
    )
    pending = await book(user, room, start.isoformat(), (start + timedelta(minutes=15)).isoformat())
    assert pending.status_code == 201 and pending.json()["status"] == "pending"
    refused = await scan(pending.json()["checkin_pass"], actors.staff())
    assert refused.status_code == 409 and refused.json()["booking_status"] == "pending"
