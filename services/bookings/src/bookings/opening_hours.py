"""Opening hours: periods per weekday plus dated exceptions, in the location's time zone.

Rules are written in local wall-clock time; everything stored and compared is UTC. The
conversion happens here, per day, so a day on which daylight saving starts or ends gets
its own offset (10:00-12:00 stays 10:00-12:00 local on both sides of the change).
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from kit.dates import Day
from kit.requests import Strict

Interval = tuple[datetime, datetime]


# Opening periods in one day (split hours, a lunch break, ...).
PERIODS_MAX = 10


class Period(Strict):
    opens: time
    closes: time

    @model_validator(mode="after")
    def _order(self) -> Period:
        if self.closes <= self.opens:
            raise ValueError("closes must be after opens (no periods over midnight)")
        return self


class HoursException(Strict):
    day: Day
    closed: bool = False
    hours: list[Period] = Field(default_factory=list, max_length=PERIODS_MAX)
    reason: str | None = Field(default=None, max_length=200)


class Hours(Strict):
    """weekday (0 = Monday .. 6 = Sunday) -> periods; exceptions override a whole day."""

    weekly: dict[int, Annotated[list[Period], Field(max_length=PERIODS_MAX)]] = Field(
        default_factory=dict, max_length=7
    )
    exceptions: list[HoursException] = Field(default_factory=list, max_length=366)

    @field_validator("weekly")
    @classmethod
    def _weekdays(cls, value: dict[int, list[Period]]) -> dict[int, list[Period]]:
        for day, periods in value.items():
            if not 0 <= day <= 6:
                raise ValueError(f"weekday {day} is not 0..6")
            ordered = sorted(periods, key=lambda p: p.opens)
            for a, b in itertools.pairwise(ordered):
                if b.opens < a.closes:
                    raise ValueError(f"periods of weekday {day} overlap")
        return value

    def periods_on(self, day: date) -> list[Period]:
        for exception in self.exceptions:
            if exception.day == day:
                return [] if exception.closed else sorted(exception.hours, key=lambda p: p.opens)
        return sorted(self.weekly.get(day.weekday(), []), key=lambda p: p.opens)

    def to_doc(self) -> dict[str, object]:
        data = self.model_dump(mode="json")
        data["weekly"] = {str(k): v for k, v in data["weekly"].items()}  # BSON keys
        return data


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def open_intervals(hours: Hours, zone: ZoneInfo, first: date, last: date) -> list[Interval]:
    """Open periods from `first` to `last` (inclusive local days) as UTC intervals."""
    out: list[Interval] = []
    day = first
    while day <= last:
        for period in hours.periods_on(day):
            out.append(
                (local_to_utc(day, period.opens, zone), local_to_utc(day, period.closes, zone))
            )
        day += timedelta(days=1)
    return out


def local_day(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()


def period_containing(
    hours: Hours, zone: ZoneInfo, start: datetime, end: datetime
) -> Interval | None:
    """The open period (UTC) that contains [start, end), if any."""
    day = local_day(start, zone)
    for opens, closes in open_intervals(hours, zone, day, day):
        if opens <= start and end <= closes:
            return opens, closes
    return None


def is_open_day(hours: Hours, day: date) -> bool:
    return bool(hours.periods_on(day))


# How far "closed, next open on ..." looks ahead.
NEXT_OPEN_WITHIN = 62


def any_open_day(hours: Hours, first: date, last: date) -> bool:
    days = (last - first).days + 1
    return any(is_open_day(hours, first + timedelta(days=d)) for d in range(days))


def next_open_day(hours: Hours, after: date) -> str | None:
    """The first open day after `after` (ISO date), for "closed; open again on ..."."""
    for ahead in range(1, NEXT_OPEN_WITHIN + 1):
        day = after + timedelta(days=ahead)
        if is_open_day(hours, day):
            return day.isoformat()
    return None
