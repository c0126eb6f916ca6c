"""City login over HTTP: which municipalities have one, start (or link), callback, logout."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from identity import city_login
from identity import user as users
from identity.api.auth import RefreshIn
from identity.api.deps import own_account
from identity.city_login import CallbackIn, ProviderOut, StartIn, StartOut
from identity.core import Identity
from identity.user import Tokens, UserOut
from kit.auth import Principal
from kit.pages import Page, Paging, listed


class SignedIn(BaseModel):
    user: UserOut
    tokens: Tokens
    created: bool


class LoggedOut(BaseModel):
    # Where to send the browser to end the provider's session too (None: nothing to end).
    end_session_url: str | None


def router(ctx: Identity) -> APIRouter:
    api = APIRouter(prefix="/auth/oidc", tags=["city login"])
    signed_in = Depends(ctx.svc.auth.principal)
    pages_of_100 = Depends(Paging.of(100, 500))

    @api.get("/providers", summary="Municipalities with a city login, and its button text")
    async def providers(request: Request, paging: Paging = pages_of_100) -> Page[ProviderOut]:
        """The configured city logins (one per municipality at most), counted."""
        found = city_login.providers(ctx)
        return Page[ProviderOut].model_validate(listed(request, ctx.settings, found, paging))

    @api.post(
        "/{municipality}/start",
        summary="Start a city sign-in: where to send the browser",
        responses={404: {"description": "No city login there"}, 502: {"description": "Down"}},
    )
    async def start(municipality: str, data: StartIn) -> StartOut:
        """Starts a sign-in with the municipality's city login (OpenID Connect): answers where to
        send the browser."""
        return await city_login.start(ctx, municipality, data)

    @api.post(
        "/{municipality}/link",
        summary="Link my (password) account to the city login: start a city sign-in",
    )
    async def link(municipality: str, principal: Principal = signed_in) -> StartOut:
        """Links the caller's password account to the municipality's city login: starts a city sign-
        in whose callback links it."""
        account = await own_account(ctx, principal)
        return await city_login.start(
            ctx,
            account["municipality"] if municipality == "-" else municipality,
            StartIn(),
            link_user_id=account["_id"],
        )

    @api.post(
        "/callback",
        summary="Finish a city sign-in with the provider's code and the attempt's state",
        responses={
            400: {"description": "Unknown, expired or used state"},
            401: {"description": "The provider's answer failed a check (code, ID token)"},
            409: {"description": "The email has a password account: link instead"},
        },
    )
    async def callback(data: CallbackIn) -> SignedIn:
        """Finishes a city sign-in with the provider's code and the attempt's state: signs in, or
        creates the account on first sign-in."""
        user, pair, created = await city_login.callback(ctx, data)
        return SignedIn(user=users.to_out(user), tokens=users.tokens_out(pair), created=created)

    @api.post("/logout", summary="End the session, and say where the provider's logout is")
    async def logout(data: RefreshIn) -> LoggedOut:
        """Ends the session and says where the provider's own logout is, if it has one."""
        return LoggedOut(end_session_url=await city_login.logout(ctx, data.refresh_token))

    return api
