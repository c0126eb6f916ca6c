"""What every calendar entry of a booking or registration agrees on, whichever service
writes it (bookings' personal feed, notifications' mail attachments): its UID and its
SEQUENCE. A calendar program matches entries by UID, and applies an update or a cancellation
only when its SEQUENCE is higher than the one it holds (RFC 5545 3.8.7.4, RFC 5546)."""

from __future__ import annotations

# A domain the project owns, so UIDs never collide with another producer's (RFC 5545
# 3.8.4.7). Mail attachments always used it; a subscribed feed picks up the change by
# itself at its next refresh, sent mails cannot, so the feeds moved to the mails' form.
UID_DOMAIN = "kohtaamo.fi"

# A booking's or registration's times never change (the event's may: see the events
# service's own feed), so its lifecycle alone orders its versions: held tentatively,
# then confirmed, then ended one way or another. Never lower for a later state.
SEQUENCE = {
    "pending": 0,
    "waitlisted": 0,
    "confirmed": 1,
    "promoted": 1,
    "checked_in": 1,
    "cancelled": 2,
    "denied": 2,
    "no_show": 2,
}

# States in which the entry is no longer in the person's calendar.
CANCELLED = frozenset({"cancelled", "denied", "no_show"})


def uid(object_id: str) -> str:
    """The calendar UID of a booking or registration, by its id."""
    return f"{object_id}@{UID_DOMAIN}"


def sequence(status: str) -> int:
    """The SEQUENCE of an entry in `status`; an unknown state counts as confirmed."""
    return SEQUENCE.get(status, SEQUENCE["confirmed"])
