"""Resource and location documents for the booking hot path: cached per process, and
checked against the store inside every booking transaction, so a change made through any
replica applies to the very next booking on every replica.

Each resource's calendar carries `rules_version`, bumped in the transaction of every
change to the resource and of every change to its location's hours
(`calendar.bump_rules`). An
entry holds that version read *before* the two documents, so the documents are at least
as new as the version. The booking transaction's claim matches the calendar only at the
entry's version (in the same write, no extra round trip); when it has moved on, the
request is answered `Stale`, the entry dropped and the request checked again against
fresh documents (`booking.place_booking`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bookings.errors import NotFound
from bookings.rules import rules_of
from kit.app import Service
from kit.auth import Principal, ensure_municipality

MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Entry:
    # The calendar's `rules_version` when the documents were read (None: never changed).
    version: int | None
    resource: dict[str, Any]
    location: dict[str, Any]


class Stale(Exception):
    """The resource's rules or hours changed after the request was checked against them."""


class Recent:
    """The process's entries (a part of the service, provided by its factory)."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}


def _cache(svc: Service) -> dict[str, Entry]:
    return svc.part(Recent).entries


async def entry(svc: Service, resource_id: str, principal: Principal) -> Entry:
    """The resource, its location and their version, if the caller may see the resource."""
    cache = _cache(svc)
    found = cache.get(resource_id)
    if found is None:
        db = svc.store.db
        calendar = await db.calendars.find_one({"_id": resource_id}, {"rules_version": 1})
        resource = await db.resources.find_one({"_id": resource_id})
        if resource is None:
            raise NotFound(f"No resource {resource_id}.", field="resource_id")
        location = await db.locations.find_one({"_id": resource["location_id"]})
        if location is None:
            raise NotFound(f"No location {resource['location_id']}.", field="location_id")
        found = Entry((calendar or {}).get("rules_version"), resource, location)
        if len(cache) >= MAX_ENTRIES:
            cache.clear()
        cache[resource_id] = found
    if principal.municipality not in rules_of(found.resource).allowed_municipalities:
        ensure_municipality(principal, found.resource["municipality"])
    return found


def forget(svc: Service, *, resource_id: str | None = None, location_id: str | None = None) -> None:
    """Drop entries this process knows are out of date (others find out by version)."""
    cache = _cache(svc)
    if resource_id is not None:
        cache.pop(resource_id, None)
    if location_id is not None:
        for key in [k for k, e in cache.items() if e.location["_id"] == location_id]:
            cache.pop(key, None)
