"""The staff morning digest of bookings pending approval: once a day per municipality,
at `digest_hour` local time, to every staff member and admin of that municipality. The
day's digest is recorded under a unique id in the same transaction as its notices."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from pymongo.errors import DuplicateKeyError

from kit.uow import Transactions, UnitOfWork
from notifications import notices
from notifications.contacts import staff_of
from notifications.notices import Recipient

log = structlog.get_logger("notifications.digest")
OnQueued = Callable[[UnitOfWork, list[dict[str, Any]]], Awaitable[None]]


class DigestLoop:
    def __init__(
        self, *, uow: Transactions, hour: int, timezone: str, poll_s: float, on_queued: OnQueued
    ) -> None:
        self.uow = uow
        self.store = uow.store
        self.hour = hour
        self.timezone = timezone
        self.poll_s = poll_s
        self.on_queued = on_queued
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notifications-digest")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.send(datetime.now(UTC))
            except Exception as exc:
                log.warning("digest.pass_failed", error=str(exc))
            await asyncio.sleep(self.poll_s)

    async def send(self, now: datetime) -> int:
        """Send today's digest where it is due and not yet sent; returns digests sent."""
        local = now.astimezone(ZoneInfo(self.timezone))
        if local.hour < self.hour:
            return 0
        db = self.store.db
        municipalities = await db.approvals.distinct("municipality")
        sent = 0
        for municipality in municipalities:
            digest_id = f"{municipality}:{local.date().isoformat()}"

            async def work(uow: UnitOfWork, m: str = municipality, d: str = digest_id) -> int:
                session = uow.session
                await db.digests.insert_one({"_id": d, "at": now}, session=session)
                pending = await db.approvals.find(
                    {"municipality": m}, sort=[("starts_at", 1)], session=session
                ).to_list()
                items = [
                    {
                        "booking_id": a["_id"],
                        "resource_name": a["resource_name"],
                        "starts_at": a["starts_at"],
                    }
                    for a in pending
                ]
                staff = await staff_of(db, m, session)
                docs = await notices.queue(
                    db,
                    municipality=m,
                    cause_event_id=f"digest:{d}",
                    cause_type="digest",
                    kind="digest_approvals",
                    recipients=[Recipient(uid, {"items": items}) for uid in staff],
                    session=session,
                )
                await self.on_queued(uow, docs)
                return len(docs)

            try:
                await self.uow.run(work)
                sent += 1
            except DuplicateKeyError:
                continue  # today's digest went out already
        return sent
