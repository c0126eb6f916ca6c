"""JWKS and key rotation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from identity.core import Identity
from kit.auth import Principal
from kit.health import Jwks
from kit.openapi import returns


class Rotated(BaseModel):
    kid: str


def router(ctx: Identity) -> APIRouter:
    api = APIRouter(tags=["keys"])
    platform_admin = Depends(ctx.svc.auth.require("platform_admin"))

    @api.get(
        "/.well-known/jwks.json",
        summary="Public keys of this token issuer",
        **returns(Jwks, "Active keys and retired ones whose tokens may be valid"),
    )
    async def jwks() -> dict[str, Any]:
        """The public keys (JWKS) that verify the access tokens this site issues; services and
        partners cache it."""
        return await ctx.keys.jwks()

    @api.post("/admin/keys/rotate", summary="Start signing with a new key")
    async def rotate(principal: Principal = platform_admin) -> Rotated:
        """Starts signing tokens with a new key (platform admins); the old key stays published until
        the tokens it signed have expired."""
        # The key is made in one transaction with its audit entry (keys.rotate).
        async with ctx.svc.audit.action(principal, "keys.rotate", "signing_key", "new") as entry:
            kid = await ctx.keys.rotate(ctx.svc.uow, entry)
        # Our own verifier must learn the new key at once, not after its refetch pause.
        ctx.svc.verifier.trust(ctx.sessions.issuer, ctx.keys.jwks)
        return Rotated(kid=kid)

    return api
