"""RabbitMQ restarted in the middle of a stream: every event is processed, none twice, no
outbox entry left unpublished, and the consumers come back by themselves."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from faultapp import TICK, Tick, build_consumer

from kit.app import Service
from kit.rabbit_admin import RabbitAdmin
from kit.rabbit_env import PrivateBroker
from kit.testing import eventually

# `make fault` runs the long form (KOHTAAMO_FAULT_SCALE=10).
N = 120 * int(os.environ.get("KOHTAAMO_FAULT_SCALE", "1"))


async def test_broker_restart_mid_stream(
    private_broker: PrivateBroker, make_settings: Callable[..., Any]
) -> None:
    producer = Service(
        "faultprod", settings=make_settings("faultprod", amqp_url=private_broker.url)
    )
    consumer = build_consumer(make_settings("faultcons", amqp_url=private_broker.url))
    await consumer.start()
    await producer.start()
    applied = consumer.store.db.applied

    async def stream() -> None:
        for i in range(N):
            event = producer.event(TICK, Tick(n=i), municipality="helsinki")
            async with producer.uow() as uow:
                await uow.db.state.insert_one({"n": i}, session=uow.session)
                await uow.emit(event)
            await asyncio.sleep(0.03)

    task = asyncio.create_task(stream())
    try:
        await eventually(lambda: _at_least(applied, N // 4), timeout=120)
        await asyncio.to_thread(private_broker.stop_app)  # every connection dropped
        await asyncio.sleep(2)
        await asyncio.to_thread(private_broker.start_app)
        await task

        await eventually(lambda: _at_least(applied, N), timeout=180)
        await asyncio.sleep(1)  # anything extra (a double application) would show now
        assert await applied.count_documents({}) == N
        assert len(await applied.distinct("event_id")) == N
        assert sorted(await applied.distinct("n")) == list(range(N))

        async def outbox_empty() -> bool:
            return (await producer.outbox.lag())["pending"] == 0

        await eventually(outbox_empty, timeout=60)

        admin = RabbitAdmin(private_broker.url)
        try:

            async def consumer_back() -> bool:
                counts = await admin.queue_counts("kohtaamo.faultcons.ticks")
                return counts is not None and counts[1] == 1

            await eventually(consumer_back, timeout=60)
        finally:
            await admin.close()
        ready = await consumer.consumer_health()
        assert ready["broker"]["ok"] and ready["consumers"]["ok"], ready
    finally:
        task.cancel()
        await producer.stop()
        await consumer.stop()


async def _at_least(collection: Any, n: int) -> bool:
    return await collection.count_documents({}) >= n
