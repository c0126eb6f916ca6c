"""The identity domain's errors: what a rule refused, naming the field when there is one.
They are not HTTP answers; the API layer maps each kind to its problem+json
(`identity.api.problems`). `title` names the refusal for people ("Weak password"), `kind`
is its stable name for clients where it has one ("login-failed")."""

from __future__ import annotations


class IdentityError(Exception):
    title = "Refused"

    def __init__(
        self,
        detail: str,
        *,
        field: str | None = None,
        title: str | None = None,
        kind: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.title = title or type(self).title
        self.kind = kind
        self.retry_after = retry_after  # seconds, where trying again later can succeed


class BadRequest(IdentityError):
    """What the caller sent cannot be taken (an unknown, expired or used link or state)."""


class Unauthenticated(IdentityError):
    """The credentials (password, refresh token, the provider's ID token) are not valid."""

    title = "Unauthorized"


class Forbidden(IdentityError):
    """The caller's role, municipality or proof does not allow it."""

    title = "Forbidden"


class NotFound(IdentityError):
    """No such user, organisation, erasure or municipality (or not one the caller sees)."""

    title = "Not found"


class Conflict(IdentityError):
    """The request clashes with the current state."""

    title = "Conflict"


class Invalid(IdentityError):
    """A value breaks a rule (its field named)."""

    title = "Invalid field"


class TooMany(IdentityError):
    """Too many attempts: `retry_after` says when to try again."""


class NotConfigured(IdentityError):
    """This site lacks a setting the request needs."""


class ProviderUnavailable(IdentityError):
    """A service identity depends on (a city's sign-in) did not answer usably."""


def weak_password(reason: str, field: str) -> Invalid:
    return Invalid(f"The password {reason}.", field=field, title="Weak password")
