"""Publishing against the real broker: confirms, persistence, unroutable raises."""

from __future__ import annotations

from typing import Any

import aio_pika
import pytest

from contracts import topology
from kit.bus import Bus, Unroutable
from kit.testing import drain, envelope

TYPE = "kohtaamo.kittest.thing.happened.v1"


async def test_published_event_is_confirmed_persistent_and_routed(settings: Any, amqp: Any) -> None:
    bus = Bus(settings)
    await bus.connect()
    try:
        exchange = await bus.declare_exchange(topology.exchange("kittest"))
        channel = await amqp.channel()
        queue = await channel.declare_queue("", exclusive=True)
        await queue.bind(topology.exchange("kittest"), routing_key="kittest.thing.#")
        event = envelope(TYPE, {"thing_id": "a", "n": 1}, correlationid="corr-1")
        await bus.publish_event(event)  # returns only after the broker's confirm
        message = await queue.get(timeout=5)
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.message_id == event.id
        assert message.content_type == "application/cloudevents+json"
        got = await drain_one(message)
        assert got["type"] == TYPE and got["correlationid"] == "corr-1"
        assert exchange.name == "kohtaamo.kittest.events"
    finally:
        await bus.stop()


async def drain_one(message: Any) -> Any:
    import json

    await message.ack()
    return json.loads(message.body)


async def test_unroutable_event_raises(settings: Any) -> None:
    bus = Bus(settings)
    await bus.connect()
    try:
        await bus.declare_exchange(topology.exchange("kittest"))
        with pytest.raises(Unroutable):
            await bus.publish_event(envelope("kohtaamo.kittest.nobody.listens.v1", {}))
    finally:
        await bus.stop()


async def test_consumer_queue_topology(settings: Any, amqp: Any) -> None:
    """Quorum queue with delivery limit and dead-letter queue; retry queues per backoff step,
    fed by the service's retry exchange."""
    bus = Bus(settings)
    await bus.connect()
    try:
        name = topology.queue("kittest", "topology")
        await bus.declare_consumer_queue(name, [TYPE])
        channel = await amqp.channel()
        for queue_name in (
            name,
            topology.dead_letter_queue(name),
            *(topology.retry_queue(name, d) for d in settings.retry_delays_ms),
        ):
            await channel.declare_queue(queue_name, passive=True)  # raises if missing
        # A message whose retry delay passes comes back to the main queue by itself
        # (through the service's own retry exchange: the default one is nobody's).
        await bus.broker.publish(
            b"{}",
            exchange=topology.retry_exchange("kittest"),
            routing_key=topology.retry_queue(name, settings.retry_delays_ms[0]),
        )
        main = await channel.declare_queue(name, passive=True)
        got = await drain(main, 1, timeout=5)
        assert got[0]["body"] == {}
    finally:
        await bus.stop()
