"""Pure domain: opening hours across daylight-saving changes, rule checks, free slots."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bookings.availability import free_slots
from bookings.errors import RuleBroken
from bookings.opening_hours import Hours, HoursException, Period, open_intervals
from bookings.rules import Rules, check_quota, check_times

HEL = ZoneInfo("Europe/Helsinki")
EVERY_DAY = Hours(weekly={d: [Period(opens=time(8), closes=time(20))] for d in range(7)})
SPRING = date(2027, 3, 28)  # clocks go 03:00 -> 04:00 in Helsinki (UTC+2 -> UTC+3)
AUTUMN = date(2027, 10, 31)  # clocks go 04:00 -> 03:00 (UTC+3 -> UTC+2)


def test_opening_hours_keep_local_time_across_dst() -> None:
    before, change, after = open_intervals(
        EVERY_DAY, HEL, SPRING - timedelta(days=1), SPRING + timedelta(days=1)
    )
    assert before[0] == datetime(2027, 3, 27, 6, 0, tzinfo=UTC)  # 08:00 at UTC+2
    assert change[0] == datetime(2027, 3, 28, 5, 0, tzinfo=UTC)  # 08:00 at UTC+3
    assert after[0] == datetime(2027, 3, 29, 5, 0, tzinfo=UTC)
    back_before, back_change = open_intervals(EVERY_DAY, HEL, AUTUMN - timedelta(days=1), AUTUMN)
    assert back_before[0].hour == 5 and back_change[0].hour == 6
    # every open day is still 12 hours long, whatever the offset
    assert all(b - a == timedelta(hours=12) for a, b in [before, change, after, back_change])


def test_night_opening_on_the_short_day_is_one_hour_shorter() -> None:
    hours = Hours(weekly={6: [Period(opens=time(0), closes=time(6))]})
    [(opens, closes)] = open_intervals(hours, HEL, SPRING, SPRING)
    assert closes - opens == timedelta(hours=5)
    [(opens, closes)] = open_intervals(hours, HEL, AUTUMN, AUTUMN)
    assert closes - opens == timedelta(hours=7)


def test_exceptions_close_or_change_a_day() -> None:
    hours = Hours(
        weekly=EVERY_DAY.weekly,
        exceptions=[
            HoursException(day=date(2027, 12, 24), closed=True, reason="Christmas Eve"),
            HoursException(day=date(2027, 12, 31), hours=[Period(opens=time(9), closes=time(13))]),
        ],
    )
    assert hours.periods_on(date(2027, 12, 24)) == []
    assert hours.periods_on(date(2027, 12, 31)) == [Period(opens=time(9), closes=time(13))]
    assert hours.periods_on(date(2027, 12, 30))[0].opens == time(8)


def test_bad_hours_are_rejected() -> None:
    with pytest.raises(ValueError):
        Period(opens=time(12), closes=time(9))
    with pytest.raises(ValueError):
        Hours(weekly={7: []})
    with pytest.raises(ValueError):
        Hours(
            weekly={
                0: [Period(opens=time(8), closes=time(12)), Period(opens=time(11), closes=time(14))]
            }
        )


def test_booking_on_the_dst_day_uses_that_days_offset() -> None:
    rules = Rules(max_days_ahead=730)
    now = datetime(2027, 3, 1, tzinfo=UTC)
    start = datetime(2027, 3, 28, 10, 0, tzinfo=HEL)
    check_times(rules, EVERY_DAY, HEL, start, start + timedelta(hours=2), now)
    assert start.astimezone(UTC).hour == 7
    with pytest.raises(RuleBroken) as refused:
        early = datetime(2027, 3, 28, 7, 30, tzinfo=HEL)
        check_times(rules, EVERY_DAY, HEL, early, early + timedelta(hours=1), now)
    assert refused.value.field == "starts_at"


def test_free_slots_on_dst_days_follow_local_hours() -> None:
    rules = Rules(slot_minutes=60, min_minutes=60, max_days_ahead=730)
    now = datetime(2027, 3, 1, tzinfo=UTC)
    periods = open_intervals(EVERY_DAY, HEL, SPRING, SPRING)
    slots = free_slots(rules, periods, [], now=now)
    local = [s.astimezone(HEL).hour for s, _ in slots]
    assert local == list(range(8, 20))


def test_quota_counts_the_users_bookings_by_local_day_and_week() -> None:
    rules = Rules(max_bookings_per_day=1, max_hours_per_week=2)
    monday = datetime(2027, 5, 3, 10, tzinfo=HEL)
    check_quota(rules, HEL, monday, monday + timedelta(hours=1), [])
    with pytest.raises(RuleBroken):
        check_quota(
            rules,
            HEL,
            monday + timedelta(hours=3),
            monday + timedelta(hours=4),
            [(monday, monday + timedelta(hours=1))],
        )
    thursday = monday + timedelta(days=3)
    with pytest.raises(RuleBroken):
        check_quota(
            rules,
            HEL,
            thursday,
            thursday + timedelta(hours=2),
            [(monday, monday + timedelta(hours=1))],
        )
    next_week = monday + timedelta(days=7)
    check_quota(
        rules,
        HEL,
        next_week,
        next_week + timedelta(hours=2),
        [(monday, monday + timedelta(hours=1))],
    )


def test_free_slots_leave_out_held_time_buffers_and_the_window() -> None:
    rules = Rules(
        slot_minutes=60,
        min_minutes=60,
        buffer_before_minutes=30,
        max_days_ahead=1,
        min_notice_minutes=120,
    )
    day = date(2027, 5, 3)
    now = datetime.combine(day, time(8), tzinfo=HEL).astimezone(UTC)
    periods = open_intervals(EVERY_DAY, HEL, day, day + timedelta(days=3))
    held = [
        (datetime.combine(day, time(13), tzinfo=HEL), datetime.combine(day, time(14), tzinfo=HEL))
    ]
    slots = free_slots(rules, periods, held, now=now)
    first_day = [s.astimezone(HEL).hour for s, _ in slots if s.astimezone(HEL).date() == day]
    # 08 and 09 fall within the 2-hour notice; 13 is held; 14's 30-minute buffer before
    # would reach back into the held 13-14
    assert first_day == [10, 11, 12, 15, 16, 17, 18, 19]
    assert max(s for s, _ in slots) <= now + timedelta(days=1)


def test_booking_window_min_notice_and_staff_exemption() -> None:
    rules = Rules(min_notice_minutes=60, max_days_ahead=7)
    start = datetime(2027, 5, 3, 12, tzinfo=HEL)
    with pytest.raises(RuleBroken) as short_notice:
        check_times(
            rules, EVERY_DAY, HEL, start, start + timedelta(hours=1), start - timedelta(minutes=30)
        )
    assert short_notice.value.field == "starts_at" and "ahead" in str(short_notice.value.detail)
    check_times(
        rules, EVERY_DAY, HEL, start, start + timedelta(hours=1), start - timedelta(minutes=90)
    )
    # staff may book at short notice and beyond the window, never in the past
    check_times(
        rules,
        EVERY_DAY,
        HEL,
        start,
        start + timedelta(hours=1),
        start - timedelta(minutes=5),
        staff=True,
    )
    check_times(
        rules,
        EVERY_DAY,
        HEL,
        start,
        start + timedelta(hours=1),
        start - timedelta(days=30),
        staff=True,
    )
    with pytest.raises(RuleBroken):
        check_times(
            rules,
            EVERY_DAY,
            HEL,
            start,
            start + timedelta(hours=1),
            start + timedelta(minutes=5),
            staff=True,
        )
