"""The unit of work against the real store: commit and abort, events staged with the
change, the relay woken only after a commit, write conflicts rerun (none lost), Busy after
the last attempt, and a delivery's context for the events a batch handler makes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel
from pymongo.errors import PyMongoError

from contracts import CloudEvent
from kit.consumer import Delivery
from kit.context import causation_id, correlation_id
from kit.events import new_event
from kit.mongo import Store
from kit.outbox import Outbox
from kit.testing import envelope
from kit.uow import Busy, Transactions, UnitOfWork, WriteConflict, transient

TYPE = "kohtaamo.kittest.thing.happened.v1"


class Thing(BaseModel):
    thing_id: str


@pytest.fixture
async def parts(settings: Any) -> AsyncIterator[tuple[Store, Outbox, Transactions]]:
    store = Store(settings)
    outbox = Outbox(store)
    await outbox.ensure_indexes()
    try:
        yield store, outbox, Transactions(store, outbox)
    finally:
        await store.close()


async def test_commit_stages_events_and_wakes_the_relay_after_it(
    parts: tuple[Store, Outbox, Transactions],
) -> None:
    store, outbox, uow = parts
    outbox._wake.clear()
    async with uow() as work:
        await work.db.things.insert_one({"_id": "a"}, session=work.session)
        await work.emit(envelope(TYPE, {"thing_id": "a"}))
        # Staged, not yet committed: invisible outside, and the relay still asleep.
        assert await store.db.things.count_documents({}) == 0
        assert (await outbox.lag())["pending"] == 0
        assert not outbox._wake.is_set()
    assert await store.db.things.count_documents({"_id": "a"}) == 1
    assert (await outbox.lag())["pending"] == 1
    assert outbox._wake.is_set()

    outbox._wake.clear()
    async with uow() as work:  # staged by a helper that was given only the session
        await outbox.stage(work.session, envelope(TYPE, {"thing_id": "c"}))
        assert not outbox._wake.is_set()
    assert outbox._wake.is_set()

    outbox._wake.clear()
    async with uow() as work:  # nothing staged: nothing to wake the relay for
        await work.db.things.insert_one({"_id": "b"}, session=work.session)
    assert not outbox._wake.is_set()


async def test_a_failing_unit_stores_nothing_and_wakes_nobody(
    parts: tuple[Store, Outbox, Transactions],
) -> None:
    store, outbox, uow = parts
    outbox._wake.clear()
    with pytest.raises(RuntimeError):
        async with uow() as work:
            await work.db.things.insert_one({"_id": "never"}, session=work.session)
            await work.emit(envelope(TYPE, {"thing_id": "never"}))
            raise RuntimeError("failed before commit")
    assert await store.db.things.count_documents({}) == 0
    assert (await outbox.lag())["pending"] == 0
    assert not outbox._wake.is_set()


async def test_run_reruns_conflicting_work_and_loses_no_update(
    parts: tuple[Store, Outbox, Transactions],
) -> None:
    store, _, uow = parts
    await store.db.counters.insert_one({"_id": "c", "n": 0})
    calls = 0

    async def increment(work: UnitOfWork) -> int:
        nonlocal calls
        calls += 1
        doc = await work.db.counters.find_one({"_id": "c"}, session=work.session)
        assert doc is not None
        await asyncio.sleep(0.01)  # read-modify-write: concurrent ones overlap here
        await work.db.counters.update_one(
            {"_id": "c"}, {"$set": {"n": doc["n"] + 1}}, session=work.session
        )
        return int(doc["n"]) + 1

    results = await asyncio.gather(*(uow.run(increment) for _ in range(12)))
    assert sorted(results) == list(range(1, 13))
    doc = await store.db.counters.find_one({"_id": "c"})
    assert doc is not None and doc["n"] == 12
    assert calls > 12  # some were rerun after a conflict


async def test_run_gives_up_busy_while_another_holds_the_document(
    parts: tuple[Store, Outbox, Transactions],
) -> None:
    store, _, uow = parts
    await store.db.counters.insert_one({"_id": "held", "n": 0})
    calls = 0

    async def write(work: UnitOfWork) -> None:
        nonlocal calls
        calls += 1
        await work.db.counters.update_one({"_id": "held"}, {"$inc": {"n": 1}}, session=work.session)

    with pytest.raises(RuntimeError):
        async with uow() as holder:
            await holder.db.counters.update_one(
                {"_id": "held"}, {"$inc": {"n": 10}}, session=holder.session
            )
            with pytest.raises(Busy) as busy:
                await uow.run(write, attempts=3)
            assert busy.value.status == 503
            raise RuntimeError("the holder gives up too")
    assert calls == 3
    doc = await store.db.counters.find_one({"_id": "held"})
    assert doc is not None and doc["n"] == 0


async def test_other_errors_are_not_rerun(parts: tuple[Store, Outbox, Transactions]) -> None:
    store, _, uow = parts
    await store.db.things.insert_one({"_id": "dup"})
    calls = 0

    async def duplicate(work: UnitOfWork) -> None:
        nonlocal calls
        calls += 1
        await work.db.things.insert_one({"_id": "dup"}, session=work.session)

    with pytest.raises(PyMongoError):
        await uow.run(duplicate)
    assert calls == 1


def test_a_delivery_context_carries_its_chain_into_events() -> None:
    def made() -> CloudEvent:
        return new_event(
            service="kittest",
            type_=TYPE,
            data=Thing(thing_id="made"),
            municipality="helsinki",
        )

    first = envelope(TYPE, {"thing_id": "1"}, correlationid="chain-1")
    second = envelope(TYPE, {"thing_id": "2"}, correlationid="chain-2")
    deliveries = [Delivery(event=e, data={}, session=None) for e in (first, second)]
    token = correlation_id.set("outer")
    try:
        for delivery in deliveries:
            with delivery.context():
                event = made()
            assert event.correlationid == delivery.event.correlationid
            assert event.causationid == delivery.event.id
        assert correlation_id.get() == "outer" and causation_id.get() is None
    finally:
        correlation_id.reset(token)


def test_a_write_conflict_the_work_finds_is_the_stores_own() -> None:
    """`WriteConflict` (what a unit read changed under it) is transient, as the store's
    write conflict is: `run` reruns the work, and an HTTP request answers 409 retry."""
    conflict = WriteConflict("waiting list changed")
    assert transient(conflict) and conflict.code == 112
