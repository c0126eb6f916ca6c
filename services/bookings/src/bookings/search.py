"""Availability search over the store: one query for the held time of all resources in
the range, then the pure sweep in `availability.py` per resource."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from bookings.availability import free_slots
from bookings.booking import effective_hours
from bookings.calendar import held_time
from bookings.errors import Invalid
from bookings.location import zone_of
from bookings.opening_hours import (
    Interval,
    any_open_day,
    is_open_day,
    next_open_day,
    open_intervals,
)
from bookings.resource import rules_of
from kit.app import Service

MAX_DAYS = 62


async def availability(
    svc: Service,
    *,
    location: dict[str, Any],
    resources: list[dict[str, Any]],
    first: date,
    last: date,
    staff: bool = False,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    if last < first:
        raise Invalid("range", "to must not be before from", field="to")
    if (last - first).days + 1 > MAX_DAYS:
        raise Invalid("range", f"at most {MAX_DAYS} days at a time", field="to")
    now = now or datetime.now(UTC)
    zone = zone_of(location)
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    active = [r for r in resources if r.get("active", True)]
    held = await held_time(svc.store, [r["_id"] for r in active], start - _PAD, end + _PAD)
    out = []
    for resource in active:
        rules = rules_of(resource)
        hours = effective_hours(resource, location)
        entry: dict[str, Any] = {"resource_id": resource["_id"], "kind": resource["kind"]}
        if rules.loan:
            entry["days"] = _free_days(hours, zone, first, last, held[resource["_id"]], now)
        else:
            periods = open_intervals(hours, zone, first, last)
            slots = free_slots(rules, periods, held[resource["_id"]], now=now, staff=staff)
            entry["slots"] = [
                {"starts_at": s.isoformat(), "ends_at": e.isoformat()} for s, e in slots
            ]
            # Opening periods too: a frontend can tell "closed" from "all taken" and show
            # the taken times of an open day as taken.
            entry["open"] = [
                {"starts_at": a.isoformat(), "ends_at": b.isoformat()} for a, b in periods
            ]
        if not any_open_day(hours, first, last):
            entry["next_open_day"] = next_open_day(hours, last)
        out.append(entry)
    return out


# Buffers reach a little outside the range.
_PAD = timedelta(hours=5)


def _free_days(
    hours: Any, zone: Any, first: date, last: date, held: list[Interval], now: datetime
) -> list[str]:
    days = []
    day = max(first, now.astimezone(zone).date())
    while day <= last:
        a = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        b = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
        if is_open_day(hours, day) and not any(s < b and a < e for s, e in held):
            days.append(day.isoformat())
        day += timedelta(days=1)
    return days
