"""The operator commands against the real broker: a poison message is dead-lettered with
its reason, `kohtaamo dlq peek` shows it without removing it, and after the fix
`kohtaamo dlq replay` sends it back and it is applied once. `kohtaamo outbox lag` too."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import aio_pika

from contracts import topology
from kit.app import Service
from kit.consumer import Delivery
from kit.rabbit_admin import RabbitAdmin
from kit.testing import envelope, eventually, trust_env

TYPE = "kohtaamo.kittest.thing.happened.v1"
QUEUE = "kohtaamo.kittest.repairable"


async def kohtaamo(settings: Any, *args: str, env: dict[str, str] | None = None) -> str:
    env = {
        **os.environ,
        **(env or {}),
        "KOHTAAMO_AMQP_URL": settings.amqp_url.get_secret_value(),
        **trust_env(settings),  # the run's broker users and site key
        "KOHTAAMO_MONGO_URL": settings.mongo_url.get_secret_value(),
        "KOHTAAMO_LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kit.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_peek_then_replay_after_fix(settings: Any) -> None:
    svc = Service("kittest", settings=settings)
    broken = True
    applied: list[str] = []

    @svc.consumer("repairable", [TYPE])
    async def handle(delivery: Delivery[Any]) -> None:
        if broken:
            raise RuntimeError("bug #42: cannot handle n=13")
        applied.append(delivery.event.id)

    await svc.start()
    try:
        poison = envelope(TYPE, {"thing_id": "p", "n": 13})
        await svc.bus.publish_event(poison)

        async def dead_lettered() -> bool:
            counts = await svc.admin.queue_counts(topology.dead_letter_queue(QUEUE))
            return counts is not None and counts[0] == 1

        await eventually(dead_lettered, timeout=15)

        peeked = [
            json.loads(line)
            for line in (await kohtaamo(settings, "dlq", "peek", QUEUE, "--body")).splitlines()
        ]
        assert len(peeked) == 1
        assert peeked[0]["message_id"] == poison.id
        assert peeked[0]["reason"] == "retries_exhausted"
        assert "bug #42" in peeked[0]["error"]
        assert peeked[0]["body"]["data"]["n"] == 13
        assert await dead_lettered()  # peeking left it in place

        broken = False  # the fix is deployed
        out = await kohtaamo(settings, "dlq", "replay", QUEUE)
        assert "replayed 1 message(s)" in out

        async def was_applied() -> bool:
            return applied == [poison.id]

        await eventually(was_applied)
        counts = await svc.admin.queue_counts(topology.dead_letter_queue(QUEUE))
        assert counts is not None and counts[0] == 0
    finally:
        await svc.stop()


async def test_replay_one_message_by_id(settings: Any) -> None:
    svc = Service("kittest", settings=settings)

    @svc.consumer("repairable", [TYPE])
    async def handle(delivery: Delivery[Any]) -> None:
        raise RuntimeError("always broken")

    await svc.start()
    await svc.stop()  # declare the topology, then leave the queue without a consumer
    first, second = envelope(TYPE, {"thing_id": "a"}), envelope(TYPE, {"thing_id": "b"})
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel(publisher_confirms=True)
        dlx = await channel.get_exchange(topology.DEAD_LETTER_EXCHANGE)
        for event in (first, second):
            await dlx.publish(
                aio_pika.Message(
                    event.model_dump_json().encode(),
                    message_id=event.id,
                    headers={topology.HEADER_REASON: "rejected"},
                ),
                routing_key=QUEUE,
            )
        out = await kohtaamo(settings, "dlq", "replay", QUEUE, "--id", second.id)
        assert "replayed 1 message(s)" in out
        main = await channel.declare_queue(QUEUE, passive=True)
        message = await main.get(timeout=5)
        assert message.message_id == second.id
        assert topology.HEADER_REASON not in (message.headers or {})  # a fresh start
        await message.ack()
        admin = RabbitAdmin(settings.amqp_url.get_secret_value())
        letters = await admin.peek(QUEUE)
        await admin.close()
        assert [letter.message_id for letter in letters] == [first.id]
    finally:
        await connection.close()


async def test_outbox_lag_command(settings: Any) -> None:
    svc = Service("kittest", settings=settings)
    await svc.outbox.stage(
        None, envelope(TYPE, {"thing_id": "a"}), envelope(TYPE, {"thing_id": "b"})
    )
    await svc.store.close()
    env = {"PYTHONPATH": str(Path(__file__).parent), "KOHTAAMO_MONGO_DB": settings.database_name()}
    out = await kohtaamo(settings, "outbox", "lag", "test_operator_cli:lag_service", env=env)
    row = json.loads(out)
    assert row["service"] == "test_operator_cli:lag_service"
    assert row["pending"] == 2 and row["oldest_age_s"] >= 0


def lag_service() -> Service:
    """Loaded by the CLI in its own process: a kit service on the test's database."""
    return Service("kittest")


async def test_outbox_parked_and_unpark_commands(settings: Any) -> None:
    svc = Service("kittest", settings=settings)
    events = [envelope(TYPE, {"thing_id": "a"}), envelope(TYPE, {"thing_id": "b"})]
    await svc.outbox.stage(None, *events)
    entries = await svc.outbox.collection.find({}).to_list()
    await svc.outbox.park(entries, reason="unroutable")
    env = {"PYTHONPATH": str(Path(__file__).parent), "KOHTAAMO_MONGO_DB": settings.database_name()}
    try:
        out = await kohtaamo(settings, "outbox", "parked", "test_operator_cli:lag_service", env=env)
        rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert sorted(r["_id"] for r in rows) == sorted(e.id for e in events)
        assert all(r["parked_reason"] == "unroutable" and "body" not in r for r in rows)
        out = await kohtaamo(
            settings, "outbox", "unpark", "test_operator_cli:lag_service", "--id", events[0].id,
            env=env,
        )  # fmt: skip
        assert "unparked 1" in out
        assert (await svc.outbox.lag())["parked"] == 1
        back = await svc.outbox.collection.find_one({"_id": events[0].id})
        assert back is not None and back["attempts"] == 0
    finally:
        await svc.store.close()
