"""`IntentProcessor`: stage 3 of the lifecycle, from an accepted intent to a plan handed to
its execution actor.

For each `IntentSubmitted` (sequence 0): resume from the log if the intent was processed
before; stop it if a cancel came first; read the strategy's portfolio from the chain; have
the planner decompose and route it; record `IntentDecomposed` (1) and `PlanCreated` (2) in
the event log and publish them; return the `Handoff` for the execution actor of its (chain,
wallet), with the plan the log records. An intent that cannot
be planned ends here with `IntentExpired`, `IntentCancelled` or `IntentFailed` (1), and a
plan no execution actor can take ends with `IntentFailed` (`NO_EXECUTOR`, 3). Every
event is appended through the intent's `IntentAggregate`, continuing after the
`IntentSubmitted` envelope.

A batch is worked in priority order, highest score first (arrival order among equals), at
most `concurrency` at a time: when more intents wait than can run, the urgent ones go first.

Event ids derive from the intent, type and sequence (the aggregate's default), so a
processor that crashed after publishing and processes the same intent again publishes
nothing new.

The log decides, first. The log refuses a stale writer's events (`state.causality`), and a
processor is one when its intent's IntentSubmitted was redelivered to another processor
that ended the intent first: a plan handed off anyway could be executed for an intent the
log had ended. So the processor appends its events to the log itself (the coordinator's
idempotent, chain-checked append; the coordinator later stores them again as nothing new),
then publishes what the log holds: its own events, or an earlier run's with the same ids
(an intent planned twice: the log kept the first, and the stream, the read model and the
execution actor get that one), or nothing when another writer's events hold the sequences.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from platform_core.errors import ErrorCode
from platform_core.execution.planner import plan_events
from platform_core.execution.planning_service import PlanResult
from platform_core.intent.aggregate import CauseBroken, IntentAggregate, SequenceTaken
from platform_core.intent.decomposer import Portfolio
from platform_core.intent.queue import PriorityWorkQueue
from platform_core.state.causality import is_final
from platform_core.types.events import (
    DomainEvent,
    EventEnvelope,
    IntentCancelled,
    IntentExpired,
    IntentFailed,
    IntentSubmitted,
    PlanCreated,
)
from platform_core.types.intent import Intent
from platform_core.types.plan import ExecutionPlan

log = logging.getLogger(__name__)

DEFAULT_PRIORITY = 5  # an IntentSubmitted without a score waits in the middle


@dataclass(frozen=True)
class Handoff:
    """A planned intent, ready for the execution actor of (`chain_id`, `wallet`)."""

    intent: Intent
    plan: ExecutionPlan
    plan_created: EventEnvelope  # execution's events follow it (`IntentAggregate.after`)
    wallet: str
    venue: str  # the venue it was planned on (a label: the executor takes every venue)
    priority: int
    submitted_at: datetime

    @property
    def chain_id(self) -> int:
        return self.intent.chain_id


class Publisher(Protocol):
    async def publish(self, envelope: EventEnvelope) -> Any: ...


class Planner(Protocol):
    async def plan(self, intent: Intent, portfolio: Portfolio) -> PlanResult: ...


class IntentLog(Protocol):
    async def intent_events(self, intent_id: UUID) -> list[EventEnvelope]: ...

    async def append(self, envelopes: Sequence[EventEnvelope]) -> set[UUID]: ...


class CancelFlags(Protocol):
    async def requested(self, intent_ids: Sequence[UUID]) -> set[UUID]: ...


# Balances of the given tokens held by a wallet: token address -> base units.
BalanceReader = Callable[[str, Sequence[str]], Awaitable[Portfolio]]


class IntentProcessor:
    def __init__(
        self,
        planner: Planner,
        publisher: Publisher,
        intent_log: IntentLog,
        cancels: CancelFlags,
        balances: BalanceReader,
        wallets: Mapping[UUID, str],
        *,
        venue: str = "uniswap_v3",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.planner = planner
        self.publisher = publisher
        self.intent_log = intent_log
        self.cancels = cancels
        self.balances = balances
        self.wallets = wallets
        self.venue = venue
        self.clock = clock

    async def process_batch(
        self,
        batch: Sequence[EventEnvelope],
        on_handoff: Callable[[Handoff], Awaitable[None]],
        *,
        concurrency: int = 4,
    ) -> None:
        """Process `batch` highest priority first, `concurrency` at a time; raises the first
        error (after the rest finished) so the batch is redelivered."""
        queue: PriorityWorkQueue[EventEnvelope] = PriorityWorkQueue(max(len(batch), 1))
        for envelope in batch:
            queue.put(envelope, _priority(envelope))
        errors: list[BaseException] = []

        async def worker() -> None:
            while True:
                try:
                    envelope = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                try:
                    handoff = await self.process(envelope)
                    if handoff is not None:
                        await on_handoff(handoff)
                except Exception as exc:
                    log.warning("intent %s: processing failed: %r", envelope.intent_id, exc,
                                extra={"intent_id": str(envelope.intent_id)})  # fmt: skip
                    errors.append(exc)

        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(batch))))))
        if errors:
            raise errors[0]

    async def process(self, submitted: EventEnvelope) -> Handoff | None:
        """The intent's hand-off, or None when it ended here (or had ended before)."""
        event = submitted.event()
        if not isinstance(event, IntentSubmitted):
            return None  # the consumer filters on IntentSubmitted; anything else is not ours
        intent = event.intent
        wallet = self.wallets.get(intent.strategy_id)
        history = await self.intent_log.intent_events(intent.id)
        if any(is_final(e) for e in history):
            return None
        planned = next((e for e in history if e.event_type == PlanCreated.event_type()), None)
        if planned is not None and wallet is not None:  # processed before: resume
            for recorded in history[1 : planned.sequence + 1]:  # the stream may lack them
                await self.publisher.publish(recorded)  # (deduplicated by id if it has them)
            plan_event = planned.event()
            assert isinstance(plan_event, PlanCreated)
            return self._handoff(intent, plan_event.plan, planned, wallet, event, submitted)

        # An earlier run may have recorded IntentDecomposed and died before PlanCreated: an
        # ending goes after what the log holds, never at a sequence already taken.
        last = history[-1] if history else submitted

        async def end(ending: DomainEvent) -> None:
            envelope = IntentAggregate.after(intent, last).append(ending)
            if await self._record_and_publish([submitted, envelope]) is None:
                return  # another writer's events hold the sequence: the intent is theirs
            log.info("intent %s: %s before planning", intent.id, envelope.event_type,
                     extra={"intent_id": str(intent.id)})  # fmt: skip

        if intent.id in await self.cancels.requested([intent.id]):
            await end(IntentCancelled(steps_cancelled=0))
            return None
        if wallet is None:
            await end(
                IntentFailed(
                    reason=f"{ErrorCode.NO_WALLET}: no wallet for strategy {intent.strategy_id}"
                )
            )
            return None
        deadline = intent.deadline
        if self.clock() >= deadline:
            await end(IntentExpired(deadline=deadline, steps_completed=0))
            return None
        portfolio = await self.balances(wallet, [a.asset.address for a in intent.assets])
        result = await self.planner.plan(intent, portfolio)
        if not result.ok:
            if result.error_code == ErrorCode.WINDOW_ELAPSED:
                await end(IntentExpired(deadline=deadline, steps_completed=0))
            else:
                await end(IntentFailed(reason=f"{result.error_code}: {result.error_message}"))
            return None
        assert result.plan is not None
        events = IntentAggregate.after(intent, submitted)
        decomposed, created = plan_events(events, result.orders, result.plan)
        chain = await self._record_and_publish([submitted, decomposed, created])
        if chain is None:
            log.warning("intent %s: ended by another writer while it was planned here",
                        intent.id, extra={"intent_id": str(intent.id)})  # fmt: skip
            return None
        recorded = chain[-1]
        plan_event = recorded.event()
        assert isinstance(plan_event, PlanCreated)
        log.info("intent %s: planned %d steps at block %s", intent.id, len(plan_event.plan.steps),
                 result.block, extra={"intent_id": str(intent.id)})  # fmt: skip
        return self._handoff(intent, plan_event.plan, recorded, wallet, event, submitted)

    async def no_executor(self, handoff: Handoff, name: str) -> None:
        """End a planned intent that no execution actor takes (`name` is the one looked
        for): `IntentFailed` with `NO_EXECUTOR`, after its PlanCreated. Said once: the
        event id derives from the intent and sequence, so a retry publishes nothing new."""
        failed = IntentFailed(
            reason=f"{ErrorCode.NO_EXECUTOR}: no execution actor signs for {name}"
        )
        events = IntentAggregate.after(handoff.intent, handoff.plan_created)
        await self.publisher.publish(events.append(failed))
        log.error("intent %s: %s", handoff.intent.id, failed.reason,
                  extra={"intent_id": str(handoff.intent.id)})  # fmt: skip

    async def _record_and_publish(
        self, chain: Sequence[EventEnvelope]
    ) -> list[EventEnvelope] | None:
        """Append `chain` (the intent's events from its IntentSubmitted on) to the log, then
        publish what the log holds of `chain[1:]`: this run's events, or an earlier run's
        with the same ids (the log kept the first). None, publishing nothing, when another
        writer's events hold those sequences."""
        try:
            new = await self.intent_log.append(chain)
        except (SequenceTaken, CauseBroken):
            new = set()  # another writer's events hold the sequences: see what the log holds
        recorded: list[EventEnvelope | None] = (
            list(chain[1:]) if chain[-1].event_id in new else await self._held(chain)
        )
        if any(envelope is None for envelope in recorded):
            return None
        ours = [envelope for envelope in recorded if envelope is not None]
        for envelope in ours:
            await self.publisher.publish(envelope)
        return ours

    async def _held(self, chain: Sequence[EventEnvelope]) -> list[EventEnvelope | None]:
        """The log's events with the ids of `chain[1:]` (None where the log has none)."""
        held = {e.event_id: e for e in await self.intent_log.intent_events(chain[0].intent_id)}
        return [held.get(envelope.event_id) for envelope in chain[1:]]

    def _handoff(
        self,
        intent: Intent,
        plan: ExecutionPlan,
        plan_created: EventEnvelope,
        wallet: str,
        event: IntentSubmitted,
        submitted: EventEnvelope,
    ) -> Handoff:
        return Handoff(
            intent=intent,
            plan=plan,
            plan_created=plan_created,
            wallet=wallet,
            venue=self.venue,
            priority=event.priority or DEFAULT_PRIORITY,
            submitted_at=submitted.occurred_at,
        )


def _priority(envelope: EventEnvelope) -> int:
    event = envelope.event()
    priority = getattr(event, "priority", None)
    return priority if isinstance(priority, int) else DEFAULT_PRIORITY
