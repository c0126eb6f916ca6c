"""Erasure: after identity.user.erased the user's facts stay only as anonymous counts.

Facts lose the pseudonym (and facts that describe the person - ESF profile, skills,
mentor offer, consents, registration - lose their data too); projections drop or
unlink whatever carried the pseudonym. A one-way hash of the erased key is kept so that a
fact of that user arriving late (from another service's queue) is anonymised on arrival."""

from __future__ import annotations

import hashlib
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from analytics import esf_counts
from analytics import projections as p
from analytics.facts import COLLECTION as FACTS
from analytics.projections import Db

ERASED = "erased_keys"

# Facts about the person rather than about an activity: nothing of them is kept.
PERSONAL_TYPES = [
    "identity.participant.profile_changed",
    "identity.profile.updated",
    "identity.mentor.offer_changed",
    "identity.consent.changed",
    "identity.user.registered",
    "identity.user.roles_changed",
]


def tombstone(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def is_erased(db: Db, key: str | None, session: AsyncClientSession | None) -> bool:
    if not key:
        return False
    return await db[ERASED].find_one({"_id": tombstone(key)}, session=session) is not None


async def screen(
    db: Db, fact: dict[str, Any], session: AsyncClientSession | None
) -> dict[str, Any]:
    """A new fact as it may be kept: anonymised if its person (or mentor) was erased.

    The write to the person's document (its serial) makes this transaction conflict with an
    erasure of the same person running at the same time (the erasure writes and deletes
    that document too), so one of them retries after the other: a fact is either swept
    by the erasure or sees its tombstone, never neither."""
    participant = fact["participant"]
    if participant:
        await db[p.PEOPLE].update_one(
            {"_id": participant}, {"$inc": {"serial": 1}}, upsert=True, session=session
        )
        if await is_erased(db, participant, session):
            await db[p.PEOPLE].delete_one({"_id": participant}, session=session)
            fact = anonymise(fact)
    if fact.get("mentor") and await is_erased(db, fact["mentor"], session):
        fact = {**fact, "mentor": None}
    return fact


def anonymise(fact: dict[str, Any]) -> dict[str, Any]:
    """A fact as it is kept for an erased user."""
    out = {**fact, "participant": None, "erased": True}
    if fact["type"] in PERSONAL_TYPES:
        out["data"] = None
    return out


async def erase(db: Db, key: str, session: AsyncClientSession | None) -> int:
    """Anonymise every fact and projection of one participant; returns facts changed."""
    await db[ERASED].update_one(
        {"_id": tombstone(key)}, {"$set": {"erased": True}}, upsert=True, session=session
    )
    personal = await db[FACTS].update_many(
        {"participant": key, "type": {"$in": PERSONAL_TYPES}},
        {"$set": {"participant": None, "erased": True, "data": None}},
        session=session,
    )
    activity = await db[FACTS].update_many(
        {"participant": key}, {"$set": {"participant": None, "erased": True}}, session=session
    )
    as_mentor = await db[FACTS].update_many(
        {"mentor": key}, {"$set": {"mentor": None}}, session=session
    )
    for name in (p.SKILLS, p.MENTORS, p.USERS):
        await db[name].delete_many({"_id": key}, session=session)
    await db[p.CONSENTS].delete_many({"participant": key}, session=session)
    # Without entries and profile the person contributes nothing to the ESF counters:
    # their contributions are subtracted, then the whole document goes.
    unset = {"$unset": {"entries": "", "versions": ""}}
    await esf_counts.change_person(db, key, unset, session)
    await db[p.PEOPLE].delete_many({"_id": key}, session=session)
    for name in (p.BOOKINGS, p.ATTENDANCE, p.REGISTRATIONS):
        await db[name].update_many(
            {"participant": key}, {"$set": {"participant": None}}, session=session
        )
    for name in (p.BOOKINGS, p.RESOURCES):
        await db[name].update_many({"mentor": key}, {"$set": {"mentor": None}}, session=session)
    return personal.modified_count + activity.modified_count + as_mentor.modified_count
