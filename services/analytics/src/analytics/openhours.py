"""Opening hours as intervals, and hours spread over the 168 hours of the week."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from analytics.periods import Period

HourOfWeek = tuple[int, int]  # (weekday 0 = Monday, hour 0..23)


def _t(value: str) -> time:
    return time.fromisoformat(value)


def day_periods(location: dict[str, Any], day: date) -> list[tuple[time, time]]:
    """Opening periods of one day: an exception for that day wins over the weekly hours."""
    for exc in location.get("exceptions") or []:
        if exc.get("day") == day.isoformat():
            if exc.get("closed"):
                return []
            return [(_t(h["opens"]), _t(h["closes"])) for h in exc.get("hours") or []]
    weekly = location.get("weekly") or {}
    return [(_t(h["opens"]), _t(h["closes"])) for h in weekly.get(str(day.weekday()), [])]


def open_intervals(location: dict[str, Any], period: Period) -> Iterator[tuple[datetime, datetime]]:
    zone = ZoneInfo(location.get("timezone") or "Europe/Helsinki")
    for day in period.days(location.get("timezone") or "Europe/Helsinki"):
        for opens, closes in day_periods(location, day):
            start = datetime.combine(day, opens, tzinfo=zone)
            end = datetime.combine(day, closes, tzinfo=zone)
            if end > start:
                yield start, end


def spread(start: datetime, end: datetime, tz: str) -> dict[HourOfWeek, float]:
    """Hours of [start, end) per hour of the week, read in `tz`."""
    zone = ZoneInfo(tz)
    out: dict[HourOfWeek, float] = defaultdict(float)
    cursor = start.astimezone(zone)
    end = end.astimezone(zone)
    while cursor < end:
        next_hour = cursor.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        stop = min(next_hour, end)
        out[(cursor.weekday(), cursor.hour)] += (stop - cursor).total_seconds() / 3600
        cursor = stop
    return out


def clip(start: datetime, end: datetime, period: Period) -> tuple[datetime, datetime] | None:
    s, e = max(start, period.start), min(end, period.end)
    return (s, e) if e > s else None
