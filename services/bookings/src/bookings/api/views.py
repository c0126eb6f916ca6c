"""What the bookings API answers, as the OpenAPI documents state it (issue 24). The views are
built by the domain (`booking_out`, `resource_out`, ...); these models document them
(kit.openapi.returns) and schemathesis holds the answers to them. Times are UTC with offset
(ISO 8601), with the location's `timezone` for showing them; documented in docs/api.md."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from bookings.rules import Rules
from contracts.bookings import ResourceKind

Localized = dict[str, str]


# Local wall-clock times of day as the API writes them (`10:00:00`): JSON Schema's `time`
# format wants an offset, which opening hours do not have.
WallClock = Annotated[str, Field(pattern=r"^[0-2][0-9]:[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?$")]


class PeriodOut(BaseModel):
    opens: WallClock = Field(examples=["10:00:00"])
    closes: WallClock = Field(examples=["20:00:00"])


class HoursExceptionOut(BaseModel):
    day: date
    closed: bool = False
    hours: list[PeriodOut] = Field(default_factory=list)
    reason: str | None = None


class HoursOut(BaseModel):
    """Weekday (0 = Monday .. 6 = Sunday) -> periods; exceptions override a whole day."""

    weekly: dict[str, list[PeriodOut]] = Field(
        examples=[{"0": [{"opens": "10:00:00", "closes": "20:00:00"}]}]
    )
    exceptions: list[HoursExceptionOut] = Field(default_factory=list)


class BookingOut(BaseModel):
    id: str = Field(examples=["bkg-5d1c0e9a7b3f4a21"])
    municipality: str = Field(examples=["helsinki"])
    resource_id: str
    resource_name: Localized = Field(examples=[{"fi": "Studio 1", "en": "Studio 1"}])
    resource_kind: ResourceKind | None = None
    location_id: str
    user_id: str | None = None
    status: str = Field(description="pending, confirmed, denied, cancelled, checked_in, no_show")
    starts_at: datetime = Field(examples=["2026-12-10T08:00:00+00:00"])
    ends_at: datetime = Field(examples=["2026-12-10T09:00:00+00:00"])
    timezone: str | None = Field(default=None, examples=["Europe/Helsinki"])
    people: int = 1
    purpose: str | None = None
    series_id: str | None = None
    loan: bool = False
    access_code: str | None = Field(default=None, description="The booker's door code")
    checkin_pass: str | None = Field(
        default=None,
        description="The pass staff scan (its QR code) or type to check the booker in (kit.passes)",
    )
    reason: str | None = None
    flagged: Any = Field(default=None, description="Why staff should look at it, if so")
    checked_in_at: datetime | None = None


class Occurrence(BaseModel):
    starts_at: datetime
    ends_at: datetime
    booking_id: str | None = None
    outcome: str | None = Field(default=None, description="A status, `conflict` or `refused`")
    reason: str | None = None


class SeriesOut(BaseModel):
    id: str
    resource_id: str
    user_id: str
    status: str
    occurrences: list[Occurrence]


class SeriesCancelled(BaseModel):
    series_id: str
    cancelled_booking_ids: list[str]


class ImageOut(BaseModel):
    src: str = Field(examples=["/media/oodi-studio.jpg"])
    alt: Localized


class PriceOut(BaseModel):
    free: bool = True
    amount: float | None = None
    currency: str = "EUR"
    per: str = Field("booking", description="hour, booking or day")


class LocationOut(BaseModel):
    id: str
    municipality: str
    name: Localized
    kind: str
    address: str | None = None
    description: Localized = Field(default_factory=dict)
    accessibility: list[str] = Field(default_factory=list)
    image: ImageOut | None = Field(None, description="A photo: a path on this site, alt text")
    timezone: str = Field(examples=["Europe/Helsinki"])
    hours: HoursOut


class ResourceOut(BaseModel):
    id: str
    municipality: str
    location_id: str
    kind: ResourceKind
    name: Localized
    description: Localized = Field(default_factory=dict)
    capacity: int = 1
    equipment: list[str] = Field(default_factory=list)
    accessibility: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    price: PriceOut | None = Field(None, description="null: not stated")
    terms: Localized = Field(default_factory=dict)
    mentor_user_id: str | None = None
    active: bool = True
    rules: Rules
    hours: HoursOut | None = Field(description="Its own hours; null: the location's")


class BlockOut(BaseModel):
    id: str
    resource_id: str
    status: str
    starts_at: datetime
    ends_at: datetime
    reason: str | None = None
    cancelled_booking_ids: list[str] = Field(default_factory=list)
    flagged_booking_ids: list[str] = Field(default_factory=list)


class DayView(BaseModel):
    location_id: str
    date: date
    bookings: list[BookingOut]
    blocks: list[BlockOut]


class Interval(BaseModel):
    starts_at: datetime
    ends_at: datetime


class Availability(BaseModel):
    """One resource's free time in the range: `slots` (bookable intervals), or for a loan
    `days` (free whole days); `open` the opening hours, `next_open_day` when it is closed
    throughout."""

    resource_id: str
    kind: ResourceKind
    slots: list[Interval] | None = None
    days: list[date] | None = None
    open: list[Interval] | None = None
    next_open_day: date | None = None
    timezone: str | None = None


class LocationAvailability(BaseModel):
    location_id: str
    timezone: str
    resources: list[Availability]


class FeedIssued(BaseModel):
    url: str = Field(examples=["https://kohtaamo.example/feeds/3q2+7w.ics"])
    token: str
