"""Event payloads built from stored documents (a booking carries what its events need)."""

from __future__ import annotations

from typing import Any

from contracts import bookings as ev


def booking_facts(doc: dict[str, Any]) -> dict[str, Any]:
    facts = doc["facts"]
    return {
        "booking_id": doc["_id"],
        "resource_id": doc["resource_id"],
        "resource_kind": facts["resource_kind"],
        "resource_name": facts["resource_name"],
        "location_id": doc["location_id"],
        "location_name": facts.get("location_name", {}),
        "user_id": doc["user_id"],
        "starts_at": doc["starts_at"],
        "ends_at": doc["ends_at"],
        "timezone": facts.get("timezone", "Europe/Helsinki"),
        "people": doc.get("people", 1),
        "series_id": doc.get("series_id"),
        "mentor_user_id": facts.get("mentor_user_id"),
    }


STATUS_EVENTS: dict[str, tuple[str, type[ev.BookingFacts]]] = {
    ev.BookingStatus.pending: (ev.BOOKING_PENDING, ev.BookingPendingApproval),
    ev.BookingStatus.confirmed: (ev.BOOKING_CONFIRMED, ev.BookingConfirmed),
    ev.BookingStatus.denied: (ev.BOOKING_DENIED, ev.BookingDenied),
    ev.BookingStatus.cancelled: (ev.BOOKING_CANCELLED, ev.BookingCancelled),
    ev.BookingStatus.checked_in: (ev.BOOKING_CHECKED_IN, ev.BookingCheckedIn),
    ev.BookingStatus.no_show: (ev.BOOKING_NO_SHOW, ev.BookingNoShow),
}


def booking_event(doc: dict[str, Any], **extra: Any) -> tuple[str, ev.BookingFacts]:
    """The event type and payload for the booking's current status."""
    type_, model = STATUS_EVENTS[doc["status"]]
    return type_, model(**booking_facts(doc), **extra)


def booking_requested(doc: dict[str, Any]) -> ev.BookingRequested:
    """The request as stored: its facts, the status it got at once, and whether staff
    booked it for someone else."""
    return ev.BookingRequested(
        **booking_facts(doc),
        status=doc["status"],
        on_behalf=doc.get("booked_by", doc["user_id"]) != doc["user_id"],
    )


def resource_changed(resource: dict[str, Any], *, created: bool = False) -> ev.ResourceChanged:
    return ev.ResourceChanged(
        resource_id=resource["_id"],
        location_id=resource["location_id"],
        kind=resource["kind"],
        name=resource["name"],
        capacity=resource.get("capacity", 1),
        mentor_user_id=resource.get("mentor_user_id"),
        topics=resource.get("topics", []),
        active=resource.get("active", True),
        created=created,
    )
