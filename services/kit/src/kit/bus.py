"""RabbitMQ through FastStream, with safe defaults set explicitly.

- publish: persistent, publisher confirms, mandatory with a raise when unroutable;
- topology: one topic exchange per producing service, one durable quorum queue per
  consumer purpose with a delivery limit and its own dead-letter queue, and delay queues
  (one per backoff step) for bounded retries;
- prefetch bounded: up to that many messages of a queue are applied at once in a process
  (each in its own transaction with its inbox record), more from more replicas as
  competing consumers; handlers do not rely on arrival order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aio_pika
from aio_pika import RobustExchange, RobustQueue
from aiormq.exceptions import PublishError
from faststream.rabbit import (
    Channel,
    ExchangeType,
    QueueType,
    RabbitBroker,
    RabbitExchange,
    RabbitQueue,
)

from contracts import CloudEvent, topology
from kit.broker_users import connection_user
from kit.metrics import PUBLISHED
from kit.settings import KitSettings
from kit.signatures import SignatureVerifier, Signer

CLOUDEVENTS_JSON = "application/cloudevents+json"


class Unroutable(Exception):
    """The broker returned a mandatory message: no queue is bound for its routing key."""


def topic_exchange(name: str) -> RabbitExchange:
    return RabbitExchange(name, type=ExchangeType.TOPIC, durable=True)


def dead_letter_exchange() -> RabbitExchange:
    return RabbitExchange(topology.DEAD_LETTER_EXCHANGE, type=ExchangeType.DIRECT, durable=True)


def consumer_queue(name: str, *, delivery_limit: int) -> RabbitQueue:
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        durable=True,
        arguments={
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": topology.DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": name,
        },
    )


def dead_letter_queue(name: str) -> RabbitQueue:
    return RabbitQueue(topology.dead_letter_queue(name), queue_type=QueueType.QUORUM, durable=True)


def retry_queue(name: str, delay_ms: int) -> RabbitQueue:
    # Classic durable queue: a message waits out the TTL, then the broker dead-letters it
    # through the consuming service's retry exchange straight back to its queue (declaring
    # a dead-letter exchange needs write on it: the default exchange is nobody's).
    return RabbitQueue(
        topology.retry_queue(name, delay_ms),
        durable=True,
        arguments={
            "x-message-ttl": delay_ms,
            "x-dead-letter-exchange": topology.retry_exchange(topology.consumer_of(name)),
            "x-dead-letter-routing-key": name,
        },
    )


class Bus:
    """A service's connection to RabbitMQ."""

    def __init__(self, settings: KitSettings) -> None:
        self.settings = settings
        self.broker = RabbitBroker(
            settings.amqp_url.get_secret_value(),
            default_channel=Channel(
                prefetch_count=settings.prefetch,
                publisher_confirms=True,
                on_return_raises=True,
            ),
            app_id=f"kohtaamo-{settings.service}",
            reconnect_interval=2.0,
            graceful_timeout=15.0,
            logger=None,
            apply_types=False,
        )
        self._exchanges: dict[str, RobustExchange] = {}
        # Every publish names the connection's user; RabbitMQ refuses any other.
        self.user = connection_user(settings.amqp_url.get_secret_value())
        # The site's signing key (its events are signed) and the keys of the sites whose
        # signed events its consumers accept.
        jwk = settings.signing_jwk()
        self.signer = Signer(jwk) if jwk else None
        self.verifier = SignatureVerifier(
            settings.trusted_signers(), min_refresh_s=settings.event_keys_min_refresh_s
        )

    async def connect(self) -> None:
        await self.broker.connect()

    async def declare_exchange(self, name: str) -> RobustExchange:
        if name not in self._exchanges:
            self._exchanges[name] = await self.broker.declare_exchange(topic_exchange(name))
        return self._exchanges[name]

    async def declare_consumer_queue(
        self, name: str, event_types: list[str], channel: Channel | None = None
    ) -> RobustQueue:
        """The queue, its dead-letter queue, its retry queues and its bindings. `channel`:
        the one its consumer will use (FastStream keeps a queue on the channel it was
        first declared on, so a consumer's own prefetch needs it here too)."""
        dlx = await self.broker.declare_exchange(dead_letter_exchange())
        dlq = await self.broker.declare_queue(dead_letter_queue(name))
        await dlq.bind(dlx, routing_key=name)
        retries = await self.broker.declare_exchange(
            RabbitExchange(
                topology.retry_exchange(topology.consumer_of(name)),
                type=ExchangeType.DIRECT,
                durable=True,
            )
        )
        for delay in self.settings.retry_delays_ms:
            delayed = await self.broker.declare_queue(retry_queue(name, delay))
            await delayed.bind(retries, routing_key=delayed.name)
        queue: RobustQueue = await self.broker.config.declarer.declare_queue(
            consumer_queue(name, delivery_limit=self.settings.delivery_limit), channel=channel
        )
        await queue.bind(retries, routing_key=name)  # replays
        for type_ in event_types:
            exchange = await self.declare_exchange(topology.exchange(topology.producer_of(type_)))
            await queue.bind(exchange, routing_key=topology.routing_key(type_))
        return queue

    async def publish_event(self, event: CloudEvent) -> None:
        """Publish to the producer's exchange; returns once the broker confirmed it."""
        await self.publish(
            self.signer.seal(event) if self.signer else event.model_dump_json().encode(),
            exchange=topology.exchange(event.producer),
            routing_key=event.routing_key,
            message_id=event.id,
            correlation_id=event.correlationid,
            message_type=event.type,
        )

    async def publish(
        self,
        body: bytes,
        *,
        exchange: str = "",
        routing_key: str,
        message_id: str | None = None,
        correlation_id: str | None = None,
        message_type: str | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> None:
        """Persistent, mandatory, confirmed. Raises `Unroutable` when nothing is bound.

        Topic exchanges are published to through aio-pika directly (on the broker's
        confirming channel): FastStream's per-message publish machinery cost more than
        the publish itself on the relay's hot path."""
        message = aio_pika.Message(
            body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            content_type=CLOUDEVENTS_JSON,
            message_id=message_id,
            correlation_id=correlation_id,
            type=message_type,
            headers=dict(headers) if headers else None,
            app_id=f"kohtaamo-{self.settings.service}",
            user_id=self.user,
        )
        try:
            if exchange:
                target = await self.declare_exchange(exchange)
                await target.publish(
                    message,
                    routing_key=routing_key,
                    mandatory=True,
                    timeout=self.settings.publish_timeout_s,
                )
            else:
                await self.broker.publish(
                    body,
                    routing_key=routing_key,
                    persist=True,
                    mandatory=True,
                    content_type=CLOUDEVENTS_JSON,
                    message_id=message_id,
                    correlation_id=correlation_id,
                    message_type=message_type,
                    headers=dict(headers or {}),
                    user_id=self.user,
                    timeout=self.settings.publish_timeout_s,
                )
        except PublishError as exc:  # a Basic.Return of a mandatory message
            raise Unroutable(f"{exchange or '(default)'} {routing_key}") from exc
        PUBLISHED.labels(self.settings.service, exchange or "(default)").inc()

    async def ping(self, timeout: float = 2.0) -> bool:
        return await self.broker.ping(timeout)

    async def stop(self) -> None:
        await self.broker.stop()
