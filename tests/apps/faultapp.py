"""A consumer service for the fault tests: applies each tick once. With FAULTAPP_HOLD_FROM
set, a process stops at that tick: its handler records the ticks it holds (outside the
transaction) and waits inside the open transaction, so a kill always lands mid-stream, with
messages applied but not committed and others unacked."""

from __future__ import annotations

import asyncio
import os

from contracts import Payload, register
from kit.app import Service
from kit.consumer import Delivery
from kit.settings import KitSettings

TICK = "kohtaamo.faultprod.tick.happened.v1"
HOLD_FROM = "FAULTAPP_HOLD_FROM"


@register(TICK)
class Tick(Payload):
    n: int


async def _hold(service: Service, ticks: list[int]) -> None:
    """Past the hold mark: say so, then never finish (until the process is killed)."""
    hold_from = os.environ.get(HOLD_FROM)
    if hold_from is None or max(ticks) < int(hold_from):
        return
    await service.store.db.held.insert_many([{"n": n, "pid": os.getpid()} for n in ticks])
    await asyncio.Event().wait()


def build_consumer(settings: KitSettings | None = None) -> Service:
    service = Service("faultcons", settings=settings)

    @service.consumer("ticks", [TICK])
    async def apply(delivery: Delivery[Tick]) -> None:
        n = delivery.data.n
        await service.store.db.applied.insert_one(
            {"event_id": delivery.event.id, "n": n, "pid": os.getpid()},
            session=delivery.session,
        )
        await _hold(service, [n])

    return service


def build_batch_consumer(settings: KitSettings | None = None) -> Service:
    """The same, as a batch consumer: ten ticks per transaction."""
    service = Service("faultcons", settings=settings)

    @service.consumer("batched-ticks", [TICK], batch=10, batch_wait_ms=20)
    async def apply(deliveries: list[Delivery[Tick]]) -> None:
        ticks = [d.data.n for d in deliveries]
        await service.store.db.applied.insert_many(
            [
                {"event_id": d.event.id, "n": n, "pid": os.getpid()}
                for d, n in zip(deliveries, ticks, strict=True)
            ],
            session=deliveries[0].session,
        )
        await _hold(service, ticks)

    return service
