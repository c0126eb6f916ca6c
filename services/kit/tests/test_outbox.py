"""Outbox against the real store and broker: a crash between store and publish loses
nothing; the relay publishes what it finds after a restart."""

from __future__ import annotations

from typing import Any

from contracts import topology
from kit.app import Service
from kit.bus import Bus
from kit.mongo import Store
from kit.outbox import Outbox, Relay
from kit.testing import drain, envelope, eventually

TYPE = "kohtaamo.kittest.thing.happened.v1"


async def test_relay_publishes_after_crash_between_store_and_publish(
    settings: Any, amqp: Any
) -> None:
    channel = await amqp.channel()
    bus = Bus(settings)
    await bus.connect()
    await bus.declare_exchange(topology.exchange("kittest"))
    queue = await channel.declare_queue("", exclusive=True)
    await queue.bind(topology.exchange("kittest"), routing_key="kittest.#")

    # 1. The "crashed" process: state change and its events committed, no relay ever ran.
    crashed = Store(settings)
    events = [envelope(TYPE, {"thing_id": f"x{i}", "n": i}) for i in range(5)]
    async with crashed.transaction() as session:
        await crashed.db.things.insert_one({"_id": "state"}, session=session)
        await Outbox(crashed).stage(session, *events)
    await crashed.close()

    # 2. A transaction that fails stores neither the state nor its events.
    store = Store(settings)
    outbox = Outbox(store)
    try:
        async with store.transaction() as session:
            await store.db.things.insert_one({"_id": "never"}, session=session)
            await outbox.stage(session, envelope(TYPE, {"thing_id": "never"}))
            raise RuntimeError("handler failed before commit")
    except RuntimeError:
        pass
    assert await store.db.things.count_documents({"_id": "never"}) == 0
    assert (await outbox.lag())["pending"] == 5

    # 3. The restarted process's relay finds and publishes them, in order.
    relay = Relay(outbox=outbox, bus=bus, service="kittest", poll_s=0.1, batch=100)
    relay.start()
    try:
        got = await drain(queue, 5)
        assert [g["body"]["id"] for g in got] == [e.id for e in events]

        async def all_marked() -> bool:
            return (await outbox.lag())["pending"] == 0

        await eventually(all_marked)  # marking overlaps the next batch's publishing
        # nothing more (the failed transaction's event never existed)
        assert await queue.get(fail=False) is None
    finally:
        await relay.stop()
        await bus.stop()
        await store.close()


async def test_unroutable_entry_is_kept_and_retried_later(settings: Any) -> None:
    svc = Service("kittest", settings=settings)
    await svc.start()
    await svc.relay.stop()  # drive the relay by hand: no race with its own loop
    try:
        event = envelope("kohtaamo.kittest.nobody.listens.v1", {})
        async with svc.store.transaction() as session:
            await svc.emit(session, event)
        published = await svc.relay.publish_pending()
        assert published == 0
        entry = await svc.outbox.collection.find_one({"_id": event.id})
        assert entry is not None and entry["published"] is False
        assert entry["attempts"] == 1 and "kittest.nobody.listens.v1" in entry["last_error"]
        assert entry["due"] > entry["created"]  # backed off, not hammering the broker
        assert await svc.relay.publish_pending() == 0  # not due yet: not even tried
        entry = await svc.outbox.collection.find_one({"_id": event.id})
        assert entry is not None and entry["attempts"] == 1
    finally:
        await svc.stop()


async def test_late_committed_entry_behind_the_cursor_is_still_published(
    settings: Any, amqp: Any
) -> None:
    """An entry whose transaction commits after the relay moved its cursor past the
    entry's creation time is found by the next full scan."""
    svc = Service("kittest", settings=settings)
    await svc.start()
    await svc.relay.stop()  # drive by hand
    relay = Relay(outbox=svc.outbox, bus=svc.bus, service="kittest", poll_s=0.1, batch=10)
    channel = await amqp.channel()
    queue = await channel.declare_queue("", exclusive=True)
    await queue.bind(topology.exchange("kittest"), routing_key="kittest.#")
    try:
        first = envelope(TYPE, {"thing_id": "first"})
        await svc.outbox.stage(None, first)
        assert await relay.publish_pending() == 1
        cursor = relay._cursor
        assert cursor is not None

        late, new = envelope(TYPE, {"thing_id": "late"}), envelope(TYPE, {"thing_id": "new"})
        await svc.outbox.stage(None, late)
        await svc.outbox.collection.update_one(  # as if created before the cursor
            {"_id": late.id}, {"$set": {"seq": "0" + cursor[1:]}}
        )
        await svc.outbox.stage(None, new)
        assert await relay.publish_pending() == 1  # the cursor pass: only "new"
        assert await relay.publish_pending() == 1  # nothing after the cursor: full scan
        got = await drain(queue, 3)
        assert [g["body"]["id"] for g in got] == [first.id, new.id, late.id]
        await relay.flush()
        assert (await svc.outbox.lag())["pending"] == 0
    finally:
        await svc.stop()
