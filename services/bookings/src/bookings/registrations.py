"""Event registrations for the personal calendar feed, learnt from the events service's
messages (services never call each other): one document per registration with what its
calendar entry needs, kept at the latest state by the calendar SEQUENCE of its status, so
a late or repeated message never brings a cancelled registration back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from contracts import calendar as entries
from contracts import events as ec

COLLECTION = "feed_registrations"

STATUS = {
    ec.REGISTRATION_CONFIRMED: "confirmed",
    ec.REGISTRATION_WAITLISTED: "waitlisted",
    ec.REGISTRATION_PROMOTED: "promoted",
    ec.REGISTRATION_CANCELLED: "cancelled",
}
TYPES = [*STATUS, ec.EVENT_CHANGED]


async def on_registration(
    db: Any,
    session: AsyncClientSession | None,
    type_: str,
    municipality: str,
    data: ec.RegistrationFacts,
) -> None:
    status = STATUS[type_]
    rank = entries.sequence(status)
    doc = {
        "user_id": data.user_id,
        "municipality": municipality,
        "event_id": data.event_id,
        "title": dict(data.title),
        "venue_name": dict(data.venue_name),
        "starts_at": data.starts_at.astimezone(UTC),
        "ends_at": data.ends_at.astimezone(UTC),
        "timezone": data.timezone,
        "status": status,
        "rank": rank,
        "updated_at": datetime.now(UTC),
    }
    # Only a state that ranks at least as high replaces what is held (read and write in
    # the inbox step's transaction: a racing writer conflicts and is retried).
    held = await db[COLLECTION].find_one(
        {"_id": data.registration_id}, {"rank": 1}, session=session
    )
    if held is not None and held.get("rank", 0) > rank:
        return
    await db[COLLECTION].update_one(
        {"_id": data.registration_id}, {"$set": doc}, upsert=True, session=session
    )


async def on_event_changed(
    db: Any, session: AsyncClientSession | None, data: ec.EventChanged
) -> None:
    """A moved or renamed event moves its registrations' entries along."""
    await db[COLLECTION].update_many(
        {"event_id": data.event_id},
        {
            "$set": {
                "title": dict(data.title),
                "venue_name": dict(data.venue_name),
                "starts_at": data.starts_at.astimezone(UTC),
                "ends_at": data.ends_at.astimezone(UTC),
                "timezone": data.timezone,
            }
        },
        session=session,
    )


async def of_user(db: Any, user_id: str, since: datetime) -> list[dict[str, Any]]:
    return (
        await db[COLLECTION]
        .find({"user_id": user_id, "ends_at": {"$gte": since}}, sort=[("starts_at", 1)], limit=1000)
        .to_list()
    )
