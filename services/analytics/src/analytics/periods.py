"""Reporting periods: a year, a half, a quarter or a month, in the site's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from kit.problems import Problem

_PERIOD = re.compile(
    r"^(?P<year>\d{4})(?:-(?:(?P<half>H[12])|(?P<quarter>Q[1-4])|(?P<month>\d{2})))?$"
)


@dataclass(frozen=True)
class Period:
    label: str
    first_month: str  # "2026-01"
    last_month: str  # "2026-06", inclusive
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive

    @property
    def months(self) -> list[str]:
        out = []
        year, month = map(int, self.first_month.split("-"))
        while f"{year:04d}-{month:02d}" <= self.last_month:
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    def days(self, tz: str) -> list[date]:
        """Calendar days of the period (its bounds read in `tz`)."""
        zone = ZoneInfo(tz)
        first = self.start.astimezone(zone).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(zone).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def parse_period(value: str, tz: str, *, field: str = "period") -> Period:
    match = _PERIOD.match(value or "")
    if not match:
        raise Problem(
            422,
            "Invalid period",
            f"{field} must look like 2026, 2026-H1, 2026-Q2 or 2026-05; got {value!r}.",
            field=field,
        )
    year = int(match["year"])
    if match["half"]:
        first, last = (1, 6) if match["half"] == "H1" else (7, 12)
    elif match["quarter"]:
        q = int(match["quarter"][1])
        first, last = 3 * q - 2, 3 * q
    elif match["month"]:
        first = last = int(match["month"])
        if not 1 <= first <= 12:
            raise Problem(422, "Invalid period", f"No month {first} in {value!r}.", field=field)
    else:
        first, last = 1, 12
    if not 1970 <= year <= 2200:
        raise Problem(422, "Invalid period", f"Year {year} is out of range.", field=field)
    zone = ZoneInfo(tz)
    start = datetime(year, first, 1, tzinfo=zone)
    end_y, end_m = (year + 1, 1) if last == 12 else (year, last + 1)
    end = datetime(end_y, end_m, 1, tzinfo=zone)
    return Period(
        label=value,
        first_month=f"{year:04d}-{first:02d}",
        last_month=f"{year:04d}-{last:02d}",
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
    )


def month_of(moment: datetime, tz: str) -> str:
    """The calendar month ("2026-03") of a moment in the site's time zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(ZoneInfo(tz))
    return f"{local.year:04d}-{local.month:02d}"  # faster than strftime, per row ingested


def period_keys(month: str) -> list[str]:
    """The periods a month belongs to: "2026-02" -> 2026, 2026-H1, 2026-Q1, 2026-02."""
    year, mm = month.split("-")
    m = int(mm)
    return [year, f"{year}-H{1 if m <= 6 else 2}", f"{year}-Q{(m - 1) // 3 + 1}", month]
