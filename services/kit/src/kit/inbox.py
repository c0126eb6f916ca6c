"""Inbox: a consumer applies an event at most once.

The processed event id is inserted under the unique `_id` in the same transaction as the
effect, so a redelivered event fails on the duplicate key and its effect is not repeated.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError

from kit.mongo import Store
from kit.uow import Transactions, UnitOfWork

COLLECTION = "inbox"

Effect = Callable[[UnitOfWork], Awaitable[None]]


class _AlreadyApplied(Exception):
    """Raised inside the transaction so it aborts; a duplicate key from the effect itself
    is a real error and must not be mistaken for a redelivery."""


class Duplicates(Exception):
    """Some events of a batch were applied before: their positions in the batch."""

    def __init__(self, positions: list[int]) -> None:
        super().__init__(f"{len(positions)} already applied")
        self.positions = positions


def duplicates_in(exc: BulkWriteError) -> Duplicates | None:
    """An unordered insert's error as `Duplicates`, when every failed write was a
    duplicate key (the positions of those already there); None for any other error."""
    errors = exc.details.get("writeErrors", [])
    positions = [e["index"] for e in errors if e.get("code") == 11000]
    if not positions or len(positions) != len(errors):
        return None
    return Duplicates(sorted(positions))


class Inbox:
    def __init__(self, store: Store, transactions: Transactions | None = None) -> None:
        self.store = store
        self.collection = store.db[COLLECTION]
        self.transactions = transactions or Transactions(store)

    async def apply(self, *, consumer: str, event_id: str, effect: Effect) -> bool:
        """Apply `effect` once for (consumer, event id), in one unit of work with the inbox
        record (rerun on a write conflict); False if it was already applied."""

        async def work(uow: UnitOfWork) -> None:
            try:
                await self.collection.insert_one(
                    {"_id": f"{consumer}:{event_id}", "at": datetime.now(UTC)},
                    session=uow.session,
                )
            except DuplicateKeyError as exc:
                raise _AlreadyApplied from exc
            await effect(uow)

        try:
            await self.transactions.run(work)
        except _AlreadyApplied:
            return False
        return True

    async def record_many(
        self, *, consumer: str, event_ids: list[str], session: AsyncClientSession
    ) -> None:
        """Insert a batch's records in the caller's transaction. Raises `Duplicates` when
        some were there already (also twice in the batch): the caller aborts and retries
        without them, since a write error ends a transaction on MongoDB."""
        now = datetime.now(UTC)
        try:
            await self.collection.insert_many(
                [{"_id": f"{consumer}:{event_id}", "at": now} for event_id in event_ids],
                ordered=False,
                session=session,
            )
        except BulkWriteError as exc:
            duplicates = duplicates_in(exc)
            if duplicates is None:
                raise
            raise duplicates from exc

    async def seen(self, *, consumer: str, event_id: str) -> bool:
        return await self.collection.count_documents({"_id": f"{consumer}:{event_id}"}) > 0
