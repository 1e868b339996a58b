"""Redis read models: one `intent:{id}` hash per intent, and per-strategy indexes.

Writes are check-and-set on `last_sequence` (a Lua script), so applying an event twice,
or an older one after a newer one, changes nothing, and two writers cannot interleave.
An event that arrives after a gap is caught up from the event log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Protocol, cast
from uuid import UUID

import redis.asyncio as aioredis

from platform_core.state.projection import IntentView, fold
from platform_core.types import EventEnvelope, IntentStatus

if TYPE_CHECKING:
    from platform_core.intent.ledger import ReservationLedger
    from platform_core.state.event_store import StoredEvent

# KEYS: intent hash, strategy index. ARGV: expected last_sequence ("" when new), index
# score, intent id, then field/value pairs.
_CAS_SCRIPT = """
local current = redis.call('HGET', KEYS[1], 'last_sequence')
if (current or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""
_CAS_ATTEMPTS = 8


class EventSource(Protocol):
    """The event log, as the read model needs it: what follows each view."""

    async def intents_events_after(
        self, after: dict[UUID, int]
    ) -> dict[UUID, list[EventEnvelope]]: ...


class ReadModel:
    """`client` decodes responses (`decode_responses=True`, as `from_url` makes it): hashes
    and index members come back as `str`."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = "") -> None:
        self._redis = client
        self._prefix = prefix
        self._cas = client.register_script(_CAS_SCRIPT)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "") -> ReadModel:
        return cls(aioredis.from_url(url, decode_responses=True), prefix=prefix)

    async def close(self) -> None:
        await self._redis.aclose()

    def intent_key(self, intent_id: UUID | str) -> str:
        return f"{self._prefix}intent:{intent_id}"

    def strategy_key(self, strategy_id: UUID | str) -> str:
        return f"{self._prefix}strategy:{strategy_id}:intents"

    async def get(self, intent_id: UUID | str) -> IntentView | None:
        data = await self._redis.hgetall(self.intent_key(intent_id))
        return IntentView.from_hash(cast("dict[str, str]", data)) if data else None

    async def list_for_strategy(
        self, strategy_id: UUID | str, *, status: IntentStatus | None = None, limit: int = 100
    ) -> list[IntentView]:
        """The strategy's intents, newest first; one round trip per page of the index."""
        key = self.strategy_key(strategy_id)
        views: list[IntentView] = []
        start, page = 0, max(limit, 100)
        while len(views) < limit:
            ids = cast("list[str]", await self._redis.zrevrange(key, start, start + page - 1))
            if not ids:
                break
            for view in await self.get_many(ids):
                if view is not None and (status is None or view.status is status):
                    views.append(view)
            start += page
        return views[:limit]

    async def apply(
        self, envelopes: Iterable[EventEnvelope], source: EventSource | None = None
    ) -> int:
        """Bring the views of these events' intents up to date; return how many changed.

        With `source` (the event log, already holding these events), each view is folded
        forward over everything stored after it, so events that arrived around a gap, or
        before a redelivered older one, are never left behind. Without it, only the given
        events are folded, and a gap waits for the missing event.
        """
        by_intent: dict[UUID, list[EventEnvelope]] = defaultdict(list)
        for env in envelopes:
            by_intent[env.intent_id].append(env)
        if not by_intent:
            return 0
        intent_ids = list(by_intent)
        currents = dict(zip(intent_ids, await self.get_many(intent_ids), strict=True))
        stored: dict[UUID, list[EventEnvelope]] = {}
        if source is not None:
            stored = await source.intents_events_after(
                {i: -1 if v is None else v.last_sequence for i, v in currents.items()}
            )
        # One round trip for every check-and-set; only the ones that lost a race retry.
        planned: list[tuple[UUID, list[EventEnvelope], IntentView | None, IntentView]] = []
        for intent_id in intent_ids:
            candidates = [*by_intent[intent_id], *stored.get(intent_id, [])]
            current = currents[intent_id]
            updated = fold(candidates, current)
            if updated is not None and updated != current:
                planned.append((intent_id, candidates, current, updated))
        if not planned:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for _, _, current, updated in planned:
                await self._write(updated, expected=_last(current), client=pipe)
            results = await pipe.execute()
        changed = 0
        for (intent_id, candidates, _, _), ok in zip(planned, results, strict=True):
            if ok:
                changed += 1
            else:
                current = await self.get(intent_id)
                changed += await self._apply_one(intent_id, candidates, current, source)
        return changed

    async def get_many(self, intent_ids: list[UUID] | list[str]) -> list[IntentView | None]:
        """The views of `intent_ids`, in order (None where there is none), in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for intent_id in intent_ids:
                pipe.hgetall(self.intent_key(intent_id))
            rows = await pipe.execute()
        return [IntentView.from_hash(row) if row else None for row in rows]

    async def _apply_one(
        self,
        intent_id: UUID,
        events: list[EventEnvelope],
        current: IntentView | None,
        source: EventSource | None,
    ) -> int:
        for _ in range(_CAS_ATTEMPTS):
            updated = fold(events, current)
            if updated is None or updated == current:
                return 0
            last = None if current is None else current.last_sequence
            if await self._write(updated, expected=last):
                return 1
            # Another writer moved the view: start again from what it wrote.
            current = await self.get(intent_id)
            if source is not None:
                after = -1 if current is None else current.last_sequence
                more = await source.intents_events_after({intent_id: after})
                events = [*events, *more.get(intent_id, [])]
        raise RuntimeError(f"intent {intent_id}: read model kept changing under us")

    async def _write(
        self, view: IntentView, *, expected: int | None, client: aioredis.Redis | None = None
    ) -> bool:
        fields = [item for pair in view.to_hash().items() for item in pair]
        score = view.created_at.timestamp()
        result = await self._cas(
            keys=[self.intent_key(view.intent_id), self.strategy_key(view.strategy_id)],
            args=["" if expected is None else str(expected), score, view.intent_id, *fields],
            client=client,
        )
        return bool(result)

    async def clear(self) -> int:
        """Delete every key of this read model (its prefix only)."""
        deleted = 0
        for pattern in (f"{self._prefix}intent:*", f"{self._prefix}strategy:*"):
            batch: list[str] = []
            async for key in self._redis.scan_iter(match=pattern, count=500):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += await self._redis.delete(*batch)
                    batch = []
            if batch:
                deleted += await self._redis.delete(*batch)
        return deleted

    async def rebuild(self, log: ReplaySource, *, ledger: ReservationLedger | None = None) -> int:
        """Rebuild every view from the event log, and the reservation ledger from those views
        when given; return the number of intents."""
        await self.clear()
        views: dict[UUID, IntentView | None] = {}
        pending: dict[UUID, list[EventEnvelope]] = defaultdict(list)
        async for stored in log.replay():
            env = stored.envelope
            pending[env.intent_id].append(env)
        for intent_id, events in pending.items():
            views[intent_id] = fold(events)
        async with self._redis.pipeline(transaction=False) as pipe:
            for view in views.values():
                if view is None:
                    continue
                fields = [item for pair in view.to_hash().items() for item in pair]
                pipe.hset(self.intent_key(view.intent_id), items=fields)
                pipe.zadd(
                    self.strategy_key(view.strategy_id),
                    {view.intent_id: view.created_at.timestamp()},
                )
            await pipe.execute()
        if ledger is not None:
            await ledger.rebuild(v for v in views.values() if v is not None)
        return sum(1 for v in views.values() if v is not None)


def _last(view: IntentView | None) -> int | None:
    return None if view is None else view.last_sequence


class ReplaySource(Protocol):
    def replay(self) -> AsyncIterator[StoredEvent]: ...
