"""Login attempt counters in Redis, for a city whose identity replicas share one Redis
(`KOHTAAMO_LOGIN_THROTTLE_STORAGE=redis://...`): a password-guessing attack then costs
Redis one script call per counter instead of writes to the identity database's primary.

The same rules as the store's counters (identity/throttle_store.py): a window per key, a
reservation only while the count is under the limit, and an account window that doubles each
time it fills up. Each take is one Lua script, so concurrent guesses cannot all pass a check
made before any of them failed, and the time is Redis's own, so replicas with skewed clocks
agree. Keys expire when their window, and the memory of its size for the backoff, are over."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

# KEYS[1] the counter, KEYS[2] the set of pair counters naming the account (for erasure).
# ARGV: limit, window s, backoff ceiling s, 1 for an account counter, the pair key to note.
# Returns 0 when reserved, else whole seconds to wait.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit = tonumber(ARGV[1])
local h = redis.call('HMGET', KEYS[1], 'count', 'window_end', 'window_s')
local count, window_end, window_s = tonumber(h[1]), tonumber(h[2]), tonumber(h[3])
if count and window_end > now then
  if count >= limit then return math.max(1, math.ceil(window_end - now)) end
  redis.call('HINCRBY', KEYS[1], 'count', 1)
  return 0
end
local window = tonumber(ARGV[2])
if ARGV[4] == '1' and count and count >= limit then
  window = math.min(window_s * 2, tonumber(ARGV[3]))
end
redis.call('HSET', KEYS[1], 'count', 1, 'window_end', now + window, 'window_s', window)
-- Kept past its window for as long as a doubled window could follow it.
redis.call('EXPIRE', KEYS[1], math.ceil(window + tonumber(ARGV[3])))
if ARGV[5] ~= '' then
  redis.call('SADD', KEYS[2], ARGV[5])
  redis.call('EXPIRE', KEYS[2], math.ceil(2 * tonumber(ARGV[3])))
end
return 0
"""

_GIVE_BACK = """
local count = tonumber(redis.call('HGET', KEYS[1], 'count'))
if count and count > 0 then redis.call('HINCRBY', KEYS[1], 'count', -1) end
return 0
"""


class RedisCounters:
    def __init__(self, url: str, *, prefix: str, timeout_s: float) -> None:
        self.redis: Redis = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
        )
        self.prefix = f"{prefix}:identity:login:"
        self._take = self.redis.register_script(_TAKE)
        self._give_back = self.redis.register_script(_GIVE_BACK)

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _pairs(self, account: str) -> str:
        return self.prefix + "pairs-of:" + account

    async def take(
        self, key: str, *, account: str, kind: str, limit: int, window_s: int, max_window_s: int
    ) -> int | None:
        pair = self._key(key) if kind == "pair" else ""
        wait = await self._take(
            keys=[self._key(key), self._pairs(account)],
            args=[limit, window_s, max_window_s, 1 if kind == "account" else 0, pair],
        )
        return int(wait) or None

    async def give_back(self, key: str) -> None:
        await self._give_back(keys=[self._key(key)], args=[])

    async def reset(self, keys: list[str]) -> None:
        await self.redis.delete(*(self._key(k) for k in keys))

    async def forget_account(self, account: str, session: Any = None) -> None:
        pairs = list(await self.redis.smembers(self._pairs(account)))
        await self.redis.delete(self._key(account), self._pairs(account), *pairs)

    async def count(self, key: str) -> dict[str, float] | None:
        """A counter's state (for tests and operators)."""
        raw = await self.redis.hgetall(self._key(key))
        return {str(k): float(v) for k, v in raw.items()} if raw else None

    async def close(self) -> None:
        await self.redis.aclose()
