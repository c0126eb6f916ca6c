"""The events service's collections and their indexes."""

from __future__ import annotations

from datetime import UTC, datetime
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
    *,
    current: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Update one event (found by `guard`, which names its `_id`) and return it as
    written, or None when the guard matched nothing. Every change counts up the event's
    `revision` (the read model keeps the newest it has seen). `current`: the event as
    the caller read it, if it has it (see below)."""
    events = svc.store.db[EVENTS]
    update = {**update, "$inc": {**update.get("$inc", {}), "revision": 1}}
    if svc.store.kind == "mongodb":  # one round trip
        return await events.find_one_and_update(
            guard, update, session=session, return_document=ReturnDocument.AFTER
        )
    # The embedded store (KOHTAAMO_MONGO_KIND=embedded) answers find_one_and_update with a
    # collection scan (91 ms at 10,000 events): an update and a read by _id in the same
    # transaction give the same document at two index lookups. With the event as read
    # before, the update is guarded by its revision as well (every change counts it up):
    # matched, the stored document is the one read with this update applied, and is not
    # read again (a store round trip less per status change); else as without it.
    if current is not None and "revision" in current:
        fresh = applied(current, update)
        if fresh is not None:
            done = await events.update_one(
                {**guard, "revision": current["revision"]}, update, session=session
            )
            if done.matched_count:
                return fresh
    done = await events.update_one(guard, update, session=session)
    if not done.matched_count:
        return None
    return await events.find_one({"_id": guard["_id"]}, session=session)


def applied(doc: dict[str, Any], update: dict[str, Any]) -> dict[str, Any] | None:
    """`doc` with a `$set` and `$inc` update applied as the store applies and returns it (a
    field set anew goes last, an existing one keeps its place, values as BSON gives them
    back), or None for an update or a value it does not know how to apply so."""
    if not set(update) <= {"$set", "$inc"}:
        return None
    fresh = dict(doc)
    for key, value in update.get("$set", {}).items():
        if "." in key or (value := stored(value)) is UNKNOWN:
            return None
        fresh[key] = value
    for key, step in update.get("$inc", {}).items():
        if "." in key or type(step) is not int or type(fresh.get(key, 0)) is not int:
            return None
        fresh[key] = fresh.get(key, 0) + step
    return fresh


UNKNOWN = object()


def stored(value: Any) -> Any:
    """A value as the store gives it back: times in whole milliseconds, UTC (the client
    reads them time-zone aware); a str enum as its text. UNKNOWN for anything else than
    plain scalars."""
    if value is None or type(value) in (bool, int, float):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return UNKNOWN
