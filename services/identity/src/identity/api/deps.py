"""Shared request helpers: who is calling, as an account of this identity."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from identity import user as users
from identity.core import Identity
from kit.auth import Principal
from kit.problems import Problem


async def own_account(ctx: Identity, principal: Principal) -> dict[str, Any]:
    """The caller's account here; a partner issuer's token has no account at this identity."""
    if principal.issuer != ctx.sessions.issuer:
        raise Problem(403, "Forbidden", "Tokens of another issuer have no account here.")
    return await users.get_active(ctx, principal.subject, principal.municipality)


def caller_address(request: Request) -> str:
    """The peer, or the client the gateway (a trusted proxy, KOHTAAMO_TRUSTED_PROXIES) names
    in X-Forwarded-For, as uvicorn's proxy-header handling resolved it (kit.app)."""
    return request.client.host if request.client else "unknown"
