"""Domain errors as problem+json (RFC 9457), each naming the field when there is one."""

from __future__ import annotations

from kit.problems import Problem

BASE = "https://kohtaamo.fi/problems/events/"


def not_found(what: str, ident: str) -> Problem:
    return Problem(404, "Not found", f"No {what} {ident!r}.", type_=BASE + "not-found")


def invalid(field: str, detail: str) -> Problem:
    return Problem(422, "Invalid request", detail, field=field, type_=BASE + "invalid")


def conflict(detail: str, *, field: str | None = None, kind: str = "conflict") -> Problem:
    return Problem(409, "Conflict", detail, field=field, type_=BASE + kind)


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail, type_="https://kohtaamo.fi/problems/forbidden")
