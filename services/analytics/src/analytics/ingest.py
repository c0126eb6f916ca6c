"""Ingest: events become facts and are applied to the projections in one transaction.
A fact's `_id` is its event's id, so the facts are the consumers' inbox: an event whose
fact exists was applied before, and `ingest_batch` reports it as a duplicate (the batch
is then retried without it, see kit.batching) instead of applying it again.

`ingest_batch` applies many events at once through the write-behind overlay (one bulk
read per collection, one bulk write per collection); `ingest_one` is the same for one
event straight on the store, the reference a batch must equal."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import BulkWriteError

from analytics import erasure, facts, projections
from analytics import projections as p
from analytics.overlay import Overlay
from analytics.projections import Db
from contracts import Payload
from kit.consumer import Delivery
from kit.inbox import duplicates_in

# Where a fact's latest-wins projection lives: prefetched with the batch.
_TARGETS: dict[str, tuple[str, str]] = {
    "events.venue.changed": (p.VENUES, "venue_id"),
    "events.event.published": (p.EVENTS, "event_id"),
    "events.event.changed": (p.EVENTS, "event_id"),
    "events.event.cancelled": (p.EVENTS, "event_id"),
    "events.visits.counted": (p.VISITS, "event_id"),
    "events.registration.confirmed": (p.REGISTRATIONS, "registration_id"),
    "events.registration.waitlisted": (p.REGISTRATIONS, "registration_id"),
    "events.registration.promoted": (p.REGISTRATIONS, "registration_id"),
    "events.registration.cancelled": (p.REGISTRATIONS, "registration_id"),
    "identity.organisation.registered": (p.ORGS, "organisation_id"),
    "bookings.location.hours_changed": (p.LOCATIONS, "location_id"),
    "bookings.resource.changed": (p.RESOURCES, "resource_id"),
    "bookings.mentor_hours.closed": (p.RESOURCES, "resource_id"),
}

# Projections keyed by the person: read only for the facts that write them.
_PERSONAL: dict[str, str] = {
    "identity.profile.updated": p.SKILLS,
    "identity.mentor.offer_changed": p.MENTORS,
    "identity.user.registered": p.USERS,
    "identity.user.roles_changed": p.USERS,
}


async def ingest_one(
    db: Db, delivery: Delivery[Payload], key: str, tz: str, session: AsyncClientSession | None
) -> None:
    fact = facts.make_fact(delivery.event, delivery.data, key, delivery.time)
    fact = await erasure.screen(db, fact, session)
    await facts.append(db, fact, session)
    await projections.project(db, fact, session, tz)


async def ingest_batch(
    db: Db,
    deliveries: list[Delivery[Payload]],
    key: str,
    tz: str,
    session: AsyncClientSession | None,
    tombstones: erasure.Tombstones | None = None,
) -> None:
    """The same effect as `ingest_one` for each delivery in order (none an erasure).
    `tombstones`: the process's cache of them (else they are all read)."""
    made = [facts.make_fact(d.event, d.data, key, d.time) for d in deliveries]
    erased = await (tombstones or erasure.Tombstones()).current(db, session)
    overlay = Overlay(db, session)
    await _prefetch(overlay, made)
    # The overlay answers the reads and writes of screening and projecting as the database
    # would (find_one, update_one, delete_one), held in memory: it stands in for `Db`.
    kept = [await erasure.screen(overlay, fact, session, erased) for fact in made]  # type: ignore[arg-type]  # an Overlay for Db
    # The store inserts the facts (its own process, the other core) while the projections
    # run here in memory; a read the overlay still needs waits for the insert first.
    insert = db[facts.COLLECTION].insert_many(kept, ordered=False, session=session)
    overlay.pending = asyncio.ensure_future(insert)
    try:
        try:
            for fact in kept:
                await projections.project(overlay, fact, session, tz)  # type: ignore[arg-type]  # an Overlay for Db
                await asyncio.sleep(0)  # lets the insert reach the store
        except BaseException:
            await asyncio.gather(overlay.settle(), return_exceptions=True)  # the session idle
            raise
        await overlay.settle()
    except BulkWriteError as exc:  # only the facts' insert is a bulk write until the flush
        # Facts there already: those events were applied before (and nothing of this
        # batch is kept: the error ends the transaction).
        duplicates = duplicates_in(exc)
        if duplicates is None:
            raise
        raise duplicates from exc
    await overlay.flush()


async def _prefetch(overlay: Overlay, made: list[dict[str, Any]]) -> None:
    people = {f["participant"] for f in made if f["participant"]}
    await overlay[p.PEOPLE].load_ids(people)
    targets: dict[str, set[Any]] = {}
    for fact in made:
        data = fact["data"] or {}
        if fact["type"] in _PERSONAL and fact["participant"]:
            targets.setdefault(_PERSONAL[fact["type"]], set()).add(fact["participant"])
        elif fact["type"] == "identity.consent.changed" and fact["participant"]:
            consent_key = f"{fact['participant']}|{data.get('purpose')}"
            targets.setdefault(p.CONSENTS, set()).add(consent_key)
        elif fact["type"] == "bookings.resource.blocked":
            targets.setdefault(p.BLOCKS, set()).add(fact["_id"])
        elif fact["type"] in _TARGETS:
            name, field = _TARGETS[fact["type"]]
            if data.get(field) is not None:
                targets.setdefault(name, set()).add(data[field])
        elif fact["participant"]:
            continue  # a person's attendance and bookings are rows of their document
        elif fact["type"] == "events.attendance.recorded" and "event_id" in data:
            attendance_key = f"{data['event_id']}|{data.get('registration_id') or fact['_id']}"
            targets.setdefault(p.ATTENDANCE, set()).add(attendance_key)
        elif fact["type"].startswith("bookings.booking.") and "booking_id" in data:
            targets.setdefault(p.BOOKINGS, set()).add(data["booking_id"])
    for name, keys in targets.items():
        await overlay[name].load_ids(keys)
