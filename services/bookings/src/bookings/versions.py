"""The calendars' versions for the availability reads, read for many requests at once.

Every availability read checks its view against the resource's calendar (`timetable.py`):
one store round trip per request, the largest part of a month read's cost on the store
(about 0.35 ms of the embedded store's CPU for 1.4 ms of the bookings process's, at 50
connections). Requests arriving while a read of versions is under way wait for the next
one, which reads every calendar they ask for in one query (`_id` in a list: an index
lookup on MongoDB and on the embedded store alike).

Each request joins only a read that starts after it arrived, never one already under way,
so it sees every change committed before it came, on any replica: the guarantee of a read
of its own (a writer reads its own write at once)."""

from __future__ import annotations

import asyncio
from typing import Any

from kit.mongo import Store

Version = tuple[int | None, int | None]  # the calendar's (version, rules_version)


class Versions:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.queries = 0  # reads of versions made (tests, benchmarks)
        self._waiting: dict[str, list[asyncio.Future[Version]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def of(self, resource_id: str) -> Version:
        """The calendar's versions, as of a read that began after this call."""
        future: asyncio.Future[Version] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(resource_id, []).append(future)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="bookings-versions")
        return await future

    async def _read(self) -> None:
        try:
            while self._waiting:  # those who came during a read: the next one
                asked, self._waiting = self._waiting, {}
                try:
                    found = await self._query(list(asked))
                except Exception as exc:  # each caller gets the store's error
                    for futures in asked.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(exc)
                    continue
                for resource_id, futures in asked.items():
                    version = found.get(resource_id, (None, None))
                    for future in futures:
                        if not future.done():  # not a cancelled request
                            future.set_result(version)
        finally:
            self._reader = None

    async def _query(self, resource_ids: list[str]) -> dict[str, Version]:
        self.queries += 1
        cursor: Any = self.store.db.calendars.find(
            {"_id": {"$in": resource_ids}}, {"version": 1, "rules_version": 1}
        )
        return {c["_id"]: (c.get("version"), c.get("rules_version")) async for c in cursor}
