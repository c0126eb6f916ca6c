"""Passes for bookings made before passes existed: the start-up migration gives each one
that can still be checked in a pass, once, even when several replicas start together."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bookings.migrations import backfill_passes
from bookings.testing import Actors
from kit import passes
from kit.app import Service

HEL = ZoneInfo("Europe/Helsinki")
ALL_DAY = {str(d): [{"opens": "00:00", "closes": "23:45"}] for d in range(7)}


def two_slots_start() -> datetime:
    """The next quarter hour with room for two 15-minute bookings before 23:45 (else the
    next midnight, within the desk's hour of check-in)."""
    now = datetime.now(HEL)
    start = (now + timedelta(minutes=15 - now.minute % 15)).replace(second=0, microsecond=0)
    if start + timedelta(minutes=30) > start.replace(hour=23, minute=45):
        start = (start + timedelta(days=1)).replace(hour=0, minute=0)
    return start


async def test_old_bookings_get_one_pass_each(
    client: httpx.AsyncClient,
    actors: Actors,
    svc: Service,
    make_location: Any,
    make_resource: Any,
    book: Any,
) -> None:
    location = await make_location(weekly=ALL_DAY)
    desk = await make_resource(
        {"slot_minutes": 15, "min_minutes": 15, "max_minutes": 60, "check_in_opens_minutes": 60},
        location=location,
        kind="workstation",
    )
    start = two_slots_start()
    user = actors.user("oldbooker")
    made = []
    for offset in (0, 15):
        begins = start + timedelta(minutes=offset)
        answer = await book(
            user, desk, begins.isoformat(), (begins + timedelta(minutes=15)).isoformat()
        )
        assert answer.status_code == 201, answer.text
        made.append(answer.json())
    current, cancelled = made
    assert (
        await client.post(f"/bookings/{cancelled['id']}/cancel", headers=user)
    ).status_code == 200
    db = svc.store.db
    # as written before passes existed: no field at all; one more that has ended
    ids = [current["id"], cancelled["id"]]
    await db.bookings.update_many({"_id": {"$in": ids}}, {"$unset": {"checkin_pass": ""}})
    old = await db.bookings.find_one({"_id": current["id"]})
    assert old is not None
    ended = {**old, "_id": f"{current['id']}-ended", "status": "confirmed"}
    ended["starts_at"] = datetime.now(UTC) - timedelta(days=2)
    ended["ends_at"] = ended["starts_at"] + timedelta(minutes=15)
    ended["held_from"], ended["held_until"] = ended["starts_at"], ended["ends_at"]
    await db.bookings.insert_one(ended)
    # an erased person's booking keeps its pass null
    erased = {**old, "_id": f"{current['id']}-erased", "checkin_pass": None, "status": "cancelled"}
    await db.bookings.insert_one(erased)
    before = {d["_id"]: d.get("revision", 0) async for d in db.bookings.find({"_id": {"$in": ids}})}

    # three replicas start at once
    given = await asyncio.gather(*(backfill_passes(svc.store) for _ in range(3)))
    assert sum(given) == 1, given
    doc = await db.bookings.find_one({"_id": current["id"]})
    assert doc is not None
    code = doc["checkin_pass"]
    assert passes.parse(code, passes.BOOKING) == code
    assert doc["revision"] == before[current["id"]] + 1  # its ETag moves once
    untouched = await db.bookings.find(
        {"_id": {"$in": [cancelled["id"], ended["_id"], erased["_id"]]}}
    ).to_list()
    assert {d["_id"]: d.get("checkin_pass", "absent") for d in untouched} == {
        cancelled["id"]: "absent",
        ended["_id"]: "absent",
        erased["_id"]: None,
    }
    # a later start finds nothing to do and keeps the pass
    assert await backfill_passes(svc.store) == 0
    assert (await db.bookings.find_one({"_id": current["id"]}) or {})["checkin_pass"] == code

    # the person sees it, and staff check them in with it
    mine = (await client.get("/bookings/mine", headers=user)).json()["items"]
    assert [b["checkin_pass"] for b in mine if b["id"] == current["id"]] == [code]
    scanned = await client.post("/bookings/check-in", json={"code": code}, headers=actors.staff())
    assert scanned.status_code == 200, scanned.text
    assert scanned.json()["id"] == current["id"] and scanned.json()["status"] == "checked_in"
    await db.bookings.delete_many({"_id": {"$in": [ended["_id"], erased["_id"]]}})
