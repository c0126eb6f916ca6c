"""The personal feed holds event registrations too, learnt from the events service's
messages over the real broker: the same UID as the registration mails, the latest state by
SEQUENCE whatever order the messages come in, the event's new time after it moves, and
nothing left after the person's erasure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from icalendar import Calendar

from bookings.registrations import COLLECTION
from bookings.testing import Actors, at, future_day
from contracts import events as ec
from contracts import identity as idc
from contracts import topology
from kit.app import Service
from kit.testing import dead_letters, envelope, eventually, publish_raw


def facts(reg: str, user: str, event: str, starts: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "registration_id": reg,
        "event_id": event,
        "user_id": user,
        "kind": "workshop",
        "title": {"fi": f"Työpaja {event[-4:]}", "en": "Workshop"},
        "venue_name": {"fi": "Oodi"},
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        **extra,
    }


async def send(amqp_url: str, *messages: tuple[str, dict[str, Any]]) -> list[str]:
    made = [envelope(type_, data) for type_, data in messages]
    for event in made:  # one at a time, in this order, as the events service publishes them
        await publish_raw(
            amqp_url, topology.exchange(event.type.split(".")[1]), event.routing_key,
            event.model_dump(mode="json"),
        )  # fmt: skip
    return [e.id for e in made]


async def entries(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    ics = await client.get(f"/{path}")
    assert ics.status_code == 200, ics.text
    return {str(e["UID"]): e for e in Calendar.from_ical(ics.text).walk("VEVENT")}


async def test_feed_has_registrations_in_their_latest_state(
    client: httpx.AsyncClient, actors: Actors, svc: Service, make_resource: Any, book: Any,
    amqp_url: str,
) -> None:  # fmt: skip
    user_id = f"feed-{uuid.uuid4().hex[:6]}"
    user = actors.user(user_id)
    room = await make_resource()
    day = future_day(4)
    booking = (await book(user, room, at(day, "10:00"), at(day, "11:00"))).json()
    issued = (await client.post("/me/feed", headers=user)).json()
    path = issued["url"].split("://", 1)[1].split("/", 1)[1]

    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    tag = uuid.uuid4().hex[:6]
    promoted, moved, cancelled = (f"reg-{tag}-{n}" for n in ("a", "b", "c"))
    event_a, event_b = f"evt-{tag}-a", f"evt-{tag}-b"
    await send(
        amqp_url,
        (ec.REGISTRATION_WAITLISTED, facts(promoted, user_id, event_a, starts, position=1)),
        (ec.REGISTRATION_PROMOTED, facts(promoted, user_id, event_a, starts)),
        (ec.REGISTRATION_CONFIRMED, facts(moved, user_id, event_b, starts)),
        (ec.REGISTRATION_CANCELLED, facts(cancelled, user_id, event_a, starts)),
        # late and out of order: the cancellation ranks higher and stays
        (ec.REGISTRATION_CONFIRMED, facts(cancelled, user_id, event_a, starts)),
        # someone else's registration never shows in this feed
        (ec.REGISTRATION_CONFIRMED, facts(f"reg-{tag}-x", "someone-else", event_a, starts)),
    )
    later = starts + timedelta(days=1, hours=3)
    changed = {
        k: v for k, v in facts("-", user_id, event_b, later).items()
        if k not in ("registration_id", "user_id", "seats")
    }  # fmt: skip
    await send(amqp_url, (ec.EVENT_CHANGED, {**changed, "changed_fields": ["starts_at"]}))

    async def settled() -> bool:
        found = await entries(client, path)
        moved_entry = found.get(f"{moved}@kohtaamo.fi")
        return (
            len(found) >= 4
            and moved_entry is not None
            and moved_entry.decoded("DTSTART") == later
            and found.get(f"{cancelled}@kohtaamo.fi", {}).get("STATUS") == "CANCELLED"
        )

    await eventually(settled, timeout=60)
    found = await entries(client, path)
    assert sorted(found) == sorted(
        f"{x}@kohtaamo.fi" for x in (booking["id"], promoted, moved, cancelled)
    )
    a = found[f"{promoted}@kohtaamo.fi"]
    assert a["STATUS"] == "CONFIRMED" and int(a["SEQUENCE"]) == 1
    assert str(a["SUMMARY"]) == f"Työpaja {event_a[-4:]}" and str(a["LOCATION"]) == "Oodi"
    assert a.decoded("DTSTART") == starts
    c = found[f"{cancelled}@kohtaamo.fi"]
    assert c["STATUS"] == "CANCELLED" and int(c["SEQUENCE"]) == 2

    # A message that is not a registration is dead-lettered, the feed unchanged.
    broken = envelope(ec.REGISTRATION_CONFIRMED, facts("reg-broken", user_id, event_a, starts))
    raw = broken.model_dump(mode="json")
    raw["data"].pop("starts_at")
    await publish_raw(amqp_url, topology.exchange("events"), broken.routing_key, raw)
    letters = await dead_letters(amqp_url, "kohtaamo.bookings.events-registrations", {broken.id})
    assert broken.id in letters
    assert len(await entries(client, path)) == 4

    # Erasure forgets what the feed knew of the person's registrations.
    erased = {"user_id": user_id, "requested_at": datetime.now(UTC).isoformat()}
    await send(amqp_url, (idc.USER_ERASED, erased))

    async def forgotten() -> bool:
        return await svc.store.db[COLLECTION].count_documents({"user_id": user_id}) == 0

    await eventually(forgotten, timeout=60)
