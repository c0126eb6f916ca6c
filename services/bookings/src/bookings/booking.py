"""Bookings: request (confirmed at once or pending approval), approve, deny, cancel,
check in, no-show. Every change and its event commit together through the outbox."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator
from pymongo.asynchronous.client_session import AsyncClientSession

from bookings import recent
from bookings import rules as rule
from bookings.calendar import release
from bookings.desk import desk_for
from bookings.errors import Busy, Conflict, Forbidden, NotFound, PassRefused
from bookings.facts import booking_event
from bookings.location import hours_of, zone_of
from bookings.opening_hours import Hours, local_day
from bookings.resource import own_hours, rules_of
from bookings.store import HOLDING
from contracts.bookings import BookingStatus
from kit import passes
from kit.app import Service
from kit.auth import Principal, ensure_municipality
from kit.conditional import bump
from kit.dates import Day, Moment
from kit.requests import Strict
from kit.uow import UnitOfWork

# Rounds of "checked against rules that changed meanwhile" before giving up (each round
# re-reads the documents, so only a resource whose rules change constantly runs out).
STALE_ATTEMPTS = 5


class BookingIn(Strict):
    """Timed booking (`starts_at`/`ends_at`; without an offset they are the location's
    local time) or, for loan resources, whole days (`start_date`/`end_date`)."""

    resource_id: str = Field(min_length=1)
    starts_at: Moment | None = None
    ends_at: Moment | None = None
    start_date: Day | None = None
    end_date: Day | None = None
    people: int = Field(1, ge=1, le=1000)
    purpose: str | None = Field(None, max_length=500)
    # Staff booking on behalf of a user.
    user_id: str | None = Field(None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _shape(self) -> BookingIn:
        timed = self.starts_at is not None and self.ends_at is not None
        loan = self.start_date is not None and self.end_date is not None
        if timed == loan:
            raise ValueError("give either starts_at and ends_at, or start_date and end_date")
        return self


class Reason(Strict):
    reason: str | None = Field(None, max_length=500)


def _localize(at: datetime, zone: ZoneInfo) -> datetime:
    return at.replace(tzinfo=zone).astimezone(UTC) if at.tzinfo is None else at.astimezone(UTC)


def effective_hours(resource: dict[str, Any], location: dict[str, Any]) -> Hours:
    return own_hours(resource) or hours_of(location)


def is_staff_of(principal: Principal, municipality: str) -> bool:
    return principal.has(*rule.STAFF_ROLES) and principal.municipality == municipality


async def place_booking(
    svc: Service,
    *,
    principal: Principal,
    data: BookingIn,
    series_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    for _ in range(STALE_ATTEMPTS):
        known = await recent.entry(svc, data.resource_id, principal)
        doc, rules, zone = _request(
            known, principal=principal, data=data, series_id=series_id, now=now
        )
        extra = {"quota": _has_quota(rules), "event": _status_extra(doc)}
        try:
            return await desk_for(svc).submit(doc, rules, zone, extra, known.version)
        except recent.Stale:
            # the rules or hours changed (maybe through another replica): check again
            recent.forget(svc, resource_id=data.resource_id)
    raise Busy("The resource's rules are changing; try again.")


def _request(
    known: recent.Entry,
    *,
    principal: Principal,
    data: BookingIn,
    series_id: str | None,
    now: datetime,
) -> tuple[dict[str, Any], rule.Rules, ZoneInfo]:
    """The booking document for a request that passes the resource's rules (else a 4xx)."""
    resource, location = known.resource, known.location
    municipality = resource["municipality"]
    staff = is_staff_of(principal, municipality)
    on_behalf = data.user_id is not None and data.user_id != principal.subject
    if on_behalf and not staff:
        raise Forbidden("Only staff book on behalf of others.", field="user_id")
    if not resource.get("active", True):
        raise rule.refuse("this resource is not bookable now", "resource_id", now=True)
    rules = rules_of(resource)
    zone = zone_of(location)
    hours = effective_hours(resource, location)
    rule.check_eligibility(
        rules, principal, municipality, local_day(now, zone), on_behalf=on_behalf
    )
    if data.people > resource.get("capacity", 1):
        raise rule.refuse(f"capacity is {resource.get('capacity', 1)} people", "people")
    if data.starts_at is not None and data.ends_at is not None:
        if rules.loan:
            raise rule.refuse("this resource is lent by whole days", "start_date")
        start, end = _localize(data.starts_at, zone), _localize(data.ends_at, zone)
        rule.check_times(rules, hours, zone, start, end, now, staff=staff)
    else:
        assert data.start_date is not None and data.end_date is not None
        start, end = rule.check_loan(
            rules, hours, data.start_date, data.end_date, now, zone, staff=staff
        )
    held_from, held_until = rules.blocked(start, end)
    status = (
        BookingStatus.pending if rules.approval_required and not staff else BookingStatus.confirmed
    )
    doc: dict[str, Any] = {
        "_id": f"bkg-{uuid.uuid4().hex}",
        "kind": "booking",
        "municipality": municipality,
        "resource_id": resource["_id"],
        "location_id": location["_id"],
        "user_id": data.user_id or principal.subject,
        "user_municipality": municipality if on_behalf else principal.municipality,
        "booked_by": principal.subject,
        "status": status,
        "starts_at": start,
        "ends_at": end,
        "held_from": held_from,
        "held_until": held_until,
        "people": data.people,
        "purpose": data.purpose,
        "series_id": series_id,
        "loan": rules.loan,
        "access_code": f"{secrets.randbelow(10**6):06d}"
        if status == BookingStatus.confirmed
        else None,
        # shown to the person as a QR code; staff check them in with it (kit.passes)
        "checkin_pass": passes.new_pass(passes.BOOKING),
        "no_show_at": (
            start + timedelta(minutes=rules.no_show_grace_minutes)
            if rules.check_in_required and not rules.loan
            else None
        ),
        "facts": {
            "resource_kind": resource["kind"],
            "resource_name": resource["name"],
            "location_name": location["name"],
            "timezone": location["timezone"],
            "mentor_user_id": resource.get("mentor_user_id"),
        },
        "created_at": now,
        "updated_at": now,
    }
    return doc, rules, zone


def _has_quota(rules: rule.Rules) -> bool:
    return any(
        v is not None
        for v in (
            rules.max_bookings_per_day,
            rules.max_bookings_per_week,
            rules.max_hours_per_day,
            rules.max_hours_per_week,
        )
    )


def _status_extra(doc: dict[str, Any]) -> dict[str, Any]:
    status = doc["status"]
    if status == BookingStatus.confirmed:
        return {"access_code": doc.get("access_code")}
    if status == BookingStatus.cancelled:
        return {"cancelled_by": doc.get("cancelled_by", "user"), "reason": doc.get("reason")}
    if status == BookingStatus.denied:
        return {"reason": doc.get("reason")}
    if status == BookingStatus.checked_in:
        return {"checked_in_at": doc["checked_in_at"]}
    return {}


async def transition(
    svc: Service,
    session: AsyncClientSession,
    booking: dict[str, Any],
    *,
    allowed_from: list[str],
    status: str,
    changes: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Conditional status change plus its event, inside the caller's transaction. None
    when the booking was no longer in `allowed_from` (another actor or replica won)."""
    now = datetime.now(UTC)
    update = {"status": status, "updated_at": now, **(changes or {})}
    result = await svc.store.db.bookings.update_one(
        {"_id": booking["_id"], "status": {"$in": allowed_from}},
        bump({"$set": update}),
        session=session,
    )
    if result.modified_count != 1:
        return None
    if status not in HOLDING:
        await release(svc.store, session, booking["resource_id"])
    doc = {**booking, **update}
    type_, payload = booking_event(doc, **_status_extra(doc))
    await svc.emit(
        session,
        svc.event(
            type_, payload, municipality=doc["municipality"], subject=f"booking/{doc['_id']}"
        ),
    )
    return doc


async def change_status(
    svc: Service,
    booking: dict[str, Any],
    *,
    allowed_from: list[str],
    status: str,
    changes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    async def work(uow: UnitOfWork) -> dict[str, Any] | None:
        session = uow.session
        return await transition(
            svc, session, booking, allowed_from=allowed_from, status=status, changes=changes
        )

    doc = await svc.uow.run(work)  # a racing change conflicts, then finds it done
    if doc is None:
        raise Conflict(f"The booking is no longer {' or '.join(allowed_from)}.", field="status")
    return doc


async def load_booking(svc: Service, booking_id: str, principal: Principal) -> dict[str, Any]:
    """The booking if the caller is its user or staff of its municipality."""
    doc = await svc.store.db.bookings.find_one({"_id": booking_id, "kind": "booking"})
    if doc is None:
        raise NotFound(f"No booking {booking_id}.", field="booking_id")
    if doc["user_id"] == principal.subject and principal.municipality == doc.get(
        "user_municipality", doc["municipality"]
    ):
        return doc
    ensure_municipality(principal, doc["municipality"])
    if not principal.has(*rule.STAFF_ROLES):
        raise Forbidden("Not your booking.")
    return doc


async def cancel(
    svc: Service, booking: dict[str, Any], principal: Principal, reason: str | None
) -> dict[str, Any]:
    now = datetime.now(UTC)
    staff = is_staff_of(principal, booking["municipality"])
    if not staff:
        resource = await svc.store.db.resources.find_one({"_id": booking["resource_id"]})
        rules = rules_of(resource or {})
        if not rule.can_cancel(rules, booking["starts_at"], now):
            raise rule.refuse(
                f"cancel at least {rules.cancel_deadline_minutes} minutes before the start; "
                "ask the staff",
                "booking_id",
                now=True,
            )
    return await change_status(
        svc,
        booking,
        allowed_from=[BookingStatus.pending, BookingStatus.confirmed],
        status=BookingStatus.cancelled,
        changes={
            "cancelled_by": "staff"
            if staff and booking["user_id"] != principal.subject
            else "user",
            "reason": reason,
            "cancelled_at": now,
        },
    )


class PassIn(Strict):
    """What staff typed or scanned: the pass (kit.passes), with any spacing."""

    code: str = Field(min_length=1, max_length=200)


async def check_in_by_pass(svc: Service, code: str, principal: Principal) -> dict[str, Any]:
    """Staff check a person in by their booking's pass: once, within the check-in window,
    only bookings of the staff member's municipality."""
    value = passes.parse(code, passes.BOOKING)
    if value is None:
        raise PassRefused("pass-invalid", "Not a booking's check-in code.")
    booking = await svc.store.db.bookings.find_one({"checkin_pass": value, "kind": "booking"})
    if booking is None:
        raise PassRefused("pass-unknown", "No booking has this check-in code.")
    ensure_municipality(principal, booking["municipality"])
    if booking["status"] != BookingStatus.confirmed:
        raise _not_checkable(booking)
    try:
        return await check_in(svc, booking)
    except Conflict:
        # another desk won the race: say what happened, not "no longer confirmed"
        now = await svc.store.db.bookings.find_one({"_id": booking["_id"]})
        raise _not_checkable(now or booking) from None


def _not_checkable(booking: dict[str, Any]) -> PassRefused:
    status = str(booking["status"])
    if status == BookingStatus.checked_in:
        return PassRefused(
            "already-checked-in",
            "This booking was checked in already.",
            checked_in_at=booking.get("checked_in_at"),
        )
    return PassRefused("pass-not-valid", f"The booking is {status}.", booking_status=status)


async def check_in(svc: Service, booking: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    resource = await svc.store.db.resources.find_one({"_id": booking["resource_id"]})
    rules = rules_of(resource or {})
    if now < booking["starts_at"] - timedelta(minutes=rules.check_in_opens_minutes):
        raise rule.refuse(
            f"check-in opens {rules.check_in_opens_minutes} minutes before the start",
            "booking_id",
            now=True,
        )
    if now >= booking["ends_at"]:
        raise rule.refuse("the booking has ended", "booking_id", now=True)
    return await change_status(
        svc,
        booking,
        allowed_from=[BookingStatus.confirmed],
        status=BookingStatus.checked_in,
        changes={"checked_in_at": now},
    )


def booking_out(doc: dict[str, Any], *, with_code: bool = True) -> dict[str, Any]:
    facts = doc.get("facts", {})
    return {
        "id": doc["_id"],
        "municipality": doc["municipality"],
        "resource_id": doc["resource_id"],
        "resource_name": facts.get("resource_name", {}),
        "resource_kind": facts.get("resource_kind"),
        "location_id": doc["location_id"],
        "user_id": doc.get("user_id"),
        "status": doc["status"],
        "starts_at": doc["starts_at"].isoformat(),
        "ends_at": doc["ends_at"].isoformat(),
        "timezone": facts.get("timezone"),
        "people": doc.get("people", 1),
        "purpose": doc.get("purpose"),
        "series_id": doc.get("series_id"),
        "loan": doc.get("loan", False),
        "access_code": doc.get("access_code") if with_code else None,
        "checkin_pass": doc.get("checkin_pass") if with_code else None,
        "reason": doc.get("reason"),
        "flagged": doc.get("flagged"),
        "checked_in_at": doc["checked_in_at"].isoformat() if doc.get("checked_in_at") else None,
    }


# -- reads for the API ---------------------------------------------------------------------


def bookings_of_user(user_id: str, municipality: str, *, include_past: bool) -> dict[str, Any]:
    """The query of a person's bookings made in their municipality (on the user_id index)."""
    query: dict[str, Any] = {
        "user_id": user_id,
        "kind": "booking",
        "user_municipality": municipality,
    }
    if not include_past:
        query["ends_at"] = {"$gte": datetime.now(UTC)}
    return query


async def pending_bookings(
    svc: Service, municipality: str, location_id: str | None, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Bookings waiting for approval, by start: `limit` of them from `offset`."""
    query: dict[str, Any] = {"municipality": municipality, "status": BookingStatus.pending}
    if location_id:
        query["location_id"] = location_id
    found = svc.store.db.bookings.find(query, sort=[("starts_at", 1)], skip=offset, limit=limit)
    return await found.to_list()


async def held_at_location(
    svc: Service, location_id: str, start: datetime, end: datetime, status: str | None
) -> list[dict[str, Any]]:
    """Bookings and blocks of a location overlapping [start, end), by start."""
    query: dict[str, Any] = {
        "location_id": location_id,
        "starts_at": {"$lt": end},
        "ends_at": {"$gt": start},
    }
    if status:
        query["status"] = status
    return await svc.store.db.bookings.find(query, sort=[("starts_at", 1)]).to_list()


def bookings_of_resource(resource_id: str, start: datetime, end: datetime) -> dict[str, Any]:
    """The query of a resource's bookings starting in [start, end)."""
    return {
        "resource_id": resource_id,
        "kind": "booking",
        "starts_at": {"$gte": start, "$lt": end},
    }
