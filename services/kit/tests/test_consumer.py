"""Consuming against the real broker and store: inbox dedupe, retry then dead-letter with
the reason, malformed messages dead-lettered while the consumer keeps going."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from contracts import topology
from kit.app import Service
from kit.consumer import Delivery, Rejected
from kit.testing import drain, envelope, eventually

TYPE = "kohtaamo.kittest.thing.happened.v1"


@pytest.fixture
def calls() -> list[str]:
    """The ids of the events the handler was called with, in order."""
    return []


@pytest.fixture
async def service(settings: Any, calls: list[str]) -> AsyncIterator[Service]:
    svc = Service("kittest", settings=settings)

    @svc.consumer("things", [TYPE])
    async def on_thing(delivery: Delivery[Any]) -> None:
        data = delivery.data  # conftest's ThingHappened (test modules do not import conftest)
        calls.append(delivery.event.id)
        if data.thing_id == "always-fails":
            raise RuntimeError("boom: the effect failed")
        if data.thing_id == "reject":
            raise Rejected("cannot ever apply this")
        await svc.store.db.things.insert_one(
            {"event_id": delivery.event.id, "n": data.n}, session=delivery.session
        )

    await svc.start()
    yield svc
    await svc.stop()


async def publish_raw(
    svc: Service, body: bytes, routing_key: str = "kittest.thing.happened.v1"
) -> None:
    await svc.bus.publish(body, exchange=topology.exchange("kittest"), routing_key=routing_key)


async def count(svc: Service) -> int:
    return await svc.store.db.things.count_documents({})


def lag_observed(svc: Service) -> float:
    """How many deliveries kohtaamo_consumer_lag_seconds counted for the queue."""
    labels = {"service": svc.name, "queue": topology.queue(svc.name, "things")}
    return REGISTRY.get_sample_value("kohtaamo_consumer_lag_seconds_count", labels) or 0.0


async def test_event_applied_once_under_redelivery(service: Service, calls: list[str]) -> None:
    lagged = lag_observed(service)
    event = envelope(TYPE, {"thing_id": "a", "n": 1})
    for _ in range(3):  # the same event id delivered three times (a redelivery after a lost ack)
        await service.bus.publish_event(event)
    await service.bus.publish_event(envelope(TYPE, {"thing_id": "b", "n": 2}))

    async def both_seen() -> bool:
        return len(calls) >= 2 and await count(service) == 2

    await eventually(both_seen)
    await eventually(lambda: _inbox_has(service, event.id))
    assert await service.store.db.things.count_documents({"event_id": event.id}) == 1
    assert await service.inbox.seen(consumer="things", event_id=event.id)
    # Consumer lag per queue: every delivery observed, duplicates too (they waited).
    await eventually(lambda: _lagged(service, lagged + 4), timeout=60)


async def _lagged(svc: Service, at_least: float) -> bool:
    return lag_observed(svc) >= at_least


async def _inbox_has(svc: Service, event_id: str) -> bool:
    return await svc.inbox.seen(consumer="things", event_id=event_id)


async def test_failing_handler_retried_then_dead_lettered_with_reason(
    service: Service, calls: list[str], amqp: Any
) -> None:
    bad = envelope(TYPE, {"thing_id": "always-fails"})
    await service.bus.publish_event(bad)
    channel = await amqp.channel()
    dlq = await channel.declare_queue(
        topology.dead_letter_queue("kohtaamo.kittest.things"), passive=True
    )
    [letter] = await drain(dlq, 1, timeout=15)
    assert letter["id"] == bad.id
    assert letter["headers"][topology.HEADER_REASON] == "retries_exhausted"
    assert "boom: the effect failed" in letter["headers"][topology.HEADER_ERROR]
    assert letter["headers"][topology.HEADER_RETRIES] == 2
    # First try plus one per configured backoff step.
    assert calls.count(bad.id) == 1 + len(service.settings.retry_delays_ms)
    # Nothing of the failed effect was stored (the transaction rolled back each time).
    assert not await service.inbox.seen(consumer="things", event_id=bad.id)


async def test_rejected_message_dead_lettered_without_retries(
    service: Service, calls: list[str], amqp: Any
) -> None:
    event = envelope(TYPE, {"thing_id": "reject"})
    await service.bus.publish_event(event)
    channel = await amqp.channel()
    dlq = await channel.declare_queue(
        topology.dead_letter_queue("kohtaamo.kittest.things"), passive=True
    )
    [letter] = await drain(dlq, 1)
    assert letter["headers"][topology.HEADER_REASON] == "rejected"
    assert calls.count(event.id) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "malformed"),
        (
            b'{"type": "kohtaamo.kittest.thing.happened.v1"}',
            "malformed",
        ),  # no source, no municipality
        (envelope(TYPE, {"n": "not a number"}).model_dump_json().encode(), "malformed"),  # bad data
    ],
    ids=["bad-json", "bad-envelope", "bad-payload"],
)
async def test_malformed_message_dead_lettered_and_consumer_keeps_going(
    service: Service, amqp: Any, body: bytes, expected: str
) -> None:
    await publish_raw(service, body)
    good = envelope(TYPE, {"thing_id": "after", "n": 7})
    await service.bus.publish_event(good)
    channel = await amqp.channel()
    dlq = await channel.declare_queue(
        topology.dead_letter_queue("kohtaamo.kittest.things"), passive=True
    )
    [letter] = await drain(dlq, 1)
    assert letter["headers"][topology.HEADER_REASON] == expected
    assert letter["raw"] == body  # kept byte for byte for the operator
    await eventually(lambda: _inbox_has(service, good.id))
    assert await service.store.db.things.count_documents({"event_id": good.id}) == 1


async def test_oversized_message_dead_lettered_unread(
    service: Service, calls: list[str], amqp: Any
) -> None:
    big = envelope(TYPE, {"thing_id": "x" * (service.settings.max_message_bytes + 10)})
    await service.bus.publish_event(big)
    after = envelope(TYPE, {"thing_id": "small", "n": 1})
    await service.bus.publish_event(after)
    channel = await amqp.channel()
    dlq = await channel.declare_queue(
        topology.dead_letter_queue("kohtaamo.kittest.things"), passive=True
    )
    [letter] = await drain(dlq, 1)
    assert letter["headers"][topology.HEADER_REASON] == "oversized"
    assert letter["id"] == big.id
    assert big.id not in calls
    await eventually(lambda: _inbox_has(service, after.id))
