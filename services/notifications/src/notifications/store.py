"""The service's collections and their indexes."""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

# contacts: one per user (from identity's events); _id = user id.
# preferences: a user's own overrides of channels and quiet hours; _id = user id.
# notices: one per (cause event, recipient, channel); _id is that triple, so a second
#   notice for the same triple is a duplicate key (dedupe by construction).
# bookings / registrations: what this service must remember of them (owner, times) to
#   tell people and to schedule reminders.
# reminders: durable schedule; _id = "<kind>:<booking or registration id>".
# approvals: bookings pending approval, for the staff digest.


async def ensure_indexes(db: AsyncDatabase) -> None:  # type: ignore[type-arg]
    await db.notices.create_index([("status", ASCENDING), ("due", ASCENDING)])
    await db.notices.create_index(
        [("user_id", ASCENDING), ("channel", ASCENDING), ("created", DESCENDING)]
    )
    # Few indexes on notices on purpose: every status change of a fan-out rewrites them.
    await db.notices.create_index(
        [("cause_event_id", ASCENDING), ("user_id", ASCENDING), ("channel", ASCENDING)],
        unique=True,
    )
    await db.contacts.create_index([("municipality", ASCENDING), ("roles", ASCENDING)])
    await db.registrations.create_index([("event_id", ASCENDING)])
    await db.reminders.create_index([("status", ASCENDING), ("due", ASCENDING)])
    await db.reminders.create_index([("event_id", ASCENDING)])
    await db.approvals.create_index([("municipality", ASCENDING)])
