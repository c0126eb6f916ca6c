"""Batch consumers against the real broker and store: many messages in one transaction,
duplicates dropped through the inbox, a poison message retried and dead-lettered alone,
foreign messages skipped, a graceful stop that applies what was taken, and a batch acked
with one `multiple` ack that never reaches a delivery still being dead-lettered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aio_pika import IncomingMessage
from prometheus_client import REGISTRY
from pymongo.errors import AutoReconnect, BulkWriteError

from contracts import topology
from kit.app import Service
from kit.consumer import Delivery
from kit.inbox import duplicates_in
from kit.testing import drain, envelope, eventually

TYPE = "kohtaamo.kittest.thing.happened.v1"
# Its own queue: test_consumer.py's "things" queue must not exist before its tests run.
QUEUE = "kohtaamo.kittest.batched"


class Batches(list[list[str]]):
    """The event ids of each batch the handler got (a part of the test's service)."""


def batch_service(settings: Any, *, wait_ms: int = 50) -> Service:
    svc = Service("kittest", settings=settings)
    batches = svc.provide(Batches())

    # Delivery[Any]: the payload is conftest's ThingHappened (test modules do not import it).
    @svc.consumer("batched", [TYPE], batch=20, batch_wait_ms=wait_ms)
    async def on_things(deliveries: list[Delivery[Any]]) -> None:
        batches.append([d.event.id for d in deliveries])
        if any(d.data.thing_id == "always-fails" for d in deliveries):
            raise RuntimeError("boom: the effect failed")
        session = deliveries[0].session
        assert all(d.session is session for d in deliveries)  # one transaction
        await svc.store.db.things.insert_many(
            [{"event_id": d.event.id, "n": d.data.n} for d in deliveries],
            session=session,
        )

    return svc


@pytest.fixture
async def service(settings: Any) -> AsyncIterator[Service]:
    svc = batch_service(settings)
    await svc.start()
    yield svc
    await svc.stop()


async def count(svc: Service, query: dict[str, Any] | None = None) -> int:
    return await svc.store.db.things.count_documents(query or {})


async def test_messages_applied_in_batches_and_duplicates_dropped(service: Service) -> None:
    repeated = envelope(TYPE, {"thing_id": "a", "n": 1})
    events = [envelope(TYPE, {"thing_id": f"t{i}", "n": i}) for i in range(40)]
    for _ in range(3):  # the same event id three times, e.g. a redelivery after a lost ack
        await service.bus.publish_event(repeated)
    for event in events:
        await service.bus.publish_event(event)

    async def all_applied() -> bool:
        return await count(service) == 41

    await eventually(all_applied)
    await asyncio.sleep(0.3)  # any duplicate would have been applied by now
    assert await count(service, {"event_id": repeated.id}) == 1
    assert await count(service) == 41
    assert max(len(b) for b in service.part(Batches)) > 1
    assert await service.inbox.seen(consumer="batched", event_id=events[-1].id)
    # A redelivery of an applied event, alone in its batch, is dropped too.
    before = consumed("duplicate")
    await service.bus.publish_event(events[0])

    async def dropped() -> bool:
        return consumed("duplicate") > before

    await eventually(dropped)
    assert await count(service, {"event_id": events[0].id}) == 1


def consumed(outcome: str, queue: str = QUEUE) -> float:
    labels = {"service": "kittest", "queue": queue, "outcome": outcome}
    return REGISTRY.get_sample_value("kohtaamo_messages_consumed_total", labels) or 0.0


async def test_poison_message_dead_lettered_alone_while_the_others_apply(
    service: Service, amqp: Any
) -> None:
    bad = envelope(TYPE, {"thing_id": "always-fails"})
    good = [envelope(TYPE, {"thing_id": f"g{i}", "n": i}) for i in range(10)]
    await service.bus.publish_event(good[0])
    await service.bus.publish_event(bad)
    for event in good[1:]:
        await service.bus.publish_event(event)
    channel = await amqp.channel()
    dlq = await channel.declare_queue(topology.dead_letter_queue(QUEUE), passive=True)
    [letter] = await drain(dlq, 1, timeout=15)
    assert letter["id"] == bad.id
    assert letter["headers"][topology.HEADER_REASON] == "retries_exhausted"
    assert "boom: the effect failed" in letter["headers"][topology.HEADER_ERROR]
    assert letter["headers"][topology.HEADER_RETRIES] == len(service.settings.retry_delays_ms)
    assert await count(service) == 10
    assert not await service.inbox.seen(consumer="batched", event_id=bad.id)
    for event in good:
        assert await service.inbox.seen(consumer="batched", event_id=event.id)
    # Halved around the bad one, not one by one: the others applied in batches (with 11
    # in the first batch, at most the two next to it end up alone).
    alone = [b for b in service.part(Batches) if len(b) == 1 and b[0] != bad.id]
    assert len(alone) <= 2, service.part(Batches)


async def test_malformed_dead_lettered_and_foreign_skipped_before_batching(
    make_settings: Callable[..., Any], amqp: Any
) -> None:
    svc = batch_service(make_settings("kittest", municipalities=["helsinki"]))
    await svc.start()
    try:
        await svc.bus.publish(
            b"{not json",
            exchange=topology.exchange("kittest"),
            routing_key="kittest.thing.happened.v1",
        )
        skipped = consumed("foreign")
        foreign = envelope(TYPE, {"thing_id": "k", "n": 1}, municipality="kouvola")
        own = envelope(TYPE, {"thing_id": "h", "n": 2})
        await svc.bus.publish_event(foreign)
        await svc.bus.publish_event(own)
        channel = await amqp.channel()
        dlq = await channel.declare_queue(topology.dead_letter_queue(QUEUE), passive=True)
        [letter] = await drain(dlq, 1)
        assert letter["headers"][topology.HEADER_REASON] == "malformed"
        await eventually(lambda: svc.inbox.seen(consumer="batched", event_id=own.id))

        async def foreign_skipped() -> bool:
            return consumed("foreign") > skipped

        await eventually(foreign_skipped)
        assert await count(svc) == 1
        assert not await svc.inbox.seen(consumer="batched", event_id=foreign.id)
        assert all(foreign.id not in b for b in svc.part(Batches))
    finally:
        await svc.stop()


async def test_graceful_stop_applies_what_was_taken(settings: Any) -> None:
    # A long gathering wait: the messages sit in the batcher, unacked, when stop begins.
    svc = batch_service(settings, wait_ms=60_000)
    await svc.start()
    events = [envelope(TYPE, {"thing_id": f"s{i}", "n": i}) for i in range(5)]
    for event in events:
        await svc.bus.publish_event(event)
    await eventually(lambda: _all_delivered(svc))
    await asyncio.sleep(0.2)
    assert await count(svc) == 0
    await svc.stop()

    again = batch_service(settings)
    await again.start()
    try:
        assert await count(again) == 5
        for event in events:
            assert await again.inbox.seen(consumer="batched", event_id=event.id)
        await asyncio.sleep(0.5)  # nothing was left unacked to come back
        assert again.part(Batches) == []
    finally:
        await again.stop()


async def _all_delivered(svc: Service) -> bool:
    """Nothing ready in the queue: every message is with the consumer, unacked."""
    counts = await svc.admin.queue_counts(QUEUE)
    return counts is not None and counts[0] == 0


async def test_batch_consumer_prefetch_is_its_own_not_the_services(
    make_settings: Callable[..., Any],
) -> None:
    """A batch of 20 needs more than the service's prefetch of 4 messages in flight: the
    batch consumer's channel allows two batches (its queue was declared on that channel,
    else FastStream consumes it on the default one and batches stop at 4)."""
    svc = batch_service(make_settings("kittest", prefetch=4), wait_ms=1000)
    await svc.start()
    try:
        events = [envelope(TYPE, {"thing_id": f"p{i}", "n": i}) for i in range(40)]
        for event in events:
            await svc.bus.publish_event(event)

        async def all_applied() -> bool:
            return await count(svc) == 40

        await eventually(all_applied)
        assert max(len(b) for b in svc.part(Batches)) > 4
    finally:
        await svc.stop()


async def test_batches_of_different_queues_take_turns(
    make_settings: Callable[..., Any],
) -> None:
    """One batch transaction at a time per process: batches of different queues write the
    same documents, and concurrent transactions on them conflict and retry whole."""
    svc = Service("kittest", settings=make_settings("kittest"))
    active, most, applied = 0, 0, 0
    other = "kohtaamo.kittest.other.happened.v1"

    async def apply(deliveries: list[Delivery[Any]]) -> None:
        nonlocal active, most, applied
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.05)  # a slow transaction: the other queue's batch is ready
        active -= 1
        applied += len(deliveries)

    svc.consumer("turns-a", [TYPE], batch=10, batch_wait_ms=10)(apply)
    svc.consumer("turns-b", [other], batch=10, batch_wait_ms=10)(apply)
    await svc.start()
    try:
        for i in range(30):
            await svc.bus.publish_event(envelope(TYPE, {"thing_id": f"a{i}", "n": i}))
            await svc.bus.publish_event(envelope(other, {"thing_id": f"b{i}", "n": i}))

        async def all_applied() -> bool:
            return applied == 60

        await eventually(all_applied)
        assert most == 1
    finally:
        await svc.stop()


def deduplicating_service(settings: Any) -> Service:
    """A batch consumer whose effect has the event id as its key: it deduplicates by
    itself (no inbox records), as analytics does with its facts."""
    svc = Service("kittest", settings=settings)

    @svc.consumer("deduped", [TYPE], batch=20, deduplicates=True)
    async def on_things(deliveries: list[Delivery[Any]]) -> None:
        if any(d.data.thing_id == "fails-in-a-batch" for d in deliveries) and len(deliveries) > 1:
            # As if the store went away: the batch goes one by one (no halves), through
            # the single-message path, where each message is applied alone.
            raise AutoReconnect("the store went away")
        try:
            await svc.store.db.keyed.insert_many(
                [{"_id": d.event.id} for d in deliveries],
                ordered=False,
                session=deliveries[0].session,
            )
        except BulkWriteError as exc:
            raise duplicates_in(exc) or exc from None

    return svc


async def test_a_deduplicating_batch_consumer_applies_once_without_inbox_records(
    settings: Any,
) -> None:
    svc = deduplicating_service(settings)
    await svc.start()
    try:
        repeated = envelope(TYPE, {"thing_id": "r", "n": 1})
        alone = envelope(TYPE, {"thing_id": "fails-in-a-batch", "n": 2})
        events = [envelope(TYPE, {"thing_id": f"d{i}", "n": i}) for i in range(30)]
        duplicates = consumed("duplicate", "kohtaamo.kittest.deduped")
        for event in [repeated, repeated, *events[:15], alone, alone, *events[15:]]:
            await svc.bus.publish_event(event)

        async def all_applied() -> bool:
            return await svc.store.db.keyed.count_documents({}) == 32

        await eventually(all_applied)
        # The repeats were dropped, in a batch and on the one-by-one path of a failed batch.
        await eventually(lambda: _at_least(consumed, duplicates + 2))
        assert await svc.store.db.inbox.count_documents({}) == 0
        # And a redelivery of an applied event, alone, is acked as a duplicate.
        await svc.bus.publish_event(events[0])
        await eventually(lambda: _at_least(consumed, duplicates + 3))
        assert await svc.store.db.keyed.count_documents({}) == 32
    finally:
        await svc.stop()


async def _at_least(read: Callable[..., float], value: float) -> bool:
    return read("duplicate", "kohtaamo.kittest.deduped") >= value


def test_only_a_batch_consumer_deduplicates_by_itself(settings: Any) -> None:
    svc = Service("kittest", settings=settings)
    with pytest.raises(ValueError, match="only a batch consumer"):
        svc.consumer("single", [TYPE], deduplicates=True)
    with pytest.raises(ValueError, match="inbox or deduplicates"):
        svc.consumer("batched", [TYPE], batch=5, inbox=False)


@pytest.fixture
def acks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """Every ack the consumers send, as (delivery tag, multiple): recorded, then sent."""
    sent: list[tuple[int, bool]] = []
    original = IncomingMessage.ack

    async def ack(self: IncomingMessage, multiple: bool = False) -> None:
        sent.append((self.delivery_tag or 0, multiple))
        await original(self, multiple)

    monkeypatch.setattr(IncomingMessage, "ack", ack)
    return sent


async def test_a_committed_batch_is_acked_with_one_multiple_ack(
    settings: Any, acks: list[tuple[int, bool]]
) -> None:
    svc = batch_service(settings, wait_ms=1000)
    await svc.start()
    events = [envelope(TYPE, {"thing_id": f"m{i}", "n": i}) for i in range(20)]
    try:
        await _apply(svc, events)
    finally:
        await svc.stop()
    assert len(acks) < len(events), acks
    assert any(multiple for _, multiple in acks)
    # Nothing came back when the channel closed: every message was settled.
    counts = await _counts(settings)
    assert counts == (0, 0)


async def test_a_delivery_still_being_dead_lettered_is_not_swept_by_a_batch_ack(
    settings: Any, amqp: Any, acks: list[tuple[int, bool]]
) -> None:
    """The malformed message's dead-lettering is held back while later messages are
    applied in a batch: the batch must be acked message by message (a `multiple` ack of its
    highest tag would ack the malformed one too, and its own settle then fails)."""
    svc = batch_service(settings)
    await svc.start()
    [batcher] = svc._batched
    gate = asyncio.Event()
    dead_letter = batcher.processor._dead_letter

    async def held(*args: Any, **kwargs: Any) -> None:
        await gate.wait()
        await dead_letter(*args, **kwargs)

    # Held open: the order under test.
    batcher.processor._dead_letter = held  # type: ignore[method-assign]  # on the instance
    try:
        await svc.bus.publish(
            b"{not json",
            exchange=topology.exchange("kittest"),
            routing_key="kittest.thing.happened.v1",
        )
        await _apply(svc, [envelope(TYPE, {"thing_id": f"d{i}", "n": i}) for i in range(5)])
        assert not any(multiple for _, multiple in acks), acks
        gate.set()
        channel = await amqp.channel()
        dlq = await channel.declare_queue(topology.dead_letter_queue(QUEUE), passive=True)
        [letter] = await drain(dlq, 1)
        assert letter["headers"][topology.HEADER_REASON] == "malformed"
        # The channel is still fine: the next message is applied and acked.
        await _apply(svc, [envelope(TYPE, {"thing_id": "after", "n": 9})])
    finally:
        gate.set()
        await svc.stop()
    assert await _counts(settings) == (0, 0)


async def _apply(svc: Service, events: list[Any]) -> None:
    """Publish `events` and wait until they are applied and their acks sent (the batcher
    counts a batch's messages then)."""
    before = consumed("applied")
    for event in events:
        await svc.bus.publish_event(event)

    async def applied() -> bool:
        ids = [e.id for e in events]
        stored = await count(svc, {"event_id": {"$in": ids}}) == len(events)
        return stored and consumed("applied") >= before + len(events)

    await eventually(applied)


async def _counts(settings: Any) -> tuple[int, int] | None:
    svc = Service("kittest", settings=settings)
    await svc.bus.connect()
    try:
        return await svc.admin.queue_counts(QUEUE)
    finally:
        await svc.bus.stop()
        # The admin's own robust connection too: left open, it keeps reconnecting after
        # the run's vhost and users are gone.
        await svc.admin.close()
