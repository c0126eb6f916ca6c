"""Bookings' domain errors and the problem+json the API layer answers for each (no
infrastructure): the same status, title, type, field and extras as when the domain raised
HTTP problems itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bookings.api.problems import problem_of
from bookings.errors import (
    AgeLimit,
    BookingsError,
    Busy,
    Clash,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RuleBroken,
)

BASE = "https://kohtaamo.fi/problems/"
AT = datetime(2027, 5, 3, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("error", "status", "title", "type_", "field", "extra"),
    [
        (NotFound("No booking b.", field="booking_id"), 404, "Not found", None, "booking_id", {}),
        (Invalid("range", "to must not be before from", field="to"), 422, "Invalid range",
         None, "to", {}),
        (RuleBroken("starts_at is in the past", field="starts_at"), 422, "Booking not allowed",
         BASE + "booking-rule", "starts_at", {}),
        (RuleBroken("at most 2 bookings a day", field="starts_at", now=True), 409,
         "Booking limit reached", BASE + "booking-limit", "starts_at", {}),
        (Clash((AT, AT.replace(hour=11))), 409, "Conflict", BASE + "booking-conflict",
         "starts_at", {"conflict": {"starts_at": "2027-05-03T10:00:00+00:00",
                                    "ends_at": "2027-05-03T11:00:00+00:00"}}),
        (Conflict("2 bookings overlap the block.", field="starts_at", booking_ids=["a", "b"]),
         409, "Conflict", None, "starts_at", {"booking_ids": ["a", "b"]}),
        (Forbidden("Not your booking."), 403, "Forbidden", None, None, {}),
        (Forbidden("No access to municipality kouvola.", other_municipality=True), 403,
         "Forbidden", BASE + "other-municipality", None, {}),
        (AgeLimit(18, known=False), 403, "Birth date needed", BASE + "birthdate-needed",
         "birthdate", {"min_age": 18}),
        (AgeLimit(18, known=True), 403, "Age limit", BASE + "age-limit", None, {"min_age": 18}),
        (AgeLimit(18, known=True, unverified=True), 403, "Verified age needed",
         BASE + "age-verification-needed", "birthdate", {"min_age": 18}),
        (Busy("Try again."), 503, "Busy", None, None, {}),
    ],
)  # fmt: skip
def test_each_error_answers_its_problem(
    error: BookingsError,
    status: int,
    title: str,
    type_: str | None,
    field: str | None,
    extra: dict[str, Any],
) -> None:
    problem = problem_of(error)
    assert (problem.status, problem.title, problem.type_) == (status, title, type_)
    assert (problem.detail, problem.field, problem.extra) == (error.detail, field, extra)


def test_a_series_counts_clashes_as_conflicts_and_rules_as_refusals() -> None:
    clashing = [Clash((AT, AT)), Conflict("moved on"), RuleBroken("quota", field="x", now=True)]
    refused = [RuleBroken("too long", field="ends_at"), Invalid("range", "x"), Busy("x")]
    assert all(e.clashes for e in clashing)
    assert not any(e.clashes for e in refused)
