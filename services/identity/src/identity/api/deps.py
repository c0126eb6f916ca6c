"""Shared request helpers: who is calling, as an account of this identity."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from identity import user as users
from identity.core import Identity
from identity.ratelimit import client_address
from kit.auth import Principal
from kit.problems import Problem


async def own_account(ctx: Identity, principal: Principal) -> dict[str, Any]:
    """The caller's account here; a partner issuer's token has no account at this identity."""
    if principal.issuer != ctx.sessions.issuer:
        raise Problem(403, "Forbidden", "Tokens of another issuer have no account here.")
    return await users.get_active(ctx, principal.subject, principal.municipality)


def caller_address(ctx: Identity, request: Request) -> str:
    peer = request.client.host if request.client else None
    return client_address(
        peer, request.headers.get("X-Forwarded-For"), ctx.settings.trusted_proxies
    )
