"""Email verification and password reset over HTTP (identity/account_links.py)."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Depends, Response
from pydantic import BaseModel

from identity import account_links
from identity.account_links import Accepted, ForgotIn, Purpose, ResetIn, TokenIn
from identity.api.deps import own_account
from identity.core import Identity
from kit.auth import Principal
from kit.problems import Problem

RESET_ANSWER = (
    "If this email has an account here, a link to set a new password is on its way; "
    "it works once, within the hour."
)


class Verified(BaseModel):
    email: str
    email_verified: bool


def router(ctx: Identity) -> APIRouter:
    api = APIRouter(tags=["account"])
    signed_in = Depends(ctx.svc.auth.principal)

    @api.post(
        "/me/email/verification",
        status_code=202,
        summary="Send me a new link to verify my email",
        responses={409: {"description": "Already verified"}},
    )
    async def send_verification(principal: Principal = signed_in) -> Accepted:
        """Mails the caller a new link to verify their email address."""
        account = await own_account(ctx, principal)
        if account.get("email_verified"):
            raise Problem(409, "Already verified", "Your email is verified.", field="email")
        await account_links.issue(ctx, account, Purpose.verify_email)
        return Accepted(detail="A link to verify your email is on its way.")

    @api.post(
        "/auth/email/verify",
        summary="Verify an email with the mailed link's token (single-use)",
        responses={400: {"description": "Invalid, expired or used link"}},
    )
    async def verify(data: TokenIn) -> Verified:
        """Verifies an email address with the token of the mailed link (single use)."""
        user = await account_links.verify_email(ctx, data.token)
        return Verified(email=user["email"], email_verified=True)

    @api.post(
        "/auth/password/forgot",
        status_code=202,
        summary="Mail a password reset link (the same answer whether or not there is one)",
    )
    async def forgot(data: ForgotIn, background: BackgroundTasks) -> Accepted:
        """Mails a password reset link; the answer is the same whether or not an account has that
        email."""
        # The lookup and the mail happen after the answer is sent: its words and its
        # timing are the same for every email.
        background.add_task(account_links.forgot, ctx, data.municipality, data.email)
        return Accepted(detail=RESET_ANSWER)

    @api.post(
        "/auth/password/reset",
        status_code=204,
        summary="Set a new password with the mailed link's token (ends every session)",
        responses={400: {"description": "Invalid, expired or used link"}},
    )
    async def reset(data: ResetIn) -> Response:
        """Sets a new password with the token of the mailed link (single use); every session of the
        account ends."""
        await account_links.reset_password(ctx, data)
        return Response(status_code=204)

    return api
