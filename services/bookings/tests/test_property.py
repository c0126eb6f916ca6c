"""Property: whatever sequence of booking requests arrives, confirmed bookings of one
resource never overlap (with buffers) and always fall inside opening hours. Checked on
the pure rules with an in-memory calendar (many examples), and over HTTP against the real
store (few examples: the embedded store is slow)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookings.availability import overlaps
from bookings.opening_hours import Hours, Period, open_intervals, period_containing
from bookings.rules import Rules, check_times
from bookings.testing import Actors
from kit.problems import Problem

HEL = ZoneInfo("Europe/Helsinki")
# Helsinki's spring change falls inside this range, so DST days are in the mix.
FIRST_DAY = datetime(2027, 3, 25).date()

requests = st.lists(
    st.tuples(
        st.integers(0, 5),  # day offset
        st.integers(12, 44),  # start in quarter hours from midnight (03:00..11:00)
        st.integers(1, 12),  # duration in quarter hours
    ),
    min_size=1,
    max_size=30,
)
hours_strategy = st.tuples(st.integers(5, 10), st.integers(2, 8)).map(
    lambda t: Hours(
        weekly={
            d: [Period(opens=time(t[0]), closes=time(min(23, t[0] + t[1])))]
            for d in range(7)
            if d != 2
        }
    )
)


@settings(max_examples=200, deadline=None)
@given(requests=requests, hours=hours_strategy, buffer=st.sampled_from([0, 15, 30]))
def test_confirmed_never_overlap_and_stay_inside_hours(
    requests: list[tuple[int, int, int]], hours: Hours, buffer: int
) -> None:
    rules = Rules(
        slot_minutes=15,
        min_minutes=15,
        max_minutes=180,
        max_days_ahead=730,
        buffer_after_minutes=buffer,
    )
    now = datetime(2027, 3, 1, tzinfo=UTC)
    held: list[tuple[datetime, datetime]] = []  # the in-memory calendar
    confirmed: list[tuple[datetime, datetime]] = []
    for day, quarter, length in requests:
        start = datetime.combine(
            FIRST_DAY + timedelta(days=day), time(quarter // 4, 15 * (quarter % 4)), tzinfo=HEL
        ).astimezone(UTC)
        end = start + timedelta(minutes=15 * length)
        try:
            check_times(rules, hours, HEL, start, end, now)
        except Problem:
            continue
        wanted = rules.blocked(start, end)
        if any(overlaps(wanted, h) for h in held):
            continue
        held.append(wanted)
        confirmed.append((start, end))
    for i, a in enumerate(confirmed):
        assert period_containing(hours, HEL, a[0], a[1]) is not None
        for b in confirmed[i + 1 :]:
            assert not overlaps(rules.blocked(*a), rules.blocked(*b))
    periods = open_intervals(hours, HEL, FIRST_DAY, FIRST_DAY + timedelta(days=6))
    for start, end in confirmed:
        assert any(o <= start and end <= c for o, c in periods)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    requests=st.lists(
        st.tuples(st.integers(0, 1), st.integers(28, 84), st.integers(1, 8)),
        min_size=3,
        max_size=10,
    )
)
async def test_real_store_confirmed_never_overlap(
    requests: list[tuple[int, int, int]],
    client: httpx.AsyncClient,
    actors: Actors,
    make_resource: Any,
) -> None:
    room = await make_resource(
        {"slot_minutes": 15, "min_minutes": 15, "max_minutes": 180, "buffer_after_minutes": 15}
    )
    zone = HEL
    base = datetime.now(UTC).date() + timedelta(days=2)
    for day, quarter, length in requests:
        start = datetime.combine(
            base + timedelta(days=day), time(quarter // 4, 15 * (quarter % 4)), tzinfo=zone
        )
        end = start + timedelta(minutes=15 * length)
        response = await client.post(
            "/bookings",
            headers=actors.user(f"p-{uuid.uuid4().hex[:6]}"),
            json={
                "resource_id": room["id"],
                "starts_at": start.isoformat(),
                "ends_at": end.isoformat(),
            },
        )
        assert response.status_code in (201, 409, 422), response.text
    confirmed = []
    for offset in (0, 1):
        view = await client.get(
            f"/locations/{room['location_id']}/day",
            headers=actors.staff(),
            params={"date": (base + timedelta(days=offset)).isoformat()},
        )
        confirmed += [
            (datetime.fromisoformat(b["starts_at"]), datetime.fromisoformat(b["ends_at"]))
            for b in view.json()["bookings"]
            if b["status"] == "confirmed"
        ]
    for i, a in enumerate(confirmed):
        local = a[0].astimezone(zone)
        assert time(8) <= local.time() and a[1].astimezone(zone).time() <= time(20)
        for b in confirmed[i + 1 :]:
            assert not overlaps(
                (a[0], a[1] + timedelta(minutes=15)), (b[0], b[1] + timedelta(minutes=15))
            )
