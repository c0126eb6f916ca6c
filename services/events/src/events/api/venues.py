"""Venues API: public search; staff and admins create and change their municipality's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from contracts.events import VenueKind
from events import access, venue
from events.api.deps import Who
from events.api.views import VenueList, VenueOut
from events.errors import invalid
from events.settings import EventsSettings
from kit import conditional, pages
from kit.app import Service
from kit.auth import Principal, ensure_municipality
from kit.openapi import returns
from kit.pages import Paging


def router(svc: Service[EventsSettings], who: Who) -> APIRouter:
    api = APIRouter(prefix="/venues", tags=["venues"])
    managers = Depends(who.require(*access.MANAGERS))
    anyone = Depends(who.optional)
    pages_of_50 = Depends(Paging.of(50, 200))

    @api.post("", **returns(VenueOut, "The venue", 201))
    async def create(data: venue.VenueIn, principal: Principal = managers) -> dict[str, Any]:
        """Creates a venue (a place events are held at) in the caller's municipality; staff and
        admins."""
        return venue.out(await venue.create(svc, data=data, municipality=principal.municipality))

    @api.get("", **returns(VenueList, "Venues, nearest first when searched `near`"))
    async def search(
        request: Request,
        municipality: str | None = Query(default=None, pattern=r"^[a-z][a-z0-9-]{1,39}$"),
        kind: VenueKind | None = None,
        near: str | None = Query(
            default=None, max_length=60, description="lat,lon", examples=["60.17,24.94"]
        ),
        within_km: float | None = Query(default=None, gt=0, le=1000),
        paging: Paging = pages_of_50,
        principal: Principal | None = anyone,
    ) -> dict[str, Any]:
        """Venues of a municipality (the caller's by default), by name or nearest first from a
        point, a page at a time with the total."""
        point = None
        if near is not None:
            try:
                lat, lon = (float(x) for x in near.split(","))
            except ValueError as exc:
                raise invalid("near", "Give the point as 'latitude,longitude'.") from exc
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise invalid("near", "The point is off the map.")
            point = (lat, lon)
        chosen = municipality or (
            principal.municipality if principal else svc.settings.municipality
        )
        # A municipality's venues are read whole to be sorted (by name or distance): the
        # total is known.
        items = await venue.search(
            svc, municipality=chosen, kind=kind, near=point, within_km=within_km
        )
        return pages.listed(request, svc.settings, items, paging)

    @api.get("/{venue_id}", **returns(VenueOut, "The venue"))
    async def get(venue_id: str, response: Response) -> dict[str, Any]:
        """One venue: address, coordinates and accessibility; with its ETag."""
        doc = await venue.get(svc, venue_id)
        conditional.tag(response, doc)
        return venue.out(doc)

    @api.patch("/{venue_id}", **returns(VenueOut, "The venue as changed"))
    async def update(
        venue_id: str,
        patch: venue.VenuePatch,
        response: Response,
        precondition: Annotated[conditional.Precondition, Depends(conditional.if_match)],
        principal: Principal = managers,
    ) -> dict[str, Any]:
        """Changes a venue of the caller's municipality (staff and admins); honours If-Match."""
        found = await venue.get(svc, venue_id)
        ensure_municipality(principal, found["municipality"])
        doc = await venue.update(svc, venue=found, patch=patch, precondition=precondition)
        conditional.tag(response, doc)
        return venue.out(doc)

    return api
