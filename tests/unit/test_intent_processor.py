"""`IntentProcessor` on in-memory parts: priority order under contention, the endings
before planning (cancel, expiry, no route), the events of a plan, and resuming from the log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from platform_core.execution.planning_service import PlanResult
from platform_core.intent.aggregate import CauseBroken, IntentAggregate, SequenceTaken
from platform_core.intent.processor import Handoff, IntentProcessor
from platform_core.state.causality import check_chain, link_of
from platform_core.types import (
    EventEnvelope,
    ExecutionPlan,
    Intent,
    IntentSubmission,
    IntentSubmitted,
)
from platform_core.types.events import ChildOrder, IntentDecomposed, IntentExpired
from tests.unit.test_events_and_plans import _step

SEED_STRATEGY = UUID("a1b2c3d4-e5f6-7890-1234-567890abcdef")
WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Log:
    """Publisher and intent log in one: what was published is what the log holds."""

    def __init__(self) -> None:
        self.events: list[EventEnvelope] = []

    async def publish(self, envelope: EventEnvelope) -> bool:
        """True for a duplicate, as JetStream answers within its window."""
        if any(e.event_id == envelope.event_id for e in self.events):
            return True
        self.events.append(envelope)
        return False

    async def intent_events(self, intent_id: UUID) -> list[EventEnvelope]:
        return sorted(
            (e for e in self.events if e.intent_id == intent_id), key=lambda e: e.sequence
        )

    async def append(self, envelopes: Sequence[EventEnvelope]) -> set[UUID]:
        """As the event store appends: chain-checked, idempotent."""
        check_chain(envelopes, [link_of(e) for e in self.events])
        new = [e for e in envelopes if all(e.event_id != s.event_id for s in self.events)]
        self.events.extend(new)
        return {e.event_id for e in new}


class ChainedLog(Log):
    """The stream takes every event; the log (the coordinator's append) refuses a stale
    writer's."""

    async def publish(self, envelope: EventEnvelope) -> bool:
        try:
            await self.append([envelope])
        except (SequenceTaken, CauseBroken):
            pass
        return False


class Planner:
    def __init__(self, error: tuple[str, str] | None = None) -> None:
        self.calls: list[UUID] = []
        self.error = error

    async def plan(self, intent: Intent, portfolio: dict[str, int]) -> PlanResult:
        self.calls.append(intent.id)
        if self.error is not None:
            return PlanResult(error_code=self.error[0], error_message=self.error[1])
        step = _step()
        order = ChildOrder(index=0, token_in=step.token_in, token_out=step.token_out,
                           amount_in=step.amount_in)  # fmt: skip
        return PlanResult(
            (order,),
            ExecutionPlan(intent_id=intent.id, created_at=datetime.now(UTC), steps=[step]),
            block=7,
        )


class Cancels:
    def __init__(self, flagged: set[UUID] | None = None) -> None:
        self.flagged = flagged or set()

    async def requested(self, intent_ids: Sequence[UUID]) -> set[UUID]:
        return self.flagged & set(intent_ids)


async def balances(wallet: str, tokens: Sequence[str]) -> dict[str, int]:
    return dict.fromkeys(tokens, 10**24)


def submitted(
    seed_intent: dict, priority: int, created_at: datetime | None = None
) -> EventEnvelope:
    intent = Intent.from_submission(
        IntentSubmission.model_validate(seed_intent), created_at=created_at or datetime.now(UTC)
    )
    return EventEnvelope.wrap(
        IntentSubmitted(intent=intent, priority=priority),
        intent_id=intent.id, strategy_id=intent.strategy_id, sequence=0,
    )  # fmt: skip


def processor(log: Log, planner: Planner, cancels: Cancels | None = None) -> IntentProcessor:
    return IntentProcessor(
        planner, log, log, cancels or Cancels(), balances, {SEED_STRATEGY: WALLET}
    )


async def test_a_batch_is_worked_highest_priority_first(seed_intent: dict) -> None:
    log, planner = Log(), Planner()
    batch = [submitted(seed_intent, p) for p in (2, 9, 5, 9, 1)]
    handed: list[Handoff] = []

    async def hand_off(handoff: Handoff) -> None:
        handed.append(handoff)

    # One worker: more intents wait than can run, so the order is the queue's.
    await processor(log, planner).process_batch(batch, hand_off, concurrency=1)
    expected = [batch[i].intent_id for i in (1, 3, 2, 0, 4)]  # 9, 9 (arrival order), 5, 2, 1
    assert planner.calls == expected
    assert [h.intent.id for h in handed] == expected


async def test_a_planned_intent_publishes_decomposed_then_plan_and_is_handed_off(
    seed_intent: dict,
) -> None:
    log = Log()
    first = submitted(seed_intent, 6)
    handoff = await processor(log, Planner()).process(first)
    assert handoff is not None and handoff.wallet == WALLET and handoff.priority == 6
    # The processor records the chain up to its plan in the log itself, from sequence 0.
    logged, *events = await log.intent_events(first.intent_id)
    assert logged == first
    assert [(e.event_type, e.sequence) for e in events] == [
        ("IntentDecomposed", 1),
        ("PlanCreated", 2),
    ]
    assert events[0].causation_id == first.event_id
    assert events[1].causation_id == events[0].event_id
    assert handoff.plan_created == events[1]


async def test_a_processed_intent_resumes_from_the_log_without_planning_again(
    seed_intent: dict,
) -> None:
    log, planner = Log(), Planner()
    first = submitted(seed_intent, 5)
    await log.publish(first)
    one = await processor(log, planner).process(first)
    again = await processor(log, planner).process(first)  # a redelivery after a crash
    assert planner.calls == [first.intent_id]
    assert one is not None and again is not None and again.plan == one.plan
    assert len(log.events) == 3  # nothing published twice


async def test_cancel_before_planning_ends_the_intent(seed_intent: dict) -> None:
    log, planner = Log(), Planner()
    first = submitted(seed_intent, 5)
    result = await processor(log, planner, Cancels({first.intent_id})).process(first)
    assert result is None and planner.calls == []
    _, ended = await log.intent_events(first.intent_id)
    assert ended.event_type == "IntentCancelled" and ended.sequence == 1
    # Once ended, a redelivery does nothing at all.
    assert await processor(log, planner).process(first) is None
    assert len(log.events) == 2


async def test_an_intent_past_its_window_expires_unplanned(seed_intent: dict) -> None:
    log, planner = Log(), Planner()
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    first = submitted(seed_intent, 5, created_at=long_ago)
    assert await processor(log, planner).process(first) is None
    _, ended = await log.intent_events(first.intent_id)
    assert ended.event_type == "IntentExpired" and planner.calls == []


async def test_an_intent_decomposed_before_a_crash_ends_after_its_decomposition(
    seed_intent: dict,
) -> None:
    """Seen in a chaos run: IntentDecomposed recorded, PlanCreated lost with the crash (an
    earlier version published them one by one); the redelivery found the window gone. Its
    IntentExpired goes after the decomposition, at sequence 2, never at the taken 1."""
    log = Log()
    first = submitted(seed_intent, 5, created_at=datetime.now(UTC) - timedelta(seconds=59))
    intent = first.event().intent  # type: ignore[attr-defined]
    order = ChildOrder(index=0, token_in="0x" + "1" * 40, token_out="0x" + "2" * 40,
                       amount_in=1)  # fmt: skip
    decomposed = IntentAggregate.after(intent, first).append(IntentDecomposed(child_orders=[order]))
    await log.append([first, decomposed])
    late = processor(log, Planner())
    late.clock = lambda: datetime.now(UTC) + timedelta(minutes=5)  # the window has passed
    assert await late.process(first) is None
    events = await log.intent_events(first.intent_id)
    assert [(e.event_type, e.sequence) for e in events] == [
        ("IntentSubmitted", 0),
        ("IntentDecomposed", 1),
        ("IntentExpired", 2),
    ]
    assert events[2].causation_id == decomposed.event_id


class StreamDown(Log):
    """The log (PostgreSQL) takes the events; the stream (NATS) is away at first."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[EventEnvelope] = []
        self.up = False

    async def publish(self, envelope: EventEnvelope) -> bool:
        if not self.up:
            raise ConnectionError("nats: connection closed")
        self.published.append(envelope)
        return False


async def test_a_plan_recorded_before_the_stream_went_away_is_published_on_the_retry(
    seed_intent: dict,
) -> None:
    log, planner = StreamDown(), Planner()
    first = submitted(seed_intent, 5)
    try:
        await processor(log, planner).process(first)
    except ConnectionError:
        pass
    recorded = await log.intent_events(first.intent_id)
    assert [e.event_type for e in recorded] == [
        "IntentSubmitted",
        "IntentDecomposed",
        "PlanCreated",
    ]
    log.up = True
    handoff = await processor(log, planner).process(first)  # the consumer's retry
    assert handoff is not None and handoff.plan_created == recorded[2]
    assert len(planner.calls) == 1  # resumed from the log, not planned again
    assert log.published == recorded[1:]  # the stream gets what the log holds


async def test_a_plan_refused_by_the_planner_fails_the_intent_with_its_code(
    seed_intent: dict,
) -> None:
    log = Log()
    first = submitted(seed_intent, 5)
    assert await processor(log, Planner(("NO_ROUTE", "pools moved"))).process(first) is None
    _, ended = await log.intent_events(first.intent_id)
    assert ended.event_type == "IntentFailed"
    assert ended.payload["reason"] == "NO_ROUTE: pools moved"


class LateLog(Log):
    """The log as the coordinator shows it: empty on the first read, then caught up."""

    def __init__(self, shared: Log) -> None:
        super().__init__()
        self.events = shared.events
        self.reads = 0

    async def intent_events(self, intent_id: UUID) -> list[EventEnvelope]:
        self.reads += 1
        return [] if self.reads == 1 else await super().intent_events(intent_id)


async def test_a_replan_after_a_crash_executes_the_plan_on_record(seed_intent: dict) -> None:
    """The first run published its plan, then died before the log showed it to a second
    run: the second plans again, finds its PlanCreated a duplicate, and hands off the plan
    that was recorded, never its own."""
    log, planner = Log(), Planner()
    first = submitted(seed_intent, 5)
    original = await processor(log, planner).process(first)
    assert original is not None

    late = LateLog(log)
    resumed = await IntentProcessor(
        planner, late, late, Cancels(), balances, {SEED_STRATEGY: WALLET}
    ).process(first)
    assert len(planner.calls) == 2  # it did plan again...
    assert resumed is not None and resumed.plan == original.plan  # ...but runs the first plan
    assert resumed.plan_created.event_id == original.plan_created.event_id
    assert len(log.events) == 3  # and published nothing new (0, 1 and 2)


async def test_a_plan_no_executor_takes_ends_no_executor_once_after_its_plan(
    seed_intent: dict,
) -> None:
    log = Log()
    first = submitted(seed_intent, 5)
    work = processor(log, Planner())
    handoff = await work.process(first)
    assert handoff is not None and handoff.chain_id == 42161  # the intent's chain
    for _ in range(2):  # a redelivered batch: said once
        await work.no_executor(handoff, f"executor:42161:{WALLET.lower()}")
    events = await log.intent_events(first.intent_id)
    assert [(e.event_type, e.sequence) for e in events][-1] == ("IntentFailed", 3)
    assert len(events) == 4 and events[-1].causation_id == handoff.plan_created.event_id
    reason = events[-1].event().reason  # type: ignore[attr-defined]
    assert reason.startswith("NO_EXECUTOR: ") and WALLET.lower() in reason


async def test_a_plan_is_not_handed_off_when_another_writer_ended_the_intent_first(
    seed_intent: dict,
) -> None:
    """Seen in a 10,000-intent chaos run: a redelivered IntentSubmitted went to a second
    processor, which found the window gone and ended the intent (IntentExpired at 1) while
    the first was planning it. The first's plan was handed off: an execution actor could
    have sent swaps for an intent the log had ended. The log refuses the first's events
    now, and the first hands nothing off."""
    log = ChainedLog()
    first = submitted(seed_intent, 5)
    await log.publish(first)
    intent = first.event().intent  # type: ignore[attr-defined]

    class RacedPlanner(Planner):
        async def plan(self, intent: Intent, portfolio: dict[str, int]) -> PlanResult:
            other = IntentAggregate.after(intent, first)  # the second processor, meanwhile
            await log.publish(other.append(IntentExpired(deadline=T0, steps_completed=0)))
            return await super().plan(intent, portfolio)

    assert await processor(log, RacedPlanner()).process(first) is None
    events = await log.intent_events(intent.id)
    assert [(e.event_type, e.sequence) for e in events] == [
        ("IntentSubmitted", 0),
        ("IntentExpired", 1),
    ]
