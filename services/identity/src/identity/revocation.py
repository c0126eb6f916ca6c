"""Ending a user's access tokens everywhere: `identity.user.tokens_revoked`, staged in the
transaction of the change that ends them; every service's kit refuses the user's tokens
issued before it (kit.revocation). Refresh tokens are identity's own and ended here."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo.asynchronous.client_session import AsyncClientSession

from contracts import identity as idc
from identity.core import Identity


async def end_access_tokens(
    ctx: Identity,
    session: AsyncClientSession,
    user: dict[str, str],
    reason: idc.RevocationReason,
    at: datetime,
) -> None:
    await ctx.emit(
        session,
        idc.TOKENS_REVOKED,
        idc.TokensRevoked(user_id=user["_id"], issued_before=at, reason=reason),
        municipality=user["municipality"],
        subject=f"user/{user['_id']}",
    )


def end_of_second(now: datetime) -> datetime:
    """Where a revocation must reach: tokens carry whole seconds (`iat`) and services refuse
    those issued before a whole second, so one issued earlier in this same second would
    survive a revocation at `now`. The caller waits for this moment before answering, so
    a login after the answer gets a token that works."""
    return now.replace(microsecond=0) + timedelta(seconds=1)
