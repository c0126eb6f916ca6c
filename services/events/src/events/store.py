"""The events service's collections and their indexes."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

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
    await db[EVENTS].create_index([("series_id", ASCENDING), ("starts_at", ASCENDING)])
    await db[EVENTS].create_index([("parent_event_id", ASCENDING)])
    await db[EVENTS].create_index([("created_by", ASCENDING), ("status", ASCENDING)])
    await db[REGISTRATIONS].create_index(
        [("event_id", ASCENDING), ("status", ASCENDING), ("sequence", ASCENDING)]
    )
    await db[REGISTRATIONS].create_index([("event_id", ASCENDING), ("user_id", ASCENDING)])
    await db[REGISTRATIONS].create_index([("user_id", ASCENDING), ("created_at", DESCENDING)])
    await db[REGISTRATIONS].create_index([("event_id", ASCENDING), ("code", ASCENDING)])
