"""HTTP: resources, their availability and maintenance blocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from bookings.api.views import Availability, BlockOut, BookingOut, ResourceOut
from bookings.block import BlockIn, block_out, block_resource, lift_block
from bookings.booking import booking_out, bookings_of_resource
from bookings.location import load_location
from bookings.resource import (
    ResourceIn,
    ResourcePatch,
    create_resource,
    load_resource,
    resource_out,
    resources_of,
    update_resource,
)
from bookings.rules import BOOKER_ROLES, STAFF_ROLES
from bookings.timetable import matches, timetable_for
from contracts.bookings import ResourceKind
from kit.app import Service
from kit.auth import Principal, ensure_municipality
from kit.conditional import Editing, tag
from kit.dates import Day
from kit.openapi import returns
from kit.pages import Page, Paging, found
from kit.problems import Problem


def build_router(svc: Service) -> APIRouter:
    router = APIRouter(tags=["resources"])
    staff = Depends(svc.auth.require(*STAFF_ROLES))
    anyone = Depends(svc.auth.require(*BOOKER_ROLES, "analyst"))
    staff_or_mentor = Depends(svc.auth.require(*STAFF_ROLES, "mentor"))
    pages_of_200 = Depends(Paging.of(200, 500))

    @router.post("/resources", **returns(ResourceOut, "The resource", 201))
    async def create(data: ResourceIn, principal: Principal = staff_or_mentor) -> dict[str, Any]:
        """Creates a bookable resource at a location of the caller's municipality (staff), or a
        mentor's own office hours (mentors)."""
        # A mentor may open office hours for themselves only.
        if not principal.has(*STAFF_ROLES) and (
            data.kind != ResourceKind.mentor_hours or data.mentor_user_id != principal.subject
        ):
            raise Problem(
                403, "Forbidden", "Mentors may only create their own office hours.", field="kind"
            )
        location = await load_location(svc, data.location_id, principal)
        return resource_out(await create_resource(svc, data=data, location=location))

    @router.get("/resources", name="list", **returns(Page[ResourceOut], "The resources"))
    async def list_resources(
        request: Request,
        location_id: str | None = Query(None, max_length=100),
        kind: ResourceKind | None = None,
        paging: Paging = pages_of_200,
        principal: Principal = anyone,
    ) -> dict[str, Any]:
        """The caller's municipality's resources, by id (counted on its index)."""
        query = resources_of(principal.municipality, location_id, kind.value if kind else None)
        resources = svc.store.db.resources
        return await found(
            request, svc.settings, resources, query, paging, sort=[("_id", 1)], view=resource_out
        )

    @router.get("/resources/{resource_id}", **returns(ResourceOut, "The resource"))
    async def get(
        resource_id: str, response: Response, principal: Principal = anyone
    ) -> dict[str, Any]:
        """One resource with its rules, terms and hours, and its ETag."""
        doc = await load_resource(svc, resource_id, principal)
        tag(response, doc)
        return resource_out(doc)

    @router.patch(
        "/resources/{resource_id}", name="update", **returns(ResourceOut, "The resource as changed")
    )
    async def patch(
        resource_id: str, data: ResourcePatch, edit: Editing, principal: Principal = staff
    ) -> dict[str, Any]:
        """Changes a resource's details or rules (staff of its municipality); honours If-Match (412
        on a stale version)."""
        resource = await load_resource(svc, resource_id)
        ensure_municipality(principal, resource["municipality"])
        doc = await update_resource(
            svc, resource=resource, patch=data, precondition=edit.precondition
        )
        return resource_out(edit.tagged(doc))

    @router.get(
        "/resources/{resource_id}/availability",
        name="availability",
        response_class=Response,
        responses={
            200: {
                "description": "Free slots (or, for loans, free days) in the range",
                "model": Availability,
            },
            304: {"description": "Unchanged since the ETag given in If-None-Match"},
        },
    )
    async def resource_availability(
        resource_id: str,
        from_: Annotated[Day, Query(alias="from")],
        to: Annotated[Day, Query()],
        if_none_match: Annotated[str | None, Header()] = None,
        principal: Principal = anyone,
    ) -> Response:
        """From the availability read model (timetable.py): current for every replica
        at once, with a strong ETag. Signed-in reads only, so the cache is the user's
        own and must check back (no-cache): a booking changes the answer at once."""
        answer = await timetable_for(svc).read(resource_id, from_, to, principal)
        headers = {"ETag": answer.etag, "Cache-Control": "private, no-cache"}
        if matches(if_none_match, answer.etag):
            return Response(status_code=304, headers=headers)
        return Response(answer.body, media_type="application/json", headers=headers)

    @router.get(
        "/resources/{resource_id}/bookings",
        name="bookings",
        **returns(Page[BookingOut], "Its bookings in the range"),
    )
    async def resource_bookings(
        request: Request,
        resource_id: str,
        from_: Annotated[Day, Query(alias="from")],
        to: Annotated[Day, Query()],
        paging: Paging = pages_of_200,
        principal: Principal = staff_or_mentor,
    ) -> dict[str, Any]:
        """Who booked this resource: staff of its municipality, or the mentor whose office
        hours it is."""
        resource = await load_resource(svc, resource_id)
        ensure_municipality(principal, resource["municipality"])
        if not principal.has(*STAFF_ROLES) and resource.get("mentor_user_id") != principal.subject:
            raise Problem(403, "Forbidden", "Not your office hours.", field="resource_id")
        if to < from_ or (to - from_).days > 62:
            raise Problem(422, "Invalid range", "at most 62 days, to after from", field="to")
        start = datetime.combine(from_, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
        end = datetime.combine(to, datetime.min.time(), tzinfo=UTC) + timedelta(days=2)
        query = bookings_of_resource(resource_id, start, end)
        # At most 62 days of one resource's bookings: cheap to count.
        return await found(
            request,
            svc.settings,
            svc.store.db.bookings,
            query,
            paging,
            sort=[("starts_at", 1), ("_id", 1)],
            view=lambda d: booking_out(d, with_code=False),
        )

    @router.post(
        "/resources/{resource_id}/blocks", **returns(BlockOut, "The block and what it did", 201)
    )
    async def block(
        resource_id: str, data: BlockIn, principal: Principal = staff
    ) -> dict[str, Any]:
        """Blocks a resource for a time (maintenance, an event) so that it cannot be booked then;
        the answer says what the block did to bookings already there. Staff of its municipality."""
        details: dict[str, Any] = {
            "starts_at": data.starts_at.isoformat(),
            "ends_at": data.ends_at.isoformat(),
        }
        async with svc.audit.action(
            principal, "resource.block", "resource", resource_id, **details
        ) as entry:
            resource = await load_resource(svc, resource_id)
            entry.municipality = resource["municipality"]
            ensure_municipality(principal, resource["municipality"])
            made = await block_resource(svc, resource=resource, data=data, principal=principal)
        return block_out(made)

    @router.delete("/blocks/{block_id}", status_code=204)
    async def lift(block_id: str, principal: Principal = staff) -> Response:
        """Lifts a block: the time becomes bookable again (staff of its municipality)."""
        async with svc.audit.action(principal, "block.lift", "block", block_id) as entry:
            entry.any_transaction = True  # a lift tells no other service
            await lift_block(svc, block_id=block_id, principal=principal)
        return Response(status_code=204)

    return router
