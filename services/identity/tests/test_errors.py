"""Identity's domain errors (identity.errors) answered as problem+json by the API layer
(identity.api.problems), without infrastructure: each kind's status, the refusal's title,
its stable type where it has one, the field, and Retry-After where trying later helps."""

from __future__ import annotations

import pytest

from identity import errors
from identity.api.problems import problem_of
from identity.oidc import refused
from identity.ratelimit import too_many


@pytest.mark.parametrize(
    ("error", "status", "title"),
    [
        (errors.BadRequest("x"), 400, "Refused"),
        (errors.Unauthenticated("x"), 401, "Unauthorized"),
        (errors.Forbidden("x"), 403, "Forbidden"),
        (errors.NotFound("x"), 404, "Not found"),
        (errors.Conflict("x"), 409, "Conflict"),
        (errors.Invalid("x", field="display_name"), 422, "Invalid field"),
        (errors.ProviderUnavailable("x"), 502, "Refused"),
        (errors.NotConfigured("x", title="Not configured"), 503, "Not configured"),
        (errors.weak_password("is too short", "password"), 422, "Weak password"),
    ],
)
def test_each_kind_is_its_status(error: errors.IdentityError, status: int, title: str) -> None:
    problem = problem_of(error)
    assert (problem.status, problem.title, problem.detail) == (status, title, error.detail)
    assert problem.field == error.field and problem.type_ is None and problem.headers is None


def test_stable_types_and_retry_after() -> None:
    limited = problem_of(too_many(30))
    assert (limited.status, limited.title) == (429, "Too many login attempts")
    assert limited.type_ == "https://kohtaamo.fi/problems/login-rate-limited"
    assert limited.extra == {"retry_after": 30} and limited.headers == {"Retry-After": "30"}
    busy = problem_of(errors.Conflict("changed meanwhile", retry_after=1))
    assert (busy.status, busy.headers, busy.extra) == (409, {"Retry-After": "1"}, {})
    stale = problem_of(refused("unknown state", "state", error=errors.BadRequest))
    assert (stale.status, stale.field, stale.title) == (400, "state", "City sign-in refused")
    assert stale.type_ == "https://kohtaamo.fi/problems/city-login-refused"
    assert problem_of(refused("bad token", "id_token")).status == 401
