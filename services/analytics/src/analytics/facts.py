"""The fact store: one append-only document per consumed event, pseudonymous.

A fact keeps the event's id (its `_id`, so a fact exists at most once), type,
municipality and time, and a copy of its data from which every user id has been replaced
by the keyed participant hash and every free-text or personal field dropped. Projections
are derived from facts only, so they can be dropped and rebuilt."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from contracts import CloudEvent
from contracts import bookings as bk
from contracts import events as ev
from contracts import identity as idc
from contracts.pseudonym import participant_key

COLLECTION = "facts"
_BY_TIME = "at_1__id_1"  # the index on (at, _id) of earlier versions

# What analytics consumes. Never identity.contact.changed (names, emails, phones).
IDENTITY_TYPES = [
    idc.USER_REGISTERED,
    idc.USER_ROLES_CHANGED,
    idc.PROFILE_UPDATED,
    idc.MENTOR_OFFER_CHANGED,
    idc.CONSENT_CHANGED,
    idc.PARTICIPANT_PROFILE_CHANGED,
    idc.ORGANISATION_REGISTERED,
]
EVENTS_TYPES = [
    ev.VENUE_CHANGED,
    ev.EVENT_PUBLISHED,
    ev.EVENT_CHANGED,
    ev.EVENT_CANCELLED,
    ev.EVENT_COMPLETED,
    ev.REGISTRATION_CONFIRMED,
    ev.REGISTRATION_WAITLISTED,
    ev.REGISTRATION_PROMOTED,
    ev.REGISTRATION_CANCELLED,
    ev.ATTENDANCE_RECORDED,
    ev.VISITS_COUNTED,
]
BOOKINGS_TYPES = [
    bk.LOCATION_HOURS_CHANGED,
    bk.RESOURCE_CHANGED,
    bk.RESOURCE_BLOCKED,
    bk.MENTOR_HOURS_CLOSED,
    bk.BOOKING_PENDING,
    bk.BOOKING_CONFIRMED,
    bk.BOOKING_DENIED,
    bk.BOOKING_CANCELLED,
    bk.BOOKING_CHECKED_IN,
    bk.BOOKING_NO_SHOW,
]

# Fields never copied into a fact: user ids (replaced by keys), free text that may name a
# person, group names, access codes, titles and display names (not needed for counting),
# and the birth year (the age band is enough).
_DROPPED = {
    "user_id",
    "mentor_user_id",
    "group_name",
    "reason",
    "access_code",
    "title",
    "venue_name",
    "resource_name",
    "location_name",
    "birth_year",
    "display_name",
    "email",
    "phone",
}


def short_type(type_: str) -> str:
    """`kohtaamo.events.attendance.recorded.v1` -> `events.attendance.recorded`."""
    return type_.removeprefix("kohtaamo.").rsplit(".v", 1)[0]


def make_fact(
    event: CloudEvent,
    data: BaseModel | dict[str, Any],
    pseudonym_key: str,
    at: datetime | None = None,
) -> dict[str, Any]:
    """`at`: the fact's time, the delivery's (`Delivery.time`: never later than its
    arrival, so a sender's clock ahead cannot make its version win over later ones);
    the envelope's time when not given."""
    raw = data.model_dump(mode="json") if isinstance(data, BaseModel) else dict(data)
    kept = {k: v for k, v in raw.items() if k not in _DROPPED}
    participant = raw.get("participant")
    if raw.get("user_id"):
        participant = participant_key(str(raw["user_id"]), pseudonym_key)
    mentor = None
    if raw.get("mentor_user_id"):
        mentor = participant_key(str(raw["mentor_user_id"]), pseudonym_key)
    if event.type == idc.USER_ERASED:
        # Only the fact that an erasure happened; nothing that links to the person.
        participant, kept = None, {"requested_at": raw.get("requested_at")}
    kept.pop("participant", None)
    fact = {
        "_id": event.id,
        "type": short_type(event.type),
        "municipality": event.municipality,
        "at": to_millis(at or event.time),
        "participant": participant,
        "data": kept,
        "erased": False,
    }
    if mentor:
        # Only when there is one: the sparse index then has no entry for the other facts
        # (an entry per fact cost the store about a tenth of the fact's insert).
        fact["mentor"] = mentor
    return fact


async def append(
    db: AsyncDatabase[dict[str, Any]], fact: dict[str, Any], session: AsyncClientSession | None
) -> None:
    await db[COLLECTION].insert_one(fact, session=session)


async def ensure_indexes(db: AsyncDatabase[dict[str, Any]]) -> None:
    # Only what an erasure looks up. No index on time: the rebuild replays in any order
    # (projections are order-independent), and every index of the fact store costs the
    # embedded store about 0.1 ms per ingested event. Dropped where an older version made it.
    indexes = await db[COLLECTION].index_information()
    if "mentor_1" in indexes and not indexes["mentor_1"].get("sparse"):
        await db[COLLECTION].drop_index("mentor_1")  # of earlier versions, an entry per fact
    if _BY_TIME in indexes:
        await db[COLLECTION].drop_index(_BY_TIME)
    await db[COLLECTION].create_index("participant")
    await db[COLLECTION].create_index("mentor", sparse=True)


def parse_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def to_millis(moment: datetime) -> datetime:
    """The store keeps milliseconds: compare versions at that precision, live and replayed."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)
