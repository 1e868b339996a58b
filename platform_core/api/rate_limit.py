"""Per-strategy rate limit: a token bucket in Redis, refilled continuously.

One Lua script reads, refills and takes a token atomically, so concurrent API replicas
share one budget per strategy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

# KEYS: bucket. ARGV: capacity, refill per second, now (s), ttl (s).
# Returns {allowed (0/1), seconds until the next token (string)}.
_BUCKET = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], ARGV[4])
local wait = 0
if allowed == 0 then wait = (1 - tokens) / rate end
return {allowed, tostring(wait)}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float


class RateLimiter:
    def __init__(
        self, client: aioredis.Redis, *, per_second: float, burst: int, prefix: str = ""
    ) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("rate limit needs per_second > 0 and burst >= 1")
        self._script = client.register_script(_BUCKET)
        self._per_second = per_second
        self._burst = burst
        self._prefix = prefix
        self._ttl = max(1, int(burst / per_second) + 1)

    async def take(self, subject: str) -> Decision:
        allowed, wait = await self._script(
            keys=[f"{self._prefix}ratelimit:{subject}"],
            args=[self._burst, self._per_second, time.time(), self._ttl],
        )
        return Decision(bool(int(allowed)), float(wait))
