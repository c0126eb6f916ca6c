"""`kohtaamo run-all` (make run) gives every service its own RabbitMQ user on the local
broker, on the vhost of KOHTAAMO_AMQP_URL, and RabbitMQ keeps each to its own exchange."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import aio_pika
import pytest
from aiormq.exceptions import ChannelAccessRefused

from contracts import topology
from kit import cli, rabbit_env


async def test_run_all_gives_every_service_its_own_broker_user(
    make_vhost: Callable[..., str], run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_url = make_vhost("runall", "function")
    prefix = f"kohtaamo-r{run_id}-"  # not the real users of a `make run` on this broker
    monkeypatch.setenv("KOHTAAMO_AMQP_URL", admin_url)
    monkeypatch.setenv("KOHTAAMO_BROKER_USER_PREFIX", prefix)
    services = list(topology.SERVICES)
    env = {cli._broker_password_key(s): secrets.token_urlsafe(16) for s in services}
    connection = await aio_pika.connect(admin_url)
    try:
        channel = await connection.channel()
        for service in ("events", "identity"):  # what the services declare at start
            await channel.declare_exchange(
                topology.exchange(service), aio_pika.ExchangeType.TOPIC, durable=True
            )
    finally:
        await connection.close()

    try:
        urls = cli._local_broker_users(services, env)
        users = {s: unquote(urlsplit(u).username or "") for s, u in urls.items()}
        assert users == {s: f"{prefix}{s}" for s in services}  # never guest, never shared
        assert {rabbit_env.vhost_of(u) for u in urls.values()} == {rabbit_env.vhost_of(admin_url)}
        events = await aio_pika.connect(urls["events"])
        try:
            channel = await events.channel(publisher_confirms=True)
            own = await channel.get_exchange(topology.exchange("events"))
            message = aio_pika.Message(b"{}", user_id=users["events"])
            await own.publish(message, routing_key="events.x.v1")
            identity = await channel.get_exchange(topology.exchange("identity"), ensure=False)
            with pytest.raises(ChannelAccessRefused, match=r"kohtaamo\.identity\.events"):
                await identity.publish(message, routing_key="identity.user.erased.v1")
        finally:
            await events.close()
    finally:
        rabbit_env.delete_users(f"{prefix}{s}" for s in services)
