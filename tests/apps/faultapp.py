"""A consumer service for the fault tests: applies each tick once, slowly enough that a
kill lands mid-stream."""

from __future__ import annotations

import asyncio

from contracts import Payload, register
from kit.app import Service
from kit.consumer import Delivery
from kit.settings import KitSettings

TICK = "kohtaamo.faultprod.tick.happened.v1"


@register(TICK)
class Tick(Payload):
    n: int


def build_consumer(settings: KitSettings | None = None) -> Service:
    service = Service("faultcons", settings=settings)

    @service.consumer("ticks", [TICK])
    async def apply(delivery: Delivery) -> None:
        await service.store.db.applied.insert_one(
            {"event_id": delivery.event.id, "n": delivery.data.n},  # type: ignore[union-attr]
            session=delivery.session,
        )
        await asyncio.sleep(0.01)

    return service


def build_batch_consumer(settings: KitSettings | None = None) -> Service:
    """The same, as a batch consumer: ten ticks per transaction."""
    service = Service("faultcons", settings=settings)

    @service.consumer("batched-ticks", [TICK], batch=10, batch_wait_ms=20)
    async def apply(deliveries: list[Delivery]) -> None:
        await service.store.db.applied.insert_many(
            [{"event_id": d.event.id, "n": d.data.n} for d in deliveries],  # type: ignore[union-attr]
            session=deliveries[0].session,
        )
        await asyncio.sleep(0.1)

    return service
