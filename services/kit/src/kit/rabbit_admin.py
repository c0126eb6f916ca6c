"""Operator-side broker queries over AMQP: consumer counts, dead-letter inspection and
replay. A separate small connection so these never disturb the service's own channels."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from aiormq.exceptions import ChannelNotFoundEntity

from contracts import topology
from kit.broker_users import connection_user


@dataclass
class DeadLetter:
    position: int
    message_id: str | None
    event_type: str | None
    reason: str | None
    error: str | None
    queue: str
    retries: int
    dead_lettered_at: str | None
    headers: dict[str, Any]
    body: bytes

    def summary(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "message_id": self.message_id,
            "event_type": self.event_type,
            "reason": self.reason,
            "error": self.error,
            "queue": self.queue,
            "retries": self.retries,
            "dead_lettered_at": self.dead_lettered_at,
        }

    def body_json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return self.body.decode("utf-8", "replace")


def _reason(headers: dict[str, Any]) -> str | None:
    reason = headers.get(topology.HEADER_REASON)
    if reason:
        return str(reason)
    # Dead-lettered by the broker itself (delivery limit): reason is in x-death / x-first-death.
    first = headers.get("x-first-death-reason")
    return f"broker:{first}" if first else None


class RabbitAdmin:
    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self._connection: AbstractRobustConnection | None = None

    async def _channel(self) -> AbstractChannel:
        if self._connection is None or self._connection.is_closed:
            self._connection = await aio_pika.connect_robust(self.amqp_url, timeout=5)
        return await self._connection.channel(publisher_confirms=True, on_return_raises=True)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def queue_counts(self, name: str) -> tuple[int, int] | None:
        """(messages, consumers) of a queue, or None when it does not exist."""
        channel = await self._channel()
        try:
            queue = await channel.declare_queue(name, passive=True)
            result = queue.declaration_result
            return result.message_count or 0, result.consumer_count or 0
        except ChannelNotFoundEntity:
            return None
        finally:
            if not channel.is_closed:
                await channel.close()

    async def peek(self, queue: str, *, limit: int = 20) -> list[DeadLetter]:
        """Read up to `limit` dead letters without removing them (they are requeued)."""
        channel = await self._channel()
        letters: list[DeadLetter] = []
        try:
            dlq = await channel.declare_queue(topology.dead_letter_queue(queue), passive=True)
            held = []
            for position in range(limit):
                message = await dlq.get(no_ack=False, fail=False)
                if message is None:
                    break
                held.append(message)
                letters.append(_letter(position, queue, message))
            for message in held:
                await message.nack(requeue=True)
        finally:
            await channel.close()
        return letters

    async def replay(self, queue: str, *, message_id: str | None = None, limit: int = 1000) -> int:
        """Move dead letters back to their queue (all, or the one with `message_id`), with
        the retry count reset. Each is published with a confirm before it is removed.
        Letters refused as `unauthenticated` stay: replayed with the service's own broker
        user they would be believed."""
        channel = await self._channel()
        replayed = 0
        try:
            dlq = await channel.declare_queue(topology.dead_letter_queue(queue), passive=True)
            retry_exchange = await channel.get_exchange(
                topology.retry_exchange(topology.consumer_of(queue))
            )
            skipped = []
            for _ in range(limit):
                message = await dlq.get(no_ack=False, fail=False)
                if message is None:
                    break
                if message_id is not None and message.message_id != message_id:
                    skipped.append(message)
                    continue
                if (message.headers or {}).get(topology.HEADER_REASON) == "unauthenticated":
                    # Sent back as the service's own user, a forgery would be believed.
                    skipped.append(message)
                    continue
                headers = {
                    k: v
                    for k, v in (message.headers or {}).items()
                    if not k.startswith("x-")  # drop retry, reason and x-death state
                }
                headers["x-kohtaamo-replayed"] = True
                # Through the queue's service's own retry exchange (see Bus): its broker
                # user may not write to the default exchange.
                await retry_exchange.publish(
                    aio_pika.Message(
                        message.body,
                        headers=headers,
                        content_type=message.content_type,
                        message_id=message.message_id,
                        correlation_id=message.correlation_id,
                        type=message.type,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        user_id=connection_user(self.amqp_url),
                    ),
                    routing_key=queue,
                    mandatory=True,
                )
                await message.ack()
                replayed += 1
                if message_id is not None:
                    break
            for message in skipped:
                await message.nack(requeue=True)
        finally:
            await channel.close()
        return replayed


def _letter(position: int, queue: str, message: aio_pika.abc.AbstractIncomingMessage) -> DeadLetter:
    headers = dict(message.headers or {})
    return DeadLetter(
        position=position,
        message_id=message.message_id,
        event_type=message.type,
        reason=_reason(headers),
        error=str(headers.get(topology.HEADER_ERROR)) if topology.HEADER_ERROR in headers else None,
        queue=str(headers.get(topology.HEADER_QUEUE, queue)),
        retries=_count(headers.get(topology.HEADER_RETRIES)),
        dead_lettered_at=(
            str(headers[topology.HEADER_DEAD_AT]) if topology.HEADER_DEAD_AT in headers else None
        ),
        headers={k: str(v) for k, v in headers.items()},
        body=message.body,
    )


def _count(value: object) -> int:
    """A retry count as the kit writes it; a sender's odd value (a letter the broker
    dead-lettered keeps the sender's headers) reads as 0 rather than failing the listing."""
    return value if type(value) is int and value >= 0 else 0
