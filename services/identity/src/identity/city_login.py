"""City login: signing in with a municipality's OpenID Connect provider.

A sign-in is an attempt (state, nonce and PKCE verifier kept here, single-use, expiring)
and a callback with the provider's code. The provider's (issuer, sub) is linked to one
Kohtaamo user: the first sign-in creates the account, or links it to the signed-in password
account that started the attempt ("sign in with both"). An email that already has a password
account is never linked by the email alone (whoever controls the provider's email would get
the account): the person signs in with the password first and links. Kohtaamo then issues
its own tokens, so nothing downstream changes."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog
from pydantic import BaseModel, Field
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from identity import account_links
from identity import birthdate as birthdates
from identity import municipality as municipalities
from identity import user as users  # a new account is a sign-up without a password
from identity.core import Identity
from identity.errors import BadRequest, Conflict, Forbidden, IdentityError, Invalid, NotFound
from identity.fields import Email
from identity.oidc import Verified, refused
from identity.session import TokenPair
from identity.settings import OidcProvider
from kit.conditional import bump
from kit.requests import Strict

log = structlog.get_logger("identity.city_login")

LANGUAGES = ("fi", "sv", "en")


class StartIn(Strict):
    # A new account needs the terms accepted, as at sign-up; an existing one does not.
    accept_terms: bool = False
    # The person's own email for a new account, used only when the city's sign-in gives
    # none (the callback asks for it, 422 `…/city-login-email-needed`): unverified until
    # its verification link, mailed at once, is opened.
    email: Email | None = None


class StartOut(BaseModel):
    authorization_url: str
    state: str
    expires_in: int


class CallbackIn(Strict):
    state: str = Field(min_length=1, max_length=200)
    code: str = Field(min_length=1, max_length=2000)


class ProviderOut(BaseModel):
    municipality: str
    label: dict[str, str]


def providers(ctx: Identity) -> list[ProviderOut]:
    return [
        ProviderOut(municipality=slug, label=p.label)
        for slug, p in sorted(ctx.settings.oidc_providers.items())
    ]


async def ensure_indexes(ctx: Identity) -> None:
    await ctx.db.external_identities.create_index(
        [("issuer", ASCENDING), ("subject", ASCENDING)], unique=True, name="issuer_subject"
    )
    await ctx.db.external_identities.create_index([("user_id", ASCENDING)])
    await ctx.db.oidc_attempts.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)


async def start(
    ctx: Identity, municipality: str, data: StartIn, *, link_user_id: str | None = None
) -> StartOut:
    """A new attempt: where to send the browser. `link_user_id`: the signed-in password
    account the provider's identity is to be linked to."""
    ctx.oidc.configured(municipality)
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # RFC 7636: 43-128 characters
    url = await ctx.oidc.authorization_url(
        municipality, state=state, nonce=nonce, verifier=verifier
    )
    now = datetime.now(UTC)
    ttl = ctx.settings.oidc_attempt_ttl_s
    await ctx.db.oidc_attempts.insert_one(
        {
            "_id": _digest(state),  # the state itself is the browser's, not kept
            "municipality": municipality,
            "nonce": nonce,
            "verifier": verifier,
            "link_user_id": link_user_id,
            "accept_terms": data.accept_terms,
            "email": data.email,
            "created_at": now,
            "expires_at": now + timedelta(seconds=ttl),
        }
    )
    return StartOut(authorization_url=url, state=state, expires_in=ttl)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def callback(ctx: Identity, data: CallbackIn) -> tuple[dict[str, Any], TokenPair, bool]:
    """The provider's code for a started attempt: (user, tokens, created)."""
    # Single-use: the attempt is taken away before the code is spent, so a second
    # callback with the same state finds nothing, whatever the interleaving.
    attempt = await ctx.db.oidc_attempts.find_one_and_delete(
        {"_id": _digest(data.state), "expires_at": {"$gt": datetime.now(UTC)}}
    )
    if attempt is None:
        raise refused(
            "This sign-in is unknown, expired or already used (state); start again.",
            "state",
            error=BadRequest,
        )
    municipality = attempt["municipality"]
    verified = await ctx.oidc.exchange(
        municipality, code=data.code, verifier=attempt["verifier"], nonce=attempt["nonce"]
    )
    provider = ctx.oidc.configured(municipality)
    link = await ctx.db.external_identities.find_one(
        {"issuer": verified.issuer, "subject": verified.subject}
    )
    created = False
    if attempt.get("link_user_id"):
        user = await _link(ctx, attempt["link_user_id"], municipality, verified, link)
    elif link is not None:
        found = await ctx.db.users.find_one({"_id": link["user_id"], "status": "active"})
        if found is None:
            raise Forbidden("This account is disabled.", field="state")
        user = found
    else:
        user = await _create(ctx, municipality, provider, verified, attempt)
        created = True
        if not user.get("email_verified") and attempt.get("email"):
            try:  # the person's own address: they confirm it, as after a sign-up
                await account_links.issue(ctx, user, account_links.Purpose.verify_email)
            except IdentityError as exc:  # the account stands; the link can be asked for again
                log.warning("city_login.verification_not_sent", detail=exc.detail)
    user = await _keep_attributes(ctx, user, provider, verified)
    tokens = await ctx.sessions.start(
        user, city={"municipality": municipality, "id_token": verified.id_token}
    )
    log.info("city_login.signed_in", user_id=user["_id"], created=created)
    return user, tokens, created


async def _link(
    ctx: Identity,
    user_id: str,
    municipality: str,
    verified: Verified,
    link: dict[str, Any] | None,
) -> dict[str, Any]:
    if link is not None and link["user_id"] != user_id:
        raise Conflict(
            "This city identity belongs to another Kohtaamo account.",
            field="state",
            title="Already linked",
            kind="city-identity-linked",
        )
    user = await ctx.db.users.find_one(
        {"_id": user_id, "municipality": municipality, "status": "active"}
    )
    if user is None:
        raise NotFound("No such user in this municipality.", field="state")
    if link is None:
        await _insert_link(ctx, user, verified)
    return user


async def _insert_link(ctx: Identity, user: dict[str, Any], verified: Verified) -> None:
    try:
        await ctx.db.external_identities.insert_one(
            {
                "_id": uuid.uuid4().hex,
                "issuer": verified.issuer,
                "subject": verified.subject,
                "user_id": user["_id"],
                "municipality": user["municipality"],
                "linked_at": datetime.now(UTC),
            }
        )
    except DuplicateKeyError as exc:  # two first sign-ins racing: one links, one is told
        raise Conflict(
            "This city identity was linked meanwhile; sign in again.",
            field="state",
            title="Already linked",
            kind="city-identity-linked",
        ) from exc
    await ctx.db.users.update_one({"_id": user["_id"]}, bump({"$set": {"city_login": True}}))
    user["city_login"] = True


def _claim(provider: OidcProvider, verified: Verified, name: str) -> Any:
    source = provider.claims.get(name)
    return verified.claims.get(source) if source else None


async def _create(
    ctx: Identity,
    municipality: str,
    provider: OidcProvider,
    verified: Verified,
    attempt: dict[str, Any],
) -> dict[str, Any]:
    await municipalities.get(ctx, municipality, missing=Invalid)
    accept_terms = bool(attempt["accept_terms"])
    claimed = _claim(provider, verified, "email")
    from_city = isinstance(claimed, str) and "@" in claimed and len(claimed) <= 254
    email = claimed.strip().lower() if from_city else attempt.get("email")
    if not email:
        # Not a dead end: the UI asks for the address and starts the sign-in again with
        # it (the provider's session makes the second round quick).
        raise Invalid(
            "The city's sign-in gave no email address. Give yours (`email` when starting "
            "the sign-in) and sign in again: the account is made with it, and a link to "
            "confirm it is mailed.",
            field="email",
            title="Email needed",
            kind="city-login-email-needed",
        )
    if await ctx.db.users.find_one({"municipality": municipality, "email": email}) is not None:
        raise Conflict(
            "This email already has an account: sign in with its password, then link the "
            "city login on your account.",
            field="email",
            title="Account exists",
            kind="city-login-link-needed",
        )
    if not accept_terms:
        raise Invalid(
            "Accept the terms to create an account.",
            field="accept_terms",
            title="Terms not accepted",
        )
    name = _claim(provider, verified, "display_name")
    language = str(_claim(provider, verified, "language") or "")[:2].lower()
    user = await users.create_account(
        ctx,
        municipality=municipality,
        email=email,
        display_name=str(name)[:200] if isinstance(name, str) and name.strip() else email,
        language=language if language in LANGUAGES else "fi",
        password_hash=None,
        email_verified=from_city and verified.claims.get("email_verified") is True,
    )
    await _insert_link(ctx, user, verified)
    return user


def _verified_level(provider: OidcProvider, verified: Verified) -> str | None:
    if not provider.assurance_claim:
        return None
    level = verified.claims.get(provider.assurance_claim)
    return level if isinstance(level, str) and level in provider.verified_levels else None


async def _keep_attributes(
    ctx: Identity, user: dict[str, Any], provider: OidcProvider, verified: Verified
) -> dict[str, Any]:
    """A birth date from a strongly identified sign-in is kept as verified (it replaces a
    self-declared one); without strong identification the provider's date counts as the
    person's own word, kept only when none is known."""
    born = _claim(provider, verified, "birthdate")
    try:
        day = date.fromisoformat(born) if isinstance(born, str) else None
    except ValueError:
        day = None
    if day is not None and not (birthdates.OLDEST <= day <= datetime.now(UTC).date()):
        day = None
    level = _verified_level(provider, verified)
    changes: dict[str, Any] = {}
    if level:
        changes["assurance"] = {
            "level": level,
            "issuer": verified.issuer,
            "at": datetime.now(UTC),
        }
        if day is not None:
            changes["birthdate"] = day.isoformat()
            changes["birthdate_source"] = birthdates.VERIFIED
    elif day is not None and not user.get("birthdate"):
        changes["birthdate"] = day.isoformat()
        changes["birthdate_source"] = birthdates.SELF_DECLARED
    if not changes:
        return user
    changes["updated_at"] = datetime.now(UTC)
    await ctx.db.users.update_one({"_id": user["_id"]}, bump({"$set": changes}))
    return {**user, **changes}


async def logout(ctx: Identity, refresh_token: str) -> str | None:
    """End the Kohtaamo session; the provider's logout address when it was a city
    sign-in and the provider offers RP-initiated logout."""
    city = await ctx.sessions.logout_city(refresh_token)
    if city is None:
        return None
    return await ctx.oidc.end_session_url(
        city["municipality"], id_token=city.get("id_token"), state=secrets.token_urlsafe(16)
    )
