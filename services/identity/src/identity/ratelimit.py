"""Login throttling: failed attempts counted per account and per client address in fixed
windows, stored in the database so every replica sees the same counts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from identity.settings import IdentitySettings
from kit.problems import Problem


def account_key(municipality: str, email: str) -> str:
    return f"account:{municipality}:{email.lower()}"


def address_key(address: str) -> str:
    return f"address:{address}"


def client_address(peer: str | None, forwarded_for: str | None, trusted: list[str]) -> str:
    """The caller's address; a trusted proxy's X-Forwarded-For names the real client (its
    last entry is the one the proxy itself saw)."""
    if peer in trusted and forwarded_for:
        return forwarded_for.split(",")[-1].strip() or peer or "unknown"
    return peer or "unknown"


class LoginThrottle:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], settings: IdentitySettings) -> None:
        self.failures = db.login_failures
        self.window = timedelta(seconds=settings.login_window_s)
        self.limits = {
            "account": settings.login_max_failures_per_account,
            "address": settings.login_max_failures_per_address,
        }

    def _limit(self, key: str) -> int:
        return self.limits[key.split(":", 1)[0]]

    async def check(self, *keys: str) -> None:
        """429 with Retry-After while any key has used up its failures in this window."""
        now = datetime.now(UTC)
        docs = await self.failures.find({"_id": {"$in": list(keys)}}).to_list()
        waits = [
            (d["window_start"] + self.window - now).total_seconds()
            for d in docs
            if d["window_start"] + self.window > now and d["count"] >= self._limit(d["_id"])
        ]
        if waits:
            retry_after = max(1, math.ceil(max(waits)))
            raise Problem(
                429,
                "Too many login attempts",
                f"Too many failed logins; try again in {retry_after} seconds.",
                type_="https://kohtaamo.fi/problems/login-rate-limited",
                extra={"retry_after": retry_after},
                headers={"Retry-After": str(retry_after)},
            )

    async def failed(self, *keys: str) -> None:
        now = datetime.now(UTC)
        for key in keys:
            counted = await self.failures.update_one(
                {"_id": key, "window_start": {"$gt": now - self.window}}, {"$inc": {"count": 1}}
            )
            if counted.matched_count:
                continue
            try:  # no open window: start one
                await self.failures.update_one(
                    {"_id": key, "window_start": {"$lte": now - self.window}},
                    {"$set": {"count": 1, "window_start": now}},
                    upsert=True,
                )
            except DuplicateKeyError:  # another replica opened it just now
                await self.failures.update_one({"_id": key}, {"$inc": {"count": 1}})

    async def succeeded(self, key: str) -> None:
        await self.failures.delete_one({"_id": key})
