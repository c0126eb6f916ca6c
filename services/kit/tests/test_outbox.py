"""Outbox against the real store and broker: a crash between store and publish loses
nothing; the relay publishes what it finds after a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts import topology
from kit.app import Service
from kit.bus import Bus
from kit.lease import Lease
from kit.mongo import Store
from kit.outbox import Outbox
from kit.relay import READ_FACTOR, Relay
from kit.testing import drain, envelope, eventually
from kit.uow import Transactions

TYPE = "kohtaamo.kittest.thing.happened.v1"


async def hand_driven_relay(settings: Any, amqp: Any) -> tuple[Service, Relay, Any]:
    """A started service whose own relay is stopped, a relay (batches of 10) to drive by
    hand, and a queue receiving everything the service publishes."""
    svc = Service("kittest", settings=settings)
    await svc.start()
    await svc.relay.stop()
    relay = Relay(outbox=svc.outbox, bus=svc.bus, service="kittest", poll_s=0.1, batch=10)
    channel = await amqp.channel()
    queue = await channel.declare_queue("", exclusive=True)
    await queue.bind(topology.exchange("kittest"), routing_key="kittest.#")
    return svc, relay, queue


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
    async with Transactions(crashed, Outbox(crashed))() as uow:
        await crashed.db.things.insert_one({"_id": "state"}, session=uow.session)
        await uow.emit(*events)
    await crashed.close()

    # 2. A transaction that fails stores neither the state nor its events.
    store = Store(settings)
    outbox = Outbox(store)
    try:
        async with Transactions(store, outbox)() as uow:
            await store.db.things.insert_one({"_id": "never"}, session=uow.session)
            await uow.emit(envelope(TYPE, {"thing_id": "never"}))
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
        async with svc.uow() as uow:
            await uow.emit(event)
        published = await svc.relay.publish_pending()
        assert published == 0
        entry = await svc.outbox.collection.find_one({"_id": event.id})
        assert entry is not None
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
    svc, relay, queue = await hand_driven_relay(settings, amqp)
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


class _ReadThenDelete:
    """The outbox collection, but a read's result is handed over only after the relay's
    pending deletions finished: an entry deleted while the read ran is in the result."""

    def __init__(self, real: Any, relay: Relay) -> None:
        self._real, self._relay = real, relay

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def find(self, *args: Any, **kwargs: Any) -> Any:
        outer = self

        class Cursor:
            async def to_list(self, *a: Any) -> list[Any]:
                result = await outer._real.find(*args, **kwargs).to_list(*a)
                await outer._relay.flush()
                return result

        return Cursor()


async def test_entry_deleted_during_the_next_read_is_not_published_again(
    settings: Any, amqp: Any
) -> None:
    svc = Service("kittest", settings=settings)
    await svc.start()
    await svc.relay.stop()
    relay = Relay(outbox=svc.outbox, bus=svc.bus, service="kittest", poll_s=0.1, batch=10)
    relay.outbox = Outbox(svc.store)
    # It deletes between the relay's read and its publish.
    relay.outbox.collection = _ReadThenDelete(svc.outbox.collection, relay)  # type: ignore[assignment]  # a stand-in
    channel = await amqp.channel()
    queue = await channel.declare_queue("", exclusive=True)
    await queue.bind(topology.exchange("kittest"), routing_key="kittest.#")
    try:
        first = envelope(TYPE, {"thing_id": "first"})
        await svc.outbox.stage(None, first)
        # As right after publishing it: published, its deletion not yet run.
        relay.deletions.add([first.id])
        assert await relay.publish_pending() == 0  # read before, deleted during the read
        assert await svc.outbox.collection.find_one({"_id": first.id}) is None
        assert await queue.get(fail=False) is None
    finally:
        await svc.stop()


async def test_replicas_share_one_outbox_and_publish_each_entry_once(
    settings: Any, amqp: Any
) -> None:
    """Two relays (two replicas) on one outbox: the lease holder publishes, the other
    stands by; when the holder stops, the standby takes over."""
    svc = Service("kittest", settings=settings)
    await svc.start()
    await svc.relay.stop()
    channel = await amqp.channel()
    queue = await channel.declare_queue("", exclusive=True)
    await queue.bind(topology.exchange("kittest"), routing_key="kittest.#")
    relays = [
        Relay(outbox=svc.outbox, bus=svc.bus, service="kittest", poll_s=0.05, batch=20,
              lease_s=2.0)
        for _ in range(2)
    ]  # fmt: skip
    try:
        for relay in relays:
            relay.start()
        events = [envelope(TYPE, {"thing_id": f"r{i}", "n": i}) for i in range(120)]
        for chunk in range(0, 120, 10):
            await svc.outbox.stage(None, *events[chunk : chunk + 10])
            svc.outbox.notify()
        got = await drain(queue, 120, timeout=60)
        assert sorted(g["body"]["id"] for g in got) == sorted(e.id for e in events)
        await asyncio.sleep(0.5)
        assert await queue.get(fail=False) is None  # none twice

        lease = await svc.outbox.leases.find_one({"_id": "relay"})
        assert lease is not None
        holder = next(r for r in relays if r.lease.holder == lease["holder"])
        standby = next(r for r in relays if r is not holder)
        await holder.stop()  # releases the lease
        later = envelope(TYPE, {"thing_id": "after-failover"})
        await svc.outbox.stage(None, later)
        svc.outbox.notify()
        [after] = await drain(queue, 1, timeout=30)
        assert after["body"]["id"] == later.id
        lease = await svc.outbox.leases.find_one({"_id": "relay"})
        assert lease is not None and lease["holder"] == standby.lease.holder
        assert (await svc.outbox.lag())["relay"]["holder"] == standby.lease.holder
    finally:
        for relay in relays:
            await relay.stop()
        await svc.stop()


async def test_expired_lease_is_taken_over(settings: Any) -> None:
    """A holder that died without releasing: its lease runs out and a standby takes it."""
    svc = Service("kittest", settings=settings)
    await svc.start()
    await svc.relay.stop()
    try:
        dead = Lease(svc.outbox, ttl_s=0.5)
        alive = Lease(svc.outbox, ttl_s=0.5)
        assert await dead.acquire()
        assert not await alive.acquire()
        await asyncio.sleep(0.6)  # the dead holder never renews
        alive._standby_until = 0.0
        assert await alive.acquire()
        assert not await Lease(svc.outbox, ttl_s=0.5).acquire()
    finally:
        await svc.stop()


async def test_unroutable_entry_is_parked_then_unparked_when_someone_listens(
    settings: Any, amqp: Any
) -> None:
    """A site that does not run the consumer of a type: its entries stop being retried
    after `park_after` attempts, are kept apart, and go out once a queue is bound."""
    svc = Service("kittest", settings=settings)
    await svc.start()
    await svc.relay.stop()
    relay = Relay(
        outbox=svc.outbox, bus=svc.bus, service="kittest", poll_s=0.1, batch=10, park_after=2
    )
    lonely = "kohtaamo.kittest.nobody.cares.v1"
    try:
        event = envelope(lonely, {})
        await svc.outbox.stage(None, event)
        assert await relay.publish_pending() == 0  # attempt 1: backed off
        await svc.outbox.collection.update_one(
            {"_id": event.id}, {"$set": {"due": datetime.now(UTC)}}
        )
        relay._held[lonely] = 0.0  # and its type's hold is over
        assert await relay.publish_pending() == 0  # attempt 2: parked
        assert await svc.outbox.collection.find_one({"_id": event.id}) is None
        [parked] = await svc.outbox.list_parked()
        assert parked["_id"] == event.id and parked["parked_reason"] == "unroutable"
        assert parked["attempts"] == 2 and "nobody.cares" in parked["last_error"]
        lag = await svc.outbox.lag()
        assert lag["pending"] == 0 and lag["parked"] == 1

        channel = await amqp.channel()
        queue = await channel.declare_queue("", exclusive=True)
        await queue.bind(topology.exchange("kittest"), routing_key="kittest.nobody.#")
        assert await svc.outbox.unpark(event_type="kohtaamo.kittest.other.v1") == 0
        assert await svc.outbox.unpark(event_type=lonely) == 1
        relay._held[lonely] = 0.0  # its type's hold is over (HOLD_MAX_S at most)
        assert await relay.publish_pending() == 1
        [got] = await drain(queue, 1)
        assert got["body"]["id"] == event.id
        await relay.flush()
        assert (await svc.outbox.lag())["parked"] == 0
    finally:
        await svc.stop()


async def test_erasure_forgets_held_back_entries_naming_the_person(settings: Any) -> None:
    """Parked entries and entries refused as unroutable that name an erased person go in
    the erasure's transaction; entries on their way out and other people's stay; parked
    entries expire after the retention time."""
    svc = Service("kittest", settings=settings)
    await svc.start()
    await svc.relay.stop()
    relay = Relay(
        outbox=svc.outbox, bus=svc.bus, service="kittest", poll_s=0.1, batch=10, park_after=5
    )
    lonely = "kohtaamo.kittest.nobody.cares.v1"
    try:
        parked, refused, fresh, other = (
            envelope(lonely, {"user_id": "u-erased", "n": 1}),
            envelope(lonely, {"user_id": "u-erased", "n": 2}),
            envelope(TYPE, {"thing_id": "u-erased"}),
            envelope(lonely, {"user_id": "u-other"}),
        )
        await svc.outbox.stage(None, parked, refused, other)
        await svc.outbox.park(
            await svc.outbox.collection.find({"_id": parked.id}).to_list(), reason="unroutable"
        )
        assert await relay.publish_pending() == 0  # refused and other: unroutable, retried
        await svc.outbox.stage(None, fresh)  # not tried yet: on its way out
        async with svc.uow() as uow:
            assert await svc.outbox.forget(uow.session, "u-erased") == 2
        assert await svc.outbox.parked.count_documents({}) == 0
        left = {e["_id"] for e in await svc.outbox.collection.find({}).to_list()}
        assert left == {fresh.id, other.id}

        await svc.outbox.park(
            await svc.outbox.collection.find({"_id": other.id}).to_list(), reason="unroutable"
        )
        assert await svc.outbox.expire_parked(timedelta(days=1)) == 0
        await svc.outbox.parked.update_one(
            {"_id": other.id}, {"$set": {"parked_at": datetime.now(UTC) - timedelta(days=2)}}
        )
        assert await svc.outbox.expire_parked(timedelta(days=1)) == 1
    finally:
        await svc.stop()


async def test_type_unroutable_for_a_whole_backoff_is_parked_at_first_refusal(
    settings: Any, amqp: Any
) -> None:
    """A type nobody has received for as long as an entry is retried: its next entries are
    parked at their first refusal (no futile retries); once the type is delivered again,
    its entries are retried as usual."""
    svc = Service("kittest", settings=settings)
    await svc.start()
    await svc.relay.stop()
    relay = Relay(
        outbox=svc.outbox, bus=svc.bus, service="kittest", poll_s=0.1, batch=10, park_after=3
    )
    lonely = "kohtaamo.kittest.nobody.cares.v1"
    try:
        first = envelope(lonely, {})
        await svc.outbox.stage(None, first)
        assert await relay.publish_pending() == 0
        assert (await svc.outbox.collection.find_one({"_id": first.id}) or {})["attempts"] == 1
        # As if that type had been refused for longer than an entry's backoff (1 s + 2 s).
        relay._unroutable_since[lonely] -= 10
        second = envelope(lonely, {})
        await svc.outbox.stage(None, second)
        await svc.outbox.collection.update_one(
            {"_id": first.id}, {"$set": {"due": datetime.now(UTC)}}
        )
        relay._held[lonely] = 0.0  # the type's hold is over: first is the probe
        assert await relay.publish_pending() == 0
        parked = {p["_id"]: p["attempts"] for p in await svc.outbox.list_parked()}
        assert parked == {first.id: 2, second.id: 1}

        channel = await amqp.channel()
        queue = await channel.declare_queue("", exclusive=True)
        await queue.bind(topology.exchange("kittest"), routing_key="kittest.nobody.#")
        await svc.outbox.stage(None, envelope(lonely, {}))
        relay._held[lonely] = 0.0
        assert await relay.publish_pending() == 1  # delivered: the type is routable again
        assert lonely not in relay._unroutable_since and lonely not in relay._held
        await drain(queue, 1)
    finally:
        await svc.stop()


async def test_relay_reads_the_next_batch_ahead_in_order_and_once(settings: Any, amqp: Any) -> None:
    """While a full pass is published the next one is read; each entry still goes out
    once, in staging order."""
    svc, relay, queue = await hand_driven_relay(settings, amqp)
    try:
        per_pass = relay.batch * READ_FACTOR  # 80
        events = [envelope(TYPE, {"thing_id": f"t{i}"}) for i in range(per_pass + 15)]
        await svc.outbox.stage(None, *events)
        assert await relay.publish_pending() == per_pass
        assert relay.ahead.reading  # read while the first pass was published
        # A pass that is not full reads nothing ahead.
        assert await relay.publish_pending() == 15
        assert not relay.ahead.reading
        assert await relay.publish_pending() == 0
        got = await drain(queue, per_pass + 15)
        assert [g["body"]["id"] for g in got] == [e.id for e in events]
        await asyncio.sleep(0.2)
        assert await queue.get(fail=False) is None  # nothing twice
        await relay.flush()
        assert (await svc.outbox.lag())["pending"] == 0
    finally:
        await svc.stop()


async def test_entries_not_yet_due_do_not_hide_the_ones_behind_them(
    settings: Any, amqp: Any
) -> None:
    """Postponed entries are passed over by the relay, not by the query: more of them
    than one read holds must not keep the due entries after them from going out."""
    svc, relay, queue = await hand_driven_relay(settings, amqp)
    try:
        per_pass = relay.batch * READ_FACTOR
        held = [envelope(TYPE, {"thing_id": f"held{i}"}) for i in range(per_pass + 5)]
        due = [envelope(TYPE, {"thing_id": f"due{i}"}) for i in range(3)]
        await svc.outbox.stage(None, *held)
        await svc.outbox.stage(None, *due)
        later = datetime.now(UTC) + timedelta(minutes=5)
        await svc.outbox.collection.update_many(
            {"_id": {"$in": [e.id for e in held]}}, {"$set": {"due": later, "attempts": 1}}
        )
        # The first read finds only postponed entries; the due ones come after them.
        assert await relay.publish_pending() == 3
        got = await drain(queue, 3)
        assert [g["body"]["id"] for g in got] == [e.id for e in due]
        assert await relay.publish_pending() == 0  # and nothing else is due
        await asyncio.sleep(0.2)
        assert await queue.get(fail=False) is None
        await relay.flush()
        assert (await svc.outbox.lag())["pending"] == len(held)
    finally:
        await svc.stop()


async def test_a_refused_type_is_probed_with_one_entry_and_the_rest_ride_on_it(
    settings: Any, amqp: Any
) -> None:
    """Entries of a type the broker refused wait untouched (marked unroutable, for an
    erasure) while the type is held, and then one of them is tried: refused, the others
    are not published at all; once it is delivered, they all go out in the same pass.
    Entries of other types behind them are not held up."""
    svc = Service("kittest", settings=settings)
    await svc.start()
    await svc.relay.stop()
    relay = Relay(outbox=svc.outbox, bus=svc.bus, service="kittest", poll_s=0.1, batch=10)
    things = await (await amqp.channel()).declare_queue("", exclusive=True)
    await things.bind(topology.exchange("kittest"), routing_key="kittest.thing.#")
    lonely = "kohtaamo.kittest.nobody.cares.v1"
    tried: list[str] = []
    publish = relay._publish

    async def counted(entry: dict[str, Any]) -> None:
        tried.append(entry["_id"])
        await publish(entry)

    relay._publish = counted  # type: ignore[method-assign]  # counts what is published
    try:
        first = [envelope(lonely, {"n": i}) for i in range(3)]
        await svc.outbox.stage(None, *first)
        assert await relay.publish_pending() == 0  # refused: every entry once, type held
        assert len(tried) == 3
        later = [envelope(lonely, {"n": 3 + i}) for i in range(20)]
        other = envelope(TYPE, {"thing_id": "behind"})
        await svc.outbox.stage(None, *later, other)
        assert await relay.publish_pending() == 1  # only the other type's entry went out
        assert tried[3:] == [other.id]
        await drain(things, 1)
        entries = await svc.outbox.collection.find({"type": lonely}).to_list()
        assert len(entries) == 23 and all(e["unroutable"] for e in entries)
        assert {e["_id"]: e.get("attempts", 0) for e in entries} == {
            **{e.id: 1 for e in first},
            **{e.id: 0 for e in later},
        }

        await svc.outbox.collection.update_many({}, {"$set": {"due": datetime.now(UTC)}})
        relay._held[lonely] = 0.0  # the hold is over: one probe, refused again
        assert await relay.publish_pending() == 0
        assert len(tried) == 5
        probe = tried[-1]
        attempts = {e["_id"]: e.get("attempts", 0) for e in await svc.outbox.collection.find(
            {"type": lonely}).to_list()}  # fmt: skip
        assert attempts[probe] == 2 and sum(attempts.values()) == 3 + 1
        assert relay._refusals[lonely] == 2

        listening = await (await amqp.channel()).declare_queue("", exclusive=True)
        await listening.bind(topology.exchange("kittest"), routing_key="kittest.nobody.#")
        await svc.outbox.collection.update_many({}, {"$set": {"due": datetime.now(UTC)}})
        relay._held[lonely] = 0.0
        assert await relay.publish_pending() == 23  # the probe delivered, the rest with it
        assert len(tried) == 5 + 23 and lonely not in relay._held
        got = await drain(listening, 23)
        assert {g["body"]["id"] for g in got} == {e.id for e in first + later}
    finally:
        await svc.stop()


async def test_a_hopeless_type_is_parked_whole_at_its_probe(settings: Any) -> None:
    """A type refused for as long as an entry's whole backoff: when its probe is refused,
    the entries riding on it are parked with it, without publishing each."""
    svc = Service("kittest", settings=settings)
    await svc.start()
    await svc.relay.stop()
    relay = Relay(outbox=svc.outbox, bus=svc.bus, service="kittest", poll_s=0.1, batch=10)
    lonely = "kohtaamo.kittest.nobody.cares.v1"
    try:
        await svc.outbox.stage(None, envelope(lonely, {}))
        assert await relay.publish_pending() == 0
        await svc.outbox.stage(None, *(envelope(lonely, {"n": i}) for i in range(30)))
        relay._unroutable_since[lonely] -= relay._park_window + 1
        relay._held[lonely] = 0.0
        await svc.outbox.collection.update_many({}, {"$set": {"due": datetime.now(UTC)}})
        assert await relay.publish_pending() == 0
        assert await svc.outbox.collection.count_documents({}) == 0
        assert len(await svc.outbox.list_parked()) == 31
    finally:
        await svc.stop()
