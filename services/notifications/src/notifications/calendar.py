"""ICS attachments for booking and registration confirmations and their cancellations,
also the cancellations a closure makes (an event cancelled, a resource blocked, mentor
hours closed): each of the person's entries it ends gets its own `METHOD:CANCEL` (an iTIP
message names one UID).

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


# Kinds that end several of the person's entries: where the context lists them, and
# what each entry names (its own context, or the notice's for what is not in it).
CLOSURES = {
    "event_cancelled": ("registrations", Entry("registration_id", "title", "venue_name", "")),
    "resource_blocked": ("bookings", Entry("booking_id", "resource_name", "location_name", "")),
    "mentor_hours_closed": (
        "bookings",
        Entry("booking_id", "resource_name", "location_name", ""),
    ),
}


# Lists only the attachments use: left out of what the template renders, so a fan-out to
# hundreds (an event cancelled) is still rendered once per language (templates.py).
_NOT_RENDERED = {"event_cancelled": "registrations", "resource_blocked": "bookings"}


def for_template(kind: str, context: dict[str, Any]) -> dict[str, Any]:
    hidden = _NOT_RENDERED.get(kind)
    if hidden is None or hidden not in context:
        return context
    return {k: v for k, v in context.items() if k != hidden}


def _dt(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def attachments_for(
    kind: str, context: dict[str, Any], *, language: str, fallback: str
) -> list[Attachment]:
    """Every calendar attachment of a notice: one for a booking's or registration's own
    notice, one `METHOD:CANCEL` per entry a closure ended."""
    closure = CLOSURES.get(kind)
    if closure is None:
        single = ics_for(kind, context, language=language, fallback=fallback)
        return [single] if single is not None else []
    key, entry = closure
    found = []
    for ended in context.get(key) or []:
        if not isinstance(ended, dict) or not ended.get(entry.ref):
            continue
        merged = {**context, **ended}
        if not merged.get("starts_at"):
            continue
        found.append(_cancel(entry, merged, language=language, fallback=fallback))
    return found


def _cancel(entry: Entry, context: dict[str, Any], *, language: str, fallback: str) -> Attachment:
    return _calendar(entry, context, "cancelled", language=language, fallback=fallback)


def ics_for(
    kind: str, context: dict[str, Any], *, language: str, fallback: str
) -> Attachment | None:
    entry = WITH_CALENDAR.get(kind)
    if entry is None:
        return None
    if entry.status in entries.CANCELLED and context.get("was_waitlisted"):
        return None  # a waiting-list place was never sent as a calendar entry
    return _calendar(entry, context, entry.status, language=language, fallback=fallback)


def _calendar(
    entry: Entry, context: dict[str, Any], status: str, *, language: str, fallback: str
) -> Attachment:
    cancel = status in entries.CANCELLED
    cal = Calendar()
    cal.add("prodid", "-//Kohtaamo//notifications//EN")
    cal.add("version", "2.0")
    method = "CANCEL" if cancel else "PUBLISH"
    cal.add("method", method)
    event = Event()
    event.add("uid", entries.uid(context[entry.ref]))
    event.add("sequence", entries.sequence(status))
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", _dt(context["starts_at"]).astimezone(UTC))
    if context.get("ends_at"):  # a CANCEL needs no end (RFC 5546 3.2.5): events' has none
        event.add("dtend", _dt(context["ends_at"]).astimezone(UTC))
    event.add("summary", pick(context.get(entry.what), language, fallback))
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    location = pick(context.get(entry.where), language, fallback)
    if location:
        event.add("location", location)
    cal.add_component(event)
    return Attachment(cal.to_ical(), method)
