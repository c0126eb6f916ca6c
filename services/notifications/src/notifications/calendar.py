"""ICS attachments for booking and registration confirmations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from icalendar import Calendar, Event

from notifications.templates import pick

# Kinds that carry a calendar entry, and the context key naming the thing booked.
WITH_CALENDAR = {
    "booking_confirmed": ("booking_id", "resource_name", "location_name"),
    "registration_confirmed": ("registration_id", "title", "venue_name"),
    "registration_promoted": ("registration_id", "title", "venue_name"),
}


def _dt(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def ics_for(kind: str, context: dict[str, Any], *, language: str, fallback: str) -> bytes | None:
    if kind not in WITH_CALENDAR:
        return None
    ref, what, where = WITH_CALENDAR[kind]
    cal = Calendar()
    cal.add("prodid", "-//Kohtaamo//notifications//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"{context[ref]}@kohtaamo.fi")
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", _dt(context["starts_at"]).astimezone(UTC))
    event.add("dtend", _dt(context["ends_at"]).astimezone(UTC))
    event.add("summary", pick(context.get(what), language, fallback))
    location = pick(context.get(where), language, fallback)
    if location:
        event.add("location", location)
    cal.add_component(event)
    return cal.to_ical()
