"""Rate limits at the edge (the `limits` library, sliding window counters): per client
address on everything, per user on authenticated calls, and a stricter per-address limit
on sign-up and login so passwords cannot be guessed at speed. Counted in Redis when
`KOHTAAMO_RATE_LIMIT_STORAGE` names one, so all replicas share one limit (kit.ratelimit)."""

from __future__ import annotations

from limits import RateLimitItem, parse_many

from gateway.errors import too_many
from gateway.settings import GatewaySettings
from kit.ratelimit import Limiter


class Limit:
    def __init__(self, spec: str, scope: str) -> None:
        self.spec = spec
        self.scope = scope
        self.items: list[RateLimitItem] = parse_many(spec) if spec.strip() else []


class RateLimits:
    def __init__(self, settings: GatewaySettings) -> None:
        self.limiter = Limiter(
            settings.rate_limit_storage,
            prefix=f"{settings.rate_limit_prefix}:gateway",
            timeout_s=settings.rate_limit_storage_timeout_s,
        )
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
            if not await self.limiter.hit(item, limit.scope, key):
                retry_after = await self.limiter.retry_after(item, limit.scope, key)
                raise too_many(str(item), retry_after, limit.scope)
