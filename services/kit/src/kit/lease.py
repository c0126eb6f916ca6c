"""Which replica's relay publishes the outbox (see kit.relay)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

import structlog
from pymongo.errors import DuplicateKeyError

from kit.outbox import Outbox

log = structlog.get_logger("kit.outbox")


class Lease:
    """Which replica's relay publishes: one document, taken when free or expired and
    renewed by its holder. Clocks of replicas are assumed to agree to well within the
    lease time; should two relays overlap briefly, consumers' inboxes drop the copies."""

    def __init__(self, outbox: Outbox, *, ttl_s: float) -> None:
        self.collection = outbox.leases
        self.ttl_s = ttl_s
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._valid_until = 0.0  # loop time until which this relay may publish
        self._standby_until = 0.0  # a standby asks again only after this

    async def acquire(self) -> bool:
        """Take or renew the lease; renewal is a store write, so only past a third of it."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._valid_until - self.ttl_s * 2 / 3:
            return True
        if loop.time() < self._standby_until:
            return False
        started = loop.time()
        now = datetime.now(UTC)
        try:
            await self.collection.update_one(
                {"_id": "relay", "$or": [{"holder": self.holder}, {"expires": {"$lt": now}}]},
                {"$set": {"holder": self.holder, "expires": now + timedelta(seconds=self.ttl_s)}},
                upsert=True,
            )
        except DuplicateKeyError:  # another replica holds it
            if self._valid_until:
                log.info("outbox.lease_lost", holder=self.holder)
            self._valid_until = 0.0
            self._standby_until = started + self.ttl_s / 5
            return False
        if not self._valid_until:
            log.info("outbox.lease_taken", holder=self.holder)
        # Counted from before the write: the store's clock may have started the lease then.
        self._valid_until = started + self.ttl_s
        return True

    async def release(self) -> None:
        self._valid_until = 0.0
        with contextlib.suppress(Exception):
            await self.collection.delete_one({"_id": "relay", "holder": self.holder})
