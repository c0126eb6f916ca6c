"""The events domain's errors: what a rule refused, naming the field when there is one.
They are not HTTP answers; the API layer maps each kind to its problem+json
(`events.api.problems`)."""

from __future__ import annotations


class EventsError(Exception):
    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(EventsError):
    """No such venue, event, series or registration (or not one the caller may see)."""


class Invalid(EventsError):
    """A value breaks a rule (its field named)."""


class Conflict(EventsError):
    """The request clashes with the current state; `kind` says how (e.g. "duplicate")."""

    def __init__(self, detail: str, *, field: str | None = None, kind: str = "conflict") -> None:
        super().__init__(detail, field=field)
        self.kind = kind


class Forbidden(EventsError):
    """The caller's role or municipality does not allow it."""


def not_found(what: str, ident: str) -> NotFound:
    return NotFound(f"No {what} {ident!r}.")


def invalid(field: str, detail: str) -> Invalid:
    return Invalid(detail, field=field)


def conflict(detail: str, *, field: str | None = None, kind: str = "conflict") -> Conflict:
    return Conflict(detail, field=field, kind=kind)


def forbidden(detail: str) -> Forbidden:
    return Forbidden(detail)
