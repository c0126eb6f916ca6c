"""Attendance: staff mark presence from the check-in list or by the code the attendee
shows; every mark counts as learning hours (the event's duration) for ESF statistics.
Open events without registration (Avaa tila pop-ups) record a head count instead."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from contracts import events as ev
from contracts.envelope import CloudEvent
from events import clock, store
from events.errors import conflict, invalid, not_found
from events.settings import EventsSettings
from events.status import EventStatus, RegistrationStatus
from kit.app import Service
from kit.conditional import bump
from kit.requests import Strict


class Mark(Strict):
    registration_id: str | None = None
    code: str | None = Field(default=None, min_length=4, max_length=16)
    attended: bool = True


class Visits(Strict):
    visits: int = Field(ge=0, le=1_000_000)


def hours(event: dict[str, Any]) -> float:
    return round((event["ends_at"] - event["starts_at"]).total_seconds() / 3600, 2)


def _ensure_running(event: dict[str, Any]) -> None:
    if event["status"] not in (EventStatus.PUBLISHED, EventStatus.COMPLETED):
        raise conflict(f"A {event['status']} event has no attendance.", field="status")


async def mark(
    svc: Service[EventsSettings], *, event: dict[str, Any], data: Mark
) -> dict[str, Any]:
    _ensure_running(event)
    regs = svc.store.db[store.REGISTRATIONS]
    if data.registration_id:
        query = {"_id": data.registration_id, "event_id": event["_id"]}
        what, ident = "registration", data.registration_id
    elif data.code:
        query = {"code": data.code.strip().upper(), "event_id": event["_id"]}
        what, ident = "check-in code", data.code
    else:
        raise invalid("registration_id", "Give a registration id or a check-in code.")
    reg = await regs.find_one(query)
    if reg is None:
        raise not_found(what, ident)
    if reg["status"] != RegistrationStatus.CONFIRMED:
        raise conflict(f"The registration is {reg['status']}, not confirmed.", field="status")
    if reg.get("attended") is data.attended:
        return reg  # already so: nothing new to tell
    envelope = _attendance_recorded(svc, event, reg, attended=data.attended)
    registration_id = reg["_id"]
    async with svc.uow() as uow:
        marked = await regs.find_one_and_update(
            {"_id": registration_id},
            bump({"$set": {"attended": data.attended, "attended_at": clock.now()}}),
            session=uow.session,
            return_document=True,
        )
        if marked is None:  # erased meanwhile
            raise not_found("registration", registration_id)
        await uow.emit(envelope)
    return marked


async def check_in_once(
    svc: Service[EventsSettings], *, event: dict[str, Any], reg: dict[str, Any]
) -> dict[str, Any]:
    """Mark a confirmed registration present by its pass (QR code): once. Of two desks
    scanning the same code at once, the conditional update lets one mark it."""
    _ensure_running(event)
    if reg.get("attended") is True:
        raise conflict("This registration was checked in already.", kind="already-checked-in")
    if reg["status"] != RegistrationStatus.CONFIRMED:
        raise conflict(f"The registration is {reg['status']}.", kind="pass-not-valid")
    envelope = _attendance_recorded(svc, event, reg, attended=True)
    async with svc.uow() as uow:
        marked = await svc.store.db[store.REGISTRATIONS].find_one_and_update(
            {
                "_id": reg["_id"],
                "status": RegistrationStatus.CONFIRMED,
                "attended": {"$ne": True},
            },
            bump({"$set": {"attended": True, "attended_at": clock.now()}}),
            session=uow.session,
            return_document=True,
        )
        if marked is None:
            raise conflict("This registration was checked in already.", kind="already-checked-in")
        await uow.emit(envelope)
    return marked


async def count_visits(
    svc: Service[EventsSettings], *, event: dict[str, Any], data: Visits
) -> dict[str, Any]:
    _ensure_running(event)
    now = clock.now()
    payload = ev.VisitsCounted(
        event_id=event["_id"],
        kind=event["kind"],
        venue_kind=event.get("venue_kind"),
        visits=data.visits,
        counted_at=now,
    )
    envelope = svc.event(
        ev.VISITS_COUNTED,
        payload,
        municipality=event["municipality"],
        subject=f"event/{event['_id']}",
    )
    async with svc.uow() as uow:
        doc = await svc.store.db[store.EVENTS].find_one_and_update(
            {"_id": event["_id"]},
            bump({"$set": {"visits": data.visits, "visits_counted_at": now}}),
            session=uow.session,
            return_document=True,
        )
        if doc is None:
            raise not_found("event", event["_id"])
        await uow.emit(envelope)
    return doc


async def check_in_list(svc: Service[EventsSettings], event_id: str) -> list[dict[str, Any]]:
    """Confirmed registrations, waiting list after them, in order."""
    docs = (
        await svc.store.db[store.REGISTRATIONS]
        .find(
            {
                "event_id": event_id,
                "status": {"$in": [RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED]},
            }
        )
        .to_list(None)
    )
    docs.sort(
        key=lambda r: (
            r["status"] != RegistrationStatus.CONFIRMED,
            r.get("sequence") or 0,
            r["created_at"],
        )
    )
    return docs


def _attendance_recorded(
    svc: Service[EventsSettings], event: dict[str, Any], reg: dict[str, Any], *, attended: bool
) -> CloudEvent:
    """The attendance.recorded message of a registration, by row or by pass."""
    payload = ev.AttendanceRecorded(
        event_id=event["_id"],
        registration_id=reg["_id"],
        user_id=reg["user_id"],
        kind=event["kind"],
        attended=attended,
        seats=reg["seats"],
        hours=hours(event),
        starts_at=event["starts_at"],
    )
    return svc.event(
        ev.ATTENDANCE_RECORDED,
        payload,
        municipality=event["municipality"],
        subject=f"registration/{reg['_id']}",
    )
