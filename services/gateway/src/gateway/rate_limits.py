"""Rate limits at the edge (the `limits` library, sliding window counters): per client
address on everything, per user on authenticated calls, and a stricter per-address limit
on sign-up and login so passwords cannot be guessed at speed."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from gateway.errors import too_many
from gateway.settings import GatewaySettings


class Limit:
    def __init__(self, spec: str, scope: str) -> None:
        self.spec = spec
        self.scope = scope
        self.items: list[RateLimitItem] = parse_many(spec) if spec.strip() else []


class RateLimits:
    def __init__(self, settings: GatewaySettings) -> None:
        storage = storage_from_string(settings.rate_limit_storage)
        self._limiter = SlidingWindowCounterRateLimiter(storage)  # type: ignore[arg-type]
        self.client = Limit(settings.rate_limit_client, "client address")
        self.user = Limit(settings.rate_limit_user, "user")
        self.auth = Limit(settings.rate_limit_auth, "client address on sign-up and login")
        self.auth_paths = {self._key(*p.split(" ", 1)) for p in settings.auth_paths}

    @staticmethod
    def _key(method: str, path: str) -> tuple[str, str]:
        return method.upper(), "/" + path.strip().strip("/")

    def is_auth(self, method: str, path: str) -> bool:
        return self._key(method, path) in self.auth_paths

    async def hit(self, limit: Limit, key: str) -> None:
        """Count one request against every window of `limit`; 429 once one is full."""
        for item in limit.items:
            if not await self._limiter.hit(item, limit.scope, key):
                stats = await self._limiter.get_window_stats(item, limit.scope, key)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise too_many(str(item), retry_after, limit.scope)
