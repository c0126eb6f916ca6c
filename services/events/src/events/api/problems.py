"""The events domain's errors as problem+json (RFC 9457): the HTTP side of events.errors."""

from __future__ import annotations

from events.errors import Conflict, EventsError, Forbidden, Invalid, NotFound
from kit.problems import Problem

BASE = "https://kohtaamo.fi/problems/events/"


def problem_of(error: EventsError) -> Problem:
    detail, field = error.detail, error.field
    if isinstance(error, NotFound):
        return Problem(404, "Not found", detail, type_=BASE + "not-found")
    if isinstance(error, Invalid):
        return Problem(422, "Invalid request", detail, field=field, type_=BASE + "invalid")
    if isinstance(error, Conflict):
        return Problem(409, "Conflict", detail, field=field, type_=BASE + error.kind)
    if isinstance(error, Forbidden):
        return Problem(403, "Forbidden", detail, type_="https://kohtaamo.fi/problems/forbidden")
    return Problem(400, "Refused", detail, field=field, type_=BASE + "refused")
