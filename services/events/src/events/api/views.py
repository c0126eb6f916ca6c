"""What the events API answers, as the OpenAPI documents state it (issue 24). The views are
built by the domain's `out()` functions; these models document them (kit.openapi.returns)
and schemathesis holds the answers to them. Times are the event's local time with its
offset (ISO 8601), `starts_at_utc` the start in UTC; documented in docs/api.md."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from contracts.common import Audience
from contracts.events import EventKind, VenueKind
from kit.pages import Page

Localized = dict[str, str]


class OrganiserOut(BaseModel):
    kind: str
    name: str = ""
    organisation_id: str | None = None


class TopicOut(BaseModel):
    skill: str
    level: str | None = None


class PriceOut(BaseModel):
    free: bool = True
    amount: float | None = None
    currency: str = "EUR"
    info: Localized = Field(default_factory=dict)


class SubEvent(BaseModel):
    id: str
    title: Localized


class EventOut(BaseModel):
    """An event as listed (and, with `created_by`, as its managers see it)."""

    id: str = Field(examples=["evt-3f2a9c01b7d4"])
    municipality: str = Field(examples=["helsinki"])
    timezone: str = Field(examples=["Europe/Helsinki"])
    status: str = Field(description="draft, published, cancelled or completed")
    kind: EventKind
    title: Localized = Field(examples=[{"fi": "Koodikerho", "en": "Code club"}])
    description: Localized = Field(default_factory=dict)
    starts_at: datetime = Field(examples=["2026-12-10T17:00:00+02:00"])
    ends_at: datetime
    starts_at_utc: datetime = Field(examples=["2026-12-10T15:00:00+00:00"])
    languages: list[str] = Field(default_factory=list)
    audiences: list[Audience] = Field(default_factory=list)
    topics: list[TopicOut] = Field(default_factory=list)
    organiser: OrganiserOut | None = None
    venue_id: str | None = None
    venue_kind: VenueKind | None = None
    venue_name: Localized = Field(default_factory=dict)
    capacity: int | None = None
    seats_taken: int = 0
    seats_free: int | None = Field(default=None, description="null: no capacity limit")
    waiting: int = 0
    max_group_size: int | None = None
    registration_required: bool = True
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    min_age: int | None = None
    max_age: int | None = None
    price: PriceOut | None = None
    info_url: str | None = None
    series_id: str | None = None
    parent_event_id: str | None = None
    revision: int = Field(default=1, description="Grows with every change (`min_revision`)")
    source_id: str | None = Field(
        default=None, description="Its id where a bulk import brought it from"
    )
    created_by: str | None = Field(default=None, description="Shown to managers only")
    created_at: datetime | None = None
    updated_at: datetime | None = None
    published_at: datetime | None = None
    cancelled_at: datetime | None = None
    completed_at: datetime | None = None


class EventDetail(EventOut):
    sub_events: list[SubEvent] = Field(default_factory=list)


class EventPage(Page[EventOut]):
    next_offset: int | None = Field(
        deprecated=True,
        description="The next page's offset (null on the last): the earlier shape; use `next`",
    )


class Imported(BaseModel):
    id: str
    revision: int
    source_id: str | None = None


class ImportOut(BaseModel):
    created: list[Imported] = Field(description="Events this import made")
    existing: list[str] = Field(
        description="Ids of events with these source ids already here (left as they are)"
    )


class AddressOut(BaseModel):
    street: str = ""
    postal_code: str = ""
    city: str = ""


class VenueOut(BaseModel):
    id: str
    municipality: str
    kind: VenueKind
    name: Localized
    address: AddressOut | None = None
    latitude: float | None = None
    longitude: float | None = None
    accessibility: Localized = Field(default_factory=dict)
    description: Localized = Field(default_factory=dict)
    url: str | None = None
    parent_venue_id: str | None = None
    active: bool = True
    distance_km: float | None = Field(default=None, description="Only when searched `near`")


class VenueList(Page[VenueOut]):
    """Venues of a municipality, by name or nearest first (a page: docs/api.md)."""


class SeriesOut(BaseModel):
    id: str
    municipality: str
    occurrences: list[EventOut]


class SeriesPublished(BaseModel):
    published: int = Field(description="Occurrences published")


class SeriesCancelled(BaseModel):
    cancelled: int = Field(description="Occurrences cancelled")


class RegistrationOut(BaseModel):
    id: str = Field(examples=["reg-0c5e8d2b9a7f4e11"])
    event_id: str
    municipality: str
    user_id: str
    name: str | None = None
    seats: int = Field(examples=[1])
    group_name: str | None = None
    status: str = Field(description="confirmed, waitlisted or cancelled")
    place: int | None = Field(default=None, description="Place on the waiting list")
    code: str | None = Field(default=None, description="Check-in code (its holder only)")
    checkin_pass: str | None = Field(
        default=None,
        description="The pass staff scan (its QR code) or type to check the holder in "
        "(kit.passes; its holder and staff only)",
    )
    attended: bool | None = None
    created_at: datetime | None = None
    confirmed_at: datetime | None = None
    promoted_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    attended_at: datetime | None = None


class CheckedIn(RegistrationOut):
    event_title: dict[str, str] = Field(description="The event's title, per language")


class CheckInList(Page[RegistrationOut]):
    """An event's confirmed registrations, then its waiting list in order (a page:
    docs/api.md), with the event's seat counts."""

    seats_taken: int = Field(description="Seats taken of the event (not of the page)")
    capacity: int | None = Field(description="The event's seats; null: no limit")


class MyRegistrations(Page[RegistrationOut]):
    """The caller's registrations, newest first (a page: docs/api.md)."""


class FeedbackOut(BaseModel):
    rating: int = Field(ge=1, le=5)
    comment: str | None = None


class FeedbackSummary(BaseModel):
    count: int
    average: float | None
    histogram: dict[str, int] = Field(description="Ratings 1-5: how many gave each")
    comments: list[str]


class VisitsCounted(BaseModel):
    event_id: str
    visits: int


class JsonLdEvent(BaseModel):
    """A schema.org Event (the fields always given; location, offers and sub-events when
    known)."""

    context: str = Field(alias="@context", examples=["https://schema.org"])
    type: str = Field(alias="@type", examples=["Event"])
    id: str = Field(alias="@id")
    url: str
    name: str
    description: str
    startDate: datetime
    endDate: datetime
    eventStatus: str
    eventAttendanceMode: str
    inLanguage: list[str]
    keywords: list[str]
