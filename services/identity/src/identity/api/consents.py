"""Consents and the ESF participant profile."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from identity import consent as consents
from identity import participant as participants
from identity.api.deps import own_account
from identity.consent import ConsentIn, ConsentOut, Purpose
from identity.core import Identity
from identity.participant import ParticipantIn, ParticipantOut
from kit.auth import Principal
from kit.openapi import returns
from kit.pages import Page, Paging, listed
from kit.problems import Problem


def router(ctx: Identity) -> APIRouter:
    api = APIRouter(tags=["consents"])
    signed_in = Depends(ctx.svc.auth.principal)
    pages_of_50 = Depends(Paging.of(50, 200))

    @api.get("/me/consents", summary="My consents with their history")
    async def my_consents(
        request: Request, paging: Paging = pages_of_50, principal: Principal = signed_in
    ) -> Page[ConsentOut]:
        """One per purpose the person has answered, by purpose: a few, so counted."""
        account = await own_account(ctx, principal)
        found = [consents.to_out(c) for c in await consents.list_for(ctx, account["_id"])]
        return Page[ConsentOut].model_validate(listed(request, ctx.settings, found, paging))

    @api.put("/me/consents/{purpose}", summary="Give or withdraw a consent")
    async def set_consent(
        purpose: Purpose, data: ConsentIn, principal: Principal = signed_in
    ) -> ConsentOut:
        """Gives or withdraws the caller's consent for a purpose; the history is kept. The terms
        cannot be withdrawn (erase the account instead)."""
        account = await own_account(ctx, principal)
        return consents.to_out(await consents.change(ctx, account, purpose, data.granted))

    @api.get(
        "/me/participant-profile",
        summary="My ESF participant profile",
        response_model=None,
        responses={
            200: {"description": "The answers", "model": ParticipantOut},
            404: {"description": "Not filled in"},
        },
    )
    async def my_participant(principal: Principal = signed_in) -> dict[str, Any]:
        """The caller's ESF participant profile, 404 when not filled in."""
        account = await own_account(ctx, principal)
        doc = await ctx.db.participant_profiles.find_one({"_id": account["_id"]})
        if doc is None:
            raise Problem(404, "Not found", "You have not filled in the ESF profile.")
        return {**doc["answers"], "shared": doc.get("published", False)}

    @api.put(
        "/me/participant-profile",
        summary="Fill in the ESF profile (shared pseudonymously only with ESF consent)",
        **returns(ParticipantOut, "The answers as saved"),
    )
    async def set_participant(
        data: ParticipantIn, principal: Principal = signed_in
    ) -> dict[str, Any]:
        """Fills in or replaces the caller's ESF participant profile; it is shared, pseudonymously,
        only with the ESF statistics consent."""
        doc = await participants.save(ctx, await own_account(ctx, principal), data)
        return {**doc["answers"], "shared": doc.get("published", False)}

    @api.delete(
        "/me/participant-profile",
        status_code=204,
        summary="Delete my ESF profile",
        responses={404: {"description": "There is none"}},
    )
    async def delete_participant(principal: Principal = signed_in) -> Response:
        """Deletes the caller's ESF participant profile."""
        if not await participants.remove(ctx, await own_account(ctx, principal)):
            raise Problem(404, "Not found", "You have no ESF profile.")
        return Response(status_code=204)

    return api
