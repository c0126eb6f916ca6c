"""Sessions: short-lived signed access tokens and rotating refresh tokens.

Refresh tokens are random, stored only as SHA-256 hashes, and belong to a family (one
login). Each refresh uses the token up and returns a new one of the same family; using a
spent token again means it was stolen or replayed, so the whole family is revoked."""

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

from identity.keys import ALGORITHM, KeyRing
from identity.settings import IdentitySettings
from kit.problems import Problem

log = structlog.get_logger("identity.session")


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invalid_refresh(detail: str = "The refresh token is not valid.") -> Problem:
    return Problem(
        401,
        "Unauthorized",
        detail,
        field="refresh_token",
        type_="https://kohtaamo.fi/problems/invalid-refresh-token",
    )


class Sessions:
    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], keys: KeyRing, settings: IdentitySettings
    ) -> None:
        self.tokens = db.refresh_tokens
        self.users = db.users
        self.keys = keys
        self.settings = settings

    async def ensure_indexes(self) -> None:
        await self.tokens.create_index([("family", ASCENDING)])
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
        }
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    async def _new_refresh(
        self, user: dict[str, Any], family: str, session: AsyncClientSession | None = None
    ) -> str:
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        await self.tokens.insert_one(
            {
                "_id": _digest(token),
                "family": family,
                "user_id": user["_id"],
                "created_at": now,
                "expires_at": now + timedelta(seconds=self.settings.refresh_token_ttl_s),
                "used_at": None,
                "revoked": False,
            },
            session=session,
        )
        return token

    async def start(
        self, user: dict[str, Any], session: AsyncClientSession | None = None
    ) -> TokenPair:
        """A new family: after sign-up or login."""
        refresh = await self._new_refresh(user, uuid.uuid4().hex, session)
        return TokenPair(await self.access_token(user), refresh, self.settings.access_token_ttl_s)

    async def refresh(self, token: str) -> TokenPair:
        now = datetime.now(UTC)
        digest = _digest(token)
        spent = await self.tokens.find_one_and_update(
            {"_id": digest, "used_at": None, "revoked": False, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
        )
        if spent is None:
            known = await self.tokens.find_one({"_id": digest})
            if known is not None and known.get("used_at") is not None and not known["revoked"]:
                await self.revoke_family(known["family"])
                log.warning("session.refresh_reuse", user_id=known["user_id"])
                raise invalid_refresh("The refresh token was already used; the session ended.")
            raise invalid_refresh()
        user = await self.users.find_one({"_id": spent["user_id"], "status": "active"})
        if user is None:
            raise invalid_refresh()
        refresh = await self._new_refresh(user, spent["family"])
        return TokenPair(await self.access_token(user), refresh, self.settings.access_token_ttl_s)

    async def revoke_family(self, family: str) -> None:
        await self.tokens.update_many({"family": family}, {"$set": {"revoked": True}})

    async def logout(self, token: str) -> bool:
        """Whoever holds a refresh token may end its session."""
        known = await self.tokens.find_one({"_id": _digest(token)})
        if known is None:
            return False
        await self.revoke_family(known["family"])
        return True

    async def revoke_all(self, user_id: str, session: AsyncClientSession | None = None) -> None:
        await self.tokens.update_many(
            {"user_id": user_id}, {"$set": {"revoked": True}}, session=session
        )

    async def active_count(self, user_id: str) -> int:
        return await self.tokens.count_documents(
            {
                "user_id": user_id,
                "revoked": False,
                "used_at": None,
                "expires_at": {"$gt": datetime.now(UTC)},
            }
        )
