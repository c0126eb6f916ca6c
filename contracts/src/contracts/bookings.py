"""The bookings service's published events (locations, resources, bookings)."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from pydantic import Field

from contracts.common import ErasureCompleted, LocalizedText
from contracts.envelope import Payload
from contracts.registry import event_type, register

LOCATION_HOURS_CHANGED = event_type("bookings", "location.hours_changed")
RESOURCE_CHANGED = event_type("bookings", "resource.changed")
RESOURCE_BLOCKED = event_type("bookings", "resource.blocked")
MENTOR_HOURS_CLOSED = event_type("bookings", "mentor_hours.closed")
BOOKING_REQUESTED = event_type("bookings", "booking.requested")
BOOKING_PENDING = event_type("bookings", "booking.pending_approval")
BOOKING_CONFIRMED = event_type("bookings", "booking.confirmed")
BOOKING_DENIED = event_type("bookings", "booking.denied")
BOOKING_CANCELLED = event_type("bookings", "booking.cancelled")
BOOKING_CHECKED_IN = event_type("bookings", "booking.checked_in")
BOOKING_NO_SHOW = event_type("bookings", "booking.no_show")
ERASURE_COMPLETED = event_type("bookings", "erasure.completed")
SERIES_CREATED = event_type("bookings", "series.created")
SERIES_CANCELLED = event_type("bookings", "series.cancelled")
BOOKING_FLAGGED = event_type("bookings", "booking.flagged")


class ResourceKind(StrEnum):
    workstation = "workstation"
    meeting_room = "meeting_room"
    studio = "studio"
    equipment = "equipment"
    mentor_hours = "mentor_hours"


class BookingStatus(StrEnum):
    pending = "pending"  # awaiting staff approval
    confirmed = "confirmed"
    denied = "denied"
    cancelled = "cancelled"
    checked_in = "checked_in"
    no_show = "no_show"


class DayHours(Payload):
    opens: time
    closes: time


class HoursException(Payload):
    day: date
    closed: bool = False
    hours: list[DayHours] = Field(default_factory=list)
    reason: str | None = None


@register(LOCATION_HOURS_CHANGED)
class LocationHoursChanged(Payload):
    """Opening hours, for utilisation (booked hours against open hours)."""

    location_id: str
    name: LocalizedText
    timezone: str = "Europe/Helsinki"
    # weekday 0 = Monday .. 6 = Sunday -> opening periods
    weekly: dict[int, list[DayHours]] = Field(default_factory=dict)
    exceptions: list[HoursException] = Field(default_factory=list)


@register(RESOURCE_CHANGED)
class ResourceChanged(Payload):
    resource_id: str
    location_id: str
    kind: ResourceKind
    name: LocalizedText
    capacity: int = 1
    mentor_user_id: str | None = None
    topics: list[str] = Field(default_factory=list)
    active: bool = True
    # True on the first event of a resource (created), false on later updates.
    created: bool = False


@register(RESOURCE_BLOCKED)
class ResourceBlocked(Payload):
    resource_id: str
    resource_name: LocalizedText
    starts_at: datetime
    ends_at: datetime
    reason: str | None = None
    cancelled_booking_ids: list[str] = Field(default_factory=list)
    block_id: str | None = None
    location_id: str | None = None
    # Bookings kept but flagged for staff to resolve (block made with on_conflict=flag).
    flagged_booking_ids: list[str] = Field(default_factory=list)


@register(MENTOR_HOURS_CLOSED)
class MentorHoursClosed(Payload):
    resource_id: str
    mentor_user_id: str
    reason: str | None = None
    cancelled_booking_ids: list[str] = Field(default_factory=list)


class BookingFacts(Payload):
    booking_id: str
    resource_id: str
    resource_kind: ResourceKind
    resource_name: LocalizedText
    location_id: str
    location_name: LocalizedText = Field(default_factory=dict)
    user_id: str
    starts_at: datetime
    ends_at: datetime
    timezone: str = "Europe/Helsinki"
    people: int = 1
    series_id: str | None = None
    mentor_user_id: str | None = None


@register(BOOKING_REQUESTED)
class BookingRequested(BookingFacts):
    """A booking request was accepted and stored (each booked occurrence of a series too);
    booking.confirmed or booking.pending_approval follows in the same transaction. Requests
    refused or in conflict are not stored and publish nothing."""

    # What the request became at once: confirmed or pending (awaiting staff approval).
    status: BookingStatus
    # Staff booked it on behalf of `user_id`.
    on_behalf: bool = False


@register(BOOKING_PENDING)
class BookingPendingApproval(BookingFacts):
    pass


@register(BOOKING_CONFIRMED)
class BookingConfirmed(BookingFacts):
    access_code: str | None = None


@register(BOOKING_DENIED)
class BookingDenied(BookingFacts):
    reason: str | None = None


@register(BOOKING_CANCELLED)
class BookingCancelled(BookingFacts):
    cancelled_by: str = "user"  # user | staff | resource_blocked
    reason: str | None = None


@register(BOOKING_CHECKED_IN)
class BookingCheckedIn(BookingFacts):
    checked_in_at: datetime


@register(BOOKING_FLAGGED)
class BookingFlagged(BookingFacts):
    """A maintenance block overlaps this booking; it stands until staff decide. Tell the
    person (the booking may still be cancelled: booking.cancelled follows then)."""

    block_id: str
    reason: str | None = None


@register(BOOKING_NO_SHOW)
class BookingNoShow(BookingFacts):
    pass


@register(ERASURE_COMPLETED)
class BookingsErasureCompleted(ErasureCompleted):
    pass


class SeriesOccurrence(Payload):
    starts_at: datetime
    ends_at: datetime
    booking_id: str | None = None
    # confirmed | pending | conflict | refused
    outcome: str
    reason: str | None = None


@register(SERIES_CREATED)
class SeriesCreated(Payload):
    """A recurring series and what became of each occurrence; the booked occurrences
    also publish their own booking.confirmed / booking.pending_approval events."""

    series_id: str
    resource_id: str
    resource_name: LocalizedText
    location_id: str
    user_id: str
    timezone: str = "Europe/Helsinki"
    occurrences: list[SeriesOccurrence] = Field(default_factory=list)


@register(SERIES_CANCELLED)
class SeriesCancelled(Payload):
    """A whole series cancelled; each cancelled occurrence also publishes booking.cancelled."""

    series_id: str
    resource_id: str
    user_id: str
    cancelled_by: str = "user"
    reason: str | None = None
    cancelled_booking_ids: list[str] = Field(default_factory=list)
