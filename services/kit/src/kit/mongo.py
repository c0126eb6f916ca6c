"""The service's MongoDB database through PyMongo's async client.

Always `retryWrites=false` and a small pool: the embedded store (SecantusDB) slows down
badly with many connections and does not support retryable writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from kit.settings import KitSettings

T = TypeVar("T")


def connect(settings: KitSettings) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(
        settings.mongo_url.get_secret_value(),
        retryWrites=False,
        maxPoolSize=settings.mongo_pool_size,
        serverSelectionTimeoutMS=settings.mongo_timeout_ms,
        connectTimeoutMS=settings.mongo_timeout_ms,
        tz_aware=True,
    )


class Store:
    """The client and database of one service, and its transactions."""

    def __init__(self, settings: KitSettings) -> None:
        self.client = connect(settings)
        self.db: AsyncDatabase[dict[str, Any]] = self.client[settings.database_name()]

    async def ping(self) -> None:
        await self.client.admin.command("ping")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncClientSession]:
        """One atomic unit: use the yielded session on every write inside it."""
        async with self.client.start_session() as session:
            async with await session.start_transaction():
                yield session

    async def in_transaction(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run `work` in a transaction, retried on transient conflicts by the driver."""
        async with self.client.start_session() as session:
            return await session.with_transaction(work)

    async def close(self) -> None:
        await self.client.close()
