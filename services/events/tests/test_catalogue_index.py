"""The catalogue's ordered lists without a store (fast tier): lists built at once equal
lists built one event at a time, and a read walks only the events of its narrowest list
in its time range (not every event of the municipality, not a week before `from`)."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

from events.catalogue import LONG_MS, Entry, Municipality, Query, millis

BASE = datetime(2027, 6, 1, tzinfo=UTC)
HOUR = 3_600_000


def entry(n: int, starts: datetime, hours: float, *, kind: str = "workshop",
          topics: tuple[str, ...] = ()) -> Entry:  # fmt: skip
    return Entry(
        id=f"evt-{n:012x}", municipality="helsinki", status="published",
        starts=millis(starts), ends=millis(starts) + int(hours * HOUR), kind=kind,
        audiences=(), topics=topics, languages=("fi",), venue_kind=None, venue_id=None,
        series_id=None, parent_event_id=None, text="", revision=1, view=b"{}", brief=b"{}",
    )  # fmt: skip


def query(**given: object) -> Query:
    """Every filter off but the status, then the test's own (any field, by keyword)."""
    base = Query(
        statuses=frozenset({"published"}), start=None, end=None, kinds=frozenset(),
        audiences=frozenset(), topics=frozenset(), languages=frozenset(),
        venue_kinds=frozenset(), venue_id=None, series_id=None, parent_event_id=None,
        words=(),
    )  # fmt: skip
    return dataclasses.replace(base, **given)


def city(count: int, seed: int = 1) -> list[Entry]:
    rng = random.Random(seed)
    found = []
    for n in range(count):
        starts = BASE + timedelta(hours=rng.randrange(-24 * 30, 24 * 365))
        hours = rng.choice([1, 2, 3, 3, 2, 1, 24 * 10]) if n % 50 == 0 else rng.choice([1, 2, 3])
        topics = tuple(f"topic {t}" for t in rng.sample(range(40), 2))
        found.append(entry(n, starts, hours, kind="course" if n % 100 == 7 else "workshop",
                           topics=topics))  # fmt: skip
    return found


def test_lists_built_at_once_equal_lists_built_one_by_one() -> None:
    entries = city(2_000)
    one_by_one = Municipality()
    for e in entries:
        one_by_one.add(e)
    at_once = Municipality.build(entries)
    assert at_once.postings == one_by_one.postings
    assert at_once.long == one_by_one.long
    assert at_once.spans == one_by_one.spans
    for e in entries[::3]:
        one_by_one.remove(e)
    assert (
        one_by_one.postings
        == Municipality.build([e for n, e in enumerate(entries) if n % 3]).postings
    )


def test_a_read_walks_its_narrowest_list_from_the_longest_short_event() -> None:
    entries = city(20_000)
    place = Municipality.build(entries)
    start = millis(BASE + timedelta(days=100))
    # Every event is 1-3 hours or over a week: a read from `start` begins 3 hours before
    # it (not a week), plus the long events that began earlier.
    walked = list(place.candidates(query(start=start)))
    shorts_before = [e for e in entries if not e.long and start - 3 * HOUR <= e.starts < start]
    longs_before = [e for e in entries if e.long and e.starts < start - 3 * HOUR]
    later = [e for e in entries if e.starts >= start]
    assert len(walked) == len(shorts_before) + len(longs_before) + len(later)
    assert walked == sorted(walked)
    # A kind few events have: only that kind's events are walked.
    courses = list(place.candidates(query(start=start, kinds=frozenset({"course"}))))
    assert {entries_by(entries)[k[1]].kind for k in courses} == {"course"}
    assert len(courses) < 200
    # Two topics: the union of their lists, in order, each event once.
    both = list(place.candidates(query(topics=frozenset({"topic 1", "topic 2"}))))
    assert both == sorted(set(both))
    assert len(both) == sum(1 for e in entries if {"topic 1", "topic 2"} & set(e.topics))


def test_a_long_event_in_two_lists_is_walked_once_and_in_order() -> None:
    short = entry(1, BASE - timedelta(days=6), 24 * 6.5, topics=("a",))  # 6.5 days: short
    long_ = entry(2, BASE - timedelta(days=5), 24 * 20, topics=("a", "b"))
    later = entry(3, BASE + timedelta(hours=1), 1, topics=("b",))
    place = Municipality.build([short, long_, later])
    assert LONG_MS > short.ends - short.starts
    walked = list(place.candidates(query(start=millis(BASE), topics=frozenset({"a", "b"}))))
    assert walked == [short.key, long_.key, later.key]


def entries_by(entries: list[Entry]) -> dict[str, Entry]:
    return {e.id: e for e in entries}
