"""Access tokens ended before they expire: identity publishes `identity.user.tokens_revoked`
(erasure, disablement, password change, role removal) and every service refuses the user's
tokens issued before that moment.

The deny list is compact: one entry per user (subject -> issued before), kept only as long
as a revoked token could still be unexpired (`KOHTAAMO_REVOCATION_KEEP_S`, longer than any
access token lives). Each service keeps it in its own database (`revoked_tokens`), written
by its durable consumer (one replica takes each message, at least once, idempotently), and
every replica reloads the entries changed since its last look every
`KOHTAAMO_REVOCATION_REFRESH_S`: a revocation holds everywhere within seconds, and after a
restart at once."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from pymongo import ASCENDING

from contracts import identity as idc

if TYPE_CHECKING:
    from kit.app import Service
    from kit.consumer import Delivery

log = structlog.get_logger("kit.revocation")
COLLECTION = "revoked_tokens"


class Revocations:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.keep = timedelta(seconds=service.settings.revocation_keep_s)
        self.refresh_s = service.settings.revocation_refresh_s
        # subject -> tokens issued before this (epoch seconds) are refused
        self._before: dict[str, float] = {}
        self._seen: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def revoked(self, subject: str, issued_at: Any) -> bool:
        before = self._before.get(subject)
        if before is None:
            return False
        return not isinstance(issued_at, int | float) or issued_at < before

    def _remember(self, subject: str, issued_before: datetime) -> None:
        moment = issued_before.timestamp()
        if moment > self._before.get(subject, 0.0):
            self._before[subject] = moment

    async def apply(self, delivery: Delivery[idc.TokensRevoked]) -> None:
        """The consumer's handler (durable queue, through the inbox)."""
        data = delivery.data
        # Whole seconds, as tokens' `iat`: a token issued in the same second after the
        # revocation (the new login after a password change) still works.
        before = data.issued_before.astimezone(UTC).replace(microsecond=0)
        now = datetime.now(UTC)
        collection = self.service.store.db[COLLECTION]
        await collection.update_one(
            {"_id": data.user_id},
            {
                "$max": {"issued_before": before, "expires_at": before + self.keep},
                "$set": {"changed_at": now, "reason": str(data.reason)},
            },
            upsert=True,
            session=delivery.session,
        )
        self._remember(data.user_id, before)
        log.info("tokens.revoked", user_id=data.user_id, reason=str(data.reason))

    async def load(self) -> None:
        """Entries changed since the last look (all live ones the first time)."""
        collection = self.service.store.db[COLLECTION]
        now = datetime.now(UTC)
        query: dict[str, Any] = {"expires_at": {"$gt": now}}
        if self._seen is not None:
            query["changed_at"] = {"$gte": self._seen - timedelta(seconds=1)}
        self._seen = now
        async for doc in collection.find(query):
            self._remember(doc["_id"], doc["issued_before"])
        expired = now.timestamp() - self.keep.total_seconds()
        for subject in [s for s, before in self._before.items() if before < expired]:
            del self._before[subject]

    async def start(self) -> None:
        collection = self.service.store.db[COLLECTION]
        await collection.create_index([("changed_at", ASCENDING)])
        await collection.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
        await self.load()
        self._task = asyncio.create_task(self._refresh())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.load()
            except Exception as exc:  # the store away for a moment: try again next time
                log.warning("revocations.refresh_failed", error=str(exc))


def register(service: Service) -> Revocations:
    revocations = Revocations(service)
    # Network-wide: a person of any municipality may call this site's services.
    service.consumer(
        "identity-revocations",
        [idc.TOKENS_REVOKED],
        network=True,
        description="Remember users whose access tokens issued before a moment are refused.",
    )(revocations.apply)
    return revocations
