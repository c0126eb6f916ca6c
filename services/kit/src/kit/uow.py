"""The unit of work: one transaction of a service's store and the events it stages.

    async with svc.uow() as uow:            # one transaction
        await uow.db.things.insert_one(doc, session=uow.session)
        await uow.emit(svc.event(...))      # staged in the outbox, in the transaction

    result = await svc.uow.run(work)        # `work(uow)`, rerun whole on a transient conflict

Both commit, and only after the commit wake the outbox relay when events were staged
(woken before, it would find nothing and the events would wait for its next poll). A
consumer's handler gets its unit of work as `delivery.uow` (the kit opens and commits it,
with the inbox record). `run` is the form for work that races other writers of the same
documents: a write conflict (`TransientTransactionError`) reruns it from a fresh snapshot
after a jittered backoff; an unknown commit result retries the commit alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

from contracts import CloudEvent
from kit import audit
from kit.mongo import Store
from kit.problems import Problem

if TYPE_CHECKING:  # the outbox's own transactions are units of work: it imports this module
    from kit.outbox import Outbox

T = TypeVar("T")
# Attempts of `run` on a write conflict. Conflicts resolve in a few attempts unless many
# writers contend for one document (a busy resource's calendar): the backoff spreads them.
ATTEMPTS = 200
COMMIT_ATTEMPTS = 5


class Busy(Problem):
    """The work kept conflicting with other writers for all its attempts (an HTTP request
    gets 503; a message goes to its retry queue)."""

    def __init__(self, attempts: int) -> None:
        super().__init__(
            503,
            "Busy",
            "The data is very busy; try again.",
            extra={"attempts": attempts},
        )


class WriteConflict(OperationFailure):
    """Raise when what a unit of work read changed under it (a conditional write matched
    fewer documents than it read): the store's own write conflict (code 112, transient),
    so `run` reruns the work from a fresh snapshot and everything else treats it alike."""

    def __init__(self, what: str) -> None:
        super().__init__(what, 112, {"errorLabels": ["TransientTransactionError"]})


class UnitOfWork:
    """One open transaction: write with `session`, stage events with `emit`."""

    def __init__(self, session: AsyncClientSession, store: Store, outbox: Outbox | None) -> None:
        self.session = session
        self.store = store
        self.outbox = outbox
        self.staged = 0
        self._after_commit: list[Callable[[], None]] = []

    @property
    def db(self) -> AsyncDatabase[dict[str, Any]]:
        return self.store.db

    async def emit(self, *events: CloudEvent) -> None:
        """Stage events in the outbox: they are published only if the transaction commits.
        (`svc.emit(uow.session, ...)`, as helpers given the session do, counts as well.)"""
        if self.outbox is None:
            raise RuntimeError("these units of work have no outbox to stage events in")
        await self.outbox.stage(self.session, *events)
        self.staged += len(events)

    def after_commit(self, wake: Callable[[], None]) -> None:
        """Call `wake` once this unit has committed (a loop that will read what it wrote);
        not at all if it aborts."""
        self._after_commit.append(wake)


def transient(exc: BaseException) -> bool:
    return isinstance(exc, PyMongoError) and exc.has_error_label("TransientTransactionError")


def _unknown_commit(exc: BaseException) -> bool:
    return isinstance(exc, PyMongoError) and exc.has_error_label("UnknownTransactionCommitResult")


async def backoff(attempt: int) -> None:
    """Jittered and growing (to 0.2 s), so conflicting writers do not meet again."""
    await asyncio.sleep(random.uniform(0, min(0.2, 0.002 * 2 ** min(attempt, 7))))


async def _commit(session: AsyncClientSession) -> None:
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            await session.commit_transaction()
            return
        except PyMongoError as exc:
            # The commit may have happened: committing again is safe (the driver makes it
            # idempotent); a conflict or another error is for the caller.
            if not _unknown_commit(exc) or attempt == COMMIT_ATTEMPTS - 1:
                raise


class Transactions:
    """A service's units of work (`svc.uow`)."""

    def __init__(self, store: Store, outbox: Outbox | None = None) -> None:
        """Without an outbox (the inbox's, the outbox's own) its units stage no events."""
        self.store = store
        self.outbox = outbox

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[UnitOfWork]:
        """One transaction: committed when the block ends, aborted if it raises."""
        async with self.store.client.start_session() as session:
            await session.start_transaction()
            uow = UnitOfWork(session, self.store, self.outbox)
            entry = None
            try:
                yield uow
                # The entry of a privileged action under way commits with it (kit.audit).
                if audit.pending() is not None:  # a privileged action under way
                    changed = bool(uow.staged) or (
                        self.outbox is not None and self.outbox.has_staged(session)
                    )
                    entry = await audit.claim(session, uow.db[audit.COLLECTION], changed=changed)
            except BaseException:
                audit.settle(entry, committed=False)
                self._staged_in(session)  # forgotten: nothing to wake the relay for
                if session.in_transaction:
                    # Ending the session aborts it too; an abort failing must not hide
                    # why the work failed.
                    with contextlib.suppress(PyMongoError):
                        await session.abort_transaction()
                raise
            committed = False
            try:
                await _commit(session)
                committed = True
            finally:
                audit.settle(entry, committed=committed)
                staged = self._staged_in(session)
        self.committed(uow, staged=staged)

    async def run(
        self, work: Callable[[UnitOfWork], Awaitable[T]], *, attempts: int = ATTEMPTS
    ) -> T:
        """`work(uow)` in a transaction, rerun whole on a write conflict."""
        for attempt in range(attempts):
            try:
                async with self() as uow:
                    return await work(uow)
            except PyMongoError as exc:
                if not transient(exc):
                    raise
                await backoff(attempt)
        raise Busy(attempts)

    async def run_session(
        self, work: Callable[[AsyncClientSession], Awaitable[T]], *, attempts: int = ATTEMPTS
    ) -> T:
        """The same for kit code that writes with a bare session (inbox, outbox)."""

        async def with_session(uow: UnitOfWork) -> T:
            return await work(uow.session)

        return await self.run(with_session, attempts=attempts)

    def _staged_in(self, session: AsyncClientSession) -> bool:
        return self.outbox is not None and self.outbox.staged_in(session)

    def committed(self, uow: UnitOfWork, *, staged: bool = False) -> None:
        if (uow.staged or staged) and self.outbox is not None:
            self.outbox.notify()
        for wake in uow._after_commit:
            wake()
