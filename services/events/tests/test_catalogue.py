"""The in-memory catalogue against the store: random events (short, long, ongoing, equal
starts, sub-events, series) and random filters; the catalogue's pages are exactly the
plain sorted store query's (same ids, same order, same pages, same next offsets)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import event, search, store
from events.catalogue import Catalogue
from events.parts import Parts
from events.settings import EventsSettings
from kit.app import Service

BASE = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
WORDS = ["kirja", "koodi", "lasten", "näyttely", "sauna", "kurssi"]
TOPICS = ["python", "knitting", "finnish", "robots"]
KINDS = ["workshop", "course", "meetup", "exhibition"]
AUDIENCES = ["children", "youth", "adults", "seniors"]
LANGUAGES = ["fi", "sv", "en"]
# Hours, with a week and more among them: long events are kept apart in the catalogue.
DURATIONS = [1, 2, 30, 24 * 7, 24 * 7 + 1, 24 * 20, 24 * 90]


@st.composite
def an_event(draw: st.DrawFn, n: int) -> dict[str, Any]:
    starts = BASE + timedelta(hours=draw(st.integers(-24 * 40, 24 * 40)))
    return {
        "n": n,
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=draw(st.sampled_from(DURATIONS))),
        "status": draw(st.sampled_from(search.PUBLIC)),
        "kind": draw(st.sampled_from(KINDS)),
        "title": {"fi": " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)))},
        "topics": [{"skill": t} for t in draw(st.sets(st.sampled_from(TOPICS), max_size=2))],
        "audiences": sorted(draw(st.sets(st.sampled_from(AUDIENCES), max_size=2))),
        "languages": sorted(draw(st.sets(st.sampled_from(LANGUAGES), min_size=1, max_size=2))),
        "venue": draw(st.sampled_from([None, 0, 1])),
        "series": draw(st.sampled_from([None, 0])),
        "parent": draw(st.sampled_from([None, 0, 1])),
    }


def document(spec: dict[str, Any], municipality: str, ids: list[str]) -> dict[str, Any]:
    venue = spec["venue"]
    parent = spec["parent"]
    doc = {
        **event.DEFAULTS,
        "_id": ids[spec["n"]],
        "municipality": municipality,
        "timezone": "Europe/Helsinki",
        "status": spec["status"],
        "kind": spec["kind"],
        "title": spec["title"],
        "starts_at": spec["starts_at"],
        "ends_at": spec["ends_at"],
        "topics": spec["topics"],
        "audiences": spec["audiences"],
        "languages": spec["languages"],
        "venue_id": None if venue is None else f"ven-{venue}",
        "venue_kind": None if venue is None else ["library", "online"][venue],
        "venue_name": {},
        "series_id": None if spec["series"] is None else f"ser-{municipality}",
        # Sub-events of the first two events (never of themselves).
        "parent_event_id": None if parent is None or spec["n"] <= parent else ids[parent],
        "seats_taken": 0,
        "waiting": 0,
        "revision": 1,
        "created_by": "someone",
        "created_at": BASE,
        "updated_at": BASE,
    }
    event.normalise(doc)
    return doc


def a_filter(ids: list[str], municipality: str) -> Any:
    moment = st.integers(-24 * 60, 24 * 60).map(lambda h: BASE + timedelta(hours=h))
    return st.fixed_dictionaries(
        {
            "statuses": st.sets(st.sampled_from(search.PUBLIC), min_size=1).map(tuple),
            "start": st.none() | moment,
            "end": st.none() | moment,
            "kinds": st.lists(st.sampled_from(KINDS), max_size=2),
            "audiences": st.lists(st.sampled_from(AUDIENCES), max_size=2),
            "topics": st.lists(st.sampled_from([*TOPICS, "PYTHON"]), max_size=2),
            "languages": st.lists(st.sampled_from(LANGUAGES), max_size=1),
            "venue_kinds": st.lists(st.sampled_from(["library", "online"]), max_size=1),
            "venue_id": st.sampled_from([None, "ven-0", "ven-1"]),
            "series_id": st.sampled_from([None, f"ser-{municipality}"]),
            "parent_event_id": st.sampled_from([None, *ids[:2]]),
            "text": st.none() | st.sampled_from([*WORDS, "KIRJA", "ttely", "lasten kirja", "zz"]),
        }
    )


async def pages(
    svc: Service[EventsSettings], reads: Catalogue, f: search.Filters, limit: int
) -> None:
    """Every page, by the catalogue and by the store, compared."""
    offset: int | None = 0
    while offset is not None:
        want, want_next = await search.find(svc, f, limit=limit, offset=offset)
        got, got_next = reads.find(f, limit=limit, offset=offset)
        assert [e.id for e in got] == [d["_id"] for d in want], (f, offset)
        assert got_next == want_next, (f, offset)
        assert [e.view for e in got] == [reads_view(d) for d in want]
        offset = got_next


def reads_view(doc: dict[str, Any]) -> bytes:
    from events.api.caching import dumps

    return dumps(event.out(doc))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), count=st.integers(0, 24))
async def test_catalogue_pages_equal_the_store_query(
    svc: Service[EventsSettings], data: Any, count: int
) -> None:
    municipality = f"prop-{uuid.uuid4().hex[:8]}"
    ids = [f"evt-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    if count > 3:  # equal starts: ordered by id
        ids[3] = f"evt-0000{uuid.uuid4().hex[:8]}"
    specs = [data.draw(an_event(n)) for n in range(count)]
    if count > 3:
        specs[3]["starts_at"], specs[3]["ends_at"] = specs[2]["starts_at"], specs[2]["ends_at"]
    docs = [document(s, municipality, ids) for s in specs]
    if docs:
        await svc.store.db[store.EVENTS].insert_many(docs)
    reads = svc.part(Parts).catalogue
    await reads.refresh(ids)
    for _ in range(4):
        given = data.draw(a_filter(ids, municipality))
        f = search.Filters(municipality=municipality, **given)
        assert reads.answers(f)
        await pages(svc, reads, f, limit=data.draw(st.integers(1, 7)))
