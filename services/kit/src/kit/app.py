"""The composition root every service uses: one `Service` gives a FastAPI app whose
lifespan connects the store, declares the topology, starts the consumers and the outbox
relay, and stops them again (FastStream's deprecated FastAPI plugin is not used)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI
from faststream import AckPolicy
from faststream.rabbit import Channel
from faststream.rabbit.annotations import RabbitMessage
from pydantic import BaseModel
from pymongo.asynchronous.client_session import AsyncClientSession

from contracts import CloudEvent, topology
from kit.auth import Auth, TokenVerifier
from kit.batching import Batcher
from kit.bus import Bus, consumer_queue
from kit.consumer import BatchHandler, Consumer, Delivery, Handler, MessageProcessor
from kit.events import new_event
from kit.health import check, health_router
from kit.http import install_request_context
from kit.inbox import Inbox
from kit.logging import configure_logging
from kit.mongo import Store
from kit.outbox import Outbox, Relay
from kit.problems import install_problem_handlers
from kit.rabbit_admin import RabbitAdmin
from kit.settings import KitSettings

log = structlog.get_logger("kit.app")
Hook = Callable[[], Awaitable[None]]


async def _raw_body(message: Any) -> bytes:
    # The kit parses envelopes itself so that a malformed one is dead-lettered, not lost.
    return message.body  # type: ignore[no-any-return]


class Service:
    def __init__(
        self,
        name: str,
        *,
        settings: KitSettings | None = None,
        title: str | None = None,
        description: str = "",
        version: str = "0.1.0",
    ) -> None:
        self.settings = settings or KitSettings(service=name)
        self.settings.service = name
        self.name = name
        self.title = title or f"Kohtaamo {name}"
        self.description = description
        self.version = version
        self.store = Store(self.settings)
        self.bus = Bus(self.settings)
        self.outbox = Outbox(self.store)
        self.inbox = Inbox(self.store)
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
        self.verifier = TokenVerifier(
            self.settings.issuers(),
            audience=self.settings.token_audience,
            cache_s=self.settings.jwks_cache_s,
            min_refresh_s=self.settings.jwks_min_refresh_s,
        )
        self.auth = Auth(self.verifier)
        self.admin = RabbitAdmin(self.settings.amqp_url.get_secret_value())
        self.consumers: list[Consumer] = []
        # Batch consumers' subscribers and batchers: stopped and drained before the broker.
        self._batched: list[tuple[Any, Batcher]] = []
        self._channels: dict[str, Channel] = {}
        # One batch transaction at a time in a process: batches of different queues
        # write the same documents (a person's projections), and concurrent transactions
        # on them conflict and are retried whole.
        self._batch_turn = asyncio.Lock()
        self.routers: list[APIRouter] = []
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self.started = False

    # -- composition -------------------------------------------------------------------

    def consumer(
        self,
        purpose: str,
        event_types: list[str],
        *,
        inbox: bool = True,
        network: bool = False,
        batch: int = 0,
        batch_wait_ms: int = 50,
        description: str = "",
    ) -> Callable[[Any], Any]:
        """Register a handler. It gets only messages of the municipalities the site serves
        (`KOHTAAMO_MUNICIPALITIES`) unless `network`: network-wide consumers get all.

        `batch` >= 1: the handler takes a list of deliveries sharing one transaction (up to
        `batch` of them, gathered for at most `batch_wait_ms`); see kit.batching."""
        if batch >= 1 and not inbox:
            raise ValueError("a batch consumer applies through the inbox")

        def register(handler: Any) -> Any:
            batch_handler: BatchHandler | None = handler if batch >= 1 else None
            single: Handler = handler
            if batch_handler is not None:

                async def single(delivery: Delivery) -> None:
                    await batch_handler([delivery])

            consumer = Consumer(
                purpose=purpose,
                event_types=list(event_types),
                handler=single,
                inbox=inbox,
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

    def include_router(self, router: APIRouter) -> None:
        self.routers.append(router)

    def on_startup(self, hook: Hook) -> Hook:
        self._startup.append(hook)
        return hook

    def on_shutdown(self, hook: Hook) -> Hook:
        self._shutdown.append(hook)
        return hook

    # -- events --------------------------------------------------------------------------

    def event(
        self, type_: str, data: BaseModel, *, municipality: str, subject: str | None = None
    ) -> CloudEvent:
        return new_event(
            service=self.name, type_=type_, data=data, municipality=municipality, subject=subject
        )

    async def emit(self, session: AsyncClientSession | None, *events: CloudEvent) -> None:
        """Stage events in the outbox inside the caller's transaction."""
        await self.outbox.stage(session, *events)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self.outbox.ensure_indexes()
        for hook in self._startup:
            await hook()
        await self.declare_topology()
        for consumer in self.consumers:
            self._subscribe(consumer)
        for _, batcher in self._batched:
            batcher.start()
        await self.bus.broker.start()
        self.relay.start()
        self.started = True
        log.info("service.started", consumers=[c.queue for c in self.consumers])

    async def declare_topology(self) -> None:
        """The service's exchange and its consumers' queues, bindings, retry and dead-letter
        queues (idempotent). Declared before anything is published, so nothing this
        service consumes is unroutable while it is down."""
        await self.bus.connect()
        await self.bus.declare_exchange(topology.exchange(self.name))
        for consumer in self.consumers:
            await self.bus.declare_consumer_queue(
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
            service=self.name, consumer=consumer, bus=self.bus, inbox=self.inbox
        )

        context = self.bus.broker.context
        batcher = None
        channel: dict[str, Any] = {}
        target: Callable[[Any], Awaitable[None]] = processor
        if consumer.batch_handler is not None:
            batcher = Batcher(
                processor=processor, store=self.store, inbox=self.inbox, turn=self._batch_turn
            )
            target = batcher
            # The channel its queue was declared on: FastStream consumes a queue on the
            # channel of its first declaration.
            channel["channel"] = self._channel_of(consumer)

        async def handle(body: bytes) -> None:
            # No dependency injection on the hot path (apply_types=False): it cost more
            # than the rest of the consume path together. The raw message is in context.
            message: RabbitMessage = context.get_local("message")
            await target(message.raw_message)

        handle.__name__ = f"on_{consumer.purpose}"
        subscriber = self.bus.broker.subscriber(
            consumer_queue(consumer.queue, delivery_limit=self.settings.delivery_limit),
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw_body,
            title=consumer.queue,
            description=consumer.description,
            **channel,
        )
        subscriber(handle)
        if batcher is not None:
            self._batched.append((subscriber, batcher))

    async def stop(self) -> None:
        self.started = False
        await self.relay.stop()
        # Batched messages are unacked until applied: stop taking more, apply what was
        # taken, and only then close the connection (their acks need the channel).
        for subscriber, _ in self._batched:
            await subscriber.stop()
        for _, batcher in self._batched:
            await batcher.stop()
        await self.bus.stop()
        for hook in reversed(self._shutdown):
            await hook()
        await self.admin.close()
        await self.store.close()
        log.info("service.stopped")

    async def readiness(self) -> dict[str, dict[str, Any]]:
        async def store() -> dict[str, Any]:
            await self.store.ping()
            return {}

        async def broker() -> bool:
            return await self.bus.ping(2.0)

        async def consumers() -> dict[str, Any]:
            attached = {}
            for consumer in self.consumers:
                counts = await self.admin.queue_counts(consumer.queue)
                attached[consumer.queue] = counts[1] if counts else 0
            if not all(attached.values()):
                raise RuntimeError(f"consumers not attached: {attached}")
            return {"attached": attached}

        results = dict([await check("store", store), await check("broker", broker)])
        if self.consumers:
            name, detail = await check("consumers", consumers, timeout=4.0)
            results[name] = detail
        if not self.started:
            results["started"] = {"ok": False}
        return results

    def create_app(self) -> FastAPI:
        configure_logging(
            service=self.name, fmt=self.settings.log_format, level=self.settings.log_level
        )

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(
            title=self.title, description=self.description, version=self.version, lifespan=lifespan
        )
        app.state.service = self
        install_problem_handlers(app)
        install_request_context(app, service=self.name, municipality=self.settings.municipality)
        app.include_router(health_router(self))
        for router in self.routers:
            app.include_router(router)
        return app
