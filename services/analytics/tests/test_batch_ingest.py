"""A batch gives exactly what one-by-one ingest gives: the same stream (the hand-checked
one plus a random one with many repeats of the same people, registrations, bookings and
visit counts within a batch, and an erasure in the middle) fed to two databases, in
batches into one and one event at a time into the other; every fact, projection and
counter document is compared."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from analytics_stream import KEY, attend, booking, esf_stream, organisation, profile, visits

from analytics import erasure, facts, projections
from analytics.activity import ATTENDED, row_name
from analytics.ingest import ingest_batch, ingest_one
from analytics.rebuild import rebuild
from analytics.settings import AnalyticsSettings
from contracts import CloudEvent, model_for
from contracts import bookings as bk
from contracts import identity as idc
from contracts.pseudonym import participant_key
from kit.consumer import Delivery
from kit.inbox import Duplicates
from kit.mongo import Store
from kit.testing import envelope
from kit.uow import Transactions

TZ = "Europe/Helsinki"
BOOKING_TYPES = [bk.BOOKING_CONFIRMED, bk.BOOKING_CHECKED_IN, bk.BOOKING_NO_SHOW,
                 bk.BOOKING_CANCELLED, bk.BOOKING_PENDING]  # fmt: skip


def random_stream(n: int, seed: int = 3) -> list[CloudEvent]:
    rng = random.Random(seed)
    out: list[CloudEvent] = []
    for _ in range(n):
        uid = f"p{rng.randrange(25)}"
        m = rng.choice(["helsinki", "kouvola"])
        day = f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d}"
        starts, ends = f"{day}T10:00:00+00:00", f"{day}T12:00:00+00:00"
        at = f"{day}T{rng.randrange(8, 20):02d}:{rng.randrange(60):02d}:00"
        roll = rng.random()
        if roll < 0.2:
            withdrawn = rng.random() < 0.1
            attrs = {"withdrawn": True} if withdrawn else {
                "gender": rng.choice(["woman", "man", "non_binary"]),
                "age_band": rng.choice(["18_29", "30_54"]),
                "disability": rng.random() < 0.3,
            }  # fmt: skip
            out.append(profile(uid, at, m=m, **attrs))
        elif roll < 0.55:
            # Few registrations: corrections of the same one land in one batch.
            eid = f"e{rng.randrange(6)}"
            out.append(attend(eid, uid, "workshop", starts, 2.0, m=m,
                              attended=rng.random() < 0.8, time=at))  # fmt: skip
        elif roll < 0.85:
            bid = f"b{rng.randrange(30)}"
            out.append(booking(rng.choice(BOOKING_TYPES), bid, uid, f"r{rng.randrange(3)}",
                               "workstation", "loc", starts, ends, m=m, time=at))  # fmt: skip
        elif roll < 0.95:
            out.append(visits(f"v{rng.randrange(4)}", rng.randrange(1, 50), f"{at}+00:00", m=m))
        else:
            out.append(organisation(f"o{rng.randrange(3)}", rng.choice(["sme", "association"]),
                                    m, at))  # fmt: skip
    return out


RECEIVED = datetime(2100, 1, 1, tzinfo=UTC)


def delivery(event: CloudEvent) -> Delivery:
    model = model_for(event.type)
    data = model.model_validate(event.data) if model else event.data
    # Received after every event of the (synthetic, partly future) stream: both ingests see
    # the envelopes' own times, not the moment each Delivery happened to be made.
    return Delivery(event=event, data=data, session=None, received_at=RECEIVED)


async def forget(db: Any, event: CloudEvent) -> None:
    """What the identity consumer does to the store for an erasure (no outbox here)."""
    d = delivery(event)
    await facts.append(db, facts.make_fact(d.event, d.data, KEY), None)
    assert isinstance(d.data, idc.UserErased), d.data
    await erasure.erase(db, participant_key(d.data.user_id, KEY), None, TZ)


async def documents(db: Any) -> dict[str, dict[Any, Any]]:
    names = [*projections.ALL, facts.COLLECTION, erasure.ERASED]
    return {name: {d["_id"]: d async for d in db[name].find({})} for name in names}


async def test_batches_equal_one_by_one(
    analytics_settings: Callable[..., AnalyticsSettings],
) -> None:
    erased = envelope(idc.USER_ERASED, {"user_id": "p3", "requested_at": "2026-06-01T00:00:00Z"})
    stream = [*esf_stream(), *random_stream(300), erased, *random_stream(150, seed=4)]
    single, batched = Store(analytics_settings()), Store(analytics_settings())
    try:
        for store in (single, batched):
            await facts.ensure_indexes(store.db)
            await projections.ensure_indexes(store.db)
        for event in stream:
            if event.type == idc.USER_ERASED:
                await forget(single.db, event)
            else:
                await ingest_one(single.db, delivery(event), KEY, TZ, None)

        # The batches share a tombstone cache, as a service's do: the erasure midway must
        # reach it (the facts after it anonymised, as one by one).
        tombstones = erasure.Tombstones()
        position, sizes = 0, [1, 7, 64, 200]
        while position < len(stream):
            if stream[position].type == idc.USER_ERASED:
                await forget(batched.db, stream[position])
                position += 1
                continue
            size = sizes[position % len(sizes)]
            chunk = []
            while position < len(stream) and len(chunk) < size:
                if stream[position].type == idc.USER_ERASED:
                    break
                chunk.append(delivery(stream[position]))
                position += 1

            async def work(session: Any, chunk: list[Delivery[Any]] = chunk) -> None:
                await ingest_batch(batched.db, chunk, KEY, TZ, session, tombstones)

            await Transactions(batched).run_session(work)

        expected, got = await documents(single.db), await documents(batched.db)
        for docs in (expected, got):  # a fresh random version per erasure
            assert docs[erasure.ERASED].pop("version")["v"]
        assert len(expected[facts.COLLECTION]) == len(stream)
        assert expected[projections.ESF_COUNTS]
        assert any(person.get("versions") for person in expected[projections.PEOPLE].values())
        assert expected[erasure.ERASED]
        for name in expected:
            assert got[name] == expected[name], name
    finally:
        await single.close()
        await batched.close()


async def test_an_applied_event_fails_the_batch_as_a_duplicate(
    analytics_settings: Callable[..., AnalyticsSettings],
) -> None:
    """The facts are the consumers' inbox: an event whose fact exists fails the batch with
    Duplicates naming its position (kit.batching retries the rest without it). The facts'
    insert runs while the projections are computed: its error must still reach the
    caller, and nothing be flushed."""
    store = Store(analytics_settings())
    try:
        events = esf_stream()[:6]
        await store.db[facts.COLLECTION].insert_many([{"_id": events[3].id}, {"_id": events[5].id}])
        with pytest.raises(Duplicates) as caught:
            await ingest_batch(store.db, [delivery(e) for e in events], KEY, TZ, None)
        assert caught.value.positions == [3, 5]
        assert await store.db[projections.ESF_COUNTS].count_documents({}) == 0  # no flush
    finally:
        await store.close()


def _nonzero(counters: dict[Any, Any]) -> dict[Any, Any]:
    # A field that went up and down again stays as 0 in one arrival order and is never
    # created in another: compare what counts.
    return {
        key: {p: {f: v for f, v in c.items() if v} for p, c in doc.get("c", {}).items()}
        for key, doc in counters.items()
    }


async def test_concurrent_batches_of_the_same_people_lose_nothing(
    analytics_settings: Callable[..., AnalyticsSettings],
) -> None:
    """Two processes' consumers (events; identity and bookings) apply batches about the
    same 25 people at the same time: their transactions conflict on the people's documents
    and retry, and the result equals one-by-one ingest in another database."""
    stream = [*esf_stream(), *random_stream(400, seed=5)]
    shared = analytics_settings()
    single, first, second = Store(analytics_settings()), Store(shared), Store(shared)
    attempts = 0
    try:
        for store in (single, first):
            await facts.ensure_indexes(store.db)
            await projections.ensure_indexes(store.db)
        for event in stream:
            await ingest_one(single.db, delivery(event), KEY, TZ, None)

        async def consume(store: Store, events: list[CloudEvent]) -> None:
            for start in range(0, len(events), 40):
                chunk = [delivery(e) for e in events[start : start + 40]]

                async def work(session: Any, chunk: list[Delivery[Any]] = chunk) -> None:
                    nonlocal attempts
                    attempts += 1
                    await ingest_batch(store.db, chunk, KEY, TZ, session)

                await Transactions(store).run_session(work)

        by_events = [e for e in stream if e.producer == "events"]
        others = [e for e in stream if e.producer != "events"]
        await asyncio.gather(consume(first, by_events), consume(second, others))

        expected, got = await documents(single.db), await documents(first.db)
        assert attempts > -(-len(by_events) // 40) + -(-len(others) // 40)  # some retried
        counters = projections.ESF_COUNTS
        assert _nonzero(got.pop(counters)) == _nonzero(expected.pop(counters))
        for name in expected:
            assert got[name] == expected[name], name
    finally:
        for store in (single, first, second):
            await store.close()


async def test_fact_indexes_of_an_earlier_version_are_replaced(
    analytics_settings: Callable[..., AnalyticsSettings],
) -> None:
    """The fact store's `mentor` index is sparse and facts without a mentor lack the
    field (no index entry for them); an earlier dense index is rebuilt at startup, and
    the projection collections lose the indexes neither erasures nor reports use now."""
    store = Store(analytics_settings())
    try:
        db = store.db
        await db[facts.COLLECTION].create_index("mentor")
        await db[facts.COLLECTION].create_index([("at", 1), ("_id", 1)])
        await db[projections.ATTENDANCE].create_index("participant")
        for name in (projections.ATTENDANCE, projections.BOOKINGS):
            await db[name].create_index([("municipality", 1), ("month", 1)])
        await facts.ensure_indexes(db)
        await projections.ensure_indexes(db)
        indexes = await db[facts.COLLECTION].index_information()
        assert indexes["mentor_1"].get("sparse") is True
        assert set(indexes) == {"_id_", "participant_1", "mentor_1"}
        # Attendance and bookings are read from the activity counters, not queried.
        for name in (projections.ATTENDANCE, projections.BOOKINGS):
            assert set(await db[name].index_information()) == {"_id_"}
        plain = facts.make_fact(attend("E1", "u1", "workshop", "2026-03-02T10:00:00", 2.0), {
            "event_id": "E1", "user_id": "u1", "kind": "workshop", "attended": True,
            "starts_at": "2026-03-02T10:00:00"}, KEY)  # fmt: skip
        assert "mentor" not in plain and plain["participant"] == participant_key("u1", KEY)
    finally:
        await store.close()


async def test_projections_of_an_earlier_model_are_reported_until_a_rebuild(
    analytics_settings: Callable[..., AnalyticsSettings],
) -> None:
    """Attendance of a person in its own document (the earlier model) is not read by the
    reports any more: startup names it, and a rebuild replaces it."""
    store = Store(analytics_settings())
    try:
        db = store.db
        event = attend("E1", "u1", "workshop", "2026-03-02T10:00:00+00:00", 2.0)
        fact = facts.make_fact(*_parts(event), KEY)
        await facts.append(db, fact, None)
        await db[projections.ATTENDANCE].insert_one(
            {"_id": "E1|r1", "participant": fact["participant"], "attended": True}
        )
        await db["p_entries"].insert_one({"_id": "legacy"})
        assert await projections.outdated(db) == ["p_entries", projections.ATTENDANCE]
        await rebuild(db, tz=TZ)
        assert await projections.outdated(db) == []
        person = await db[projections.PEOPLE].find_one({"_id": fact["participant"]})
        assert list(person["rows"]) == [row_name(ATTENDED, "E1|r-E1-u1")]
    finally:
        await store.close()


def _parts(event: CloudEvent) -> tuple[CloudEvent, Any]:
    return event, model_for(event.type).model_validate(event.data)
