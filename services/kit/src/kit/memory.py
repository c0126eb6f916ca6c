"""In-memory fakes of a service's store, unit of work, outbox and bus, for the fast test
tier: a service built by its own factory runs its real rules on them, with no broker and
no store.

    svc = service(settings)            # the service's own composition root, not started
    memory = use_memory(svc)
    await booking.book(svc, ...)       # the product's code: svc.uow, svc.store.db, emits
    memory.published(BOOKING_CONFIRMED)         # the events committed units staged
    await memory.deliver(handler, event)        # a consumer's handler, as the kit calls it

Units of work run one at a time (a lock), each on a snapshot that an exception restores:
on a real store concurrent units that touch the same documents conflict and one reruns,
so running them in turn gives one of the outcomes the store allows. Events staged in a unit
are published when it commits (`Memory.events`), never when it aborts, and the after-commit
wakes run then, as in `kit.uow`. Reads outside a unit see the data as it is.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

from contracts import CloudEvent, model_for
from kit import audit
from kit.consumer import Delivery
from kit.memory_store import MemoryDatabase

T = TypeVar("T")
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("kit_memory_unit", default=False)


class MemorySession:
    """Stands in for a driver session: the product passes it along to its writes."""

    in_transaction = True


class MemoryStore:
    """`svc.store` of a service on the fakes. Its kind is MongoDB's: the rules take the
    production path (none of the embedded store's workarounds)."""

    kind = "mongodb"

    def __init__(self, db: MemoryDatabase | None = None) -> None:
        self.db = db or MemoryDatabase()

    async def ping(self) -> bool:
        return True


class MemoryOutbox:
    """Events staged per unit; committed ones are kept in order in `events`."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.events: list[CloudEvent] = []
        self._pending: dict[int, list[CloudEvent]] = {}
        self.wakes = 0

    async def stage(self, session: Any, *events: CloudEvent) -> None:
        if session is None:  # outside a unit: committed at once, as a lone write is
            self.events.extend(events)
            return
        self._pending.setdefault(id(session), []).extend(events)

    def staged_in(self, session: Any) -> bool:
        return bool(self._pending.get(id(session)))

    has_staged = staged_in

    def _end(self, session: Any, *, committed: bool) -> bool:
        staged = self._pending.pop(id(session), [])
        if committed:
            self.events.extend(staged)
        return bool(staged)

    def notify(self) -> None:
        self.wakes += 1

    async def forget(self, session: Any, *needles: str) -> int:
        return 0  # nothing is ever parked or refused here


class MemoryUnitOfWork:
    """One unit on the fakes, with the interface of `kit.uow.UnitOfWork`."""

    def __init__(self, session: MemorySession, outbox: MemoryOutbox) -> None:
        self.session = session
        self.outbox = outbox
        self.staged = 0
        self._after_commit: list[Callable[[], None]] = []

    @property
    def db(self) -> MemoryDatabase:
        return self.outbox.store.db

    async def emit(self, *events: CloudEvent) -> None:
        await self.outbox.stage(self.session, *events)
        self.staged += len(events)

    def after_commit(self, wake: Callable[[], None]) -> None:
        self._after_commit.append(wake)


class MemoryTransactions:
    """`svc.uow` on the fakes: `async with svc.uow() as uow`, `await svc.uow.run(work)`."""

    def __init__(self, store: MemoryStore, outbox: MemoryOutbox) -> None:
        self.store = store
        self.outbox = outbox
        self._turn = asyncio.Lock()
        self.commits = 0
        self.aborts = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[MemoryUnitOfWork]:
        if _inside.get():
            # The real store would run it as a second transaction that conflicts with the
            # first; here it would wait for itself for ever.
            raise RuntimeError("a unit of work opened inside another one")
        async with self._turn:
            token = _inside.set(True)
            snapshot = self.store.db.snapshot()
            session = MemorySession()
            uow = MemoryUnitOfWork(session, self.outbox)
            entry = None
            try:
                yield uow
                # A privileged action's entry commits with it, as in kit.uow.
                changed = bool(uow.staged) or self.outbox.has_staged(session)
                collection = self.store.db[audit.COLLECTION]
                entry = await audit.claim(cast(Any, session), collection, changed=changed)
            except BaseException:
                audit.settle(entry, committed=False)
                self.store.db.restore(snapshot)
                self.outbox._end(session, committed=False)
                self.aborts += 1
                raise
            finally:
                _inside.reset(token)
            audit.settle(entry, committed=True)
            staged = self.outbox._end(session, committed=True)
            self.commits += 1
        if uow.staged or staged:
            self.outbox.notify()
        for wake in uow._after_commit:
            wake()

    async def run(self, work: Callable[[Any], Awaitable[T]], *, attempts: int = 1) -> T:
        """One attempt: nothing conflicts when units run in turn."""
        async with self() as uow:
            return await work(uow)

    async def run_session(self, work: Callable[[Any], Awaitable[T]], *, attempts: int = 1) -> T:
        async with self() as uow:
            return await work(uow.session)


class Memory:
    """A service's fakes: its data (`db`), committed events, and delivery of messages."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.outbox = MemoryOutbox(self.store)
        self.uow = MemoryTransactions(self.store, self.outbox)

    @property
    def db(self) -> MemoryDatabase:
        return self.store.db

    @property
    def events(self) -> list[CloudEvent]:
        return self.outbox.events

    def published(self, type_: str) -> list[CloudEvent]:
        """The committed events of one type, in order."""
        return [e for e in self.outbox.events if e.type == type_]

    async def deliver(
        self, handler: Callable[[Delivery[Any]], Awaitable[None]], event: CloudEvent
    ) -> None:
        """Call a consumer's handler as the kit does for a message that passed its checks:
        the payload parsed into its contract's model, in a unit of work (the inbox's)."""
        model = model_for(event.type)
        data: Any = event.data if model is None else model.model_validate(event.data)
        async with self.uow() as uow:
            delivery = Delivery(
                event=event, data=data, session=cast(Any, uow.session), uow=cast(Any, uow)
            )
            with delivery.context():
                await handler(delivery)


def use_memory(svc: Any) -> Memory:
    """Put a service built by its factory (not started) on the fakes: its store, outbox and
    units of work. The parts its factory built read them from the service when they run,
    so they use the fakes too. Returns the fakes, to look at and to deliver messages."""
    memory = Memory()
    # The service's attributes are typed as the real store's; the fakes answer the same
    # calls (and refuse loudly what they cannot), which is what this swap relies on.
    svc.store = memory.store
    svc.outbox = memory.outbox
    svc.uow = memory.uow
    svc.audit = audit.AuditLog(
        cast(Any, memory.store), svc.settings, svc._error_maps, cast(Any, memory.uow)
    )
    return memory
