"""GDPR: download my data, erase my account, follow an erasure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field

from identity import gdpr
from identity import user as users
from identity.api.deps import caller_address, own_account
from identity.core import Identity
from identity.gdpr import ErasureStatus
from kit.auth import Principal, ensure_municipality
from kit.openapi import returns
from kit.problems import Problem
from kit.requests import Strict


class EraseIn(Strict):
    password: str = Field(max_length=256)


class Erased(BaseModel):
    receipt: str
    status: ErasureStatus


class DataExport(BaseModel):
    """A subject access export: each record as identity holds it (its fields are the
    store's, so they are not typed one by one)."""

    exported_at: datetime
    account: dict[str, Any]
    profile: dict[str, Any] | None
    mentor_offer: dict[str, Any] | None
    consents: list[dict[str, Any]]
    participant_profile: dict[str, Any] | None
    organisations: list[dict[str, Any]]
    sessions: list[dict[str, Any]]


def router(ctx: Identity) -> APIRouter:
    api = APIRouter(tags=["gdpr"])
    signed_in = Depends(ctx.svc.auth.principal)
    admin = Depends(ctx.svc.auth.require("admin"))

    @api.get(
        "/me/export",
        summary="Everything identity holds about me",
        **returns(DataExport, "The records as held"),
    )
    async def export(principal: Principal = signed_in) -> dict[str, Any]:
        """Everything identity holds about the caller (GDPR access): account, consents, profiles,
        organisations and sessions."""
        return jsonable_encoder(await gdpr.export(ctx, await own_account(ctx, principal)))

    @api.post(
        "/me/erase",
        summary="Erase my account here and in every service",
        responses={429: {"description": "Too many wrong passwords; see Retry-After"}},
    )
    async def erase_me(data: EraseIn, request: Request, principal: Principal = signed_in) -> Erased:
        """Erases the caller's account here and, by message, in every service (the password confirms
        it); answers a receipt to follow the progress."""
        account = await own_account(ctx, principal)
        address = caller_address(request)
        if not account.get("password_hash"):
            # A city login's account has no password: a sign-in with the city's login just
            # now confirms it instead (the token was issued moments ago).
            issued = int(principal.claims.get("iat", 0))
            if datetime.now(UTC).timestamp() - issued > ctx.settings.recent_sign_in_s:
                raise Problem(
                    403,
                    "Sign in again",
                    "Sign in with your city's login again, then erase.",
                    field="password",
                )
        elif not await users.confirm_password(ctx, account, data.password, address=address):
            raise Problem(403, "Wrong password", "Confirm with your password.", field="password")
        receipt, doc = await gdpr.erase(ctx, account)
        return Erased(receipt=receipt, status=gdpr.status_of(ctx.settings.erasure_services, doc))

    @api.get("/erasures/{receipt}", summary="Erasure progress per service, by receipt")
    async def by_receipt(receipt: str) -> ErasureStatus:
        """The progress of an erasure in each service, by the receipt it answered."""
        # The receipt is an unguessable secret given only to the person who erased.
        return await gdpr.status_by_receipt(ctx, receipt)

    @api.post(
        "/municipalities/{municipality}/users/{user_id}/erase",
        summary="Erase a user's account (admins, in their own municipality)",
    )
    async def erase_user(municipality: str, user_id: str, principal: Principal = admin) -> Erased:
        """Erases a user's account and their data in every service (admins, in their own
        municipality)."""
        ensure_municipality(principal, municipality)
        async with ctx.svc.audit.action(principal, "user.erase", "user", user_id):
            account = await users.get_active(ctx, user_id, municipality)
            receipt, doc = await gdpr.erase(ctx, account)
        return Erased(receipt=receipt, status=gdpr.status_of(ctx.settings.erasure_services, doc))

    @api.get(
        "/municipalities/{municipality}/users/{user_id}/erasure",
        summary="Erasure progress per service (admins)",
    )
    async def erasure_status(
        municipality: str, user_id: str, principal: Principal = admin
    ) -> ErasureStatus:
        """The progress of a user's erasure in each service (admins, in their own municipality)."""
        ensure_municipality(principal, municipality)
        return await gdpr.status_for_user(ctx, municipality, user_id)

    return api
