"""Locations: an Urban Office, a Mediamaja or a branch, with opening hours in its zone."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from pydantic import Field, field_validator
from pymongo import ReturnDocument

from bookings import recent
from bookings.calendar import bump_rules
from bookings.errors import NotFound
from bookings.opening_hours import Hours
from contracts import bookings as ev
from kit.app import Service
from kit.auth import Principal, ensure_municipality
from kit.conditional import Precondition, bump, stale
from kit.patch import Patch
from kit.requests import LocalizedLongText, LocalizedName, Strict
from kit.uow import UnitOfWork


class LocationKind(StrEnum):
    urban_office = "urban_office"
    mediamaja = "mediamaja"
    branch = "branch"


_IMAGE_PATH = re.compile(r"^/[A-Za-z0-9._~/%-]{1,299}$")


class Image(Strict):
    """A photo of the place, served by the site itself: a path on this origin (the web UI
    loads nothing from other sites, and its content security policy would refuse it)."""

    src: str = Field(max_length=300, examples=["/media/kallio-group-room.jpg"])
    alt: LocalizedName = Field(min_length=1)

    @field_validator("src")
    @classmethod
    def _own_path(cls, value: str) -> str:
        if not _IMAGE_PATH.match(value) or value.startswith("//") or ".." in value.split("/"):
            raise ValueError("a path on this site, like /media/room.jpg")
        return value


class LocationIn(Strict):
    name: LocalizedName = Field(min_length=1)
    kind: LocationKind = LocationKind.branch
    address: str | None = Field(None, max_length=200)
    description: LocalizedLongText = Field(default_factory=dict)
    accessibility: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=20
    )
    image: Image | None = None
    timezone: str = "Europe/Helsinki"
    hours: Hours = Field(default_factory=Hours)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(f"unknown time zone {value!r}")
        return value


class LocationPatch(Patch):
    """What the place's page says of it; the name and hours change elsewhere (the name is
    copied into bookings, the hours have their own PUT)."""

    nullable = frozenset({"address", "image"})

    address: str | None = Field(None, max_length=200)
    description: LocalizedLongText | None = None
    accessibility: list[Annotated[str, Field(max_length=200)]] | None = Field(None, max_length=20)
    image: Image | None = None


class HoursIn(Strict):
    hours: Hours


def zone_of(location: dict[str, Any]) -> ZoneInfo:
    return ZoneInfo(location.get("timezone", "Europe/Helsinki"))


def hours_of(doc: dict[str, Any]) -> Hours:
    return Hours.model_validate(doc.get("hours") or {})


def _hours_event(svc: Service, doc: dict[str, Any]) -> Any:
    hours = hours_of(doc)
    payload = ev.LocationHoursChanged(
        location_id=doc["_id"],
        name=doc["name"],
        timezone=doc["timezone"],
        weekly={k: [ev.DayHours(**p.model_dump()) for p in v] for k, v in hours.weekly.items()},
        exceptions=[ev.HoursException(**e.model_dump()) for e in hours.exceptions],
    )
    return svc.event(
        ev.LOCATION_HOURS_CHANGED,
        payload,
        municipality=doc["municipality"],
        subject=f"location/{doc['_id']}",
    )


async def create_location(
    svc: Service, *, data: LocationIn, municipality: str, location_id: str | None = None
) -> dict[str, Any]:
    now = datetime.now(UTC)
    doc = {
        "_id": location_id or f"loc-{uuid.uuid4().hex[:12]}",
        "municipality": municipality,
        "name": data.name,
        "kind": data.kind.value,
        "address": data.address,
        "description": data.description,
        "accessibility": data.accessibility,
        "image": data.image.model_dump() if data.image else None,
        "timezone": data.timezone,
        "hours": data.hours.to_doc(),
        "created_at": now,
        "updated_at": now,
    }
    async with svc.uow() as uow:
        await svc.store.db.locations.insert_one(doc, session=uow.session)
        await uow.emit(_hours_event(svc, doc))
    return doc


async def update_details(
    svc: Service,
    *,
    location: dict[str, Any],
    patch: LocationPatch,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """Apply `patch` (the place's page: address, description, accessibility, photo); with
    `precondition` (If-Match) only to the revision it names. Nothing booked depends on
    these, so no event and no new rules version."""
    precondition = precondition or Precondition(None)
    precondition.check(location)
    changes = patch.model_dump(mode="json", exclude_unset=True)
    changes["updated_at"] = datetime.now(UTC)
    done = await svc.store.db.locations.find_one_and_update(
        {"_id": location["_id"], **precondition.filter()},
        bump({"$set": changes}),
        return_document=ReturnDocument.AFTER,
    )
    if done is None:
        raise stale(await svc.store.db.locations.find_one({"_id": location["_id"]}))
    return done


async def set_hours(
    svc: Service,
    *,
    location: dict[str, Any],
    hours: Hours,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """Replace the opening hours; with `precondition` (If-Match) only on the revision it
    names (checked in the update's filter)."""
    precondition = precondition or Precondition(None)
    precondition.check(location)
    doc = {**location, "hours": hours.to_doc(), "updated_at": datetime.now(UTC)}

    async def write(uow: UnitOfWork) -> dict[str, Any] | None:
        session = uow.session
        done = await svc.store.db.locations.update_one(
            {"_id": location["_id"], **precondition.filter()},
            bump({"$set": {"hours": doc["hours"], "updated_at": doc["updated_at"]}}),
            session=session,
        )
        if not done.matched_count:
            raise stale(
                await svc.store.db.locations.find_one({"_id": location["_id"]}, session=session)
            )
        # the location's resources get a new rules version: every replica re-reads hours
        await bump_rules(svc.store, session, location_id=location["_id"])
        await uow.emit(_hours_event(svc, doc))
        # as written, with its new revision (the answer's ETag)
        return await svc.store.db.locations.find_one({"_id": location["_id"]}, session=session)

    written = await svc.uow.run(write)
    doc = written or doc
    recent.forget(svc, location_id=doc["_id"])
    return doc


async def load_location(
    svc: Service, location_id: str, principal: Principal | None = None
) -> dict[str, Any]:
    doc = await svc.store.db.locations.find_one({"_id": location_id})
    if doc is None:
        raise NotFound(f"No location {location_id}.", field="location_id")
    if principal is not None:
        ensure_municipality(principal, doc["municipality"])
    return doc


def location_out(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "municipality": doc["municipality"],
        "name": doc["name"],
        "kind": doc["kind"],
        "address": doc.get("address"),
        "description": doc.get("description") or {},
        "accessibility": doc.get("accessibility") or [],
        "image": doc.get("image"),
        "timezone": doc["timezone"],
        "hours": hours_of(doc).model_dump(mode="json"),
    }
