"""Cancel requests: a flag per intent in Redis, set by the API, read by whoever holds the
intent at the moment (the processor before planning, the execution actor between steps).

A flag, not an event: the intent's event sequence has one writer per stage, and the stage
that stops the intent records `IntentCancelled` itself. The flag outlives restarts of the
actors (a week, far beyond any intent's window).
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import redis.asyncio as aioredis

FLAG_TTL_S = 7 * 24 * 3600


class CancelRequests:
    def __init__(self, client: aioredis.Redis, *, prefix: str = "") -> None:
        self._redis = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "") -> CancelRequests:
        return cls(aioredis.from_url(url, decode_responses=True), prefix=prefix)

    async def close(self) -> None:
        await self._redis.aclose()

    def key(self, intent_id: UUID) -> str:
        return f"{self._prefix}cancel:{intent_id}"

    async def request(self, intent_id: UUID) -> bool:
        """Flag the intent; False when it was flagged already."""
        return bool(await self._redis.set(self.key(intent_id), "1", nx=True, ex=FLAG_TTL_S))

    async def requested(self, intent_ids: Iterable[UUID]) -> set[UUID]:
        """Which of these intents have a cancel request."""
        ids = list(intent_ids)
        if not ids:
            return set()
        flags = await self._redis.mget([self.key(i) for i in ids])
        return {i for i, flag in zip(ids, flags, strict=True) if flag is not None}
