"""Malformed and oversized messages published straight to every queue of every installed
service: each is dead-lettered with its reason, nothing crashes, nothing is lost, and the
consumers stay attached."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from contracts import CloudEvent, topology
from kit import registry
from kit.testing import drain, eventually, service_env

BAD = {
    "bad-json": b"{this is not json",
    "no-envelope": b'{"hello": "world"}',
    "wrong-type": CloudEvent(
        source="/kohtaamo/helsinki/nobody",
        type="kohtaamo.nobody.thing.done.v1",
        municipality="helsinki",
    )
    .model_dump_json()
    .encode(),
    "oversized": b'{"pad": "' + b"x" * 1_100_000 + b'"}',
}


@pytest.mark.parametrize("name", [n for n in registry.installed() if n != "gateway"])
async def test_every_queue_dead_letters_bad_messages(
    name: str,
    make_settings: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    make_vhost: Callable[..., str],
) -> None:
    # A vhost of its own: session-long services of other suites consume the same queue
    # names in the run's main vhost and would take this service's messages.
    amqp_url = make_vhost(f"badmsg-{name}", "function")
    for key, value in service_env(make_settings(name, amqp_url=amqp_url)).items():
        monkeypatch.setenv(key, value)
    svc = registry.load_factory(name)()
    assert svc.consumers, f"{name} consumes nothing?"
    await svc.start()
    try:
        import aio_pika

        connection = await aio_pika.connect(amqp_url)
        channel = await connection.channel(publisher_confirms=True)
        for consumer in svc.consumers:
            for label, body in BAD.items():
                await channel.default_exchange.publish(
                    aio_pika.Message(body, message_id=f"{label}-{consumer.queue}"),
                    routing_key=consumer.queue,
                )
        for consumer in svc.consumers:
            dlq = await channel.declare_queue(
                topology.dead_letter_queue(consumer.queue), passive=True
            )
            letters = await drain(dlq, len(BAD), timeout=60)
            reasons = {
                x["id"].split("-kohtaamo.")[0]: x["headers"][topology.HEADER_REASON]
                for x in letters
            }
            assert reasons == {
                "bad-json": "malformed",
                "no-envelope": "malformed",
                "wrong-type": "malformed",
                "oversized": "oversized",
            }, consumer.queue
        await connection.close()

        async def still_ready() -> bool:
            checks = await svc.readiness()
            return all(c["ok"] for c in checks.values())

        await eventually(still_ready, timeout=30)
    finally:
        await svc.stop()
