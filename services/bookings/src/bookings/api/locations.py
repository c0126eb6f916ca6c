"""HTTP: locations, their opening hours, availability and the staff day view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from bookings.block import block_out
from bookings.booking import booking_out, is_staff_of
from bookings.location import (
    HoursIn,
    LocationIn,
    create_location,
    load_location,
    location_out,
    set_hours,
    zone_of,
)
from bookings.rules import BOOKER_ROLES, STAFF_ROLES
from bookings.search import availability
from contracts.bookings import ResourceKind
from kit.app import Service
from kit.auth import Principal, ensure_municipality
from kit.dates import Day


def build_router(svc: Service) -> APIRouter:
    router = APIRouter(tags=["locations"])
    staff = Depends(svc.auth.require(*STAFF_ROLES))
    anyone = Depends(svc.auth.require(*BOOKER_ROLES, "analyst"))

    @router.post("/locations", status_code=201)
    async def create(data: LocationIn, principal: Principal = staff) -> dict[str, Any]:
        doc = await create_location(svc, data=data, municipality=principal.municipality)
        return location_out(doc)

    @router.get("/locations")
    async def list_locations(principal: Principal = anyone) -> list[dict[str, Any]]:
        docs = await svc.store.db.locations.find(
            {"municipality": principal.municipality}, sort=[("_id", 1)]
        ).to_list()
        return [location_out(d) for d in docs]

    @router.get("/locations/{location_id}")
    async def get(location_id: str, principal: Principal = anyone) -> dict[str, Any]:
        return location_out(await load_location(svc, location_id, principal))

    @router.put("/locations/{location_id}/hours")
    async def put_hours(
        location_id: str, data: HoursIn, principal: Principal = staff
    ) -> dict[str, Any]:
        location = await load_location(svc, location_id, principal)
        return location_out(await set_hours(svc, location=location, hours=data.hours))

    @router.get("/locations/{location_id}/availability")
    async def location_availability(
        location_id: str,
        from_: Annotated[Day, Query(alias="from")],
        to: Annotated[Day, Query()],
        kind: ResourceKind | None = None,
        principal: Principal = anyone,
    ) -> dict[str, Any]:
        location = await load_location(svc, location_id, principal)
        query: dict[str, Any] = {"location_id": location_id, "active": True}
        if kind:
            query["kind"] = kind.value
        resources = await svc.store.db.resources.find(query, sort=[("_id", 1)]).to_list()
        result = await availability(
            svc,
            location=location,
            resources=resources,
            first=from_,
            last=to,
            staff=is_staff_of(principal, location["municipality"]),
        )
        return {"location_id": location_id, "timezone": location["timezone"], "resources": result}

    @router.get("/locations/{location_id}/day")
    async def day_view(
        location_id: str,
        day: Annotated[Day, Query(alias="date")],
        status: str | None = Query(None, max_length=20),
        principal: Principal = staff,
    ) -> dict[str, Any]:
        """Staff view: the location's bookings and blocks of one local day."""
        location = await load_location(svc, location_id, principal)
        ensure_municipality(principal, location["municipality"])
        zone = zone_of(location)
        start = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
        query: dict[str, Any] = {
            "location_id": location_id,
            "starts_at": {"$lt": end.astimezone(UTC)},
            "ends_at": {"$gt": start},
        }
        if status:
            query["status"] = status
        docs = await svc.store.db.bookings.find(query, sort=[("starts_at", 1)]).to_list()
        return {
            "location_id": location_id,
            "date": day.isoformat(),
            "bookings": [booking_out(d) for d in docs if d["kind"] == "booking"],
            "blocks": [block_out(d) for d in docs if d["kind"] == "block"],
        }

    return router
