"""A birth date the person gives themselves, for resources with an age limit (a studio for
15+). Stored as self-declared: nobody has checked it. A city login with strong
identification stores it as verified (city_login.py), and the person cannot change that one.
It travels in access tokens as the OpenID `birthdate` claim with `birthdate_source`, which
the bookings service reads for its age rules (a resource may require a verified age)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, field_validator

from identity.errors import Conflict, NotFound
from kit.conditional import Precondition, bump, stale
from kit.requests import Strict

if TYPE_CHECKING:  # core builds the sessions, which use `claim` below
    from identity.core import Identity

SELF_DECLARED = "self_declared"
VERIFIED = "verified"
OLDEST = date(1900, 1, 1)


class BirthdateIn(Strict):
    birthdate: date

    @field_validator("birthdate")
    @classmethod
    def _plausible(cls, value: date) -> date:
        if value < OLDEST or value > datetime.now(UTC).date():
            raise ValueError("must be a past date from 1900 on")
        return value


class BirthdateOut(BaseModel):
    birthdate: date
    source: str


async def declare(
    ctx: Identity, user_id: str, born: date, precondition: Precondition | None = None
) -> BirthdateOut:
    """Set a self-declared birth date; with `precondition` (If-Match) only on the
    account's revision it names (412 otherwise, checked in the update's filter)."""
    precondition = precondition or Precondition(None)
    changed = await ctx.db.users.update_one(
        # A verified date is not replaced by the person's own word.
        {
            "_id": user_id,
            "status": "active",
            "birthdate_source": {"$ne": VERIFIED},
            **precondition.filter(),
        },
        bump(
            {
                "$set": {
                    "birthdate": born.isoformat(),
                    "birthdate_source": SELF_DECLARED,
                    "updated_at": datetime.now(UTC),
                }
            }
        ),
    )
    if changed.matched_count == 0:
        found = await ctx.db.users.find_one({"_id": user_id, "status": "active"})
        if found is not None and not precondition.holds(found):
            raise stale(found)
        if found is not None:
            raise Conflict(
                "Your birth date was verified by your city's sign-in; it cannot be changed.",
                field="birthdate",
                title="Birth date verified",
            )
        raise NotFound("No such user.")
    return BirthdateOut(birthdate=born, source=SELF_DECLARED)


def claim(user: dict[str, Any]) -> dict[str, str]:
    """The token claims for a user whose birth date is known (none otherwise)."""
    born = user.get("birthdate")
    if not isinstance(born, str):
        return {}
    return {"birthdate": born, "birthdate_source": user.get("birthdate_source", SELF_DECLARED)}
