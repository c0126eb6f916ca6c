"""HTTP: booking, cancelling, approving, checking in; series."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from bookings.api.views import BookingOut, SeriesCancelled, SeriesOut
from bookings.booking import (
    BookingIn,
    PassIn,
    Reason,
    booking_out,
    bookings_of_user,
    cancel,
    change_status,
    check_in,
    check_in_by_pass,
    is_staff_of,
    load_booking,
    pending_bookings,
    place_booking,
)
from bookings.rules import BOOKER_ROLES, STAFF_ROLES
from bookings.series import SeriesIn, cancel_series, create_series, load_series, series_out
from bookings.status import SeriesStatus
from contracts.bookings import BookingStatus
from kit.app import Service
from kit.auth import Principal, ensure_municipality
from kit.conditional import tag
from kit.idempotency import idempotent
from kit.openapi import returns
from kit.pages import Page, Paging, found, page
from kit.problems import Problem


def build_router(svc: Service) -> APIRouter:
    router = APIRouter(tags=["bookings"])
    booker = Depends(svc.auth.require(*BOOKER_ROLES))
    staff = Depends(svc.auth.require(*STAFF_ROLES))
    pages_of_100 = Depends(Paging.of(100, 500))
    once = idempotent(booker.dependency)  # Idempotency-Key on creations

    @router.post(
        "/bookings", name="create", dependencies=[once], **returns(BookingOut, "The booking", 201)
    )
    async def book(data: BookingIn, principal: Principal = booker) -> dict[str, Any]:
        """Books a resource for a time in the caller's name (or, for staff, on someone's behalf).
        Checked against the resource's rules, quota and availability in one write, so two people
        never get the same time. Takes an Idempotency-Key."""
        return booking_out(await place_booking(svc, principal=principal, data=data))

    @router.get("/bookings/mine", **returns(Page[BookingOut], "The caller's bookings"))
    async def mine(
        request: Request,
        include_past: bool = False,
        paging: Paging = pages_of_100,
        principal: Principal = booker,
    ) -> dict[str, Any]:
        """The caller's bookings made in their municipality, by start; a person's bookings
        are counted on the user_id index (`total`)."""
        query = bookings_of_user(
            principal.subject, principal.municipality, include_past=include_past
        )
        bookings = svc.store.db.bookings
        sort = [("starts_at", 1), ("_id", 1)]
        return await found(
            request, svc.settings, bookings, query, paging, sort=sort, view=booking_out
        )

    @router.get("/bookings/pending", **returns(Page[BookingOut], "Waiting for approval"))
    async def pending(
        request: Request,
        location_id: str | None = Query(None, max_length=100),
        paging: Paging = pages_of_100,
        principal: Principal = staff,
    ) -> dict[str, Any]:
        """Staff: bookings waiting for approval in their municipality, by start."""
        limit, offset = paging.limit, paging.offset
        # One past the page: whether another follows, without a count.
        docs = await pending_bookings(
            svc, principal.municipality, location_id, limit=limit + 1, offset=offset
        )
        items = [booking_out(d) for d in docs[:limit]]
        more = len(docs) > limit
        return page(request, svc.settings, items, limit=limit, offset=offset, more=more)

    @router.get("/bookings/{booking_id}", **returns(BookingOut, "The booking"))
    async def get(
        booking_id: str, response: Response, principal: Principal = booker
    ) -> dict[str, Any]:
        """One booking: the booker's own, or any of the municipality for staff; with its ETag."""
        doc = await load_booking(svc, booking_id, principal)
        tag(response, doc)
        return booking_out(doc)

    @router.post("/bookings/{booking_id}/cancel", name="cancel", **returns(BookingOut, "Cancelled"))
    async def cancel_booking(
        booking_id: str, data: Reason | None = None, principal: Principal = booker
    ) -> dict[str, Any]:
        """Cancels a booking: the booker before the resource's cancellation deadline, staff at any
        time."""
        booking = await load_booking(svc, booking_id, principal)
        reason = data.reason if data else None
        if booking["user_id"] == principal.subject or not is_staff_of(
            principal, booking["municipality"]
        ):  # a person's own cancel is no privileged action (and a hot path)
            return booking_out(await cancel(svc, booking, principal, reason))
        async with svc.audit.action(
            principal,
            "booking.cancel",
            "booking",
            booking_id,
            municipality=booking["municipality"],
            reason=reason,
            resource_id=booking["resource_id"],
        ):
            cancelled = await cancel(svc, booking, principal, reason)
        return booking_out(cancelled)

    @router.post("/bookings/{booking_id}/approve", **returns(BookingOut, "Confirmed"))
    async def approve(booking_id: str, principal: Principal = staff) -> dict[str, Any]:
        """Approves a pending booking of a resource that needs approval (municipal staff)."""
        async with svc.audit.action(principal, "booking.approve", "booking", booking_id) as entry:
            booking = await load_booking(svc, booking_id, principal)
            entry.municipality = booking["municipality"]
            entry.note(resource_id=booking["resource_id"])
            ensure_municipality(principal, booking["municipality"])
            return booking_out(await approved(booking, principal))

    async def approved(booking: dict[str, Any], principal: Principal) -> dict[str, Any]:
        return await change_status(
            svc,
            booking,
            allowed_from=[BookingStatus.pending],
            status=BookingStatus.confirmed,
            changes={
                "access_code": f"{secrets.randbelow(10**6):06d}",
                "approved_by": principal.subject,
            },
        )

    @router.post("/bookings/{booking_id}/deny", **returns(BookingOut, "Denied"))
    async def deny(
        booking_id: str, data: Reason | None = None, principal: Principal = staff
    ) -> dict[str, Any]:
        """Denies a pending booking, with an optional reason told to the booker (staff of its
        municipality)."""
        reason = data.reason if data else None
        async with svc.audit.action(
            principal, "booking.deny", "booking", booking_id, reason=reason
        ) as entry:
            booking = await load_booking(svc, booking_id, principal)
            entry.municipality = booking["municipality"]
            entry.note(resource_id=booking["resource_id"])
            ensure_municipality(principal, booking["municipality"])
            doc = await change_status(
                svc,
                booking,
                allowed_from=[BookingStatus.pending],
                status=BookingStatus.denied,
                changes={"reason": reason, "denied_by": principal.subject},
            )
        return booking_out(doc)

    @router.post("/bookings/check-in", name="check_in_by_pass", **returns(BookingOut, "Checked in"))
    async def check_in_pass(data: PassIn, principal: Principal = staff) -> dict[str, Any]:
        """Staff: check in the booking whose pass (QR code) the person shows."""
        return booking_out(await check_in_by_pass(svc, data.code, principal))

    @router.post(
        "/bookings/{booking_id}/check-in", name="check_in", **returns(BookingOut, "Checked in")
    )
    async def check_in_booking(booking_id: str, principal: Principal = booker) -> dict[str, Any]:
        """Checks the booker in to their confirmed booking in the check-in window; a booking not
        checked in may be released as a no-show."""
        booking = await load_booking(svc, booking_id, principal)
        return booking_out(await check_in(svc, booking))

    @router.post(
        "/series",
        name="series_create",
        dependencies=[once],
        **returns(SeriesOut, "Each occurrence's outcome", 201),
    )
    async def new_series(data: SeriesIn, principal: Principal = booker) -> dict[str, Any]:
        """Books a weekly series of the same time; each occurrence is a booking of its own, checked
        like one. Takes an Idempotency-Key."""
        return series_out(await create_series(svc, principal=principal, data=data))

    @router.get("/series/{series_id}", name="series_get", **returns(SeriesOut, "The series"))
    async def get_series(
        series_id: str, response: Response, principal: Principal = booker
    ) -> dict[str, Any]:
        """One booking series with its occurrences (the booker's own, or its staff's)."""
        doc = await load_series(svc, series_id, principal)
        tag(response, doc)
        return series_out(doc)

    @router.post(
        "/series/{series_id}/cancel",
        name="series_cancel",
        **returns(SeriesCancelled, "The bookings cancelled"),
    )
    async def cancel_whole_series(
        series_id: str, data: Reason | None = None, principal: Principal = booker
    ) -> dict[str, Any]:
        """Cancels the occurrences of a series that have not started yet."""
        series = await load_series(svc, series_id, principal)
        if series["status"] != SeriesStatus.ACTIVE:
            raise Problem(409, "Conflict", "The series is already cancelled.", field="series_id")
        return await cancel_series(
            svc, series=series, principal=principal, reason=data.reason if data else None
        )

    return router
