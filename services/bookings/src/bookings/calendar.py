"""The no-double-booking guarantee, kept by the store rather than by process memory.

Every resource has a calendar document. Each transaction that adds held time to the
resource first bumps that document's version, then looks for overlapping held time, then
writes. Two concurrent transactions on one resource both write the calendar document, so
the store lets only one commit (write conflict, `TransientTransactionError`); the loser
retries from a fresh snapshot and sees the winner's booking. This holds across any number
of service replicas sharing the store.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

from bookings.opening_hours import Interval
from bookings.store import HOLDING
from kit.mongo import Store

T = TypeVar("T")


async def claim(store: Store, session: AsyncClientSession, *resource_ids: str) -> None:
    """Take the resources' calendars for this transaction (the first write, so a competing
    transaction conflicts early). One write for any number of resources."""
    ids = sorted(set(resource_ids))
    result = await store.db.calendars.update_many(
        {"_id": {"$in": ids}}, {"$inc": {"version": 1}}, session=session
    )
    if result.matched_count < len(ids):  # calendars are made with resources; just in case
        for resource_id in ids:
            await store.db.calendars.update_one(
                {"_id": resource_id}, {"$inc": {"version": 1}}, upsert=True, session=session
            )


async def held_time(
    store: Store,
    resource_ids: list[str],
    start: datetime,
    end: datetime,
    *,
    session: AsyncClientSession | None = None,
) -> dict[str, list[Interval]]:
    """Time held on the resources overlapping [start, end), by resource: bookings and
    blocks in a holding status that end after `start`, read through the (resource_id,
    held_until) index. The filter is nothing but that index's bounds, the rest is checked
    here: the bookings that end after `start` are the resource's present and future, never
    its history. (With `held_from` and the status in the filter too, the embedded store
    bounded the read by resource_id alone: every booking the resources ever had.)"""
    ids = sorted(set(resource_ids))
    if len(ids) == 1:
        queries = [{"resource_id": ids[0], "held_until": {"$gt": start}}]
    elif store.kind == "embedded":
        # It bounds `$in` beside a range by resource_id alone (the scan above): one
        # indexed read per resource there. MongoDB reads the `$in` in one round trip.
        queries = [{"resource_id": rid, "held_until": {"$gt": start}} for rid in ids]
    else:
        queries = [{"resource_id": {"$in": ids}, "held_until": {"$gt": start}}]
    held: dict[str, list[Interval]] = defaultdict(list)
    for query in queries:
        async for d in store.db.bookings.find(
            query,
            projection={"resource_id": 1, "held_from": 1, "held_until": 1, "status": 1},
            session=session,
        ):
            if d["status"] in HOLDING and d["held_from"] < end:
                held[d["resource_id"]].append((d["held_from"], d["held_until"]))
    return held


async def release(store: Store, session: AsyncClientSession, resource_id: str) -> None:
    """Inside the transaction that gives held time back (a cancellation, denial, no-show
    or lifted block): move the calendar's version, as a claim does, so that availability
    views computed before (timetable.py) are not served again on any replica."""
    await store.db.calendars.update_one(
        {"_id": resource_id}, {"$inc": {"version": 1}}, upsert=True, session=session
    )


async def bump_rules(
    store: Store,
    session: AsyncClientSession,
    *,
    resource_ids: list[str] | None = None,
    location_id: str | None = None,
) -> None:
    """Inside the transaction of a change to rules or hours: move `rules_version` on the
    calendars of the resources it affects (a location's: all of its resources), so that
    booking transactions checked against the old documents no longer match (`recent.py`).
    Writing the calendars also makes a booking transaction running meanwhile conflict."""
    ids = list(resource_ids or [])
    if location_id is not None:
        ids += [
            r["_id"]
            async for r in store.db.resources.find(
                {"location_id": location_id}, projection={"_id": 1}, session=session
            )
        ]
    if ids:
        await store.db.calendars.update_many(
            {"_id": {"$in": sorted(set(ids))}}, {"$inc": {"rules_version": 1}}, session=session
        )
