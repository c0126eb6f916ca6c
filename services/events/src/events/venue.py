"""Venues: library spaces (branches and their rooms) and Avaa tila pop-up places."""

from __future__ import annotations

import math
import uuid
from typing import Any

from pydantic import Field, model_validator

from contracts import events as ev
from events import clock, store
from events.errors import invalid, not_found
from events.settings import EventsSettings
from kit.app import Service
from kit.conditional import REVISION, Precondition, bump, stale
from kit.patch import Patch
from kit.requests import LocalizedLongText, LocalizedName, Strict


class Address(Strict):
    street: str = Field(default="", max_length=200)
    postal_code: str = Field(default="", max_length=20)
    city: str = Field(default="", max_length=100)


class VenueIn(Strict):
    kind: ev.VenueKind
    name: LocalizedName = Field(min_length=1)
    address: Address | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    accessibility: LocalizedLongText = Field(default_factory=dict)
    description: LocalizedLongText = Field(default_factory=dict)
    url: str | None = Field(default=None, max_length=500)
    parent_venue_id: str | None = None  # a room inside a library branch
    active: bool = True

    @model_validator(mode="after")
    def _coordinates_together(self) -> VenueIn:
        if (self.latitude is None) != (self.longitude is None):
            field = "longitude" if self.longitude is None else "latitude"
            raise invalid(field, "Give both latitude and longitude, or neither.")
        return self


class VenuePatch(Patch):
    nullable = frozenset({"address", "latitude", "longitude", "url"})

    kind: ev.VenueKind | None = None
    name: LocalizedName | None = None
    address: Address | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    accessibility: LocalizedLongText | None = None
    description: LocalizedLongText | None = None
    url: str | None = Field(default=None, max_length=500)
    active: bool | None = None


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0088 * 2 * math.asin(math.sqrt(a))


def out(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in {"_id", REVISION}} | {"id": doc["_id"]}


def _changed(doc: dict[str, Any], *, created: bool) -> ev.VenueChanged:
    return ev.VenueChanged(
        venue_id=doc["_id"],
        kind=doc["kind"],
        name=doc["name"],
        latitude=doc.get("latitude"),
        longitude=doc.get("longitude"),
        active=doc.get("active", True),
        created=created,
    )


async def by_id(svc: Service[EventsSettings], ids: list[str]) -> dict[str, dict[str, Any]]:
    """The venues of these ids that exist, by id."""
    found = await svc.store.db[store.VENUES].find({"_id": {"$in": ids}}).to_list(None)
    return {v["_id"]: v for v in found}


async def get(svc: Service[EventsSettings], venue_id: str) -> dict[str, Any]:
    doc = await svc.store.db[store.VENUES].find_one({"_id": venue_id})
    if doc is None:
        raise not_found("venue", venue_id)
    return doc


async def create(
    svc: Service[EventsSettings], *, data: VenueIn, municipality: str, venue_id: str | None = None
) -> dict[str, Any]:
    if data.parent_venue_id:
        parent = await get(svc, data.parent_venue_id)
        if parent["municipality"] != municipality:
            raise invalid("parent_venue_id", "The parent venue is in another municipality.")
    now = clock.now()
    doc = {
        "_id": venue_id or f"ven-{uuid.uuid4().hex[:12]}",
        "municipality": municipality,
        **data.model_dump(mode="json"),
        "created_at": now,
        "updated_at": now,
    }
    event = svc.event(
        ev.VENUE_CHANGED,
        _changed(doc, created=True),
        municipality=municipality,
        subject=f"venue/{doc['_id']}",
    )
    async with svc.uow() as uow:
        await svc.store.db[store.VENUES].insert_one(doc, session=uow.session)
        await uow.emit(event)
    return doc


async def update(
    svc: Service[EventsSettings],
    *,
    venue: dict[str, Any],
    patch: VenuePatch,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """Apply `patch` to the venue as read; with `precondition` (If-Match) only when that
    is the revision it names, checked in the replacement's filter (412 otherwise)."""
    precondition = precondition or Precondition(None)
    precondition.check(venue)
    changes = patch.model_dump(mode="json", exclude_unset=True)
    merged = {**venue, **changes}
    if (merged.get("latitude") is None) != (merged.get("longitude") is None):
        raise invalid("latitude", "Give both latitude and longitude, or neither.")
    if not merged.get("name"):
        raise invalid("name", "A venue needs a name.")
    merged["updated_at"] = clock.now()
    event = svc.event(
        ev.VENUE_CHANGED,
        _changed(merged, created=False),
        municipality=venue["municipality"],
        subject=f"venue/{venue['_id']}",
    )
    async with svc.uow() as uow:
        venues = svc.store.db[store.VENUES]
        # The fields given, and the revision counted up in the same write (If-Match in
        # its filter): two changes never leave one revision for two versions.
        changed = await venues.update_one(
            {"_id": venue["_id"], **precondition.filter()},
            bump({"$set": {**changes, "updated_at": merged["updated_at"]}}),
            session=uow.session,
        )
        if not changed.matched_count:
            raise stale(await venues.find_one({"_id": venue["_id"]}, session=uow.session))
        written = await venues.find_one({"_id": venue["_id"]}, session=uow.session)
        await uow.emit(event)
    return written or merged


async def search(
    svc: Service[EventsSettings],
    *,
    municipality: str,
    kind: ev.VenueKind | None = None,
    near: tuple[float, float] | None = None,
    within_km: float | None = None,
    include_inactive: bool = False,
) -> list[dict[str, Any]]:
    """Venues of a municipality, nearest first when a point is given, else by name. A
    municipality has hundreds of venues at most, so distances are computed (and the list
    paged) here after the indexed filter."""
    query: dict[str, Any] = {"municipality": municipality}
    if kind:
        query["kind"] = kind.value
    if not include_inactive:
        query["active"] = True
    docs = await svc.store.db[store.VENUES].find(query).to_list(None)
    if near is None:
        docs.sort(key=lambda d: d["name"].get("fi") or next(iter(d["name"].values()), ""))
        return [out(d) for d in docs]
    found = []
    for doc in docs:
        if doc.get("latitude") is None:
            continue
        km = distance_km(near[0], near[1], doc["latitude"], doc["longitude"])
        if within_km is None or km <= within_km:
            found.append(out(doc) | {"distance_km": round(km, 3)})
    found.sort(key=lambda d: d["distance_km"])
    return found
