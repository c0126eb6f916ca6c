"""Sign-up, login, refresh, logout."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request, Response
from pydantic import Field

from identity import account_links
from identity import user as users
from identity.api.deps import caller_address
from identity.core import Identity
from identity.errors import IdentityError
from identity.user import Login, SignedUp, SignUp, Tokens
from kit.requests import Strict

log = structlog.get_logger("identity.api.auth")


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=200)


def router(ctx: Identity) -> APIRouter:
    api = APIRouter(prefix="/auth", tags=["auth"])

    @api.post("/signup", status_code=201, summary="Create a resident account")
    async def sign_up(data: SignUp) -> SignedUp:
        """Creates a resident account in a municipality with an email and password; accepting the
        terms is required. Answers the account and its first tokens."""
        user, tokens = await users.sign_up(ctx, data)
        try:
            await account_links.issue(ctx, user, account_links.Purpose.verify_email)
        except IdentityError as exc:  # the account stands; the link can be asked for again
            log.warning("signup.verification_not_sent", detail=exc.detail)
        return SignedUp(user=users.to_out(user), tokens=users.tokens_out(tokens))

    @api.post(
        "/login",
        summary="Log in (rate-limited per account and per client address)",
        responses={
            401: {"description": "Wrong email or password"},
            429: {"description": "Too many failed logins; see Retry-After"},
        },
    )
    async def login(data: Login, request: Request) -> Tokens:
        """Logs in with email and password; rate-limited per account and per client address (429
        with Retry-After)."""
        pair = await users.login(ctx, data, address=caller_address(request))
        return users.tokens_out(pair)

    @api.post(
        "/refresh",
        summary="Swap a refresh token for new tokens (rotating)",
        responses={401: {"description": "The refresh token is not valid"}},
    )
    async def refresh(data: RefreshIn) -> Tokens:
        """Swaps a refresh token for new access and refresh tokens; a refresh token works once
        (rotating)."""
        return users.tokens_out(await ctx.sessions.refresh(data.refresh_token))

    @api.post("/logout", status_code=204, summary="End the session of a refresh token")
    async def logout(data: RefreshIn) -> Response:
        """Ends the session of a refresh token."""
        # Holding the refresh token is the credential; an unknown token changes nothing.
        await ctx.sessions.logout(data.refresh_token)
        return Response(status_code=204)

    return api
