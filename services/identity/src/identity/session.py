"""Sessions: short-lived signed access tokens and rotating refresh tokens.

A refresh token belongs to a family (one login), stored as one document: the family's id is
the token's public part, and only a SHA-256 hash of the current secret is kept. A refresh is
one conditional update of that document (the presented hash must still be the current one),
so two uses of the same token cannot both win. A hash the family already rotated away from
means the token was stolen or replayed: the family document is revoked, which ends every
token of the family at once, whatever the interleaving (no new token can outlive it)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import structlog
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from identity import birthdate
from identity.errors import Unauthenticated
from identity.keys import ALGORITHM, KeyRing
from identity.settings import IdentitySettings

log = structlog.get_logger("identity.session")

SPENT_KEPT = 20


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invalid_refresh(detail: str = "The refresh token is not valid.") -> Unauthenticated:
    return Unauthenticated(detail, field="refresh_token", kind="invalid-refresh-token")


class Sessions:
    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], keys: KeyRing, settings: IdentitySettings
    ) -> None:
        self.tokens = db.refresh_tokens
        self.users = db.users
        self.keys = keys
        self.settings = settings

    async def ensure_indexes(self) -> None:
        await self.tokens.create_index([("user_id", ASCENDING)])

    @property
    def issuer(self) -> str:
        return self.settings.identity_url.rstrip("/")

    async def access_token(self, user: dict[str, Any]) -> str:
        key = await self.keys.active()
        now = int(datetime.now(UTC).timestamp())
        claims = {
            "iss": self.issuer,
            "aud": self.settings.token_audience,
            "sub": user["_id"],
            "municipality": user["municipality"],
            "roles": sorted(user.get("roles", [])),
            "iat": now,
            "exp": now + self.settings.access_token_ttl_s,
            "jti": uuid.uuid4().hex,
            **birthdate.claim(user),
        }
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    async def start(
        self,
        user: dict[str, Any],
        session: AsyncClientSession | None = None,
        *,
        city: dict[str, str] | None = None,
    ) -> TokenPair:
        """A new family: after sign-up or login. `city`: the municipality and ID token of a
        city login, for the provider's logout when this session ends."""
        family = uuid.uuid4().hex
        secret = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        await self.tokens.insert_one(
            {
                "_id": family,
                "user_id": user["_id"],
                "current": _digest(secret),
                "spent": [],
                "created_at": now,
                "rotated_at": now,
                "expires_at": now + timedelta(seconds=self.settings.refresh_token_ttl_s),
                "revoked": False,
                **({"city": city} if city else {}),
            },
            session=session,
        )
        return TokenPair(
            await self.access_token(user), f"{family}.{secret}", self.settings.access_token_ttl_s
        )

    async def refresh(self, token: str) -> TokenPair:
        family, _, secret = token.partition(".")
        if not family or not secret:
            raise invalid_refresh()
        now = datetime.now(UTC)
        digest = _digest(secret)
        new_secret = secrets.token_urlsafe(32)
        rotated = await self.tokens.update_one(
            {"_id": family, "current": digest, "revoked": False, "expires_at": {"$gt": now}},
            {
                "$set": {
                    "current": _digest(new_secret),
                    "rotated_at": now,
                    "expires_at": now + timedelta(seconds=self.settings.refresh_token_ttl_s),
                },
                # The last few spent hashes recognise a replay; older ones age out.
                "$push": {"spent": {"$each": [digest], "$slice": -SPENT_KEPT}},
            },
        )
        if not rotated.matched_count:
            known = await self.tokens.find_one({"_id": family})
            if known is not None and digest in known["spent"] and not known["revoked"]:
                await self.revoke_family(family)
                log.warning("session.refresh_reuse", user_id=known["user_id"])
                raise invalid_refresh("The refresh token was already used; the session ended.")
            raise invalid_refresh()
        known = await self.tokens.find_one({"_id": family}, projection={"user_id": 1})
        user_id = known["user_id"] if known else None
        user = await self.users.find_one({"_id": user_id, "status": "active"})
        if user is None:
            raise invalid_refresh()
        return TokenPair(
            await self.access_token(user),
            f"{family}.{new_secret}",
            self.settings.access_token_ttl_s,
        )

    async def revoke_family(self, family: str) -> None:
        await self.tokens.update_one({"_id": family}, {"$set": {"revoked": True}})

    async def logout(self, token: str) -> bool:
        """Whoever holds a refresh token (current or spent) may end its session."""
        family, _, secret = token.partition(".")
        known = await self.tokens.find_one({"_id": family})
        digest = _digest(secret)
        if known is None or (digest != known["current"] and digest not in known["spent"]):
            return False
        await self.revoke_family(family)
        return True

    async def logout_city(self, token: str) -> dict[str, str] | None:
        """Logout, with the city login the session came from (None: not one, or no such
        session)."""
        family = token.partition(".")[0]
        known = await self.tokens.find_one({"_id": family})
        if not await self.logout(token) or known is None:
            return None
        return known.get("city")

    async def revoke_all(self, user_id: str, session: AsyncClientSession | None = None) -> None:
        await self.tokens.update_many(
            {"user_id": user_id}, {"$set": {"revoked": True}}, session=session
        )
