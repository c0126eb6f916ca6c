"""Personal iCalendar feed at a secret URL: the person's bookings and event registrations
(the latter learnt from the events service's messages, bookings.registrations). Only a hash
of the secret is stored; a new secret replaces the old one, and revoking deletes it, so old
links stop working."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Calendar, Event

from bookings import registrations
from bookings.errors import NotFound
from contracts import calendar as entries
from contracts.bookings import BookingStatus
from kit.app import Service
from kit.auth import Principal


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_feed(svc: Service, principal: Principal) -> str:
    token = secrets.token_urlsafe(32)
    await svc.store.db.feeds.update_one(
        {"user_id": principal.subject},
        {
            "$set": {
                "digest": _digest(token),
                "municipality": principal.municipality,
                "created_at": datetime.now(UTC),
            }
        },
        upsert=True,
    )
    return token


async def revoke_feed(svc: Service, principal: Principal) -> bool:
    result = await svc.store.db.feeds.delete_one({"user_id": principal.subject})
    return result.deleted_count == 1


async def feed_ics(svc: Service, token: str) -> bytes:
    feed = await svc.store.db.feeds.find_one({"digest": _digest(token)})
    if feed is None:
        raise NotFound("No such feed (revoked or never issued).", field="token")
    since = datetime.now(UTC) - timedelta(days=30)
    bookings = await svc.store.db.bookings.find(
        {
            "user_id": feed["user_id"],
            "municipality": feed["municipality"],
            "kind": "booking",
            "ends_at": {"$gte": since},
        },
        sort=[("starts_at", 1)],
        limit=1000,
    ).to_list()
    signed_up = await registrations.of_user(svc.store.db, feed["user_id"], since)
    return calendar(bookings, signed_up)


def _text(value: dict[str, str], default: str = "") -> str:
    return value.get("fi") or value.get("en") or next(iter(value.values()), default)


def calendar(bookings: list[dict[str, Any]], signed_up: Sequence[dict[str, Any]] = ()) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Kohtaamo//bookings//FI")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "Kohtaamo")
    for doc in bookings:
        name = doc.get("facts", {}).get("resource_name", {})
        title = name.get("fi") or name.get("en") or next(iter(name.values()), "Varaus")
        event = Event()
        # The same UID and SEQUENCE as the mail's attachment (contracts.calendar): one entry
        # in the calendar, and a cancellation that outranks the confirmation.
        event.add("uid", entries.uid(doc["_id"]))
        event.add("sequence", entries.sequence(doc["status"]))
        event.add("summary", title)
        event.add("dtstart", doc["starts_at"])
        event.add("dtend", doc["ends_at"])
        event.add("dtstamp", doc.get("updated_at") or doc["starts_at"])
        location = doc.get("facts", {}).get("location_name", {})
        if location:
            event.add("location", location.get("fi") or next(iter(location.values())))
        # A subscribed feed is one PUBLISH calendar (no METHOD:CANCEL for part of it): a
        # cancelled booking stays in it, CANCELLED at a higher SEQUENCE, for 30 days.
        event.add(
            "status",
            "CANCELLED"
            if doc["status"] in entries.CANCELLED
            else "TENTATIVE"
            if doc["status"] == BookingStatus.pending
            else "CONFIRMED",
        )
        cal.add_component(event)
    for doc in signed_up:
        event = Event()
        event.add("uid", entries.uid(doc["_id"]))  # the registration mails' UID
        event.add("sequence", entries.sequence(doc["status"]))
        event.add("summary", _text(doc.get("title", {}), "Tapahtuma"))
        event.add("dtstart", doc["starts_at"])
        event.add("dtend", doc["ends_at"])
        event.add("dtstamp", doc.get("updated_at") or doc["starts_at"])
        if doc.get("venue_name"):
            event.add("location", _text(doc["venue_name"]))
        event.add(
            "status",
            "CANCELLED"
            if doc["status"] in entries.CANCELLED
            else "TENTATIVE"  # on the waiting list: a place may still come
            if doc["status"] == "waitlisted"
            else "CONFIRMED",
        )
        cal.add_component(event)
    return cal.to_ical()
