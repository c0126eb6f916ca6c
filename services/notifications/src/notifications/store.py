"""The service's collections and their indexes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

# The embedded store's `$in` slows quadratically with the length of its list (a find of
# 500 contacts by id: about 230 ms; in chunks of 50: about 60 ms), so ids go in chunks.
IN_CHUNK = 50
# Notice indexes of earlier versions, now covered by the (user, channel, cause) index.
REPLACED_INDEXES = ("user_id_1_channel_1_created_-1", "cause_event_id_1_user_id_1_channel_1")

# contacts: one per user (from identity's events); _id = user id.
# preferences: a user's own overrides of channels and quiet hours; _id = user id.
# notices: one per (cause event, recipient, channel); a unique index on that triple makes
#   a second notice for it a duplicate key (dedupe by construction).
# bookings / registrations: what this service must remember of them (owner, times) to
#   tell people and to schedule reminders.
# reminders: durable schedule; _id = "<kind>:<booking or registration id>".
# approvals: bookings pending approval, for the staff digest.


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db.notices.create_index([("status", ASCENDING), ("due", ASCENDING)])
    # Few indexes on notices on purpose: every status change of a fan-out rewrites each of
    # them. One serves the dedupe (unique), the inbox (user, channel) and erasure (user);
    # the inbox sorts a user's in-app notices by time after reading them.
    await db.notices.create_index(
        [("user_id", ASCENDING), ("channel", ASCENDING), ("cause_event_id", ASCENDING)],
        unique=True,
    )
    existing = await db.notices.index_information()
    for replaced in REPLACED_INDEXES:  # after the unique one above: no moment without it
        if replaced in existing:
            await db.notices.drop_index(replaced)
    await db.contacts.create_index([("municipality", ASCENDING), ("roles", ASCENDING)])
    await db.registrations.create_index([("event_id", ASCENDING)])
    await db.reminders.create_index([("status", ASCENDING), ("due", ASCENDING)])
    await db.reminders.create_index([("event_id", ASCENDING)])
    await db.approvals.create_index([("municipality", ASCENDING)])


async def find_by_ids(
    collection: AsyncCollection[dict[str, Any]],
    ids: Sequence[Any],
    session: AsyncClientSession | None = None,
    **query: Any,
) -> list[dict[str, Any]]:
    """The documents whose `_id` is in `ids` (and which match `query`), read in chunks."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), IN_CHUNK):
        chunk = list(ids[start : start + IN_CHUNK])
        found += await collection.find({"_id": {"$in": chunk}, **query}, session=session).to_list()
    return found
