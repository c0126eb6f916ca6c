"""Resources: workstations, meeting rooms, studios, equipment and mentors' office hours."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

from bookings import recent
from bookings.errors import NotFound
from bookings.facts import resource_changed
from bookings.opening_hours import Hours
from bookings.rules import Rules, rules_of
from contracts import bookings as ev
from contracts.bookings import ResourceKind
from kit.app import Service
from kit.auth import Principal, ensure_municipality
from kit.conditional import Precondition, bump, stale
from kit.patch import Patch
from kit.requests import LocalizedLongText, LocalizedName, Strict
from kit.uow import UnitOfWork


class PricePer(StrEnum):
    hour = "hour"
    booking = "booking"
    day = "day"


class Price(Strict):
    """What a booking costs: free, or an amount per hour, booking or day."""

    free: bool = True
    amount: float | None = Field(None, ge=0, le=100_000)
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")
    per: PricePer = PricePer.booking

    @model_validator(mode="after")
    def _amount(self) -> Price:
        if self.free == (self.amount is not None):
            raise ValueError("give an amount when, and only when, it is not free")
        return self


class ResourceIn(Strict):
    location_id: str = Field(min_length=1)
    kind: ResourceKind
    name: LocalizedName = Field(min_length=1)
    description: LocalizedLongText = Field(default_factory=dict)
    capacity: int = Field(1, ge=1, le=1000)
    equipment: list[str] = Field(default_factory=list, max_length=50)
    accessibility: list[str] = Field(default_factory=list, max_length=20)
    topics: list[str] = Field(default_factory=list, max_length=20)
    mentor_user_id: str | None = None
    rules: Rules = Field(default_factory=Rules)
    # None: not stated (the UI then says nothing about a price)
    price: Price | None = None
    terms: LocalizedLongText = Field(default_factory=dict)
    # Own hours (a mentor's office hours); none: the location's opening hours.
    hours: Hours | None = None

    @model_validator(mode="after")
    def _mentor(self) -> ResourceIn:
        if (self.kind == ResourceKind.mentor_hours) != (self.mentor_user_id is not None):
            raise ValueError("mentor_user_id is required for, and only for, mentor_hours")
        return self


class ResourcePatch(Patch):
    nullable = frozenset({"hours"})  # back to the location's opening hours

    name: LocalizedName | None = None
    description: LocalizedLongText | None = None
    capacity: int | None = Field(None, ge=1, le=1000)
    equipment: list[str] | None = Field(None, max_length=50)
    accessibility: list[str] | None = Field(None, max_length=20)
    topics: list[str] | None = Field(None, max_length=20)
    price: Price | None = None
    terms: LocalizedLongText | None = None
    rules: Rules | None = None
    hours: Hours | None = None
    active: bool | None = None


def own_hours(resource: dict[str, Any]) -> Hours | None:
    return Hours.model_validate(resource["hours"]) if resource.get("hours") else None


async def create_resource(
    svc: Service, *, data: ResourceIn, location: dict[str, Any], resource_id: str | None = None
) -> dict[str, Any]:
    now = datetime.now(UTC)
    doc: dict[str, Any] = {
        "_id": resource_id or f"res-{uuid.uuid4().hex[:12]}",
        "municipality": location["municipality"],
        **data.model_dump(mode="json", exclude={"rules", "hours"}),
        "kind": data.kind.value,
        "rules": data.rules.model_dump(mode="json"),
        "hours": data.hours.to_doc() if data.hours else None,
        "active": True,
        "created_at": now,
        "updated_at": now,
    }
    event = svc.event(
        ev.RESOURCE_CHANGED,
        resource_changed(doc, created=True),
        municipality=doc["municipality"],
        subject=f"resource/{doc['_id']}",
    )
    db = svc.store.db

    async def write(uow: UnitOfWork) -> None:
        session = uow.session
        await db.resources.insert_one(doc, session=session)
        await db.calendars.insert_one(
            {"_id": doc["_id"], "version": 0, "active": True, "rules_version": 0},
            session=session,
        )
        # Also write the location: an hours change running meanwhile writes it too, so one
        # of the two retries, and the change's `bump_rules` never misses this resource.
        await db.locations.update_one(
            {"_id": doc["location_id"]}, {"$inc": {"resources_created": 1}}, session=session
        )
        await uow.emit(event)

    await svc.uow.run(write)
    return doc


async def update_resource(
    svc: Service,
    *,
    resource: dict[str, Any],
    patch: ResourcePatch,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """Apply `patch`; with `precondition` (If-Match) only to the revision it names: the
    check is in the update's filter, so of two racing editors one gets 412."""
    precondition = precondition or Precondition(None)
    precondition.check(resource)
    changes: dict[str, Any] = {}
    for key, value in patch.model_dump(mode="json", exclude_unset=True).items():
        if key == "hours" and patch.hours is not None:
            value = patch.hours.to_doc()
        changes[key] = value
    changes["updated_at"] = datetime.now(UTC)
    doc = {**resource, **changes}
    event = svc.event(
        ev.RESOURCE_CHANGED,
        resource_changed(doc),
        municipality=doc["municipality"],
        subject=f"resource/{doc['_id']}",
    )
    db = svc.store.db

    async def write(uow: UnitOfWork) -> dict[str, Any] | None:
        session = uow.session
        # Every change moves `rules_version`: a booking checked against the old document,
        # on any replica, no longer matches the calendar and is checked again (recent.py).
        await db.calendars.update_one(
            {"_id": doc["_id"]},
            {
                "$inc": {"version": 1, "rules_version": 1},
                "$set": {"active": doc.get("active", True)},
            },
            upsert=True,
            session=session,
        )
        done = await db.resources.update_one(
            {"_id": doc["_id"], **precondition.filter()},
            bump({"$set": changes}),
            session=session,
        )
        if not done.matched_count:
            raise stale(await db.resources.find_one({"_id": doc["_id"]}, session=session))
        await uow.emit(event)
        # as written, with its new revision (the answer's ETag)
        return await db.resources.find_one({"_id": doc["_id"]}, session=session)

    written = await svc.uow.run(write)
    doc = written or doc

    recent.forget(svc, resource_id=doc["_id"])
    return doc


async def load_resource(
    svc: Service, resource_id: str, principal: Principal | None = None, *, session: Any = None
) -> dict[str, Any]:
    doc = await svc.store.db.resources.find_one({"_id": resource_id}, session=session)
    if doc is None:
        raise NotFound(f"No resource {resource_id}.", field="resource_id")
    if principal is not None:
        allowed = rules_of(doc).allowed_municipalities
        if principal.municipality not in allowed:
            ensure_municipality(principal, doc["municipality"])
    return doc


def resource_out(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "municipality": doc["municipality"],
        "location_id": doc["location_id"],
        "kind": doc["kind"],
        "name": doc["name"],
        "description": doc.get("description", {}),
        "capacity": doc.get("capacity", 1),
        "equipment": doc.get("equipment", []),
        "accessibility": doc.get("accessibility", []),
        "topics": doc.get("topics", []),
        "price": doc.get("price"),
        "terms": doc.get("terms") or {},
        "mentor_user_id": doc.get("mentor_user_id"),
        "active": doc.get("active", True),
        "rules": rules_of(doc).model_dump(mode="json"),
        "hours": hours.model_dump(mode="json") if (hours := own_hours(doc)) else None,
    }


def resources_of(municipality: str, location_id: str | None, kind: str | None) -> dict[str, Any]:
    """The query of a municipality's resources (on the municipality, location_id index)."""
    query: dict[str, Any] = {"municipality": municipality}
    if location_id:
        query["location_id"] = location_id
    if kind:
        query["kind"] = kind
    return query


async def active_resource_ids(svc: Service, location_id: str, kind: str | None) -> list[str]:
    """A location's active resources' ids, sorted (they are few: sorted here, not by the
    store)."""
    query: dict[str, Any] = {"location_id": location_id, "active": True}
    if kind:
        query["kind"] = kind
    return sorted([r["_id"] async for r in svc.store.db.resources.find(query, {"_id": 1})])
