"""The service's collections and their indexes."""

from __future__ import annotations

from pymongo import ASCENDING, IndexModel

from bookings.status import BlockStatus
from contracts.bookings import BookingStatus
from kit.mongo import Store

# Statuses that hold a resource's time: no two of these may overlap on one resource.
HOLDING: list[str] = [
    BookingStatus.pending,
    BookingStatus.confirmed,
    BookingStatus.checked_in,
    BlockStatus.BLOCKED,
]


async def ensure_indexes(store: Store) -> None:
    db = store.db
    await db.locations.create_indexes([IndexModel([("municipality", ASCENDING)])])
    await db.resources.create_indexes(
        [
            IndexModel([("municipality", ASCENDING), ("location_id", ASCENDING)]),
            IndexModel([("mentor_user_id", ASCENDING)]),
        ]
    )
    await db.bookings.create_indexes(
        [
            # overlap search on one resource
            IndexModel([("resource_id", ASCENDING), ("held_from", ASCENDING)]),
            # availability views: held time that ends after the range starts (timetable.py)
            IndexModel([("resource_id", ASCENDING), ("held_until", ASCENDING)]),
            IndexModel([("user_id", ASCENDING), ("starts_at", ASCENDING)]),
            IndexModel([("location_id", ASCENDING), ("starts_at", ASCENDING)]),
            IndexModel([("status", ASCENDING), ("no_show_at", ASCENDING)]),
            IndexModel([("series_id", ASCENDING)]),
            IndexModel([("checkin_pass", ASCENDING)]),
        ]
    )
    await db.series.create_indexes([IndexModel([("user_id", ASCENDING)])])
    await db.feeds.create_indexes([IndexModel([("user_id", ASCENDING)], unique=True)])
    await db.feed_registrations.create_indexes(
        [
            IndexModel([("user_id", ASCENDING), ("ends_at", ASCENDING)]),
            IndexModel([("event_id", ASCENDING)]),
        ]
    )
