"""Login throttling, stored in the database so every replica sees the same counts.

Every password check (login, and each re-confirmation of a password) first reserves an
attempt on three counters, each a conditional update, so concurrent guesses cannot all pass
a check made before any of them failed:
- per (client address, account): few attempts; a guesser at one address is stopped first;
- per account: more attempts, from anywhere (a guesser spread over many addresses), with the
  window doubling each time it fills up (backoff), up to a ceiling;
- per client address: a much higher ceiling, so that a library's public network (one
  address for everyone) is not locked out by a few people's typos.
A correct password gives its reservations back (the account and pair counters restart); a
wrong one keeps them as the failure count."""

from __future__ import annotations

import math
from dataclasses import dataclass
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


def pair_key(address: str, municipality: str, email: str) -> str:
    return f"pair:{address}:{municipality}:{email.lower()}"


@dataclass(frozen=True)
class Attempt:
    """The counters one password check reserved."""

    account: str
    pair: str
    address: str


def too_many(retry_after: int) -> Problem:
    return Problem(
        429,
        "Too many login attempts",
        f"Too many failed password attempts; try again in {retry_after} seconds.",
        type_="https://kohtaamo.fi/problems/login-rate-limited",
        extra={"retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


class LoginThrottle:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], settings: IdentitySettings) -> None:
        self.failures = db.login_failures
        self.window_s = settings.login_window_s
        self.max_window_s = settings.login_max_backoff_s
        self.limits = {
            "account": settings.login_max_failures_per_account,
            "pair": settings.login_max_failures_per_address_account,
            "address": settings.login_max_failures_per_address,
        }

    async def reserve(self, municipality: str, email: str, address: str) -> Attempt:
        """Count this attempt before the password is checked; 429 with Retry-After when a
        counter is used up (the attempts reserved so far are given back)."""
        attempt = Attempt(
            account_key(municipality, email),
            pair_key(address, municipality, email),
            address_key(address),
        )
        taken: list[str] = []
        for key in (attempt.pair, attempt.account, attempt.address):
            wait = await self._take(key, attempt.account)
            if wait is not None:
                for done in taken:
                    await self._give_back(done)
                raise too_many(wait)
            taken.append(key)
        return attempt

    async def succeeded(self, attempt: Attempt) -> None:
        # The person knows the password: their account and pair counters start over, and a
        # success does not use up the shared address's ceiling.
        await self.failures.delete_many({"_id": {"$in": [attempt.account, attempt.pair]}})
        await self._give_back(attempt.address)

    async def forget_account(self, account: str, session: Any = None) -> None:
        """An erased account's counters (their keys name its email)."""
        await self.failures.delete_many(
            {"$or": [{"_id": account}, {"account": account}]}, session=session
        )

    async def _take(self, key: str, account: str) -> int | None:
        """Reserve one attempt on `key`; None when reserved, else seconds to wait."""
        kind = key.split(":", 1)[0]
        limit = self.limits[kind]
        for _ in range(5):  # a lost race to open a window: look again
            now = datetime.now(UTC)
            taken = await self.failures.update_one(
                {"_id": key, "window_end": {"$gt": now}, "count": {"$lt": limit}},
                {"$inc": {"count": 1}},
            )
            if taken.matched_count:
                return None
            doc = await self.failures.find_one({"_id": key})
            if doc is not None and doc["window_end"] > now:
                if doc["count"] >= limit:
                    return max(1, math.ceil((doc["window_end"] - now).total_seconds()))
                continue  # given back meanwhile
            window_s = self.window_s
            if kind == "account" and doc is not None and doc["count"] >= limit:
                # It filled up last time too: the next window is twice as long.
                window_s = min(doc.get("window_s", self.window_s) * 2, self.max_window_s)
            fresh = {
                "count": 1,
                "window_end": now + timedelta(seconds=window_s),
                "window_s": window_s,
                "account": account if kind != "address" else None,
            }
            if doc is None:
                try:
                    await self.failures.insert_one({"_id": key, **fresh})
                    return None
                except DuplicateKeyError:
                    continue
            opened = await self.failures.update_one(
                {"_id": key, "window_end": doc["window_end"]}, {"$set": fresh}
            )
            if opened.matched_count:
                return None
        return self.window_s

    async def _give_back(self, key: str) -> None:
        await self.failures.update_one({"_id": key, "count": {"$gt": 0}}, {"$inc": {"count": -1}})
