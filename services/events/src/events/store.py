"""The events service's collections and their indexes."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from events.settings import EventsSettings
from events.status import RegistrationStatus
from kit import passes
from kit.app import Service

VENUES = "venues"
EVENTS = "events"
REGISTRATIONS = "registrations"
SERIES = "series"
ROLES = "roles"


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    await db[VENUES].create_index([("municipality", ASCENDING), ("kind", ASCENDING)])
    # Listing: tenant + status + time first; the other filters narrow that range.
    await db[EVENTS].create_index(
        [("municipality", ASCENDING), ("status", ASCENDING), ("starts_at", ASCENDING)]
    )
    # Ongoing and upcoming events: those not ended by a date, however long they run.
    await db[EVENTS].create_index(
        [("municipality", ASCENDING), ("status", ASCENDING), ("ends_at", ASCENDING)]
    )
    await db[EVENTS].create_index([("series_id", ASCENDING), ("starts_at", ASCENDING)])
    await db[EVENTS].create_index([("parent_event_id", ASCENDING)])
    await db[EVENTS].create_index([("created_by", ASCENDING), ("status", ASCENDING)])
    await db[REGISTRATIONS].create_index(
        [("event_id", ASCENDING), ("status", ASCENDING), ("sequence", ASCENDING)]
    )
    await db[REGISTRATIONS].create_index([("event_id", ASCENDING), ("user_id", ASCENDING)])
    await db[REGISTRATIONS].create_index([("user_id", ASCENDING), ("created_at", DESCENDING)])
    await db[REGISTRATIONS].create_index([("event_id", ASCENDING), ("code", ASCENDING)])
    await db[REGISTRATIONS].create_index([("checkin_pass", ASCENDING)])


async def backfill_passes(db: AsyncDatabase[dict[str, Any]]) -> int:
    """Check-in passes for registrations made before passes existed that can still be used
    (confirmed or on the waiting list, not checked in). Run at every start-up; idempotent and
    safe with several replicas (kit.passes.backfill)."""
    return await passes.backfill(
        db[REGISTRATIONS],
        passes.REGISTRATION,
        {
            "status": {"$in": [RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED]},
            "attended": {"$ne": True},
        },
    )


async def update_and_read(
    svc: Service[EventsSettings],
    session: AsyncClientSession | None,
    guard: dict[str, Any],
    update: dict[str, Any],
) -> dict[str, Any] | None:
    """Update one event (found by `guard`, which names its `_id`) and return it as
    written, or None when the guard matched nothing. Every change counts up the event's
    `revision` (the read model keeps the newest it has seen)."""
    events = svc.store.db[EVENTS]
    update = {**update, "$inc": {**update.get("$inc", {}), "revision": 1}}
    if svc.store.kind == "mongodb":  # one round trip
        return await events.find_one_and_update(
            guard, update, session=session, return_document=ReturnDocument.AFTER
        )
    # The embedded store (KOHTAAMO_MONGO_KIND=embedded) answers find_one_and_update with a
    # collection scan (91 ms at 10,000 events): an update and a read by _id in the same
    # transaction give the same document at two index lookups.
    done = await events.update_one(guard, update, session=session)
    if not done.matched_count:
        return None
    return await events.find_one({"_id": guard["_id"]}, session=session)
