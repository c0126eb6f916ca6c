"""The no-double-booking guarantee, kept by the store rather than by process memory.

Every resource has a calendar document. Each transaction that adds held time to the
resource first bumps that document's version, then looks for overlapping held time, then
writes. Two concurrent transactions on one resource both write the calendar document, so
the store lets only one commit (write conflict, `TransientTransactionError`); the loser
retries from a fresh snapshot and sees the winner's booking. This holds across any number
of service replicas sharing the store.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from bookings.store import HOLDING
from kit.mongo import Store
from kit.problems import Problem

T = TypeVar("T")


async def claim(store: Store, session: AsyncClientSession, resource_id: str) -> None:
    """Take the resource's calendar for this transaction (first write: conflicts early)."""
    await store.db.calendars.update_one(
        {"_id": resource_id}, {"$inc": {"version": 1}}, upsert=True, session=session
    )


async def first_overlap(
    store: Store,
    session: AsyncClientSession | None,
    resource_id: str,
    held_from: datetime,
    held_until: datetime,
    *,
    exclude: list[str] | None = None,
) -> dict[str, Any] | None:
    query: dict[str, Any] = {
        "resource_id": resource_id,
        "status": {"$in": HOLDING},
        "held_from": {"$lt": held_until},
        "held_until": {"$gt": held_from},
    }
    if exclude:
        query["_id"] = {"$nin": exclude}
    return await store.db.bookings.find_one(query, session=session)


async def atomically(
    store: Store, work: Callable[[AsyncClientSession], Awaitable[T]], *, attempts: int = 200
) -> T:
    """Run `work` in a transaction; on a write conflict retry with jittered backoff."""
    for attempt in range(attempts):
        try:
            async with store.client.start_session() as session:
                async with await session.start_transaction():
                    return await work(session)
        except PyMongoError as exc:
            transient = exc.has_error_label("TransientTransactionError") or exc.has_error_label(
                "UnknownTransactionCommitResult"
            )
            if not transient or attempt == attempts - 1:
                raise
            await asyncio.sleep(random.uniform(0, min(0.2, 0.002 * 2 ** min(attempt, 7))))
    raise Problem(503, "Busy", "The resource is very busy; try again.")
