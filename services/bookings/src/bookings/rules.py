"""Booking rules of a resource and the checks a request must pass before it may claim time.

Pure functions: the store-level guarantee against overlaps lives in `calendar.py`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from bookings.errors import AgeLimit, Forbidden, RuleBroken
from bookings.opening_hours import Hours, is_open_day, local_day, period_containing
from kit.principal import Principal
from kit.requests import Strict

BOOKER_ROLES = ("resident", "mentor", "partner", "staff", "admin")
STAFF_ROLES = ("staff", "admin")


class Rules(Strict):
    slot_minutes: int = Field(30, ge=5, le=1440)
    min_minutes: int = Field(30, ge=5, le=1440)
    max_minutes: int = Field(240, ge=5, le=1440)
    min_notice_minutes: int = Field(0, ge=0, le=60 * 24 * 30)
    max_days_ahead: int = Field(60, ge=1, le=730)
    max_bookings_per_day: int | None = Field(None, ge=1)
    max_bookings_per_week: int | None = Field(None, ge=1)
    max_hours_per_day: float | None = Field(None, gt=0)
    max_hours_per_week: float | None = Field(None, gt=0)
    buffer_before_minutes: int = Field(0, ge=0, le=240)
    buffer_after_minutes: int = Field(0, ge=0, le=240)
    approval_required: bool = False
    # Who may book: roles (empty = any booker role), municipalities besides the resource's
    # own, minimum age (needs a `birthdate` claim in the token), and whether that age must
    # be verified (`birthdate_source: verified`: a city login with strong identification)
    # rather than the person's own word.
    allowed_roles: list[str] = Field(default_factory=list, max_length=20)
    allowed_municipalities: list[str] = Field(default_factory=list, max_length=100)
    min_age: int | None = Field(None, ge=0, le=120)
    min_age_verified: bool = False
    cancel_deadline_minutes: int = Field(0, ge=0, le=60 * 24 * 30)
    check_in_required: bool = True
    check_in_opens_minutes: int = Field(15, ge=0, le=240)
    no_show_grace_minutes: int = Field(15, ge=1, le=240)
    # Equipment loans: booked in whole local days, picked up and returned on open days.
    loan: bool = False
    max_loan_days: int = Field(14, ge=1, le=180)

    @model_validator(mode="after")
    def _consistent(self) -> Rules:
        if self.min_minutes > self.max_minutes:
            raise ValueError("min_minutes must not exceed max_minutes")
        if self.min_minutes % self.slot_minutes or self.max_minutes % self.slot_minutes:
            raise ValueError("min_minutes and max_minutes must be multiples of slot_minutes")
        return self

    def blocked(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """The time the resource is held: the booking plus its buffers."""
        return (
            start - timedelta(minutes=self.buffer_before_minutes),
            end + timedelta(minutes=self.buffer_after_minutes),
        )


def refuse(detail: str, field: str, *, now: bool = False) -> RuleBroken:
    """What the rules say (`now`: only for the time being, a clash with the state)."""
    return RuleBroken(detail, field=field, now=now)


def check_eligibility(
    rules: Rules, principal: Principal, municipality: str, today: date, *, on_behalf: bool
) -> None:
    """Role, municipality and age of the person booking (staff booking on behalf of
    someone skip the role/age test: they vouch for the user)."""
    if on_behalf:
        return
    roles = rules.allowed_roles or list(BOOKER_ROLES)
    if not principal.has(*roles):
        raise Forbidden(f"This resource can be booked by: {', '.join(roles)}.")
    if principal.municipality != municipality and (
        principal.municipality not in rules.allowed_municipalities
    ):
        raise Forbidden(f"No access to municipality {municipality}.", other_municipality=True)
    if rules.min_age is not None:
        check_age(
            rules.min_age,
            principal.claims.get("birthdate"),
            today,
            verified=principal.claims.get("birthdate_source") == VERIFIED,
            needs_verified=rules.min_age_verified,
        )


VERIFIED = "verified"  # identity's birthdate_source of a strongly identified birth date


def check_age(
    min_age: int,
    born: object,
    today: date,
    *,
    verified: bool = False,
    needs_verified: bool = False,
) -> None:
    """Distinct problem types, so a frontend can ask for the missing birth date (or for a
    city login that verifies it) instead of only refusing; `min_age` is in the answer for
    its message."""
    if needs_verified and born is not None and not verified:
        raise AgeLimit(min_age, known=True, unverified=True)
    try:
        birth = date.fromisoformat(str(born))
    except ValueError:
        raise AgeLimit(min_age, known=False) from None
    age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    if age < min_age:
        raise AgeLimit(min_age, known=True)


def check_times(
    rules: Rules,
    hours: Hours,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    staff: bool = False,
) -> None:
    """Duration, slot grid, opening hours and booking window of a timed booking."""
    if start.tzinfo is None or end.tzinfo is None:
        raise refuse("times need a time zone", "starts_at")
    if end <= start:
        raise refuse("ends_at must be after starts_at", "ends_at")
    minutes = (end - start).total_seconds() / 60
    if minutes < rules.min_minutes:
        raise refuse(f"shortest booking is {rules.min_minutes} minutes", "ends_at")
    if minutes > rules.max_minutes:
        raise refuse(f"longest booking is {rules.max_minutes} minutes", "ends_at")
    period = period_containing(hours, zone, start, end)
    if period is None:
        raise refuse("the booking must fall inside one opening period", "starts_at")
    opens, closes = period
    slot = timedelta(minutes=rules.slot_minutes)
    if (start - opens) % slot or ((end - opens) % slot and end != closes):
        raise refuse(f"bookings follow a {rules.slot_minutes}-minute grid", "starts_at")
    _check_window(rules, start, now, staff=staff)


def check_loan(
    rules: Rules,
    hours: Hours,
    first: date,
    last: date,
    now: datetime,
    zone: ZoneInfo,
    *,
    staff: bool = False,
) -> tuple[datetime, datetime]:
    """A multi-day loan from `first` to `last` (inclusive): both open days; returns the
    UTC interval from local midnight of `first` to local midnight after `last`."""
    if not rules.loan:
        raise refuse("this resource is booked by time, not as a loan", "start_date")
    if last < first:
        raise refuse("end_date must not be before start_date", "end_date")
    if (last - first).days + 1 > rules.max_loan_days:
        raise refuse(f"longest loan is {rules.max_loan_days} days", "end_date")
    if not is_open_day(hours, first):
        raise refuse("pick-up must be on an open day", "start_date")
    if not is_open_day(hours, last):
        raise refuse("return must be on an open day", "end_date")
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    if local_day(now, zone) > first and not staff:
        raise refuse("a loan cannot start in the past", "start_date")
    if start > now + timedelta(days=rules.max_days_ahead) and not staff:
        raise refuse(f"bookable at most {rules.max_days_ahead} days ahead", "start_date")
    return start, end.astimezone(UTC)


def _check_window(rules: Rules, start: datetime, now: datetime, *, staff: bool) -> None:
    if start < now:
        raise refuse("starts_at is in the past", "starts_at")
    if staff:
        return  # staff may book short notice and far ahead
    if start < now + timedelta(minutes=rules.min_notice_minutes):
        raise refuse(f"book at least {rules.min_notice_minutes} minutes ahead", "starts_at")
    if start > now + timedelta(days=rules.max_days_ahead):
        raise refuse(f"bookable at most {rules.max_days_ahead} days ahead", "starts_at")


def check_quota(
    rules: Rules,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    existing: list[tuple[datetime, datetime]],
) -> None:
    """Per-user quota on this resource: `existing` are the user's active bookings."""
    day = local_day(start, zone)
    week = day.isocalendar()[:2]
    same_day = [(s, e) for s, e in existing if local_day(s, zone) == day]
    same_week = [(s, e) for s, e in existing if local_day(s, zone).isocalendar()[:2] == week]
    hours = (end - start).total_seconds() / 3600

    def total(items: list[tuple[datetime, datetime]]) -> float:
        return sum((e - s).total_seconds() / 3600 for s, e in items)

    if rules.max_bookings_per_day is not None and len(same_day) >= rules.max_bookings_per_day:
        raise refuse(f"at most {rules.max_bookings_per_day} bookings a day", "starts_at", now=True)
    if rules.max_bookings_per_week is not None and len(same_week) >= rules.max_bookings_per_week:
        raise refuse(
            f"at most {rules.max_bookings_per_week} bookings a week", "starts_at", now=True
        )
    if rules.max_hours_per_day is not None and total(same_day) + hours > rules.max_hours_per_day:
        raise refuse(f"at most {rules.max_hours_per_day} hours a day", "ends_at", now=True)
    if rules.max_hours_per_week is not None and total(same_week) + hours > rules.max_hours_per_week:
        raise refuse(f"at most {rules.max_hours_per_week} hours a week", "ends_at", now=True)


def can_cancel(rules: Rules, start: datetime, now: datetime) -> bool:
    return now <= start - timedelta(minutes=rules.cancel_deadline_minutes)


def rules_of(resource: dict[str, Any]) -> Rules:
    """A resource document's rules."""
    return Rules.model_validate(resource.get("rules") or {})
