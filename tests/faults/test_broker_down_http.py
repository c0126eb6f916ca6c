"""The broker down under HTTP traffic: writes keep answering (never a 5xx), /readyz keeps
the replica in the load balancer and reports the broker as degraded, /readyz/consumers
says the consumers are not working; once the broker is back every event written meanwhile
is published from the outbox and applied once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import APIRouter
from faultapp import TICK, Tick, build_consumer
from pydantic import BaseModel

from kit.app import Service
from kit.rabbit_env import PrivateBroker
from kit.testing import eventually
from kit.uow import UnitOfWork

PER_PHASE = 20  # writes before, during and after the outage


class TickIn(BaseModel):
    n: int


def build_producer(settings: Any) -> Service:
    service = Service("faultprod", settings=settings)
    router = APIRouter()

    @router.post("/ticks", status_code=201)
    async def write(body: TickIn) -> dict[str, int]:
        # As every service writes: the change and its event in one transaction (retried
        # whole on a transient conflict between the concurrent writes).
        event = service.event(TICK, Tick(n=body.n), municipality="helsinki")

        async def work(uow: UnitOfWork) -> None:
            await uow.db.state.insert_one({"n": body.n}, session=uow.session)
            await uow.emit(event)

        await service.uow.run(work)
        return {"n": body.n}

    service.include_router(router)
    return service


async def test_http_writes_and_readiness_while_the_broker_is_down(
    private_broker: PrivateBroker, make_settings: Callable[..., Any]
) -> None:
    producer = build_producer(make_settings("faultprod", amqp_url=private_broker.url))
    consumer = build_consumer(make_settings("faultcons", amqp_url=private_broker.url))
    app = producer.create_app()
    await consumer.start()
    await producer.start()
    statuses: list[int] = []
    applied = consumer.store.db.applied
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:

            async def writes(first: int) -> None:
                async def one(n: int) -> None:
                    statuses.append((await client.post("/ticks", json={"n": n})).status_code)

                for start in range(first, first + PER_PHASE, 4):  # four at a time
                    await asyncio.gather(*(one(n) for n in range(start, start + 4)))

            await writes(0)
            assert (await client.get("/readyz")).json()["status"] == "ready"
            await asyncio.to_thread(private_broker.stop_app)  # every connection dropped
            try:
                await writes(PER_PHASE)
                ready = await client.get("/readyz")
                assert ready.status_code == 200, ready.json()
                body = ready.json()
                assert body["status"] == "degraded" and body["checks"]["broker"]["degraded"]
                assert body["checks"]["store"]["ok"]
                consumers = await consumer_client_get(consumer, "/readyz/consumers")
                assert consumers.status_code == 503
            finally:
                await asyncio.to_thread(private_broker.start_app)
            await writes(2 * PER_PHASE)
        total = 3 * PER_PHASE
        assert statuses == [201] * total  # no write failed, none answered 5xx

        async def all_applied() -> bool:
            return await applied.count_documents({}) >= total

        await eventually(all_applied, timeout=120)
        await asyncio.sleep(1)  # a double application would show now
        assert sorted(await applied.distinct("n")) == list(range(total))
        assert await applied.count_documents({}) == total
        assert (await producer.outbox.lag())["pending"] == 0

        async def consumers_back() -> bool:
            checks = await consumer.consumer_health()
            return all(c["ok"] for c in checks.values())

        await eventually(consumers_back, timeout=60)
    finally:
        await producer.stop()
        await consumer.stop()


async def consumer_client_get(service: Service, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=service.create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        return await client.get(path)
