"""Profiles and the mentor directory."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from identity import mentor as mentors
from identity import profile as profiles
from identity.api.deps import own_account
from identity.core import Identity
from identity.fields import Language
from identity.mentor import OfferIn, OfferOut
from identity.profile import ProfileIn, ProfileOut, Visibility
from kit.auth import Principal
from kit.conditional import Precondition, if_match
from kit.pages import Page, Paging, page
from kit.problems import Problem


def router(ctx: Identity) -> APIRouter:
    api = APIRouter(tags=["profiles"])
    signed_in = Depends(ctx.svc.auth.principal)
    pages_of_50 = Depends(Paging.of(50, 200))
    anyone = Depends(ctx.svc.auth.optional)

    @api.get("/me/profile", summary="My profile")
    async def my_profile(response: Response, principal: Principal = signed_in) -> ProfileOut:
        """The caller's profile: languages, skills, interests, who may see them; its ETag."""
        found, response.headers["ETag"] = await profiles.read(
            ctx, await own_account(ctx, principal)
        )
        return found

    @api.put("/me/profile", summary="Set my languages, skills, interests and visibility")
    async def set_profile(
        data: ProfileIn,
        response: Response,
        precondition: Annotated[Precondition, Depends(if_match)],
        principal: Principal = signed_in,
    ) -> ProfileOut:
        """Sets the caller's profile; honours If-Match ("r0": only if there is none yet)."""
        account = await own_account(ctx, principal)
        saved, response.headers["ETag"] = await profiles.save(ctx, account, data, precondition)
        return saved

    @api.get("/users/{user_id}/profile", summary="Someone's profile, as its visibility allows")
    async def someone(
        user_id: str, response: Response, principal: Principal | None = anyone
    ) -> ProfileOut:
        """Someone's profile, showing only what its visibility allows the caller to see."""
        owner = await ctx.db.users.find_one({"_id": user_id, "status": "active"})
        doc = await ctx.db.profiles.find_one({"_id": user_id}) if owner else None
        visibility = Visibility(doc["visibility"]) if doc else Visibility.municipality
        if owner is None or not profiles.can_see(principal, owner, visibility):
            # Not found rather than forbidden: do not reveal that a hidden profile exists.
            raise Problem(404, "Not found", "No such profile.")
        response.headers["ETag"] = profiles.etag_of(owner, doc)
        response.headers["Vary"] = "Authorization"
        return profiles.to_out(owner, doc)

    @api.put("/me/mentor-offer", summary="Publish my mentor offer (lists me in the directory)")
    async def offer(
        data: OfferIn,
        response: Response,
        precondition: Annotated[Precondition, Depends(if_match)],
        principal: Principal = signed_in,
    ) -> OfferOut:
        """Publishes the caller's mentor offer (topics and languages), which lists them in the
        mentor directory; honours If-Match."""
        account = await own_account(ctx, principal)
        published, response.headers["ETag"] = await mentors.publish(
            ctx, account, data, precondition
        )
        return published

    @api.delete(
        "/me/mentor-offer",
        status_code=204,
        summary="Withdraw my offer (leaves the directory)",
        responses={404: {"description": "No active offer"}},
    )
    async def withdraw(
        precondition: Annotated[Precondition, Depends(if_match)],
        principal: Principal = signed_in,
    ) -> Response:
        """Withdraws the caller's mentor offer: they leave the directory; honours If-Match."""
        account = await own_account(ctx, principal)
        if await mentors.withdraw(ctx, account, precondition) is None:
            raise Problem(404, "Not found", "You have no active mentor offer.")
        return Response(status_code=204)

    @api.get("/mentors", summary="Mentor directory of my municipality: who can help with X")
    async def directory(
        request: Request,
        skill: str | None = Query(default=None, min_length=1, max_length=80),
        language: Language | None = Query(default=None),
        paging: Paging = pages_of_50,
        principal: Principal = signed_in,
    ) -> Page[OfferOut]:
        """The mentor directory of the caller's municipality: who can help with a skill, in a
        language, a page at a time."""
        found, more = await mentors.directory(
            ctx,
            principal.municipality,
            skill=skill,
            language=language,
            limit=paging.limit,
            offset=paging.offset,
        )
        return Page[OfferOut].model_validate(
            page(request, ctx.settings, found, limit=paging.limit, offset=paging.offset, more=more)
        )

    return api
