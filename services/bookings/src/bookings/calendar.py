"""The no-double-booking guarantee, kept by the store rather than by process memory.

Every resource has a calendar document. Each transaction that adds held time to the
resource first bumps that document's version, then looks for overlapping held time, then
writes. Two concurrent transactions on one resource both write the calendar document, so
the store lets only one commit (write conflict, `TransientTransactionError`); the loser
retries from a fresh snapshot and sees the winner's booking. This holds across any number
of service replicas sharing the store.
"""

from __future__ import annotations

from typing import TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

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
