"""Published outbox entries, deleted in a background task (kit.relay).

Deleting a published entry is one store write per entry, as slow as a publish on the
embedded store, so deletions trail behind the relay. Until an entry is deleted its id is
`published` here, and the relay's reads skip it, so it is never published twice."""

from __future__ import annotations

import asyncio

import structlog
from pymongo import DeleteOne

from kit.outbox import Outbox

log = structlog.get_logger("kit.outbox")
CHUNK = 500  # ids per delete command
TRIES = 5  # failed deletes of a chunk before it is given up


class Deletions:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.published: set[str] = set()  # published, not yet deleted
        self._waiting: list[str] = []  # for the deleting task
        self._task: asyncio.Task[None] | None = None

    def add(self, ids: list[str]) -> None:
        """Entries just published: skipped from now on, deleted when `start` is called."""
        self.published.update(ids)
        self._waiting.extend(ids)

    def waiting(self) -> int:
        return len(self._waiting)

    def start(self) -> None:
        """Delete what waits, in a task of its own (unless one runs already)."""
        if self._waiting and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._delete())

    async def flush(self) -> None:
        """Wait until every published entry is also deleted (or given up)."""
        while self._waiting or (self._task is not None and not self._task.done()):
            self.start()
            if self._task is not None:
                await asyncio.shield(self._task)

    async def _delete(self) -> None:
        failures = 0
        while self._waiting:
            chunk, self._waiting = self._waiting[:CHUNK], self._waiting[CHUNK:]
            try:
                await self.outbox.collection.bulk_write(
                    [DeleteOne({"_id": i}) for i in chunk], ordered=False
                )
            except Exception as exc:
                # A transient conflict or outage: try again, still skipping these ids, so
                # that they are not published again; past a few tries give them up (they
                # are published again, and consumers' inboxes drop the copies).
                failures += 1
                log.warning(
                    "outbox.delete_failed", error=str(exc), count=len(chunk), attempt=failures
                )
                if failures < TRIES:
                    self._waiting[:0] = chunk
                    await asyncio.sleep(0.1 * 2**failures)
                    continue
            self.published.difference_update(chunk)
            failures = 0
