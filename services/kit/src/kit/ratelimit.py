"""Rate limits shared by the replicas of a service: the `limits` library's sliding window
counters in Redis (its async storage on redis-py), or in this process for one replica.

When Redis does not answer, requests are neither refused nor let through uncounted: this
process counts them itself (so every replica still enforces the limit on its own share)
and tries Redis again after a pause. Counts never cross that switch: the windows restart."""

from __future__ import annotations

import math
import time
from typing import Any

import structlog
from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

log = structlog.get_logger("kit.ratelimit")

_REDIS_SCHEMES = ("redis", "rediss", "redis+unix", "redis+sentinel")


def storage_for(uri: str, *, prefix: str, timeout_s: float) -> Storage:
    """The `limits` async storage for a URI: `memory://`, `redis://host:6379/0`,
    `rediss://...` (TLS), with or without the `async+` of the `limits` notation."""
    bare = uri.strip().removeprefix("async+")
    scheme = bare.partition("://")[0]
    if scheme == "memory":
        return MemoryStorage()
    if scheme not in _REDIS_SCHEMES:
        raise ValueError(f"rate limit storage must be memory:// or redis://, not {scheme}://")
    storage = storage_from_string(
        "async+" + bare,
        implementation="redispy",  # redis-py (MIT), not coredis
        key_prefix=prefix,
        # A slow Redis must not hold requests: past this the process counts by itself.
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
    )
    assert isinstance(storage, Storage)
    return storage


class Limiter:
    """Hits per key in sliding windows; `hit` is False once a window is full."""

    def __init__(
        self, uri: str, *, prefix: str = "kohtaamo", timeout_s: float = 0.5, retry_s: float = 5.0
    ) -> None:
        self.storage = storage_for(uri, prefix=prefix, timeout_s=timeout_s)
        self.shared = not isinstance(self.storage, MemoryStorage)
        self._primary = SlidingWindowCounterRateLimiter(self.storage)
        self._local = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._retry_s = retry_s
        self._down_until = 0.0

    def _limiter(self) -> SlidingWindowCounterRateLimiter:
        if self.shared and time.monotonic() < self._down_until:
            return self._local
        return self._primary

    def _lost(self, exc: Exception) -> None:
        if time.monotonic() >= self._down_until:
            log.warning("ratelimit.storage_unavailable", error=f"{type(exc).__name__}: {exc}")
        self._down_until = time.monotonic() + self._retry_s

    async def hit(self, item: RateLimitItem, *key: str) -> bool:
        limiter = self._limiter()
        try:
            return await limiter.hit(item, *key)
        except Exception as exc:  # Redis unreachable or timing out: count here meanwhile
            if limiter is self._local:
                raise
            self._lost(exc)
            return await self._local.hit(item, *key)

    async def retry_after(self, item: RateLimitItem, *key: str) -> int:
        """Whole seconds until the window of `item` has room again (at least 1)."""
        limiter = self._limiter()
        try:
            stats = await limiter.get_window_stats(item, *key)
        except Exception as exc:
            self._lost(exc)
            stats = await self._local.get_window_stats(item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def status(self) -> dict[str, Any]:
        """For readiness: where counts are kept now. Never not-ready: counting in the
        process is a degraded mode, not an outage."""
        if not self.shared:
            return {"ok": True, "storage": "memory"}
        try:
            reachable = bool(await self.storage.check())
        except Exception:
            reachable = False
        if reachable and time.monotonic() >= self._down_until:
            return {"ok": True, "storage": "redis"}
        return {"ok": True, "storage": "redis", "degraded": "counting in this process"}
