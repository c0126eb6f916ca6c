"""Free slots: opening periods cut into the resource's slot grid, minus the time held by
bookings and blocks (with buffers), inside the booking window. One sorted sweep per
resource, so a month of 50 resources costs little more than reading their bookings."""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime, timedelta

from bookings.opening_hours import Interval
from bookings.rules import Rules


def free_slots(
    rules: Rules,
    open_periods: list[Interval],
    held: list[Interval],
    *,
    now: datetime,
    staff: bool = False,
) -> list[Interval]:
    """Slots [start, start + slot) that a booking of one slot could take right now."""
    slot = timedelta(minutes=rules.slot_minutes)
    before = timedelta(minutes=rules.buffer_before_minutes)
    after = timedelta(minutes=rules.buffer_after_minutes)
    earliest = now if staff else now + timedelta(minutes=rules.min_notice_minutes)
    latest = None if staff else now + timedelta(days=rules.max_days_ahead)
    held = sorted(held)
    starts = [s for s, _ in held]
    # held intervals may nest; a running max of ends lets us answer "anything overlapping
    # [a, b)?" with one bisect.
    max_end: list[datetime] = []
    for _, end in held:
        max_end.append(end if not max_end or end > max_end[-1] else max_end[-1])
    out: list[Interval] = []
    for opens, closes in sorted(open_periods):
        start = opens
        while start + slot <= closes:
            end = start + slot
            if start >= earliest and (latest is None or start <= latest):
                a, b = start - before, end + after
                i = bisect_left(starts, b)  # held intervals starting before b
                if i == 0 or max_end[i - 1] <= a:
                    out.append((start, end))
            start = end
    return out


def overlaps(a: Interval, b: Interval) -> bool:
    return a[0] < b[1] and b[0] < a[1]
