"""Calendar days taken from requests: bounded, because a day at the edge of Python's range
(0001-01-01, 9999-12-31) overflows as soon as it is moved into a time zone or a day is
added to it, and no booking or event is that far away anyway."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator

FIRST = date(1900, 1, 1)
LAST = date(2199, 12, 31)


def _within_calendar(day: date) -> date:
    if not FIRST <= day <= LAST:
        raise ValueError(f"must be between {FIRST} and {LAST}")
    return day


# As a query parameter: `day: Annotated[Day, Query(alias="date")]`. FastAPI drops the
# validator of `day: Day = Query(...)` (the default's field info replaces the annotation's).
Day = Annotated[date, AfterValidator(_within_calendar)]


def _moment_within(moment: datetime) -> datetime:
    if not FIRST <= moment.date() <= LAST:
        raise ValueError(f"must be between {FIRST} and {LAST}")
    return moment


# A point in time from a request (a field, or `Annotated[Moment | None, Query(...)]`), within
# the same years: 0001-01-01T00:00 overflowed in time-zone arithmetic (500s) before.
Moment = Annotated[datetime, AfterValidator(_moment_within)]
