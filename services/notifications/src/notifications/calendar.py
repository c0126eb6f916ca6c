"""ICS attachments for booking and registration confirmations and their cancellations.

UID and SEQUENCE come from contracts.calendar, so an attachment and bookings' personal feed
name the same entry alike and a calendar program keeps one copy. A cancellation is a
`METHOD:CANCEL` request (RFC 5546) with a higher SEQUENCE than the confirmation's: calendar
programs then take the entry out instead of ignoring it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from icalendar import Calendar, Event

from contracts import calendar as entries
from notifications.templates import pick


class Entry(NamedTuple):
    ref: str  # the context key naming the thing booked
    what: str
    where: str
    status: str  # the entry's state after this notice


class Attachment(NamedTuple):
    data: bytes
    method: str  # iTIP's METHOD, repeated in the MIME type as iMIP (RFC 6047) asks


# Kinds that carry a calendar entry.
WITH_CALENDAR = {
    "booking_confirmed": Entry("booking_id", "resource_name", "location_name", "confirmed"),
    "booking_cancelled": Entry("booking_id", "resource_name", "location_name", "cancelled"),
    "registration_confirmed": Entry("registration_id", "title", "venue_name", "confirmed"),
    "registration_promoted": Entry("registration_id", "title", "venue_name", "confirmed"),
    "registration_cancelled": Entry("registration_id", "title", "venue_name", "cancelled"),
}


def _dt(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def ics_for(
    kind: str, context: dict[str, Any], *, language: str, fallback: str
) -> Attachment | None:
    entry = WITH_CALENDAR.get(kind)
    if entry is None:
        return None
    cancel = entry.status in entries.CANCELLED
    if cancel and context.get("was_waitlisted"):
        return None  # a waiting-list place was never sent as a calendar entry
    cal = Calendar()
    cal.add("prodid", "-//Kohtaamo//notifications//EN")
    cal.add("version", "2.0")
    method = "CANCEL" if cancel else "PUBLISH"
    cal.add("method", method)
    event = Event()
    event.add("uid", entries.uid(context[entry.ref]))
    event.add("sequence", entries.sequence(entry.status))
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", _dt(context["starts_at"]).astimezone(UTC))
    event.add("dtend", _dt(context["ends_at"]).astimezone(UTC))
    event.add("summary", pick(context.get(entry.what), language, fallback))
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    location = pick(context.get(entry.where), language, fallback)
    if location:
        event.add("location", location)
    cal.add_component(event)
    return Attachment(cal.to_ical(), method)
