"""Batched consuming (opt-in per consumer): many messages applied in one transaction.

The subscriber does the per-message checks (oversized, malformed, foreign) and queues the
message unacked; a batcher task takes up to `batch` messages (waiting at most
`batch_wait_ms` for more), inserts their inbox records, runs the batch handler with one
session, commits, and only then acks them. Messages already applied (their inbox record
exists, or the handler of a consumer that `deduplicates` by itself says so) are dropped
from the batch and acked. If the batch fails, its halves are applied the same way, down to
single messages, which go through the single-message path: a poison message is retried
and dead-lettered alone while the others apply, in batches. Unacked messages are
redelivered after a crash, and the inbox drops what was applied.

A committed batch is acked with one `multiple` ack of its highest delivery tag when no
other delivery of the channel below that tag is still open (one being checked, or
dead-lettered, meanwhile): the broker then settles the batch in one command instead of
one per message, which halved its CPU per consumed message. Otherwise each message is
acked alone."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from aio_pika.abc import AbstractIncomingMessage
from pymongo.errors import ConnectionFailure

from kit import tracing
from kit.consumer import Delivery, MessageProcessor, bind_event
from kit.inbox import Duplicates, Inbox
from kit.metrics import CONSUMED
from kit.mongo import Store
from kit.uow import UnitOfWork

log = structlog.get_logger("kit.batching")

Item = tuple[AbstractIncomingMessage, Delivery[Any]]


class Batcher:
    """Collects one batch consumer's admitted messages and applies them in batches."""

    def __init__(
        self,
        *,
        processor: MessageProcessor,
        store: Store,
        inbox: Inbox,
        turn: asyncio.Lock | None = None,
    ) -> None:
        consumer = processor.consumer
        assert consumer.batch_handler is not None and consumer.batch >= 1
        self.processor = processor
        self.consumer = consumer
        self.handler = consumer.batch_handler
        self.store = store
        self.inbox = inbox
        self.turn = turn or asyncio.Lock()
        self.size = consumer.batch
        self.wait_s = consumer.batch_wait_ms / 1000
        self.pending: asyncio.Queue[Item | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._acks: asyncio.Task[None] | None = None  # the last committed batch's acks
        # Deliveries taken and not yet settled: a `multiple` ack must not reach them.
        self._open: set[AbstractIncomingMessage] = set()

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        """The subscriber's handler: check, then queue (acked later by the batcher)."""
        self._open.add(message)
        received_ns = time.time_ns() if tracing.enabled else 0
        try:
            delivery = await self.processor.admit(message)
        except BaseException:
            self._open.discard(message)  # a lost channel: it comes back, with a new tag
            raise
        if delivery is None:
            self._open.discard(message)  # settled by the checks (dead-lettered or skipped)
        else:
            if received_ns:
                # Ended when the message is settled (kit.tracing).
                delivery.span = self.processor.span_for(message, delivery, received_ns)
            self.pending.put_nowait((message, delivery))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"batcher-{self.consumer.queue}")

    async def stop(self) -> None:
        """Apply what is queued, then end (call after the subscriber stopped consuming)."""
        if self._task is None:
            return
        self.pending.put_nowait(None)
        await self._task
        self._task = None
        if self._acks is not None:
            await self._acks  # before the channel closes
            self._acks = None

    def holds(self, message: AbstractIncomingMessage) -> bool:
        """Whether `message` was taken and is not settled yet."""
        return message in self._open

    async def restart(self) -> None:
        """Start over after a stall: the batcher's work is cancelled and every message it
        holds is requeued (before the new work can ack with `multiple` above them)."""
        for task in (self._task, self._acks):
            if task is not None:
                task.cancel()
        self._task = self._acks = None
        held = sorted(self._open, key=lambda m: m.delivery_tag or 0)
        self._open.clear()
        self.pending = asyncio.Queue()
        for message in held:
            if not message.processed:
                try:
                    await message.nack(requeue=True)
                except Exception as exc:  # a lost channel: they come back anyway
                    log.error("batch.requeue_failed", queue=self.consumer.queue, error=str(exc))
                    break
        self.start()

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self.pending.get()
            if first is None:
                break
            items = [first]
            deadline = time.monotonic() + self.wait_s
            while len(items) < self.size:
                try:
                    item = self.pending.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self.pending.get(), left)
                    except TimeoutError:
                        break
                if item is None:
                    stopping = True
                    break
                items.append(item)
            try:
                async with self.turn:
                    await self._apply(items)
            except Exception as exc:  # a lost channel: the unacked messages come back
                log.error("batch.ack_failed", queue=self.consumer.queue, error=str(exc))

    async def _apply(self, items: list[Item]) -> None:
        items, duplicates = await self._apply_or_split(items)
        # The acks go out while the next batch is applied (a batch's acks are hundreds of
        # frames, and the next batch's transaction need not wait for them); in order.
        self._acks = asyncio.create_task(self._ack(self._acks, items, duplicates))

    async def _apply_or_split(self, items: list[Item]) -> tuple[list[Item], list[Item]]:
        """Apply `items` in one transaction: (applied, duplicates). If that fails, each half
        the same way, so a bad message is found in about 2·log2(n) transactions while the
        rest apply in batches; a message that fails alone, and every message when the
        store is unreachable (halves would only fail again), goes through the
        single-message path: retried with backoff, dead-lettered with its reason (it acks
        them itself)."""
        duplicates: list[Item] = []
        try:
            while items:
                try:
                    await self._transact(items)
                    break
                except Duplicates as dup:
                    positions = set(dup.positions)
                    duplicates += [item for i, item in enumerate(items) if i in positions]
                    items = [item for i, item in enumerate(items) if i not in positions]
            return items, duplicates
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            if len(items) > 1 and not isinstance(exc, ConnectionFailure):
                log.warning("batch.split", queue=self.consumer.queue, size=len(items), error=error)
                half = (len(items) + 1) // 2
                first, first_duplicates = await self._apply_or_split(items[:half])
                second, second_duplicates = await self._apply_or_split(items[half:])
                return first + second, duplicates + first_duplicates + second_duplicates
            log.warning(
                "batch.failed_one_by_one", queue=self.consumer.queue, size=len(items), error=error
            )
            for message, delivery in items:
                bind_event(delivery.event)
                try:
                    await self.processor.finish(message, delivery)
                finally:
                    self._open.discard(message)  # settled by the single-message path
            structlog.contextvars.unbind_contextvars("event_id", "event_type")
            return [], duplicates

    async def _ack(
        self, previous: asyncio.Task[None] | None, applied: list[Item], duplicates: list[Item]
    ) -> None:
        if previous is not None:
            await previous
        service, queue = self.processor.service, self.consumer.queue
        settled = [message for message, _ in (*applied, *duplicates)]
        try:
            await self._settle(settled)
        except Exception as exc:  # a lost channel: the unacked messages come back
            log.error("batch.ack_failed", queue=queue, error=str(exc))
            return
        finally:
            self._open.difference_update(settled)
        for items, outcome in ((applied, "applied"), (duplicates, "duplicate")):
            for _, delivery in items:
                if delivery.span is not None:
                    delivery.span.set_attribute("kohtaamo.outcome", outcome)
                    delivery.span.end()
        if applied:
            CONSUMED.labels(service, queue, "applied").inc(len(applied))
        if duplicates:
            CONSUMED.labels(service, queue, "duplicate").inc(len(duplicates))
            log.info("message.duplicate_skipped", queue=queue, count=len(duplicates))

    async def _settle(self, messages: list[AbstractIncomingMessage]) -> None:
        """Ack `messages`: with one `multiple` ack when every open delivery of their
        channel below the highest tag is among them, else one by one."""
        if not messages:
            return
        last = max(messages, key=lambda m: m.delivery_tag or 0)
        batch = set(messages)
        # A channel's deliveries share its consumer's tag (one consumer per channel).
        below = (
            m
            for m in self._open
            if m not in batch
            and m.consumer_tag == last.consumer_tag
            and (m.delivery_tag or 0) < (last.delivery_tag or 0)
        )
        if len({m.consumer_tag for m in messages}) == 1 and next(below, None) is None:
            await last.ack(multiple=True)
            return
        for message in messages:
            await message.ack()

    async def _transact(self, items: list[Item]) -> None:
        deliveries = [delivery for _, delivery in items]
        if tracing.enabled:
            # One transaction for many traces: its own span, linked to each message's.
            links = [
                tracing.Link(d.span.get_span_context()) for d in deliveries if d.span is not None
            ]
            span = tracing.tracer().start_span(
                f"process batch {self.consumer.queue}",
                context=tracing.parent_of(None),
                kind=tracing.SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "rabbitmq",
                    "messaging.destination.name": self.consumer.queue,
                    "messaging.batch.message_count": len(deliveries),
                },
                links=links,
            )
            try:
                with tracing.activated(span):
                    await self._transact_once(deliveries)
            except BaseException as exc:
                span.set_status(tracing.error_status(exc))
                raise
            finally:
                span.end()
            return
        await self._transact_once(deliveries)

    async def _transact_once(self, deliveries: list[Delivery[Any]]) -> None:
        async def work(uow: UnitOfWork) -> None:
            if not self.consumer.deduplicates:
                await self.inbox.record_many(
                    consumer=self.consumer.purpose,
                    event_ids=[d.event.id for d in deliveries],
                    session=uow.session,
                )
            for delivery in deliveries:
                delivery.session, delivery.uow = uow.session, uow
            await self.handler(deliveries)

        await self.inbox.transactions.run(work)
