"""Token signing keys: Ed25519 key pairs with key ids, kept in identity's database with the
private half encrypted; rotation adds a new active key while older public keys stay in the
JWKS until every token they signed has expired.

Run `python -m identity.keys rotate` to rotate from the command line."""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from identity.settings import IdentitySettings
from kit.audit import Pending
from kit.mongo import Store
from kit.uow import Transactions

ALGORITHM = "EdDSA"
# Verifiers allow this much clock skew; a retired key stays published that much longer.
LEEWAY_S = 60
log = structlog.get_logger("identity.keys")


class KeyConfigurationError(RuntimeError):
    pass


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey


def _encryption(settings: IdentitySettings) -> serialization.KeySerializationEncryption:
    secret = settings.key_encryption_secret
    if secret is not None and secret.get_secret_value():
        return serialization.BestAvailableEncryption(secret.get_secret_value().encode())
    if settings.environment != "development":
        raise KeyConfigurationError(
            "KOHTAAMO_KEY_ENCRYPTION_SECRET is required outside development"
        )
    log.warning("keys.stored_unencrypted", hint="set KOHTAAMO_KEY_ENCRYPTION_SECRET")
    return serialization.NoEncryption()


def _password(settings: IdentitySettings) -> bytes | None:
    secret = settings.key_encryption_secret
    return secret.get_secret_value().encode() if secret and secret.get_secret_value() else None


def new_key_document(settings: IdentitySettings, now: datetime) -> dict[str, Any]:
    private_key = Ed25519PrivateKey.generate()
    kid = f"{now:%Y%m%d}-{secrets.token_hex(4)}"
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, _encryption(settings)
    )
    public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private_key.public_key()))
    return {
        "_id": kid,
        "alg": ALGORITHM,
        "private_pem": pem,
        "encrypted": _password(settings) is not None,
        "public_jwk": {**public, "kid": kid, "use": "sig", "alg": ALGORITHM},
        "created_at": now,
        "active": True,
        "retired_at": None,
    }


def load_private(doc: dict[str, Any], settings: IdentitySettings) -> SigningKey:
    password = _password(settings) if doc.get("encrypted") else None
    if doc.get("encrypted") and password is None:
        raise KeyConfigurationError(
            "signing keys are encrypted: set KOHTAAMO_KEY_ENCRYPTION_SECRET"
        )
    key = serialization.load_pem_private_key(doc["private_pem"], password=password)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyConfigurationError(f"key {doc['_id']} is not an Ed25519 key")
    return SigningKey(kid=doc["_id"], private_key=key)


class KeyRing:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], settings: IdentitySettings) -> None:
        self.keys = db.signing_keys
        self.settings = settings
        self._active: SigningKey | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def ensure(self) -> None:
        """At least one active key (first start of a site)."""
        await self.keys.create_index([("active", DESCENDING), ("created_at", DESCENDING)])
        if await self.keys.find_one({"active": True}) is None:
            await self.keys.insert_one(new_key_document(self.settings, datetime.now(UTC)))

    async def active(self) -> SigningKey:
        async with self._lock:
            fresh = time.monotonic() - self._loaded_at < self.settings.signing_key_cache_s
            if self._active is None or not fresh:
                # Newest active key wins, should two replicas ever have created one each.
                doc = await self.keys.find_one({"active": True}, sort=[("created_at", DESCENDING)])
                if doc is None:
                    raise KeyConfigurationError("no active signing key")
                self._active = load_private(doc, self.settings)
                self._loaded_at = time.monotonic()
            return self._active

    async def rotate(self, uow: Transactions | None = None, entry: Pending | None = None) -> str:
        """A new active key; the previous ones retire but stay in the JWKS for a while.
        With `uow` in one transaction, with the audit `entry` of the rotation (its object
        the new key)."""
        now = datetime.now(UTC)
        doc = new_key_document(self.settings, now)
        if entry is not None:
            entry.object_id = str(doc["_id"])
            entry.any_transaction = True  # a new key tells no other service
        if uow is None:
            await self._swap(doc, now, None)
        else:
            # Rerun on a conflict with a concurrent rotation (both retire the same key).
            await uow.run_session(lambda session: self._swap(doc, now, session))
        async with self._lock:
            self._active = load_private(doc, self.settings)
            self._loaded_at = time.monotonic()
        log.info("keys.rotated", kid=doc["_id"])
        return str(doc["_id"])

    async def _swap(self, doc: dict[str, Any], now: datetime, session: Any) -> None:
        await self.keys.insert_one(doc, session=session)
        await self.keys.update_many(
            # Only older keys: of two concurrent rotations the newer key stays active.
            {"active": True, "created_at": {"$lt": now}},
            {"$set": {"active": False, "retired_at": now}},
            session=session,
        )

    async def jwks(self) -> dict[str, Any]:
        """Active keys and retired keys whose tokens may still be valid."""
        horizon = datetime.now(UTC) - timedelta(seconds=self.settings.access_token_ttl_s + LEEWAY_S)
        docs = await self.keys.find(
            {"$or": [{"active": True}, {"retired_at": {"$gt": horizon}}]},
            projection={"public_jwk": 1},
            sort=[("created_at", DESCENDING)],
        ).to_list()
        return {"keys": [d["public_jwk"] for d in docs]}


def main() -> None:
    if sys.argv[1:] != ["rotate"]:
        raise SystemExit("usage: python -m identity.keys rotate")

    async def go() -> str:
        settings = IdentitySettings()
        store = Store(settings)
        try:
            ring = KeyRing(store.db, settings)
            await ring.ensure()
            return await ring.rotate()
        finally:
            await store.close()

    print(f"new active signing key: {asyncio.run(go())}")


if __name__ == "__main__":
    main()
