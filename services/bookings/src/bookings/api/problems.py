"""The bookings domain's errors as problem+json (RFC 9457): the HTTP side of
bookings.errors, answered as before the domain had errors of its own."""

from __future__ import annotations

from typing import Any

from bookings.errors import (
    AgeLimit,
    BookingsError,
    Busy,
    Clash,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PassRefused,
    RuleBroken,
)
from kit.problems import Problem

BASE = "https://kohtaamo.fi/problems/"


def problem_of(error: BookingsError) -> Problem:
    detail, field = error.detail, error.field
    if isinstance(error, NotFound):
        return Problem(404, "Not found", detail, field=field)
    if isinstance(error, Invalid):
        return Problem(422, f"Invalid {error.what}", detail, field=field)
    if isinstance(error, RuleBroken):
        # One status per kind (docs/api.md, Refusals): the request breaks a rule whatever
        # else is booked (422), or the state refuses it now (a quota reached, 409).
        if error.clashes:
            return Problem(
                409, "Booking limit reached", detail, field=field, type_=BASE + "booking-limit"
            )
        return Problem(422, "Booking not allowed", detail, field=field, type_=BASE + "booking-rule")
    if isinstance(error, Clash):
        start, end = error.held
        return Problem(
            409,
            "Conflict",
            detail,
            field=field,
            type_=BASE + "booking-conflict",
            extra={"conflict": {"starts_at": start.isoformat(), "ends_at": end.isoformat()}},
        )
    if isinstance(error, Conflict):
        extra = None if error.booking_ids is None else {"booking_ids": error.booking_ids}
        return Problem(409, "Conflict", detail, field=field, extra=extra)
    if isinstance(error, Forbidden):
        kind = BASE + "other-municipality" if error.other_municipality else None
        return Problem(403, "Forbidden", detail, field=field, type_=kind)
    if isinstance(error, AgeLimit):
        if error.unverified:
            return Problem(
                403,
                "Verified age needed",
                detail,
                field=field,
                type_=BASE + "age-verification-needed",
                extra={"min_age": error.min_age},
            )
        if error.known:
            return Problem(
                403, "Age limit", detail, type_=BASE + "age-limit", extra={"min_age": error.min_age}
            )
        return Problem(
            403,
            "Birth date needed",
            detail,
            field=field,
            type_=BASE + "birthdate-needed",
            extra={"min_age": error.min_age},
        )
    if isinstance(error, PassRefused):
        status = {"pass-invalid": 422, "pass-unknown": 404}.get(error.kind, 409)
        said: dict[str, Any] = {}
        if error.booking_status is not None:
            said["booking_status"] = error.booking_status
        if error.kind == "already-checked-in":
            at = error.checked_in_at
            said["checked_in_at"] = at.isoformat() if at else None
        return Problem(
            status, "Check-in refused", detail, field=field, type_=BASE + error.kind, extra=said
        )
    if isinstance(error, Busy):
        return Problem(503, "Busy", detail)
    return Problem(400, "Refused", detail, field=field)
