"""Erasure: after identity.user.erased the user's facts stay only as anonymous counts.

Facts lose the pseudonym (and facts that describe the person - ESF profile, skills,
mentor offer, consents, registration - lose their data too); projections drop or
unlink whatever carried the pseudonym. A one-way hash of the erased key is kept so that a
fact of that user arriving late (from another service's queue) is anonymised on arrival."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from analytics import activity, activity_store, esf_counts
from analytics import projections as p
from analytics.facts import COLLECTION as FACTS
from analytics.overlay import CHUNK
from analytics.projections import Db

ERASED = "erased_keys"
# The one document of ERASED that is not a tombstone: a fresh value on every erasure.
_VERSION = "version"

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


class Tombstones:
    """Every tombstone, kept in the process: a batch reads one version document instead of
    a tombstone per person (erasures are rare; their hashes are small).

    An erasure sets a fresh version in its transaction, so a batch whose snapshot has the
    version the cache was read at has the same tombstones; an erasure committing after
    that snapshot conflicts with the batch on the person's document (see `screen`). A
    version is never reused, so a cache read inside a transaction that then aborted is
    never mistaken for a committed one."""

    def __init__(self) -> None:
        self.version: str | None = None
        self.hashes: frozenset[str] = frozenset()

    async def current(self, db: Db, session: AsyncClientSession | None) -> frozenset[str]:
        doc = await db[ERASED].find_one({"_id": _VERSION}, session=session)
        version = doc["v"] if doc else ""
        if version != self.version:
            query = {"_id": {"$ne": _VERSION}}
            found = db[ERASED].find(query, {"_id": 1}, session=session)
            self.hashes = frozenset([d["_id"] async for d in found])
            self.version = version
        return self.hashes


async def screen(
    db: Db,
    fact: dict[str, Any],
    session: AsyncClientSession | None,
    erased: frozenset[str] | None = None,
) -> dict[str, Any]:
    """A new fact as it may be kept: anonymised if its person (or mentor) was erased
    (by the tombstones `erased`, read from the store when not given).

    The write to the person's document (its serial) makes this transaction conflict with an
    erasure of the same person running at the same time (the erasure writes and deletes
    that document too), so one of them retries after the other: a fact is either swept
    by the erasure or sees its tombstone, never neither."""

    async def gone(key: str) -> bool:
        if erased is not None:
            return tombstone(key) in erased
        return await is_erased(db, key, session)

    participant = fact["participant"]
    if participant:
        await db[p.PEOPLE].update_one(
            {"_id": participant}, {"$inc": {"serial": 1}}, upsert=True, session=session
        )
        if await gone(participant):
            await db[p.PEOPLE].delete_one({"_id": participant}, session=session)
            fact = anonymise(fact)
    if fact.get("mentor") and await gone(fact["mentor"]):
        fact = {k: v for k, v in fact.items() if k != "mentor"}
    return fact


def anonymise(fact: dict[str, Any]) -> dict[str, Any]:
    """A fact as it is kept for an erased user."""
    out = {**fact, "participant": None, "erased": True}
    if fact["type"] in PERSONAL_TYPES:
        out["data"] = None
    return out


async def erase(db: Db, key: str, session: AsyncClientSession | None, tz: str) -> int:
    """Anonymise every fact and projection of one participant; returns facts changed."""
    await db[ERASED].update_one(
        {"_id": tombstone(key)}, {"$set": {"erased": True}}, upsert=True, session=session
    )
    await db[ERASED].update_one(
        {"_id": _VERSION}, {"$set": {"v": uuid.uuid4().hex}}, upsert=True, session=session
    )
    # The projections that carry the key are found through the person's facts (by the
    # facts' indexes): the projections themselves need no index on it, which every
    # ingested event would pay for.
    linked = await _linked(db, key, session)
    personal = await db[FACTS].update_many(
        {"participant": key, "type": {"$in": PERSONAL_TYPES}},
        {"$set": {"participant": None, "erased": True, "data": None}},
        session=session,
    )
    changed = await db[FACTS].update_many(
        {"participant": key}, {"$set": {"participant": None, "erased": True}}, session=session
    )
    as_mentor = await db[FACTS].update_many(
        {"mentor": key}, {"$unset": {"mentor": ""}}, session=session
    )
    for name in (p.SKILLS, p.MENTORS, p.USERS):
        await db[name].delete_many({"_id": key}, session=session)
    await _by_ids(db, p.CONSENTS, linked[p.CONSENTS], {"participant": key}, None, session)
    # Without entries, profile and rows the person contributes nothing to the ESF counters
    # (nor as a staff learner): their contributions are subtracted, then the whole
    # document goes. Their attendance and bookings stay as rows without a person, which
    # the activity counters count the same.
    person = await db[p.PEOPLE].find_one({"_id": key}, session=session)
    unset = {"$unset": {"entries": "", "versions": "", "rows": ""}}
    await esf_counts.change_person(db, key, unset, session, person)
    await db[p.PEOPLE].delete_many({"_id": key}, session=session)
    for name, row in esf_counts.person_rows(person).items():
        kind, row_key = activity.split_name(name)
        await activity_store.put_anonymous(db, kind, row_key, row, session, tz, replaces=row)
    await _by_ids(
        db, p.REGISTRATIONS, linked[p.REGISTRATIONS], {"participant": key}, "participant", session
    )
    # As a mentor: their bookers' rows and their office-hour resources lose the key.
    for participant, booking_id in linked["mentor:rows"]:
        path = f"rows.{activity.row_name(activity.BOOKING, booking_id)}.mentor"
        await db[p.PEOPLE].update_one(
            {"_id": participant, path: key}, {"$set": {path: None}}, session=session
        )
    for name in (p.BOOKINGS, p.RESOURCES):
        await _by_ids(db, name, linked[f"mentor:{name}"], {"mentor": key}, "mentor", session)
    return personal.modified_count + changed.modified_count + as_mentor.modified_count


async def _linked(db: Db, key: str, session: AsyncClientSession | None) -> dict[str, set[Any]]:
    """The `_id`s of the projection documents the person's facts (as participant, or as
    mentor under `mentor:<collection>`, and their bookers' rows as (person, booking)
    under `mentor:rows`) were projected into: the keys projections.py writes them under."""
    out: dict[str, set[Any]] = defaultdict(set)
    fields = {"type": 1, "data": 1, "participant": 1}
    # Two queries, each on its own index (an `$or` of them may scan the fact store).
    async for fact in db[FACTS].find({"participant": key}, fields, session=session):
        type_, data = fact["type"], fact.get("data") or {}
        if type_ == "identity.consent.changed":
            out[p.CONSENTS].add(f"{key}|{data.get('purpose')}")
        elif type_.startswith("events.registration.") and "registration_id" in data:
            out[p.REGISTRATIONS].add(data["registration_id"])
    async for fact in db[FACTS].find({"mentor": key}, fields, session=session):
        type_, data = fact["type"], fact.get("data") or {}
        if type_.startswith("bookings.booking.") and "booking_id" in data:
            if fact.get("participant"):
                out["mentor:rows"].add((fact["participant"], data["booking_id"]))
            else:
                out[f"mentor:{p.BOOKINGS}"].add(data["booking_id"])
        elif "resource_id" in data:
            out[f"mentor:{p.RESOURCES}"].add(data["resource_id"])
    return out


async def _by_ids(
    db: Db,
    name: str,
    ids: set[str],
    match: dict[str, Any],
    unlink: str | None,
    session: AsyncClientSession | None,
) -> None:
    """Unlink (`unlink` set to None) or delete the documents among `ids` that match."""
    listed = sorted(ids)
    for start in range(0, len(listed), CHUNK):
        query = {"_id": {"$in": listed[start : start + CHUNK]}, **match}
        if unlink is None:
            await db[name].delete_many(query, session=session)
        else:
            await db[name].update_many(query, {"$set": {unlink: None}}, session=session)
