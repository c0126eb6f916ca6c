"""Email verification and password reset: single-use, expiring, signed links mailed by
notifications (`identity.account.link_issued`).

A link's token is `<id>.<expires>.<signature>`: the signature (HMAC-SHA256 with the link
key, over purpose, id and expiry) lets a forged or altered token be refused without a
lookup; the stored record (`account_links`, by id) makes it single-use: the first use takes
it with one conditional update, so two uses racing cannot both pass. A reset link is also
void once the email it was sent to is no longer the account's."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import BaseModel, Field
from pymongo import ASCENDING, ReturnDocument

from contracts import identity as idc
from identity.core import Identity
from identity.errors import BadRequest, NotConfigured, weak_password
from identity.fields import Email
from identity.passwords import hash_password, password_problem
from identity.revocation import end_access_tokens, end_of_second
from kit.requests import Strict

log = structlog.get_logger("identity.account_links")

Purpose = idc.AccountLinkPurpose


class TokenIn(Strict):
    token: str = Field(min_length=1, max_length=500)


class ForgotIn(Strict):
    municipality: str = Field(max_length=40)
    email: Email


class ResetIn(Strict):
    token: str = Field(min_length=1, max_length=500)
    new_password: str = Field(max_length=256)


class Accepted(BaseModel):
    detail: str


async def ensure_indexes(ctx: Identity) -> None:
    await ctx.db.account_links.create_index([("user_id", ASCENDING)])
    await ctx.db.account_links.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)


def _key(ctx: Identity) -> bytes:
    """The link key: its own setting, else derived from the key-encryption secret (one
    secret fewer to manage; a derived key cannot be turned back into that secret)."""
    own = ctx.settings.account_link_secret
    if own is not None:
        return own.get_secret_value().encode()
    base = ctx.settings.key_encryption_secret
    if base is None:
        raise NotConfigured(
            "Account links need KOHTAAMO_ACCOUNT_LINK_SECRET.", title="Not configured"
        )
    return hmac.new(base.get_secret_value().encode(), b"kohtaamo-account-links", "sha256").digest()


def _sign(key: bytes, purpose: str, link_id: str, expires: int) -> str:
    mac = hmac.new(key, f"{purpose}.{link_id}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


async def issue(ctx: Identity, user: dict[str, Any], purpose: Purpose) -> bool:
    """A new link for the user's email, mailed by notifications. False (nothing sent)
    when the account already asked for too many within the hour: a flood of mails to
    someone's inbox is not something a stranger can cause."""
    now = datetime.now(UTC)
    recent = await ctx.db.account_links.count_documents(
        {"user_id": user["_id"], "created_at": {"$gt": now - timedelta(hours=1)}}
    )
    if recent >= ctx.settings.account_links_per_hour:
        log.info("account_link.limited", user_id=user["_id"], purpose=str(purpose))
        return False
    ttl = (
        ctx.settings.password_reset_ttl_s
        if purpose == Purpose.reset_password
        else ctx.settings.email_verification_ttl_s
    )
    link_id = secrets.token_urlsafe(18)
    expires = int(now.timestamp()) + ttl
    token = f"{link_id}.{expires}.{_sign(_key(ctx), purpose.value, link_id, expires)}"
    expires_at = datetime.fromtimestamp(expires, UTC)
    async with ctx.svc.uow() as uow:
        await ctx.db.account_links.insert_one(
            {
                "_id": link_id,
                "user_id": user["_id"],
                "municipality": user["municipality"],
                "purpose": purpose.value,
                "email": user["email"],
                "created_at": now,
                "expires_at": expires_at,
                "used_at": None,
            },
            session=uow.session,
        )
        await ctx.emit(
            uow.session,
            idc.ACCOUNT_LINK_ISSUED,
            idc.AccountLinkIssued(
                user_id=user["_id"], purpose=purpose, token=token, expires_at=expires_at
            ),
            municipality=user["municipality"],
            subject=f"user/{user['_id']}",
        )
    return True


def _invalid() -> BadRequest:
    return BadRequest(
        "The link is not valid, has expired or was used already; ask for a new one.",
        field="token",
        title="Invalid link",
        kind="invalid-link",
    )


async def _take(ctx: Identity, token: str, purpose: Purpose) -> dict[str, Any]:
    """The link's record, now used; a problem for a forged, expired or used token."""
    link_id, _, rest = token.partition(".")
    expires_text, _, signature = rest.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12:
        raise _invalid()
    expires = int(expires_text)
    expected = _sign(_key(ctx), purpose.value, link_id, expires)
    if not hmac.compare_digest(expected, signature):
        raise _invalid()
    now = datetime.now(UTC)
    if expires <= now.timestamp():
        raise _invalid()
    link = await ctx.db.account_links.find_one_and_update(
        {"_id": link_id, "purpose": purpose.value, "used_at": None, "expires_at": {"$gt": now}},
        {"$set": {"used_at": now}},
        return_document=ReturnDocument.AFTER,
    )
    if link is None:
        raise _invalid()
    return link


async def verify_email(ctx: Identity, token: str) -> dict[str, Any]:
    link = await _take(ctx, token, Purpose.verify_email)
    user = await ctx.db.users.find_one_and_update(
        # Only the address the link went to: a changed email needs its own link.
        {"_id": link["user_id"], "status": "active", "email": link["email"]},
        {"$set": {"email_verified": True, "updated_at": datetime.now(UTC)}},
        return_document=ReturnDocument.AFTER,
    )
    if user is None:
        raise _invalid()
    return user


async def forgot(ctx: Identity, municipality: str, email: str) -> None:
    """Runs after the answer was sent (the same answer whether or not the email has an
    account), so neither its words nor its timing tell."""
    user = await ctx.db.users.find_one(
        {"municipality": municipality, "email": email, "status": "active"}
    )
    if user is None:
        log.info("account_link.reset_unknown_email", municipality=municipality)
        return
    await issue(ctx, user, Purpose.reset_password)


async def reset_password(ctx: Identity, data: ResetIn) -> None:
    # The rules first: a weak password must not spend the link.
    if reason := password_problem(data.new_password):
        raise weak_password(reason, "new_password")
    link = await _take(ctx, data.token, Purpose.reset_password)
    user = await ctx.db.users.find_one(
        {"_id": link["user_id"], "status": "active", "email": link["email"]}
    )
    if user is None:
        raise _invalid()
    if reason := password_problem(data.new_password, email=user["email"]):
        raise weak_password(reason, "new_password")
    new_hash = await hash_password(ctx.passwords, data.new_password)
    now = datetime.now(UTC)
    until = end_of_second(now)
    async with ctx.svc.uow() as uow:
        session = uow.session
        await ctx.db.users.update_one(
            {"_id": user["_id"]},
            # The link reached the inbox: the email is verified as well.
            {"$set": {"password_hash": new_hash, "email_verified": True, "updated_at": now}},
            session=session,
        )
        # Every session ends, as at a password change: whoever had the account loses it.
        await ctx.sessions.revoke_all(user["_id"], session)
        await end_access_tokens(ctx, session, user, idc.RevocationReason.password_changed, until)
        # Other links of the account are void too (an older reset link in the inbox).
        await ctx.db.account_links.update_many(
            {"user_id": user["_id"], "used_at": None}, {"$set": {"used_at": now}}, session=session
        )
    await asyncio.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()))
