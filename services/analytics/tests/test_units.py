"""Plain-function rules: suppression, periods, opening hours, profile at first entry,
activity rows' counters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics import activity
from analytics import suppression as sup
from analytics.openhours import open_intervals, spread
from analytics.participants import profile_at
from analytics.periods import month_of, parse_period
from analytics.utilisation import _most
from kit.problems import Problem


def test_breakdown_suppresses_small_cells_and_one_complement() -> None:
    assert sup.breakdown({"a": 10, "b": 3, "c": 7, "d": 0}, 5) == {
        "a": 10, "b": None, "c": None, "d": 0
    }  # fmt: skip
    # Two small cells already protect each other: nothing more is hidden.
    assert sup.breakdown({"a": 10, "b": 3, "c": 1}, 5) == {"a": 10, "b": None, "c": None}
    assert sup.breakdown({"a": 5, "b": 6}, 5) == {"a": 5, "b": 6}
    assert sup.count(4, 5) is None and sup.count(0, 5) == 0 and sup.count(5, 5) == 5
    assert sup.rate(1, 10, 5) is None and sup.rate(5, 10, 5) == 0.5 and sup.rate(0, 0, 5) is None
    assert sup.guarded(12.345, 4, 5) is None and sup.guarded(12.345, 5, 5) == 12.35


def test_periods_in_local_time() -> None:
    q1 = parse_period("2026-Q1", "Europe/Helsinki")
    assert q1.months == ["2026-01", "2026-02", "2026-03"]
    assert q1.start == datetime(2025, 12, 31, 22, tzinfo=UTC)  # midnight in Helsinki
    assert parse_period("2026-H2", "Europe/Helsinki").months[0] == "2026-07"
    assert len(parse_period("2026", "Europe/Helsinki").months) == 12
    assert len(parse_period("2026-02", "Europe/Helsinki").days("Europe/Helsinki")) == 28
    # 23:30 UTC on 31 January is already February in Helsinki.
    assert month_of(datetime(2026, 1, 31, 23, 30, tzinfo=UTC), "Europe/Helsinki") == "2026-02"
    for bad in ("2026-Q0", "2026-00", "1850", "2026-1", ""):
        with pytest.raises(Problem) as raised:
            parse_period(bad, "Europe/Helsinki")
        assert raised.value.status == 422 and raised.value.field == "period"


def test_open_hours_with_exceptions_and_hour_of_week() -> None:
    location = {
        "timezone": "Europe/Helsinki",
        "weekly": {"0": [{"opens": "08:00:00", "closes": "12:00:00"}]},
        "exceptions": [
            {"day": "2026-03-09", "closed": True},
            {"day": "2026-03-16", "hours": [{"opens": "10:00:00", "closes": "11:00:00"}]},
        ],
    }
    hours = [
        (e - s).total_seconds() / 3600
        for s, e in open_intervals(location, parse_period("2026-03", "Europe/Helsinki"))
    ]
    assert hours == [4.0, 1.0, 4.0, 4.0]  # Mondays 2, (9 closed), 16 short, 23, 30
    start = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)  # 10:30 in Helsinki, a Monday
    assert spread(start, datetime(2026, 3, 2, 10, 0, tzinfo=UTC), "Europe/Helsinki") == {
        (0, 10): 0.5, (0, 11): 1.0
    }  # fmt: skip


def test_profile_at_first_entry_and_withdrawal() -> None:
    def v(day: int, fact: str, **kw: object) -> dict[str, object]:
        return {"at": datetime(2026, 3, day, tzinfo=UTC), "fact": fact, "withdrawn": False, **kw}

    versions = [v(1, "a", employment="unemployed"), v(10, "b", employment="employed")]
    assert profile_at(versions, datetime(2026, 3, 5, tzinfo=UTC))["employment"] == "unemployed"
    assert profile_at(versions, datetime(2026, 3, 20, tzinfo=UTC))["employment"] == "employed"
    # Given only after the entry: the first version.
    assert profile_at(versions, datetime(2026, 2, 1, tzinfo=UTC))["fact"] == "a"
    withdrawn = [*versions, v(12, "c", withdrawn=True)]
    assert profile_at(withdrawn, datetime(2026, 3, 5, tzinfo=UTC)) is None
    again = [*withdrawn, v(15, "d", employment="inactive")]
    assert profile_at(again, datetime(2026, 3, 5, tzinfo=UTC))["employment"] == "inactive"


def test_a_booking_counts_its_hours_in_the_months_they_fall_in() -> None:
    """Status and mentoring by the month the booking starts in; hours, per resource and
    hour of the week, by the month they fall in (a report's period is whole months)."""
    row = {
        "municipality": "helsinki",
        "resource_id": "desk.1",  # a dot: field names are encoded, reversibly
        "resource_kind": "mentor_hours",
        "location_id": "L1",
        "starts_at": datetime(2026, 3, 31, 20, 30, tzinfo=UTC),  # 23:30 in Helsinki
        "ends_at": datetime(2026, 3, 31, 22, 0, tzinfo=UTC),  # 01:00 on 1 April
        "timezone": "Europe/Helsinki",
        "status": "checked_in",
        "month": "2026-03",
    }
    counts = activity.row_counts(activity.BOOKING, row, "Europe/Helsinki")
    march, april = counts["helsinki|2026-03"], counts["helsinki|2026-04"]
    assert march["r.desk%2E1.s.checked_in"] == 1 and "r.desk%2E1.s.checked_in" not in april
    assert (march["r.desk%2E1.b"], april["r.desk%2E1.b"]) == (1800, 3600)
    assert (march["r.desk%2E1.c"], april["r.desk%2E1.c"]) == (1800, 3600)
    assert march["h.1_23.b"] == 1800 and april["h.2_00.b"] == 3600  # Tue 23, Wed 00
    assert (march["m.n"], march["m.s"], march["m.met"]) == (1, 5400, 1)
    # A change of the row adds only the difference; the same row again adds nothing.
    cancelled = {**row, "status": "cancelled"}
    change = activity.change(activity.BOOKING, row, cancelled, "Europe/Helsinki")
    assert change["helsinki|2026-03"]["r.desk%2E1.s.cancelled"] == 1
    assert change["helsinki|2026-04"]["r.desk%2E1.b"] == -3600
    again = activity.change(activity.BOOKING, row, row, "Europe/Helsinki")
    assert all(n == 0 for doc in again.values() for n in doc.values())
    assert activity.by_id({"r": {"desk%2E1": {"b": 1}, "x%24y%25": {"b": 0}}}, "r") == {
        "desk.1": {"b": 1}
    }  # ids decoded; what sums to nothing left out
    assert activity.unfield(activity.field("a.b$c%2E")) == "a.b$c%2E"
    # A resource known only from its bookings: the kind its booked bookings give, if any.
    assert _most({"workstation": 0, "studio%2E2": 2}) == "studio.2"
    assert _most({"workstation": 0}) is None
