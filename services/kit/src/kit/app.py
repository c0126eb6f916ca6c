"""The composition root every service uses: one `Service` gives a FastAPI app (see
kit.web) whose lifespan connects the store, declares the topology, starts the consumers and
the outbox relay, and stops them again (FastStream's deprecated FastAPI plugin is not
used)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, cast, overload

import structlog
from aio_pika import RobustQueue
from aio_pika.abc import AbstractIncomingMessage
from faststream.rabbit import Channel
from pydantic import BaseModel
from pymongo.asynchronous.client_session import AsyncClientSession
from typing_extensions import TypeVar

from contracts import CloudEvent, topology
from kit import heap, idempotency, revocation
from kit.audit import AuditLog
from kit.batching import Batcher
from kit.bus import Bus
from kit.consumer import BatchHandler, Consumer, Delivery, Handler, MessageProcessor
from kit.events import new_event
from kit.health import check
from kit.inbox import Inbox
from kit.metrics import CONSUMER_RESTARTS, CONSUMER_STALLED
from kit.mongo import Store
from kit.outbox import Outbox
from kit.rabbit_admin import RabbitAdmin
from kit.relay import Relay
from kit.revocation import Revocations
from kit.settings import KitSettings
from kit.uow import Transactions
from kit.web import SettingsT, WebService

log = structlog.get_logger("kit.app")
Part = TypeVar("Part")
# How long a stop waits for the messages being applied (as the broker's graceful timeout).
GRACEFUL_S = 15.0
# A delivery being held: when it came, and the task applying it.
Held = tuple[float, "asyncio.Task[Any] | None"]


class Service(WebService[SettingsT]):
    """One service: its settings (typed, `Service[EventsSettings]`), store, bus, outbox and
    relay, consumers and routers, and the parts its factory built (`provide`/`part`)."""

    @overload
    def __init__(
        self: Service[KitSettings],
        name: str,
        *,
        settings: None = None,
        title: str | None = None,
        description: str = "",
        version: str = "0.1.0",
        honours_revocations: bool = True,
    ) -> None: ...

    @overload
    def __init__(
        self,
        name: str,
        *,
        settings: SettingsT,
        title: str | None = None,
        description: str = "",
        version: str = "0.1.0",
        honours_revocations: bool = True,
    ) -> None: ...

    def __init__(
        self,
        name: str,
        *,
        settings: SettingsT | None = None,
        title: str | None = None,
        description: str = "",
        version: str = "0.1.0",
        honours_revocations: bool = True,
    ) -> None:
        # Without settings of its own, a service has the kit's (the first overload).
        if settings is None:
            settings = cast(SettingsT, KitSettings(service=name))
        super().__init__(
            name, settings=settings, title=title, description=description, version=version
        )
        self.store = Store(self.settings)
        self.bus = Bus(self.settings)
        self.outbox = Outbox(self.store, signer=self.bus.signer)
        # `async with svc.uow() as uow:` / `await svc.uow.run(work)`: see kit.uow.
        self.uow = Transactions(self.store, self.outbox)
        self.inbox = Inbox(self.store, self.uow)
        # `async with svc.audit.action(...)`: privileged actions' entries (kit.audit).
        self.audit = AuditLog(self.store, self.settings, self._error_maps, self.uow)
        self.relay = Relay(
            outbox=self.outbox,
            bus=self.bus,
            service=name,
            poll_s=self.settings.outbox_poll_s,
            batch=self.settings.outbox_batch,
            lease_s=self.settings.outbox_lease_s,
            park_after=self.settings.outbox_park_after,
            parked_retention=timedelta(days=self.settings.outbox_parked_retention_days),
        )
        self.admin = RabbitAdmin(self.settings.amqp_url.get_secret_value())
        # Each consumer's queue (on its channel) and message callback; consuming tags
        # while consuming; batchers, drained before the connection closes.
        self._queues: dict[str, RobustQueue] = {}
        self._callbacks: dict[str, Callable[[AbstractIncomingMessage], Awaitable[None]]] = {}
        self._tags: dict[str, str] = {}
        self._batched: list[Batcher] = []
        self._batchers: dict[str, Batcher] = {}
        # Per queue: the deliveries taken and not yet settled (when each came, and the task
        # applying it on the single-message path), the last time one was settled, and
        # the queues found stalled (see `_watch`).
        self._holding: dict[str, dict[AbstractIncomingMessage, Held]] = {}
        self._progress: dict[str, float] = {}
        self._stalled: dict[str, float] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._channels: dict[str, Channel] = {}
        # One batch transaction at a time in a process: batches of different queues
        # write the same documents (a person's projections), and concurrent transactions
        # on them conflict and are retried whole.
        self._batch_turn = asyncio.Lock()
        self._parts: dict[type[Any], Any] = {}
        # Every service refuses revoked access tokens (its own consumer and deny list);
        # the gateway, which only forwards, leaves that to the services.
        self.revocations: Revocations | None = None
        if honours_revocations:
            self.revocations = revocation.register(self)
            self.verifier.revocations = self.revocations

    # -- composition -------------------------------------------------------------------

    def consumer(
        self,
        purpose: str,
        event_types: list[str],
        *,
        inbox: bool = True,
        deduplicates: bool = False,
        network: bool = False,
        batch: int = 0,
        batch_wait_ms: int = 50,
        description: str = "",
    ) -> Callable[[Any], Any]:
        """Register a handler. It gets only messages of the municipalities the site serves
        (`KOHTAAMO_MUNICIPALITIES`) unless `network`: network-wide consumers get all.

        `batch` >= 1: the handler takes a list of deliveries sharing one transaction (up to
        `batch` of them, gathered for at most `batch_wait_ms`); see kit.batching. It applies
        through the inbox unless it `deduplicates`: then the handler itself recognises the
        events it applied before (by a unique key of its effect) and raises
        kit.inbox.Duplicates with their positions, and no inbox records are written."""
        if deduplicates and batch < 1:
            raise ValueError("only a batch consumer deduplicates by itself")
        if batch >= 1 and not inbox and not deduplicates:
            raise ValueError("a batch consumer applies through the inbox or deduplicates")

        def register(handler: Any) -> Any:
            batch_handler: BatchHandler | None = handler if batch >= 1 else None
            single: Handler = handler
            if batch_handler is not None:

                async def single(delivery: Delivery[Any]) -> None:
                    await batch_handler([delivery])

            consumer = Consumer(
                purpose=purpose,
                event_types=list(event_types),
                handler=single,
                inbox=inbox and not deduplicates,
                deduplicates=deduplicates,
                description=description or (handler.__doc__ or ""),
                network=network,
                batch=max(batch, 0),
                batch_wait_ms=batch_wait_ms,
                batch_handler=batch_handler,
            )
            consumer.queue = topology.queue(self.name, purpose)
            self.consumers.append(consumer)
            return handler

        return register

    def provide(self, part: Part) -> Part:
        """Keep one of the service's parts (a desk, a cache) that its factory built, to be
        found by its class with `part` (no module registries keyed by service)."""
        self._parts[type(part)] = part
        return part

    def part(self, kind: type[Part]) -> Part:
        """The part of this class that the service's factory provided."""
        try:
            return cast(Part, self._parts[kind])
        except KeyError:
            raise LookupError(f"the {self.name} service has no {kind.__name__}") from None

    # -- events --------------------------------------------------------------------------

    def event(
        self, type_: str, data: BaseModel, *, municipality: str, subject: str | None = None
    ) -> CloudEvent:
        return new_event(
            service=self.name, type_=type_, data=data, municipality=municipality, subject=subject
        )

    async def emit(self, session: AsyncClientSession | None, *events: CloudEvent) -> None:
        """Stage events in the outbox inside the caller's transaction (which wakes the relay
        itself after its commit: prefer `uow.emit`, which does that)."""
        await self.outbox.stage(session, *events)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self.outbox.ensure_indexes()
        await idempotency.ensure_indexes(self.store.db)
        await self.audit.ensure_indexes()
        if self.revocations is not None:
            await self.revocations.start()
        for hook in self._startup:
            await hook()
        await self.declare_topology()
        for consumer in self.consumers:
            self._subscribe(consumer)
        for batcher in self._batched:
            batcher.start()
        await self.bus.broker.start()
        for consumer in self.consumers:
            # aio-pika's robust queue: the consumer comes back by itself after a reconnect.
            queue = self._queues[consumer.queue]
            self._tags[consumer.queue] = await queue.consume(self._callbacks[consumer.queue])
        await self.bus.verifier.refresh(force=True)  # partners' keys by URL
        self.relay.start()
        now = time.monotonic()
        for consumer in self.consumers:
            self._progress[consumer.queue] = now
        if self.consumers:
            self._watchdog = asyncio.create_task(self._watch(), name=f"watchdog-{self.name}")
        heap.freeze_startup_heap()  # what start-up built lives as long as the process
        self.started = True
        log.info("service.started", consumers=[c.queue for c in self.consumers])

    async def declare_topology(self) -> None:
        """The service's exchange and its consumers' queues, bindings, retry and dead-letter
        queues (idempotent). Declared before anything is published, so nothing this
        service consumes is unroutable while it is down."""
        await self.bus.connect()
        await self.bus.declare_exchange(topology.exchange(self.name))
        for consumer in self.consumers:
            self._queues[consumer.queue] = await self.bus.declare_consumer_queue(
                consumer.queue, consumer.event_types, channel=self._channel_of(consumer)
            )

    def _channel_of(self, consumer: Consumer) -> Channel | None:
        """A batch consumer's own channel: a prefetch of two batches, so the next one
        gathers while one is applied (its messages stay unacked until their batch commits).
        None: the broker's default channel."""
        if consumer.batch_handler is None:
            return None
        if consumer.queue not in self._channels:
            prefetch = max(self.settings.prefetch, 2 * consumer.batch)
            self._channels[consumer.queue] = Channel(prefetch_count=prefetch)
        return self._channels[consumer.queue]

    def _subscribe(self, consumer: Consumer) -> None:
        processor = MessageProcessor(
            service=self.name,
            consumer=consumer,
            bus=self.bus,
            inbox=self.inbox,
            store=self.store,
            transactions=self.uow,
        )
        target: Callable[[AbstractIncomingMessage], Awaitable[None]] = processor
        if consumer.batch_handler is not None:
            batcher = Batcher(
                processor=processor, store=self.store, inbox=self.inbox, turn=self._batch_turn
            )
            target = batcher
            self._batched.append(batcher)
            self._batchers[consumer.queue] = batcher
        self._callbacks[consumer.queue] = self._deliver(consumer.queue, target)

    def _deliver(
        self, queue: str, target: Callable[[AbstractIncomingMessage], Awaitable[None]]
    ) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        """The queue's message callback. Consumed with aio-pika directly, on FastStream's
        connection and channels: FastStream's subscriber machinery cost more per message
        than the kit's own consume path (parse, checks, inbox, ack), so consuming through
        it kept the kit well under the raw consume rate."""

        holding = self._holding.setdefault(queue, {})
        batched = queue in self._batchers

        async def on_message(message: AbstractIncomingMessage) -> None:
            self._in_flight += 1
            self._idle.clear()
            holding[message] = (time.monotonic(), asyncio.current_task())
            try:
                await target(message)
                if not batched:
                    if not message.processed:
                        # The processor settles every delivery; one left open would hold
                        # a prefetch slot for good. Requeued (the delivery limit bounds it).
                        log.error("message.left_unsettled", queue=queue)
                        await message.nack(requeue=True)
                    self._progress[queue] = time.monotonic()
            except asyncio.CancelledError:
                # Restarted by the watchdog: the message goes back to the queue.
                if not message.processed:
                    with contextlib.suppress(Exception):
                        await message.nack(requeue=True)
            except Exception as exc:  # the processor handles its own; this is a lost channel
                log.error("message.consume_failed", queue=queue, error=str(exc))
            finally:
                if not batched:
                    holding.pop(message, None)
                self._in_flight -= 1
                if not self._in_flight:
                    self._idle.set()

        return on_message

    async def _watch(self) -> None:
        """Find consumers that hold unacked messages without progress (a handler or a
        batch that hangs, a delivery nobody settles) for `consumer_stall_s`: report them
        (/readyz, the `kohtaamo_consumer_stalled` metric) and restart their work."""
        stall = self.settings.consumer_stall_s
        interval = min(max(stall / 4, 0.05), 5.0)
        while True:
            await asyncio.sleep(interval)
            for consumer in self.consumers:
                try:
                    await self._check_progress(consumer.queue, stall)
                except Exception as exc:  # the watchdog itself never stops
                    log.error("consumer.watch_failed", queue=consumer.queue, error=str(exc))

    async def _check_progress(self, queue: str, stall: float) -> None:
        now = time.monotonic()
        holding = self._holding.get(queue, {})
        batcher = self._batchers.get(queue)
        if batcher is not None:
            settled = [m for m in holding if not batcher.holds(m)]
            for message in settled:
                del holding[message]
            if settled:
                self._progress[queue] = now
        if batcher is not None:
            # One batch at a time: stalled when nothing was settled for the whole time.
            oldest = min((since for since, _ in holding.values()), default=now)
            stalled = now - oldest > stall and now - self._progress.get(queue, now) > stall
        else:
            # Messages are applied side by side: any one held this long is stuck.
            stalled = any(now - since > stall for since, _ in holding.values())
        if not stalled:
            detected = self._stalled.get(queue)
            # Reported until a message is settled after the restart, or until nothing is
            # held a stall period after it (the stuck one dead-lettered by its limit).
            # Not merely because the restart requeued what was held: a message that hangs
            # on every delivery would then be reported only for a moment per restart.
            if detected is not None and (
                self._progress[queue] > detected or (not holding and now - detected > stall)
            ):
                del self._stalled[queue]
                CONSUMER_STALLED.labels(self.name, queue).set(0)
                log.info("consumer.progressing", queue=queue)
            return
        self._stalled[queue] = now
        CONSUMER_STALLED.labels(self.name, queue).set(1)
        CONSUMER_RESTARTS.labels(self.name, queue).inc()
        log.error("consumer.stalled", queue=queue, holding=len(holding), stall_s=stall)
        self._progress[queue] = now  # the restarted work gets its own full time
        if batcher is not None:
            holding.clear()
            await batcher.restart()
            return
        for since, task in list(holding.values()):
            if now - since > stall and task is not None:
                task.cancel()

    async def stop(self) -> None:
        self.started = False
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        await self.relay.stop()
        # Stop taking messages; let those being applied finish (their acks need the
        # channel), batchers apply what they took, and only then close the connection.
        for name, tag in self._tags.items():
            with contextlib.suppress(Exception):  # the channel may be gone already
                await self._queues[name].cancel(tag)
        self._tags = {}
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), GRACEFUL_S)
        for batcher in self._batched:
            await batcher.stop()
        await self.bus.stop()
        if self.revocations is not None:
            await self.revocations.stop()
        for hook in reversed(self._shutdown):
            await hook()
        await self.admin.close()
        await self.store.close()
        log.info("service.stopped")

    async def readiness(self) -> dict[str, dict[str, Any]]:
        """Whether this replica should take HTTP traffic: store reachable and started. A
        broker outage does not take it out of the load balancer (which would take every
        replica out at once): writes wait in the outbox and the relay publishes them when
        the broker is back, so the broker and the consumers are reported as degraded. With
        the broker up, consumers must be attached (and not stalled) as before."""
        results = dict([await check("store", self._store_probe)])
        name, broker = await check("broker", self._broker_probe)
        if broker["ok"]:
            results[name] = broker
            if self.consumers:
                results.update([await check("consumers", self._consumers_probe, timeout=4.0)])
        else:
            results[name] = {**broker, "ok": True, "degraded": True}
            if self.consumers:
                results["consumers"] = {"ok": True, "degraded": True, "waiting": "broker"}
        if not self.started:
            results["started"] = {"ok": False}
        return results

    async def consumer_health(self) -> dict[str, dict[str, Any]]:
        """The consumers on their own (`/readyz/consumers`): broker reachable, every queue's
        consumer attached, none stalled. For monitoring, not for the load balancer."""
        if not self.consumers:  # nothing consumes here: nothing to fail
            return await super().consumer_health()
        results = dict([await check("broker", self._broker_probe)])
        results.update([await check("consumers", self._consumers_probe, timeout=4.0)])
        return results

    async def _store_probe(self) -> dict[str, Any]:
        await self.store.ping()
        return {}

    async def _broker_probe(self) -> bool:
        return await self.bus.ping(2.0)

    async def _consumers_probe(self) -> dict[str, Any]:
        attached = {}
        for consumer in self.consumers:
            counts = await self.admin.queue_counts(consumer.queue)
            attached[consumer.queue] = counts[1] if counts else 0
        if not all(attached.values()):
            raise RuntimeError(f"consumers not attached: {attached}")
        if self._stalled:
            raise RuntimeError(f"consumers stalled: {sorted(self._stalled)}")
        return {"attached": attached}
