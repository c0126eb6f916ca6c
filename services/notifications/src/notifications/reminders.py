"""Reminders: stored durably when a booking or registration is confirmed, sent by a loop
when due (a day before by default), cancelled when the booking or registration is.

A reminder is taken with a conditional update (scheduled -> sent) in the same transaction
as its notices, so two loops (or a restart) never send it twice."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from kit.uow import Transactions, UnitOfWork
from notifications import notices
from notifications.notices import Recipient

log = structlog.get_logger("notifications.reminders")
Db = AsyncDatabase[dict[str, Any]]
SCHEDULED, SENT, CANCELLED = "scheduled", "sent", "cancelled"


def _dt(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


async def schedule(
    db: Db,
    *,
    ref: str,
    kind: str,
    municipality: str,
    user_id: str,
    context: dict[str, Any],
    lead: timedelta,
    session: AsyncClientSession | None,
    event_id: str | None = None,
) -> bool:
    """(Re)schedule the reminder `ref`; none for a booking made within the lead time
    (its confirmation is reminder enough)."""
    starts_at = _dt(context["starts_at"])
    due = starts_at - lead
    if due <= datetime.now(UTC):
        return False
    await db.reminders.update_one(
        {"_id": ref},
        {
            "$set": {
                "kind": kind,
                "municipality": municipality,
                "user_id": user_id,
                "context": context,
                "starts_at": starts_at,
                "due": due,
                "status": SCHEDULED,
                "event_id": event_id,
            }
        },
        upsert=True,
        session=session,
    )
    return True


async def cancel(db: Db, refs: list[str], session: AsyncClientSession | None) -> int:
    result = await db.reminders.update_many(
        {"_id": {"$in": refs}, "status": SCHEDULED},
        {"$set": {"status": CANCELLED, "cancelled_at": datetime.now(UTC)}},
        session=session,
    )
    return int(result.modified_count)


async def reschedule_event(
    db: Db,
    *,
    event_id: str,
    changes: dict[str, Any],
    lead: timedelta,
    session: AsyncClientSession | None,
) -> int:
    """An event moved: its registrations' reminders follow it."""
    starts_at = _dt(changes["starts_at"])
    sets = {f"context.{k}": v for k, v in changes.items()}
    sets.update(starts_at=starts_at, due=starts_at - lead)
    result = await db.reminders.update_many(
        {"event_id": event_id, "status": SCHEDULED}, {"$set": sets}, session=session
    )
    return int(result.modified_count)


class ReminderLoop:
    def __init__(
        self,
        *,
        uow: Transactions,
        poll_s: float,
        on_queued: Callable[[UnitOfWork, list[dict[str, Any]]], Awaitable[None]],
    ) -> None:
        self.uow = uow
        self.store = uow.store
        self.poll_s = poll_s
        self.on_queued = on_queued
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="notifications-reminders")

    async def stop(self) -> None:
        self._stopping = True
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.send_due()
            except Exception as exc:
                log.warning("reminders.pass_failed", error=str(exc))
            await asyncio.sleep(self.poll_s)

    async def send_due(self, now: datetime | None = None) -> int:
        """Queue the notices of every due reminder; returns how many were sent."""
        now = now or datetime.now(UTC)
        db = self.store.db
        due = await db.reminders.find(
            {"status": SCHEDULED, "due": {"$lte": now}}, sort=[("due", 1)], limit=200
        ).to_list()
        sent = 0
        for reminder in due:
            # Started already (service was down past the start): a reminder is pointless.
            late = _dt(reminder["starts_at"]) <= now

            async def work(
                uow: UnitOfWork,
                reminder: dict[str, Any] = reminder,
                late: bool = late,
            ) -> bool:
                session = uow.session
                taken = await db.reminders.update_one(
                    {"_id": reminder["_id"], "status": SCHEDULED},
                    {"$set": {"status": "expired" if late else SENT, "sent_at": now}},
                    session=session,
                )
                if not taken.modified_count or late:
                    return False
                docs = await notices.queue(
                    db,
                    municipality=reminder["municipality"],
                    cause_event_id=f"reminder:{reminder['_id']}",
                    cause_type="reminder",
                    kind=reminder["kind"],
                    recipients=[Recipient(reminder["user_id"], reminder["context"])],
                    session=session,
                )
                await self.on_queued(uow, docs)
                return True

            if await self.uow.run(work):
                sent += 1
        return sent
