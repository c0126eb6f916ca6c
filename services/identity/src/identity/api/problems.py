"""The identity domain's errors as problem+json (RFC 9457): the HTTP side of
identity.errors."""

from __future__ import annotations

from identity.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    IdentityError,
    Invalid,
    NotConfigured,
    NotFound,
    ProviderUnavailable,
    TooMany,
    Unauthenticated,
)
from kit.problems import Problem

BASE = "https://kohtaamo.fi/problems/"
STATUS: dict[type[IdentityError], int] = {
    BadRequest: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    TooMany: 429,
    ProviderUnavailable: 502,
    NotConfigured: 503,
}


def status_of(error: IdentityError) -> int:
    return next((s for kind, s in STATUS.items() if isinstance(error, kind)), 400)


def problem_of(error: IdentityError) -> Problem:
    wait = error.retry_after
    return Problem(
        status_of(error),
        error.title,
        error.detail,
        field=error.field,
        type_=BASE + error.kind if error.kind else None,
        extra={"retry_after": wait} if wait is not None and isinstance(error, TooMany) else None,
        headers={"Retry-After": str(wait)} if wait is not None else None,
    )
