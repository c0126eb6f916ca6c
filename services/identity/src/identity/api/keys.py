"""JWKS and key rotation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from identity.core import Identity
from kit.auth import Principal


def router(ctx: Identity) -> APIRouter:
    api = APIRouter(tags=["keys"])
    platform_admin = Depends(ctx.svc.auth.require("platform_admin"))

    @api.get("/.well-known/jwks.json", summary="Public keys of this token issuer")
    async def jwks() -> dict[str, Any]:
        return await ctx.keys.jwks()

    @api.post("/admin/keys/rotate", summary="Start signing with a new key")
    async def rotate(principal: Principal = platform_admin) -> dict[str, str]:
        kid = await ctx.keys.rotate()
        # Our own verifier must learn the new key at once, not after its refetch pause.
        ctx.svc.verifier.trust(ctx.sessions.issuer, ctx.keys.jwks)
        return {"kid": kid}

    return api
