"""Users: sign-up, login, contact details and preferences, password change."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time
from typing import Annotated, Any

from pydantic import BaseModel, Field
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from contracts import identity as idc
from identity import consent  # consents are part of signing up
from identity import municipality as municipalities
from identity.core import Identity
from identity.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated, weak_password
from identity.fields import Email, Language, Name, NoticeKind, Phone, TimeZone
from identity.passwords import hash_password, password_problem, verify_password
from identity.revocation import end_access_tokens, end_of_second
from identity.session import TokenPair
from kit.conditional import Precondition, bump, stale
from kit.requests import Strict
from kit.uow import UnitOfWork


class SignUp(Strict):
    municipality: str
    email: Email
    password: str = Field(max_length=256)
    display_name: Name
    language: Language = "fi"
    phone: Phone | None = None
    accept_terms: bool
    marketing: bool = False


class Login(Strict):
    municipality: str
    email: Email
    password: str = Field(max_length=256)


class PasswordChange(Strict):
    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)


class QuietHoursIn(Strict):
    """contracts' QuietHours as a request takes it (strict)."""

    start: time
    end: time


class ContactIn(Strict):
    """Fields left out stay as they are."""

    display_name: Name | None = None
    phone: Phone | None = None
    language: Language | None = None
    channels: (
        Annotated[
            dict[NoticeKind, Annotated[list[idc.Channel], Field(max_length=3)]],
            Field(max_length=20),
        ]
        | None
    ) = None
    quiet_hours: QuietHoursIn | None = None
    timezone: TimeZone | None = None


class UserOut(BaseModel):
    id: str
    municipality: str
    email: str
    display_name: str
    language: str
    phone: str | None
    roles: list[str]
    created_at: datetime
    birthdate: str | None = None  # see identity.birthdate
    birthdate_source: str | None = None  # self_declared or verified
    email_verified: bool = False
    city_login: bool = False  # linked to the municipality's provider


class Tokens(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int


class SignedUp(BaseModel):
    user: UserOut
    tokens: Tokens


def to_out(user: dict[str, Any]) -> UserOut:
    return UserOut(
        id=user["_id"],
        municipality=user["municipality"],
        email=user["email"],
        display_name=user["display_name"],
        language=user["language"],
        phone=user.get("phone"),
        roles=sorted(user["roles"]),
        created_at=user["created_at"],
        birthdate=user.get("birthdate"),
        birthdate_source=user.get("birthdate_source") if user.get("birthdate") else None,
        email_verified=bool(user.get("email_verified")),
        city_login=bool(user.get("city_login")),
    )


def tokens_out(pair: TokenPair) -> Tokens:
    return Tokens(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type=pair.token_type,
        expires_in=pair.expires_in,
    )


def contact_of(user: dict[str, Any]) -> idc.ContactChanged:
    prefs = user.get("preferences", {})
    return idc.ContactChanged(
        user_id=user["_id"],
        display_name=user["display_name"],
        email=user["email"],
        phone=user.get("phone"),
        language=user["language"],
        **{k: v for k, v in prefs.items() if v is not None},
    )


async def emit_contact(ctx: Identity, session: AsyncClientSession, user: dict[str, Any]) -> None:
    await ctx.emit(
        session,
        idc.CONTACT_CHANGED,
        contact_of(user),
        municipality=user["municipality"],
        subject=f"user/{user['_id']}",
    )


async def sign_up(
    ctx: Identity, data: SignUp, *, roles: list[str] | None = None
) -> tuple[dict[str, Any], TokenPair]:
    await municipalities.get(ctx, data.municipality, missing=Invalid)
    if not data.accept_terms:
        raise Invalid(
            "Accept the terms to sign up.", field="accept_terms", title="Terms not accepted"
        )
    if reason := password_problem(data.password, email=data.email):
        raise weak_password(reason, "password")
    user = await create_account(
        ctx,
        municipality=data.municipality,
        email=data.email,
        password_hash=await hash_password(ctx.passwords, data.password),
        display_name=data.display_name,
        language=data.language,
        phone=data.phone,
        roles=roles,
        marketing=data.marketing,
    )
    return user, await ctx.sessions.start(user)


async def create_account(
    ctx: Identity,
    *,
    municipality: str,
    email: str,
    password_hash: str | None,
    display_name: str,
    language: str,
    phone: str | None = None,
    roles: list[str] | None = None,
    marketing: bool = False,
    email_verified: bool = False,
) -> dict[str, Any]:
    """A new account with its events and consents (the terms accepted), in one transaction.
    `password_hash` None: an account of a city login, which has no password."""
    now = datetime.now(UTC)
    user: dict[str, Any] = {
        "_id": uuid.uuid4().hex,
        "municipality": municipality,
        "email": email,
        "email_verified": email_verified,
        "password_hash": password_hash,
        "display_name": display_name,
        "language": language,
        "phone": phone,
        "roles": sorted(set(roles or ["resident"])),
        "status": "active",
        "preferences": {},
        "created_at": now,
        "updated_at": now,
    }
    subject = f"user/{user['_id']}"
    try:
        async with ctx.svc.uow() as uow:
            session = uow.session
            await ctx.db.users.insert_one(user, session=session)
            await ctx.emit(
                session,
                idc.USER_REGISTERED,
                idc.UserRegistered(
                    user_id=user["_id"],
                    roles=user["roles"],
                    preferred_language=language,
                    registered_at=now,
                ),
                municipality=municipality,
                subject=subject,
            )
            await emit_contact(ctx, session, user)
            await consent.record(ctx, session, user, "terms", True, now)
            if marketing:
                await consent.record(ctx, session, user, "marketing", True, now)
    except DuplicateKeyError as exc:
        raise Conflict(
            "This email already has an account here.", field="email", title="Already registered"
        ) from exc
    return user


async def login(ctx: Identity, data: Login, *, address: str) -> TokenPair:
    user = await ctx.db.users.find_one(
        {"municipality": data.municipality, "email": data.email, "status": "active"}
    )
    if not await confirm_password(
        ctx, user, data.password, address=address, email=data.email, municipality=data.municipality
    ):
        raise Unauthenticated("Wrong email or password.", title="Login failed", kind="login-failed")
    assert user is not None  # confirmed
    if ctx.passwords.needs_rehash(user["password_hash"]):
        new_hash = await hash_password(ctx.passwords, data.password)
        await ctx.db.users.update_one({"_id": user["_id"]}, {"$set": {"password_hash": new_hash}})
    return await ctx.sessions.start(user)


async def confirm_password(
    ctx: Identity,
    user: dict[str, Any] | None,
    password: str,
    *,
    address: str,
    email: str = "",
    municipality: str = "",
) -> bool:
    """Whether `password` is the user's, under the login limits (every check of a password,
    at login or to confirm a change, counts the same). An unknown user costs one Argon2
    verification too, so response times do not tell which accounts exist."""
    attempt = await ctx.throttle.reserve(
        user["municipality"] if user else municipality or "-",
        user["email"] if user else email,
        address,
    )
    # A city login's account has no password: it answers like an unknown one.
    hashed = user.get("password_hash") if user else None
    if not await verify_password(ctx.passwords, hashed, password) or user is None or not hashed:
        return False
    await ctx.throttle.succeeded(attempt)
    return True


async def get_active(
    ctx: Identity, user_id: str, municipality: str | None = None
) -> dict[str, Any]:
    query: dict[str, Any] = {"_id": user_id, "status": "active"}
    if municipality is not None:
        query["municipality"] = municipality
    user = await ctx.db.users.find_one(query)
    if user is None:
        raise NotFound("No such user.")
    return user


async def change_password(
    ctx: Identity, user_id: str, data: PasswordChange, *, address: str
) -> None:
    user = await get_active(ctx, user_id)
    if not await confirm_password(ctx, user, data.current_password, address=address):
        raise Forbidden(
            "The current password is wrong.", field="current_password", title="Wrong password"
        )
    if reason := password_problem(data.new_password, email=user["email"]):
        raise weak_password(reason, "new_password")
    new_hash = await hash_password(ctx.passwords, data.new_password)
    now = datetime.now(UTC)
    until = end_of_second(now)
    async with ctx.svc.uow() as uow:
        session = uow.session
        await ctx.db.users.update_one(
            {"_id": user_id},
            {"$set": {"password_hash": new_hash, "updated_at": now}},
            session=session,
        )
        # Every session ends: a changed password must lock out whoever knew the old one,
        # their refresh tokens here and their access tokens in every service.
        await ctx.sessions.revoke_all(user_id, session)
        await end_access_tokens(ctx, session, user, idc.RevocationReason.password_changed, until)
    await asyncio.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()))


async def set_disabled(
    ctx: Identity, actor: Any, user_id: str, municipality: str, disabled: bool
) -> dict[str, Any]:
    """Disable (no login, refresh or token works any more) or enable an account."""
    if actor.subject == user_id:
        raise Conflict("Admins do not disable their own account.", field="user_id")
    before, after = ("active", "disabled") if disabled else ("disabled", "active")
    now = datetime.now(UTC)
    async with ctx.svc.uow() as uow:
        session = uow.session
        user = await ctx.db.users.find_one_and_update(
            {"_id": user_id, "municipality": municipality, "status": before},
            bump({"$set": {"status": after, "updated_at": now}}),
            session=session,
            return_document=ReturnDocument.AFTER,
        )
        if user is None:
            current = await ctx.db.users.find_one(
                {"_id": user_id, "municipality": municipality, "status": after}, session=session
            )
            if current is None:
                raise NotFound("No such user.")
            return current  # already so: nothing changes, nothing to tell
        if disabled:
            await ctx.sessions.revoke_all(user_id, session)
            await end_access_tokens(ctx, session, user, idc.RevocationReason.disabled, now)
    return user


async def update_contact(
    ctx: Identity, user_id: str, data: ContactIn, precondition: Precondition | None = None
) -> dict[str, Any]:
    """Change the contact fields given; with `precondition` (If-Match) only on the
    revision it names, checked in the update's filter (412 otherwise)."""
    precondition = precondition or Precondition(None)
    changes: dict[str, Any] = {}
    for name in ("display_name", "phone", "language"):
        if name in data.model_fields_set:
            value = getattr(data, name)
            if value is None and name != "phone":
                raise Invalid(f"{name} cannot be empty.", field=name)
            changes[name] = value
    for name in ("channels", "quiet_hours", "timezone"):
        if name in data.model_fields_set:
            value = getattr(data, name)
            if isinstance(value, BaseModel):
                value = value.model_dump(mode="json")
            elif name == "channels" and value is not None:
                value = {kind: [str(c) for c in chans] for kind, chans in value.items()}
            changes[f"preferences.{name}"] = value
    if not changes:
        current = await get_active(ctx, user_id)
        precondition.check(current)
        return current
    changes["updated_at"] = datetime.now(UTC)

    async def work(uow: UnitOfWork) -> dict[str, Any]:
        session = uow.session
        user = await ctx.db.users.find_one_and_update(
            {"_id": user_id, "status": "active", **precondition.filter()},
            bump({"$set": changes}),
            session=session,
            return_document=ReturnDocument.AFTER,
        )
        if user is None:
            found = await ctx.db.users.find_one(
                {"_id": user_id, "status": "active"}, session=session
            )
            if found is not None:  # changed since the version named in If-Match
                raise stale(found)
            raise NotFound("No such user.")
        await emit_contact(ctx, session, user)
        return user

    # Run again after a write conflict: a change that raced this one is then seen, and
    # with If-Match this one is refused (412) rather than answered 409.
    return await ctx.svc.uow.run(work)
