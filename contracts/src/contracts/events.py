"""The events service's published events (learning events, venues, registrations)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from contracts.common import Audience, ErasureCompleted, LocalizedText, Skill
from contracts.envelope import Payload
from contracts.registry import event_type, register

VENUE_CHANGED = event_type("events", "venue.changed")
EVENT_PUBLISHED = event_type("events", "event.published")
EVENT_CHANGED = event_type("events", "event.changed")
EVENT_CANCELLED = event_type("events", "event.cancelled")
EVENT_COMPLETED = event_type("events", "event.completed")
REGISTRATION_CONFIRMED = event_type("events", "registration.confirmed")
REGISTRATION_WAITLISTED = event_type("events", "registration.waitlisted")
REGISTRATION_PROMOTED = event_type("events", "registration.promoted")
REGISTRATION_CANCELLED = event_type("events", "registration.cancelled")
ATTENDANCE_RECORDED = event_type("events", "attendance.recorded")
VISITS_COUNTED = event_type("events", "visits.counted")
ERASURE_COMPLETED = event_type("events", "erasure.completed")
FEEDBACK_GIVEN = event_type("events", "feedback.given")


class VenueKind(StrEnum):
    library = "library"
    park = "park"
    shopping_centre = "shopping_centre"
    cafe = "cafe"
    public_building = "public_building"
    online = "online"
    other = "other"


class EventKind(StrEnum):
    workshop = "workshop"
    course = "course"
    meetup = "meetup"
    peer_session = "peer_session"
    avaa_tila = "avaa_tila"
    staff_training = "staff_training"


@register(VENUE_CHANGED)
class VenueChanged(Payload):
    venue_id: str
    kind: VenueKind
    name: LocalizedText
    latitude: float | None = None
    longitude: float | None = None
    active: bool = True
    created: bool = Field(default=False, description="True when the venue was just created")


class EventFacts(Payload):
    """What consumers need to know of an event (no personal data)."""

    event_id: str
    kind: EventKind
    title: LocalizedText
    venue_id: str | None = None
    venue_kind: VenueKind | None = None
    venue_name: LocalizedText = Field(default_factory=dict)
    starts_at: datetime
    ends_at: datetime
    timezone: str = "Europe/Helsinki"
    capacity: int | None = None
    audiences: list[Audience] = Field(default_factory=list)
    topics: list[Skill] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    organiser_kind: str = "staff"  # staff | partner | mentor
    series_id: str | None = None
    parent_event_id: str | None = None
    registration_required: bool = True


@register(EVENT_PUBLISHED)
class EventPublished(EventFacts):
    pass


@register(EVENT_CHANGED)
class EventChanged(EventFacts):
    changed_fields: list[str] = Field(default_factory=list)


@register(EVENT_CANCELLED)
class EventCancelled(Payload):
    event_id: str
    title: LocalizedText
    starts_at: datetime
    reason: str | None = None


@register(EVENT_COMPLETED)
class EventCompleted(Payload):
    event_id: str
    kind: EventKind
    attended: int = 0
    registered: int = 0


class RegistrationFacts(Payload):
    registration_id: str
    event_id: str
    user_id: str
    seats: int = Field(default=1, ge=1, description="Group sign-ups take several seats")
    group_name: str | None = None
    kind: EventKind
    title: LocalizedText
    venue_name: LocalizedText = Field(default_factory=dict)
    starts_at: datetime
    ends_at: datetime
    timezone: str = "Europe/Helsinki"


@register(REGISTRATION_CONFIRMED)
class RegistrationConfirmed(RegistrationFacts):
    pass


@register(REGISTRATION_WAITLISTED)
class RegistrationWaitlisted(RegistrationFacts):
    position: int


@register(REGISTRATION_PROMOTED)
class RegistrationPromoted(RegistrationFacts):
    """Moved from the waiting list to a seat; it is now confirmed."""


@register(REGISTRATION_CANCELLED)
class RegistrationCancelled(RegistrationFacts):
    cancelled_by: str = "user"  # user | staff | event_cancelled
    reason: str | None = None
    was_waitlisted: bool = False


@register(ATTENDANCE_RECORDED)
class AttendanceRecorded(Payload):
    event_id: str
    registration_id: str | None = None
    user_id: str | None = None
    kind: EventKind
    attended: bool
    seats: int = 1
    hours: float = Field(ge=0, description="Learning hours (event duration) for this attendance")
    starts_at: datetime


@register(VISITS_COUNTED)
class VisitsCounted(Payload):
    """Head count at an open event without registration (e.g. an Avaa tila pop-up)."""

    event_id: str
    kind: EventKind
    venue_kind: VenueKind | None = None
    visits: int = Field(ge=0)
    counted_at: datetime


@register(FEEDBACK_GIVEN)
class FeedbackGiven(Payload):
    """A participant rated an event afterwards. The free-text comment stays in the events
    service (it may hold personal data); only whether one was given travels."""

    event_id: str
    registration_id: str
    user_id: str
    kind: EventKind
    rating: int = Field(ge=1, le=5)
    has_comment: bool = False
    given_at: datetime


@register(ERASURE_COMPLETED)
class EventsErasureCompleted(ErasureCompleted):
    pass
