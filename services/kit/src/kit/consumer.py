"""Consuming: parse the envelope, apply once through the inbox, retry with backoff, then
dead-letter with the reason. A malformed message goes straight to the dead-letter queue;
the consumer keeps going. A message of a municipality this site does not serve (brought by
federation) is acked unhandled, unless the consumer is network-wide."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast

import structlog
from aio_pika.abc import AbstractIncomingMessage
from pydantic import BaseModel, ValidationError
from pymongo.asynchronous.client_session import AsyncClientSession

from contracts import CloudEvent, model_for, topology
from kit import tracing
from kit.broker_users import producers
from kit.bus import Bus
from kit.context import causation_id, correlation_id
from kit.inbox import Duplicates, Inbox
from kit.metrics import CONSUMED, CONSUMER_LAG, DEAD_LETTERED, RETRIED
from kit.mongo import Store
from kit.signatures import Unauthenticated, UnknownKey
from kit.uow import Transactions, UnitOfWork

log = structlog.get_logger("kit.consumer")


class Rejected(Exception):
    """Raised by a handler for a message that can never succeed: dead-lettered at once."""


class Unreadable(Exception):
    """A delivery that cannot be read (its size, headers, envelope or data): dead-lettered
    with `reason` before anything is applied."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(error)
        self.reason = reason
        self.error = error


Data = TypeVar("Data")
Model = TypeVar("Model")


@dataclass
class Delivery(Generic[Data]):
    """What a handler gets: the envelope, its validated data, and the unit of work of the
    inbox step (`uow`; `session` is its session): write the effect and stage its events
    with it, so they commit with the inbox record. Both are None for a consumer without
    an inbox (its effect is not in the store)."""

    event: CloudEvent
    data: Data  # the contract's model (`Delivery[UserErased]`), or a dict
    session: AsyncClientSession | None
    retries: int = 0
    uow: UnitOfWork | None = None
    # When this delivery reached the consumer (this site's clock).
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The consumer's span for this message when tracing is on (kit.tracing).
    span: Any = None

    @property
    def time(self) -> datetime:
        """The envelope's `time` for latest-wins decisions (aware, UTC): never later than
        when this site received it. The kit admits a sender's clock up to
        KOHTAAMO_MAX_CLOCK_SKEW_S ahead; ordering by the raw time would let such a change
        (a skewed replica's, or a forger's within the skew) outrank every genuine change
        made in the meantime, so a change from the future counts as made on arrival."""
        sent = self.event.time
        sent = sent if sent.tzinfo else sent.replace(tzinfo=UTC)
        return min(sent.astimezone(UTC), self.received_at)

    def of(self, model: type[Model]) -> Delivery[Model]:
        """This delivery typed by one of its consumer's payload models, checked: a handler
        of several event types that routes each to a handler typed by its own model
        (`delivery.of(ResourceBlocked)`). A payload of another model is Rejected."""
        if not isinstance(self.data, model):
            raise Rejected(f"{self.event.type} carries no {model.__name__}")
        return cast("Delivery[Model]", self)

    @contextmanager
    def context(self) -> Iterator[None]:
        """Events made inside continue this message's chain (its correlation id, and its
        id as their causation). The kit sets that for a single message; a batch handler
        applies several at once, so it enters each delivery's context for its events."""
        correlation = correlation_id.set(self.event.correlationid)
        causation = causation_id.set(self.event.id)
        try:
            if self.span is None:
                yield
            else:
                with tracing.activated(self.span):  # its events continue its trace too
                    yield
        finally:
            causation_id.reset(causation)
            correlation_id.reset(correlation)


Handler = Callable[[Delivery[Any]], Awaitable[None]]
# A batch consumer's handler: several deliveries sharing one session (one transaction).
BatchHandler = Callable[[list[Delivery[Any]]], Awaitable[None]]


@dataclass
class Consumer:
    """One consumer purpose: one queue bound to the event types it handles."""

    purpose: str
    event_types: list[str]
    handler: Handler
    # False for a handler whose effect is not in this service's store.
    inbox: bool = True
    # A batch handler that recognises the events it applied before by itself (by a
    # unique key of its own effect) and raises kit.inbox.Duplicates with their positions:
    # its events are applied in transactions without inbox records.
    deduplicates: bool = False
    description: str = ""
    # True: acts on every municipality's messages (network-wide analytics); False: only on
    # those of the municipalities the site serves.
    network: bool = False
    # 1 or more: up to this many messages are applied in one transaction (see kit.batching);
    # `handler` then applies a batch of one, the path a failed batch falls back to.
    batch: int = 0
    batch_wait_ms: int = 50
    batch_handler: BatchHandler | None = None
    queue: str = field(default="", init=False)


class MessageProcessor:
    """Runs one consumer's messages. Acks only after the effect is stored, or after the
    message is safely in a retry or dead-letter queue (confirmed)."""

    def __init__(
        self,
        *,
        service: str,
        consumer: Consumer,
        bus: Bus,
        inbox: Inbox | None,
        store: Store | None = None,
        transactions: Transactions | None = None,
    ) -> None:
        self.service = service
        self.consumer = consumer
        self.bus = bus
        self.inbox = inbox
        self.store = store
        self.transactions = transactions or (inbox.transactions if inbox else None)
        self.queue = consumer.queue
        self.delays = bus.settings.retry_delays_ms
        self.max_bytes = bus.settings.max_message_bytes
        self.served = frozenset(bus.settings.municipalities)
        # Per event type: the broker users whose messages of it are accepted (RabbitMQ
        # vouches for user_id): its producer's, and this service's own (its retries).
        prefix = bus.settings.broker_user_prefix
        self.producers = {
            type_: producers(prefix, type_, bus.user) for type_ in consumer.event_types
        }
        self.max_skew_s = bus.settings.max_clock_skew_s
        self.retries_exchange = topology.retry_exchange(topology.consumer_of(self.queue))
        self.lag = CONSUMER_LAG.labels(service, self.queue)
        self._consumed: dict[str, Any] = {}

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        if tracing.enabled:
            received_ns = time.time_ns()
            delivery = await self.admit(message)
            if delivery is not None:
                delivery.span = self.span_for(message, delivery, received_ns)
                await self.finish(message, delivery)
            return
        delivery = await self.admit(message)
        if delivery is not None:
            await self.finish(message, delivery)

    def span_for(
        self, message: AbstractIncomingMessage, delivery: Delivery[Any], received_ns: int
    ) -> Any:
        """The message's consumer span (tracing on), begun when it was received."""
        return tracing.consume_span(
            queue=self.queue,
            event=delivery.event,
            headers=message.headers,
            received_ns=received_ns,
            received_ms=received_ns // 1_000_000,
        )

    async def admit(self, message: AbstractIncomingMessage) -> Delivery[Any] | None:
        """The per-message checks before anything is applied: an oversized, malformed or
        otherwise unreadable message is dead-lettered with its reason, a foreign one acked
        unhandled (None for both). Every step of reading the delivery (size, headers,
        envelope, data) is inside the error handling, so no sender can leave a delivery
        unsettled; only settling itself may raise (a lost channel: it comes back)."""
        try:
            try:
                event, data, retries = self._read(message)
            except UnknownKey:
                # Perhaps a partner's new key: its JWKS once more (rate-limited), then again.
                if not await self.bus.verifier.refresh():
                    raise
                event, data, retries = self._read(message)
        except Unauthenticated as exc:
            await self._dead_letter(message, reason="unauthenticated", error=_clip(str(exc)))
            return None
        except Unreadable as exc:
            await self._dead_letter(message, reason=exc.reason, error=exc.error)
            return None
        except Exception as exc:  # anything else a sender's bytes could provoke
            await self._dead_letter(message, reason="unreadable", error=_short(exc))
            return None
        bind_event(event)
        # Since the event was made (its outbox and queue time), by this site's clock.
        self.lag.observe(max(0.0, time.time() - event.time.timestamp()))
        if not self.consumer.network and event.municipality not in self.served:
            # Another site's message that federation brought here: its own site acts on it.
            # No inbox record: nothing was applied.
            await message.ack()
            CONSUMED.labels(self.service, self.queue, "foreign").inc()
            log.debug("message.foreign_skipped", queue=self.queue)
            structlog.contextvars.unbind_contextvars("event_id", "event_type")
            return None
        return Delivery(event=event, data=data, session=None, retries=retries)

    def _read(
        self, message: AbstractIncomingMessage
    ) -> tuple[CloudEvent, BaseModel | dict[str, Any], int]:
        body = message.body
        if len(body) > self.max_bytes:
            raise Unreadable("oversized", f"body of {len(body)} bytes exceeds {self.max_bytes}")
        retries = self._retries(message.headers)
        try:
            event, data = self._parse(body)
        except (ValidationError, ValueError) as exc:
            raise Unreadable("malformed", _short(exc)) from exc
        user = message.user_id
        if user is not None and user not in self.producers[event.type]:
            # RabbitMQ vouches for user_id: this service of the site published it.
            raise Unauthenticated(f"user_id {_clip(user)!r} may not publish {event.type}")
        came = message.exchange
        if came != self.retries_exchange and came != topology.exchange(event.producer):
            # Only its producer's exchange (or this service's own retries) may bring a
            # type: another service's exchange is not a way to speak for its producer.
            raise Unauthenticated(f"{event.type} came through {_clip(came or '(default)')!r}")
        if user is None:
            # No broker user vouches for it (a federation link drops user_id): the
            # signature and its site's authority decide.
            self.bus.verifier.verify(json.loads(body), event)
        sent = event.time if event.time.tzinfo else event.time.replace(tzinfo=UTC)
        ahead = (sent - datetime.now(UTC)).total_seconds()
        if ahead > self.max_skew_s:
            raise Unreadable(
                "future_time",
                f"time {event.time.isoformat()} is {ahead:.0f} s ahead of this site's clock"
                f" (at most {self.max_skew_s:.0f} s allowed)",
            )
        return event, data, retries

    def _retries(self, headers: Any) -> int:
        """The retry count the kit's own retry path wrote: a count from 0 to the number of
        backoff steps, anything else (a string, a bool, a negative or float) is malformed."""
        if not headers:
            return 0
        value = headers.get(topology.HEADER_RETRIES)
        if value is None:
            return 0
        if type(value) is not int or not 0 <= value <= len(self.delays):
            raise Unreadable(
                "malformed",
                f"header {topology.HEADER_RETRIES}: {_clip(repr(value))} is not a retry count"
                f" from 0 to {len(self.delays)}",
            )
        return value

    async def finish(self, message: AbstractIncomingMessage, delivery: Delivery[Any]) -> None:
        """Apply one admitted message through the inbox, then ack it; on failure retry it
        with backoff or dead-letter it with the reason (its log context bound by admit).
        Inside its span, ended with the outcome, when tracing is on."""
        span = delivery.span
        if span is None:
            await self._finish(message, delivery)
            return
        outcome = "interrupted"
        token = tracing.attach(span)
        try:
            outcome = await self._finish(message, delivery)
        finally:
            tracing.detach(token)
            span.set_attribute("kohtaamo.outcome", outcome)
            if delivery.retries:
                span.set_attribute("kohtaamo.retries", delivery.retries)
            span.end()

    async def _finish(self, message: AbstractIncomingMessage, delivery: Delivery[Any]) -> str:
        event, retries = delivery.event, delivery.retries
        correlation_id.set(event.correlationid)
        causation_id.set(event.id)
        delivery.session, delivery.uow = None, None
        try:
            applied = await self._apply(delivery)
        except Rejected as exc:
            await self._dead_letter(message, reason="rejected", error=_short(exc), retries=retries)
            return "rejected"
        except Exception as exc:
            await self._retry_or_dead_letter(message, exc, retries)
            return "failed"
        finally:
            structlog.contextvars.unbind_contextvars("event_id", "event_type")
        await message.ack()
        outcome = "applied" if applied else "duplicate"
        counted = self._consumed.get(outcome)
        if counted is None:  # the labelled counter once, not its lookup per message
            counted = self._consumed[outcome] = CONSUMED.labels(self.service, self.queue, outcome)
        counted.inc()
        if not applied:
            log.info("message.duplicate_skipped", queue=self.queue)
        return outcome

    def _parse(self, body: bytes) -> tuple[CloudEvent, BaseModel | dict[str, Any]]:
        event = CloudEvent.model_validate_json(body)
        if event.type not in self.consumer.event_types:
            raise ValueError(f"type: {event.type} is not consumed by {self.queue}")
        model = model_for(event.type)
        data = model.model_validate(event.data) if model else event.data
        return event, data

    async def _apply(self, delivery: Delivery[Any]) -> bool:
        if self.consumer.deduplicates:
            return await self._apply_deduplicating(delivery)
        if self.inbox is None or not self.consumer.inbox:
            await self.consumer.handler(delivery)
            return True

        async def effect(uow: UnitOfWork) -> None:
            delivery.session, delivery.uow = uow.session, uow
            await self.consumer.handler(delivery)

        return await self.inbox.apply(
            consumer=self.consumer.purpose, event_id=delivery.event.id, effect=effect
        )

    async def _apply_deduplicating(self, delivery: Delivery[Any]) -> bool:
        """One event of a consumer that deduplicates by itself, in its own transaction;
        False if the handler found it applied before."""
        assert self.transactions is not None, "a deduplicating consumer needs the store"

        async def work(uow: UnitOfWork) -> None:
            delivery.session, delivery.uow = uow.session, uow
            await self.consumer.handler(delivery)

        try:
            await self.transactions.run(work)
        except Duplicates:
            return False
        return True

    async def _retry_or_dead_letter(
        self, message: AbstractIncomingMessage, exc: Exception, retries: int
    ) -> None:
        if retries >= len(self.delays):
            await self._dead_letter(
                message, reason="retries_exhausted", error=_short(exc), retries=retries
            )
            return
        delay = self.delays[retries]
        log.warning(
            "message.retry",
            queue=self.queue,
            retries=retries + 1,
            delay_ms=delay,
            error=_short(exc),
        )
        headers = dict(message.headers or {})
        headers[topology.HEADER_RETRIES] = retries + 1
        headers[topology.HEADER_ERROR] = _short(exc)
        if await self._move(
            message,
            routing_key=topology.retry_queue(self.queue, delay),
            headers=headers,
            exchange=topology.retry_exchange(topology.consumer_of(self.queue)),
        ):
            RETRIED.labels(self.service, self.queue).inc()
            CONSUMED.labels(self.service, self.queue, "retried").inc()

    async def _dead_letter(
        self, message: AbstractIncomingMessage, *, reason: str, error: str, retries: int = 0
    ) -> None:
        log.error(
            "message.dead_lettered",
            queue=self.queue,
            reason=reason,
            error=error,
            message_id=message.message_id,
        )
        headers = dict(message.headers or {})
        headers.update(
            {
                topology.HEADER_REASON: reason,
                topology.HEADER_ERROR: error,
                topology.HEADER_QUEUE: self.queue,
                topology.HEADER_RETRIES: retries,
                topology.HEADER_DEAD_AT: datetime.now(UTC).isoformat(),
            }
        )
        if await self._move(
            message, routing_key=self.queue, headers=headers, exchange=topology.DEAD_LETTER_EXCHANGE
        ):
            DEAD_LETTERED.labels(self.service, self.queue, reason).inc()
            CONSUMED.labels(self.service, self.queue, "dead_lettered").inc()

    async def _move(
        self,
        message: AbstractIncomingMessage,
        *,
        routing_key: str,
        headers: dict[str, Any],
        exchange: str = "",
    ) -> bool:
        """Copy the message elsewhere, confirmed, then ack it here. If the copy fails the
        message is requeued (the queue's delivery limit bounds that loop). A sender's
        headers that cannot be sent again (odd types, sizes) are left off a second try."""
        attempts = [headers, {k: v for k, v in headers.items() if k.startswith(_KIT_HEADERS)}]
        for attempt, attempt_headers in enumerate(attempts):
            try:
                await self.bus.broker.publish(
                    message.body,
                    exchange=exchange or None,
                    routing_key=routing_key,
                    persist=True,
                    mandatory=True,
                    content_type=_text(message.content_type),
                    message_id=_text(message.message_id),
                    correlation_id=_text(message.correlation_id),
                    message_type=_text(message.type),
                    headers=attempt_headers,
                    user_id=self.bus.user,
                )
                break
            except Exception as exc:
                log.error(
                    "message.move_failed",
                    queue=self.queue,
                    target=routing_key,
                    attempt=attempt + 1,
                    error=_short(exc),
                )
        else:
            await message.nack(requeue=True)
            return False
        await message.ack()
        return True


_KIT_HEADERS = "x-kohtaamo-"


def _text(value: Any) -> str | None:
    """A short-string property sent again: what the broker delivered, or nothing."""
    return value if isinstance(value, str) and len(value.encode()) < 256 else None


def bind_event(event: CloudEvent) -> None:
    """The message's log context."""
    structlog.contextvars.bind_contextvars(
        municipality=event.municipality,
        correlation_id=event.correlationid,
        event_id=event.id,
        event_type=event.type,
    )


def _short(exc: BaseException, limit: int = 2000) -> str:
    return _clip(f"{type(exc).__name__}: {exc}", limit)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
