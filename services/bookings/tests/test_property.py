"""Properties of the booking rules and of the real booking path: the opening-hours check
accepts only times inside open periods (pure rules, many examples, DST days included), and
whatever requests arrive together over HTTP, the bookings the real store holds for one
resource never overlap (with buffers) and stay inside opening hours (few examples: the
embedded store is slow)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bookings.availability import overlaps
from bookings.errors import RuleBroken
from bookings.opening_hours import Hours, Period, open_intervals
from bookings.rules import Rules, check_times
from bookings.testing import Actors
from kit.app import Service

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
def test_accepted_times_stay_inside_hours(
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
    periods = open_intervals(hours, HEL, FIRST_DAY, FIRST_DAY + timedelta(days=6))
    for day, quarter, length in requests:
        start = datetime.combine(
            FIRST_DAY + timedelta(days=day), time(quarter // 4, 15 * (quarter % 4)), tzinfo=HEL
        ).astimezone(UTC)
        end = start + timedelta(minutes=15 * length)
        inside = any(o <= start and end <= c for o, c in periods)
        try:
            check_times(rules, hours, HEL, start, end, now)
        except RuleBroken as problem:
            assert not problem.clashes, problem  # refused by the rules, not by the state
            assert not inside, problem
            continue
        assert inside, (start, end)


# A request inside the hours (08:00-20:00), sent twice in every example: if the real path
# let overlapping bookings through, both copies would be confirmed.
within_hours = st.tuples(st.integers(0, 1), st.integers(32, 76), st.integers(1, 4))


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    anchor=within_hours,
    requests=st.lists(
        st.tuples(st.integers(0, 1), st.integers(28, 84), st.integers(1, 8)),
        min_size=2,
        max_size=10,
    ),
)
async def test_real_store_confirmed_never_overlap(
    anchor: tuple[int, int, int],
    requests: list[tuple[int, int, int]],
    svc: Service,
    client: httpx.AsyncClient,
    actors: Actors,
    make_resource: Any,
) -> None:
    buffer = timedelta(minutes=15)
    room = await make_resource(
        {"slot_minutes": 15, "min_minutes": 15, "max_minutes": 180, "buffer_after_minutes": 15}
    )
    base = datetime.now(UTC).date() + timedelta(days=2)

    async def request(day: int, quarter: int, length: int) -> httpx.Response:
        start = datetime.combine(
            base + timedelta(days=day), time(quarter // 4, 15 * (quarter % 4)), tzinfo=HEL
        )
        return await client.post(
            "/bookings",
            headers=actors.user(f"p-{uuid.uuid4().hex[:6]}"),
            json={
                "resource_id": room["id"],
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(minutes=15 * length)).isoformat(),
            },
        )

    # Together, so the desk decides several in one batch as well as one at a time.
    responses = await asyncio.gather(*(request(*r) for r in [anchor, anchor, *requests]))
    for response in responses:
        assert response.status_code in (201, 409, 422), response.text
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    stored = await svc.store.db.bookings.find(
        {"resource_id": room["id"], "status": {"$in": ["confirmed", "pending"]}}
    ).to_list(None)
    assert {d["_id"] for d in stored} == created  # every answer true, nothing else held
    assert [r.status_code for r in responses[:2]].count(201) <= 1, "the anchor, once at most"
    confirmed = [
        (d["starts_at"].replace(tzinfo=UTC), d["ends_at"].replace(tzinfo=UTC)) for d in stored
    ]
    for i, a in enumerate(confirmed):
        assert time(8) <= a[0].astimezone(HEL).time()
        assert a[1].astimezone(HEL).time() <= time(20)
        for b in confirmed[i + 1 :]:
            assert not overlaps((a[0], a[1] + buffer), (b[0], b[1] + buffer)), (a, b)
