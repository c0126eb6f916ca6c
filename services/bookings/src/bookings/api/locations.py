"""HTTP: locations, their opening hours, availability and the staff day view."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from bookings.api.views import DayView, LocationAvailability, LocationOut
from bookings.block import block_out
from bookings.booking import booking_out, held_at_location
from bookings.location import (
    HoursIn,
    LocationIn,
    LocationPatch,
    create_location,
    load_location,
    location_out,
    set_hours,
    update_details,
    zone_of,
)
from bookings.resource import active_resource_ids
from bookings.rules import BOOKER_ROLES, STAFF_ROLES
from bookings.timetable import etag_of, matches, timetable_for
from contracts.bookings import ResourceKind
from kit.app import Service
from kit.auth import Principal, ensure_municipality
from kit.conditional import Editing, tag
from kit.dates import Day
from kit.openapi import returns
from kit.pages import Page, Paging, found


def build_router(svc: Service) -> APIRouter:
    router = APIRouter(tags=["locations"])
    staff = Depends(svc.auth.require(*STAFF_ROLES))
    anyone = Depends(svc.auth.require(*BOOKER_ROLES, "analyst"))
    pages_of_200 = Depends(Paging.of(200, 500))

    @router.post("/locations", **returns(LocationOut, "The location", 201))
    async def create(data: LocationIn, principal: Principal = staff) -> dict[str, Any]:
        """Creates a location (a place with opening hours and a time zone) in the caller's
        municipality; staff only."""
        doc = await create_location(svc, data=data, municipality=principal.municipality)
        return location_out(doc)

    @router.get("/locations", name="list", **returns(Page[LocationOut], "The locations"))
    async def list_locations(
        request: Request, paging: Paging = pages_of_200, principal: Principal = anyone
    ) -> dict[str, Any]:
        """The caller's municipality's locations, by id (counted on the municipality index)."""
        query = {"municipality": principal.municipality}
        locations = svc.store.db.locations
        return await found(
            request, svc.settings, locations, query, paging, sort=[("_id", 1)], view=location_out
        )

    @router.get("/locations/{location_id}", **returns(LocationOut, "The location"))
    async def get(
        location_id: str, response: Response, principal: Principal = anyone
    ) -> dict[str, Any]:
        """One location of the caller's municipality with its opening hours, description and
        accessibility; with its ETag for If-Match and If-None-Match."""
        doc = await load_location(svc, location_id, principal)
        tag(response, doc)
        return location_out(doc)

    @router.patch(
        "/locations/{location_id}", name="update", **returns(LocationOut, "The location as changed")
    )
    async def patch_details(
        location_id: str, data: LocationPatch, edit: Editing, principal: Principal = staff
    ) -> dict[str, Any]:
        """Staff: what the place's page says (address, description, accessibility, photo)."""
        location = await load_location(svc, location_id, principal)
        doc = await update_details(
            svc, location=location, patch=data, precondition=edit.precondition
        )
        return location_out(edit.tagged(doc))

    @router.put(
        "/locations/{location_id}/hours", **returns(LocationOut, "The location with its hours")
    )
    async def put_hours(
        location_id: str, data: HoursIn, edit: Editing, principal: Principal = staff
    ) -> dict[str, Any]:
        """Replaces a location's weekly opening hours and exceptions (staff of its municipality);
        honours If-Match. Bookings already made are kept."""
        async with svc.audit.action(principal, "location.hours", "location", location_id):
            location = await load_location(svc, location_id, principal)
            doc = await set_hours(
                svc, location=location, hours=data.hours, precondition=edit.precondition
            )
        return location_out(edit.tagged(doc))

    @router.get(
        "/locations/{location_id}/availability",
        name="availability",
        response_class=Response,
        responses={
            200: {
                "description": "Each active resource's free slots (or free days) in the range",
                "model": LocationAvailability,
            },
            304: {"description": "Unchanged since the ETag given in If-None-Match"},
        },
    )
    async def location_availability(
        location_id: str,
        from_: Annotated[Day, Query(alias="from")],
        to: Annotated[Day, Query()],
        kind: ResourceKind | None = None,
        if_none_match: Annotated[str | None, Header()] = None,
        principal: Principal = anyone,
    ) -> Response:
        """From the availability read model, as each resource's own availability (one
        calendar read per resource, in one query): current on every replica at once."""
        location = await load_location(svc, location_id, principal)
        ids = await active_resource_ids(svc, location_id, kind.value if kind else None)
        views = await timetable_for(svc).read_many(ids, from_, to, principal)
        body = b'{"location_id":%b,"timezone":%b,"resources":[%b]}' % (
            json.dumps(location_id).encode(),
            json.dumps(location["timezone"]).encode(),
            b",".join(views),
        )
        etag = etag_of(body)
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        if matches(if_none_match, etag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    @router.get(
        "/locations/{location_id}/day",
        name="day",
        **returns(DayView, "The day's bookings and blocks"),
    )
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
        docs = await held_at_location(svc, location_id, start, end.astimezone(UTC), status)
        return {
            "location_id": location_id,
            "date": day.isoformat(),
            "bookings": [booking_out(d) for d in docs if d["kind"] == "booking"],
            "blocks": [block_out(d) for d in docs if d["kind"] == "block"],
        }

    return router
