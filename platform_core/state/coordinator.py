"""The state coordinator's logic: persist a batch of events, then update the read model.

Ordering is what makes it safe: the event log is written (synchronously committed) before
Redis, and the stream acks only after both, so a crash at any point leads to redelivery,
which both stores absorb idempotently. An event the log refuses as a stale writer's (its
sequence taken, `SequenceTaken`; not caused by the event before it or after the final one,
`CauseBroken`) can never be stored: it is dead-lettered at once, with its code. One whose
predecessor the log does not hold yet (`CauseNotRecorded`) is retried until it does.

Once an intent's view is final, its reservation in the ledger is released, as of the
highest block one of its steps was mined in (`IntentView.last_block`; a reverted step
moves no tokens, and an intent that sent nothing releases as of block 0). Every batch looks
at the views of all its intents, not only at final events: an event that closes a gap can
make a view final, and a batch redelivered after a crash between the read model and the
release must still release. Releasing again changes nothing.

Redis is a cache of the log. When it loses its data (restarted empty, flushed), the
ledger's ready marker is gone with it: gates refuse to reserve (`LedgerRebuilding`, a 503
the client retries) and the coordinator rebuilds the read model and the ledger from the log
before it handles another batch (`restore_if_lost`, also called on a timer by its actor).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from platform_core.intent.aggregate import CauseBroken, SequenceTaken
from platform_core.intent.ledger import ReservationLedger
from platform_core.state.event_store import EventStore
from platform_core.state.read_model import ReadModel
from platform_core.streaming.event_stream import PermanentEventError
from platform_core.types import EventEnvelope

_LAG_WINDOW = 10_000


@dataclass
class CoordinatorStats:
    batches: int = 0
    events_seen: int = 0
    events_stored: int = 0
    views_changed: int = 0
    reservations_released: int = 0  # ledger entries
    rebuilds: int = 0  # of the read model and ledger, after Redis lost them
    lag_s: list[float] = field(default_factory=list)  # occurred_at -> read model updated

    def snapshot(self) -> dict[str, float]:
        lags = sorted(self.lag_s)
        pick = (lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]) if lags else None
        return {
            "batches": self.batches,
            "events_seen": self.events_seen,
            "events_stored": self.events_stored,
            "views_changed": self.views_changed,
            "reservations_released": self.reservations_released,
            "rebuilds": self.rebuilds,
            "lag_p50_s": pick(0.5) if pick else float("nan"),
            "lag_p99_s": pick(0.99) if pick else float("nan"),
        }


class StateCoordinator:
    """`ledger`: the reservation ledger to release final intents from (None: no releases,
    for a coordinator of the log and read model alone)."""

    def __init__(
        self, store: EventStore, read_model: ReadModel, ledger: ReservationLedger | None = None
    ) -> None:
        self.store = store
        self.read_model = read_model
        self.ledger = ledger
        self.stats = CoordinatorStats()
        self._lock = asyncio.Lock()  # a rebuild never interleaves with a batch

    async def restore_if_lost(self) -> int | None:
        """When Redis has lost the ledger (its ready marker is missing), rebuild the read
        model and the ledger from the event log; the number of intents rebuilt, or None
        when nothing was lost."""
        if self.ledger is None:
            return None
        async with self._lock:
            return await self._restore_if_lost()

    async def _restore_if_lost(self) -> int | None:
        if self.ledger is None or await self.ledger.is_ready():
            return None
        count = await self.read_model.rebuild(self.store, ledger=self.ledger)
        self.stats.rebuilds += 1
        return count

    async def handle(self, envelopes: Sequence[EventEnvelope]) -> None:
        async with self._lock:
            await self._restore_if_lost()
            await self._handle(envelopes)

    async def _handle(self, envelopes: Sequence[EventEnvelope]) -> None:
        for env in envelopes:
            try:
                env.event()  # a payload this version cannot read is never stored
            except ValueError as exc:
                raise PermanentEventError(f"event {env.event_id}: {exc}") from exc
        try:
            new_ids = await self.store.append(envelopes)
        except (SequenceTaken, CauseBroken) as exc:
            raise PermanentEventError(f"{exc.code}: {exc}", code=exc.code) from exc
        changed = await self.read_model.apply(envelopes, source=self.store)
        released = await self._release_final(envelopes)
        now = datetime.now(UTC)
        self.stats.batches += 1
        self.stats.events_seen += len(envelopes)
        self.stats.events_stored += len(new_ids)
        self.stats.views_changed += changed
        self.stats.reservations_released += released
        lags = [(now - env.occurred_at).total_seconds() for env in envelopes]
        self.stats.lag_s = (self.stats.lag_s + lags)[-_LAG_WINDOW:]

    async def _release_final(self, envelopes: Sequence[EventEnvelope]) -> int:
        """Release the reservations of the batch's intents whose views are final."""
        if self.ledger is None or not envelopes:
            return 0
        intent_ids = list(dict.fromkeys(env.intent_id for env in envelopes))
        views = await self.read_model.get_many(intent_ids)
        final = [
            (view.intent_id, view.last_block)
            for view in views
            if view is not None and view.status.is_terminal and view.reserved
        ]
        return await self.ledger.release_many(final) if final else 0
