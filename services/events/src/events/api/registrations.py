"""Registrations, attendance and feedback API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import Field

from events import access, attendance, clock, event, export, feedback, registration, store
from events.api.deps import Who
from events.api.views import (
    CheckedIn,
    CheckInList,
    FeedbackOut,
    FeedbackSummary,
    MyRegistrations,
    RegistrationOut,
    VisitsCounted,
)
from events.errors import forbidden, not_found
from events.settings import EventsSettings
from events.status import RegistrationStatus
from kit import conditional, passes
from kit.app import Service
from kit.auth import Principal, ensure_municipality
from kit.idempotency import idempotent
from kit.openapi import file_response, returns
from kit.pages import Paging, listed, page
from kit.problems import Problem
from kit.requests import Strict


class PassIn(Strict):
    """What staff typed or scanned: the pass (kit.passes), with any spacing."""

    code: str = Field(min_length=1, max_length=200)


def router(svc: Service[EventsSettings], who: Who, registrar: registration.Registrar) -> APIRouter:
    api = APIRouter(tags=["registrations"])
    managers = Depends(who.require(*access.MANAGERS))
    signed_in = Depends(who.principal)
    pages_of_200 = Depends(Paging.of(200, 500))
    pages_of_500 = Depends(Paging.of(500, 2000))

    async def managed_event(event_id: str, principal: Principal) -> dict[str, Any]:
        doc = await event.get(svc, event_id)
        access.ensure_manager(principal, doc["municipality"])
        return doc

    async def exported(
        event_id: str, principal: Principal, fmt: str
    ) -> tuple[dict[str, Any], list[list[Any]]]:
        """The participants of an event for an export, which the audit log records."""
        async with svc.audit.action(
            principal, "registrations.export", "event", event_id, standalone=True, format=fmt
        ) as entry:
            doc = await event.get(svc, event_id)
            entry.municipality = doc["municipality"]
            access.ensure_manager(principal, doc["municipality"])
            rows = await export.rows(svc, doc)
            entry.note(rows=len(rows))
        return doc, rows

    async def own_or_managed(registration_id: str, principal: Principal) -> dict[str, Any]:
        reg = await registration.find(svc, registration_id)
        if reg is None:
            raise not_found("registration", registration_id)
        ensure_municipality(principal, reg["municipality"])
        if reg["user_id"] != principal.subject and not principal.has(*access.MANAGERS):
            raise forbidden("This is someone else's registration.")
        return reg

    @api.post(
        "/events/{event_id}/registrations",
        dependencies=[idempotent(signed_in.dependency)],
        **returns(RegistrationOut, "Confirmed, or on the waiting list", 201),
    )
    async def register(
        event_id: str, data: registration.RegistrationIn, principal: Principal = signed_in
    ) -> dict[str, Any]:
        """Signs the caller (and their group) up to an event: a seat when one is free, else a place
        on the waiting list. Age limits and registration times are checked; takes an Idempotency-
        Key."""
        doc = await event.get(svc, event_id)
        access.ensure_visible(principal, doc)
        ensure_municipality(principal, doc["municipality"])
        today = clock.local(clock.now(), doc["timezone"]).date()
        known_age = registration.verified_age(principal.claims, data, today)
        registration.check_open(doc, data, known_age)
        name = data.name or principal.claims.get("name")
        signup = registration.SignUp(
            user_id=principal.subject, data=data, name=name, known_age=known_age
        )
        reg = await registrar.submit(event_id, signup)
        return registration.out(reg, doc["timezone"])

    @api.get("/events/{event_id}/registrations", **returns(CheckInList, "The check-in list"))
    async def check_in_list(
        request: Request,
        event_id: str,
        paging: Paging = pages_of_500,
        principal: Principal = managers,
    ) -> dict[str, Any]:
        """The check-in list of an event (its managers): confirmed registrations, then the waiting
        list in order with each one's place, a page at a time, with the event's seat counts."""
        doc = await managed_event(event_id, principal)
        items = await attendance.check_in_list(svc, event_id)
        waiting = 0
        out = []
        for reg in items:
            place = None
            if reg["status"] == RegistrationStatus.WAITLISTED:
                waiting += 1
                place = waiting
            out.append(registration.out(reg, doc["timezone"], place=place))
        # The whole list is read to number the waiting list: its size is the total.
        answer = listed(request, svc.settings, out, paging)
        return answer | {"seats_taken": doc["seats_taken"], "capacity": doc.get("capacity")}

    @api.get(
        "/events/{event_id}/registrations.csv",
        **file_response("The registrations as CSV", "text/csv"),
    )
    async def export_csv(event_id: str, principal: Principal = managers) -> Response:
        """The event's registrations as CSV for its managers (UTF-8 with a byte order mark, for
        spreadsheets)."""
        _, rows = await exported(event_id, principal, "csv")
        return Response(
            export.to_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{event_id}.csv"'},
        )

    @api.get(
        "/events/{event_id}/registrations.xlsx",
        **file_response("The registrations as a spreadsheet", export.XLSX),
    )
    async def export_xlsx(event_id: str, principal: Principal = managers) -> Response:
        """The event's registrations as an XLSX workbook for its managers."""
        doc, rows = await exported(event_id, principal, "xlsx")
        return Response(
            export.to_xlsx(rows, title=export.sheet_title(doc)),
            media_type=export.XLSX,
            headers={"Content-Disposition": f'attachment; filename="{event_id}.xlsx"'},
        )

    @api.get("/registrations/mine", **returns(MyRegistrations, "The caller's, newest first"))
    async def mine(
        request: Request, paging: Paging = pages_of_200, principal: Principal = signed_in
    ) -> dict[str, Any]:
        """The caller's registrations, newest first, a page at a time."""
        limit, offset = paging.limit, paging.offset
        # One past the page: whether another follows, without a count.
        found = await registration.of_user(svc, principal.subject, limit + 1, offset)
        tz = svc.settings.timezone_of(principal.municipality)
        items = [
            registration.out(r, tz, place=await registration.place(svc, r)) for r in found[:limit]
        ]
        more = len(found) > limit
        return page(request, svc.settings, items, limit=limit, offset=offset, more=more)

    @api.get("/registrations/{registration_id}", **returns(RegistrationOut, "The registration"))
    async def get(
        registration_id: str, response: Response, principal: Principal = signed_in
    ) -> dict[str, Any]:
        """One registration: the registrant's own, or the event's managers'."""
        reg = await own_or_managed(registration_id, principal)
        tz = svc.settings.timezone_of(reg["municipality"])
        place = await registration.place(svc, reg)
        # the place on the waiting list moves without this registration changing
        conditional.tag(response, reg, f"p{place}" if place is not None else None)
        return registration.out(reg, tz, place=place)

    @api.post(
        "/registrations/{registration_id}/cancel",
        **returns(RegistrationOut, "The cancelled registration"),
    )
    async def cancel(registration_id: str, principal: Principal = signed_in) -> dict[str, Any]:
        """Cancels a registration; a freed seat goes to the waiting list in order."""
        reg = await own_or_managed(registration_id, principal)
        by = "user" if reg["user_id"] == principal.subject else "staff"
        done = await registrar.cancel(
            event_id=reg["event_id"], registration_id=registration_id, by=by
        )
        tz = svc.settings.timezone_of(reg["municipality"])
        return registration.out(done, tz)

    @api.post(
        "/registrations/{registration_id}/feedback",
        **returns(FeedbackOut, "The feedback as given", 201),
    )
    async def give_feedback(
        registration_id: str, data: feedback.FeedbackIn, principal: Principal = signed_in
    ) -> dict[str, Any]:
        """Gives feedback (a rating from 1 to 5 and an optional comment) on an event the caller
        attended."""
        reg = await own_or_managed(registration_id, principal)
        if reg["user_id"] != principal.subject:
            raise forbidden("Feedback is given by the participant.")
        doc = await event.get(svc, reg["event_id"])
        given = await feedback.give(svc, event=doc, reg=reg, data=data)
        return {"rating": given["rating"], "comment": given["comment"]}

    @api.get("/events/{event_id}/feedback", **returns(FeedbackSummary, "Ratings and comments"))
    async def feedback_summary(event_id: str, principal: Principal = managers) -> dict[str, Any]:
        """The feedback summary of an event for its managers: count, average, histogram and
        comments."""
        await managed_event(event_id, principal)
        return await feedback.summary(svc, event_id)

    @api.post(
        "/events/{event_id}/attendance", **returns(RegistrationOut, "The registration marked")
    )
    async def mark(
        event_id: str, data: attendance.Mark, principal: Principal = managers
    ) -> dict[str, Any]:
        """Marks a registrant present or absent, by registration id or by the code of their pass
        (the event's managers)."""
        doc = await managed_event(event_id, principal)
        reg = await attendance.mark(svc, event=doc, data=data)
        return registration.out(reg, doc["timezone"])

    @api.post(
        "/registrations/check-in",
        **returns(CheckedIn, "Marked present"),
    )
    async def check_in_pass(data: PassIn, principal: Principal = managers) -> dict[str, Any]:
        """Staff: mark present the registration whose pass (QR code) the person shows."""
        value = passes.parse(data.code, passes.REGISTRATION)
        if value is None:
            raise Problem(
                422,
                "Invalid request",
                "Not a registration's check-in code.",
                field="code",
                type_="https://kohtaamo.fi/problems/pass-invalid",
            )
        reg = await svc.store.db[store.REGISTRATIONS].find_one({"checkin_pass": value})
        if reg is None:
            raise Problem(
                404,
                "Not found",
                "No registration has this check-in code.",
                field="code",
                type_="https://kohtaamo.fi/problems/pass-unknown",
            )
        doc = await managed_event(reg["event_id"], principal)
        marked = await attendance.check_in_once(svc, event=doc, reg=reg)
        return registration.out(marked, doc["timezone"]) | {"event_title": doc["title"]}

    @api.post("/events/{event_id}/visits", **returns(VisitsCounted, "The visits counted"))
    async def visits(
        event_id: str, data: attendance.Visits, principal: Principal = managers
    ) -> dict[str, Any]:
        """Records the count of visitors of an event without registration (the event's managers)."""
        doc = await managed_event(event_id, principal)
        updated = await attendance.count_visits(svc, event=doc, data=data)
        return {"event_id": event_id, "visits": updated["visits"]}

    return api
