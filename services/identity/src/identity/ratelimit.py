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
wrong one keeps them as the failure count.

The counters live in identity's database (identity/throttle_store.py) or, when
`KOHTAAMO_LOGIN_THROTTLE_STORAGE` names a Redis, there (identity/throttle_redis.py). When
that Redis does not answer, the database counts meanwhile: still shared by every replica,
never a login let through uncounted."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from pymongo.asynchronous.database import AsyncDatabase

from identity.errors import TooMany
from identity.settings import IdentitySettings
from identity.throttle_redis import RedisCounters
from identity.throttle_store import StoreCounters

log = structlog.get_logger("identity.ratelimit")


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


def too_many(retry_after: int) -> TooMany:
    return TooMany(
        f"Too many failed password attempts; try again in {retry_after} seconds.",
        title="Too many login attempts",
        kind="login-rate-limited",
        retry_after=retry_after,
    )


class Counters(Protocol):
    async def take(
        self, key: str, *, account: str, kind: str, limit: int, window_s: int, max_window_s: int
    ) -> int | None: ...

    async def give_back(self, key: str) -> None: ...

    async def reset(self, keys: list[str]) -> None: ...

    async def forget_account(self, account: str, session: Any = None) -> None: ...


class LoginThrottle:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], settings: IdentitySettings) -> None:
        self.store = StoreCounters(db)
        storage = settings.login_throttle_storage.strip()
        self.redis: RedisCounters | None = None
        if storage != "store":
            self.redis = RedisCounters(
                storage,
                prefix=settings.login_throttle_prefix,
                timeout_s=settings.login_throttle_timeout_s,
            )
        self._retry_s = 5.0
        self._redis_down_until = 0.0
        self.window_s = settings.login_window_s
        self.max_window_s = settings.login_max_backoff_s
        self.limits = {
            "account": settings.login_max_failures_per_account,
            "pair": settings.login_max_failures_per_address_account,
            "address": settings.login_max_failures_per_address,
        }

    @property
    def counters(self) -> Counters:
        if self.redis is not None and time.monotonic() >= self._redis_down_until:
            return self.redis
        return self.store

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        counters = self.counters
        try:
            return await getattr(counters, method)(*args, **kwargs)
        except Exception as exc:
            if counters is self.store:
                raise
            # Redis unreachable or too slow: the database counts meanwhile (shared too).
            if time.monotonic() >= self._redis_down_until:
                log.warning("login_throttle.redis_unavailable", error=f"{type(exc).__name__}")
            self._redis_down_until = time.monotonic() + self._retry_s
            return await getattr(self.store, method)(*args, **kwargs)

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
            kind = key.split(":", 1)[0]
            wait = await self._call(
                "take",
                key,
                account=attempt.account,
                kind=kind,
                limit=self.limits[kind],
                window_s=self.window_s,
                max_window_s=self.max_window_s,
            )
            if wait is not None:
                for done in taken:
                    await self._call("give_back", done)
                raise too_many(wait)
            taken.append(key)
        return attempt

    async def succeeded(self, attempt: Attempt) -> None:
        # The person knows the password: their account and pair counters start over, and a
        # success does not use up the shared address's ceiling.
        await self._call("reset", [attempt.account, attempt.pair])
        await self._call("give_back", attempt.address)

    async def forget_account(self, account: str, session: Any = None) -> None:
        """An erased account's counters (their keys name its email), wherever they are:
        the database's in the erasure's transaction, Redis's too when it is used."""
        await self.store.forget_account(account, session)
        if self.redis is not None:
            try:
                await self.redis.forget_account(account)
            except Exception as exc:
                # Not a reason to hold the erasure: the keys expire by themselves within
                # twice the backoff ceiling (a day or two at most).
                log.warning("login_throttle.redis_forget_failed", error=f"{type(exc).__name__}")

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()
