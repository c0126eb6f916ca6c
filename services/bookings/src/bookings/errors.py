"""The bookings domain's errors: what a rule refused, naming the field when there is one.
They are not HTTP answers; the API layer maps each to its problem+json
(`bookings.api.problems`), as events does."""

from __future__ import annotations

from datetime import datetime


class BookingsError(Exception):
    # A booking that clashes with the current state (taken time, a quota already used, a
    # status moved on), as opposed to one the rules refuse whatever the state: a series
    # reports the first kind as "conflict", the second as "refused".
    clashes = False

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(BookingsError):
    """No such location, resource, booking, series, block or feed."""


class Invalid(BookingsError):
    """A request's values do not make sense together (`what` was given: a block, a range)."""

    def __init__(self, what: str, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail, field=field)
        self.what = what


class RuleBroken(BookingsError):
    """The resource's booking rules refuse it; `now` when only for the time being (the
    resource is not bookable now, a quota is used, a deadline passed)."""

    def __init__(self, detail: str, *, field: str, now: bool = False) -> None:
        super().__init__(detail, field=field)
        self.clashes = now


class Clash(BookingsError):
    """The resource is held for part of that time (`held`: the held interval)."""

    clashes = True

    def __init__(self, held: tuple[datetime, datetime]) -> None:
        super().__init__("The resource is already booked for part of that time.", field="starts_at")
        self.held = held


class Conflict(BookingsError):
    """The request clashes with the current state (already blocked, moved on);
    `booking_ids`: the bookings in the way, when it names them."""

    clashes = True

    def __init__(
        self, detail: str, *, field: str | None = None, booking_ids: list[str] | None = None
    ) -> None:
        super().__init__(detail, field=field)
        self.booking_ids = booking_ids


class Forbidden(BookingsError):
    """The caller's role or municipality does not allow it (`other_municipality`: the
    resource belongs to a municipality the caller may not book in)."""

    def __init__(
        self, detail: str, *, field: str | None = None, other_municipality: bool = False
    ) -> None:
        super().__init__(detail, field=field)
        self.other_municipality = other_municipality


class AgeLimit(BookingsError):
    """The resource has an age limit the person does not meet, or whose age is unknown
    (`known` False: a frontend can ask for the birth date instead of only refusing) or only
    self-declared where the resource needs one identity verified (`unverified`: a city
    login would verify it)."""

    def __init__(self, min_age: int, *, known: bool, unverified: bool = False) -> None:
        if unverified:
            detail = (
                f"This resource needs a verified age {min_age}+: sign in with your city's login."
            )
        elif known:
            detail = f"This resource needs age {min_age}+."
        else:
            detail = f"This resource needs age {min_age}+; age unknown."
        super().__init__(detail, field="birthdate" if unverified or not known else None)
        self.min_age = min_age
        self.known = known
        self.unverified = unverified


class PassRefused(BookingsError):
    """A check-in pass that cannot check anyone in; `kind` says why: `pass-invalid` (not a
    booking's pass), `pass-unknown` (nobody has it), `pass-not-valid` (the booking is not
    confirmed: `booking_status`), `already-checked-in` (`checked_in_at`)."""

    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        booking_status: str | None = None,
        checked_in_at: datetime | None = None,
    ) -> None:
        super().__init__(detail, field="code")
        self.kind = kind
        self.booking_status = booking_status
        self.checked_in_at = checked_in_at


class Busy(BookingsError):
    """The resource's documents kept changing while the request was checked; try again."""
