"""The orchestrator on a private devnet anvil, publishing to the real NATS JetStream (an
isolated stream per test): plans built from the chain's own pools are executed, refused,
expired, cancelled and re-run, and what reached the stream is read back and checked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import nats
import pytest

from platform_core.chain.client import ChainClient
from platform_core.chain.journal import Journal, JournalError, StepState
from platform_core.chain.sender import TransactionSender
from platform_core.config import Settings
from platform_core.execution import ExecutionPlanner
from platform_core.execution.orchestrator import (
    ExecutionOrchestrator,
    ExecutionUndecided,
    step_key,
)
from platform_core.intent.aggregate import IntentAggregate
from platform_core.intent.decomposer import decompose
from platform_core.market.adapter import order_from_step
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from platform_core.streaming.event_stream import EventStream
from platform_core.types.events import (
    ChildOrder,
    EventEnvelope,
    ExecutionStepConfirmed,
    ExecutionStepSubmitted,
    IntentDecomposed,
    IntentSubmitted,
    PlanCreated,
)
from platform_core.types.intent import Intent, IntentStatus, IntentSubmission
from platform_core.types.plan import ExecutionPlan
from tests.integration.chain.conftest import make_sender
from tests.integration.chain.test_planner_devnet import synced_planner

WETH_UNIT = 10**18


async def stream_contents(settings: Settings) -> list[EventEnvelope]:
    """Every message on the test's stream, in stream order, read with a connection of its own."""
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        state = (await js.stream_info(settings.stream_name)).state
        if state.messages == 0:
            return []
        return [
            EventEnvelope.from_bytes((await js.get_msg(settings.stream_name, seq)).data)
            for seq in range(state.first_seq, state.last_seq + 1)
        ]
    finally:
        await nc.close()


def intent_and_plan(
    planner: ExecutionPlanner, body: dict[str, Any], now: datetime | None = None
) -> tuple[Intent, ExecutionPlan]:
    now = now or datetime.now(UTC)
    intent = Intent.from_submission(IntentSubmission.model_validate(body), created_at=now)
    orders = decompose(intent, {}, now, sizer=planner.sizer(intent))
    return intent, planner.plan(intent, orders, now)


def planned(intent: Intent, plan: ExecutionPlan) -> EventEnvelope:
    """The plan's PlanCreated, after IntentSubmitted (0) and IntentDecomposed (1), appended
    as the gate and the processor do: what execution continues after."""
    events = IntentAggregate.start(intent)
    events.append(IntentSubmitted(intent=intent, priority=5))
    orders = [ChildOrder(index=s.index, token_in=s.token_in, token_out=s.token_out,
                         amount_in=s.amount_in) for s in plan.steps]  # fmt: skip
    events.append(IntentDecomposed(child_orders=orders))
    return events.append(PlanCreated(plan=plan))


async def approve_router(uniswap: UniswapV3Adapter, sender: TransactionSender, plan: Any) -> None:
    """Set the router allowance up front, so that the test counts only swap transactions."""
    order = order_from_step(plan.steps[0], sender.address)
    requests = await uniswap.build_swap_tx(order, sender.address, "setup")
    for request in requests[:-1]:
        assert (await sender.execute(request)).state is StepState.CONFIRMED


class RecordingPublisher:
    """The real stream underneath; remembers whether the server called each a duplicate,
    signals the first submission, and can set a cancel flag once a given number of steps
    are confirmed."""

    def __init__(self, stream: EventStream, cancel_after_confirmed: int | None = None) -> None:
        self.stream = stream
        self.duplicates: list[bool] = []
        self.cancel_after = cancel_after_confirmed
        self.cancelled = asyncio.Event()
        self.submitted = asyncio.Event()  # set once a step's transaction is out
        self._confirmed = 0

    async def publish(self, envelope: EventEnvelope) -> bool:
        duplicate = await self.stream.publish(envelope)
        self.duplicates.append(duplicate)
        if envelope.event_type == ExecutionStepSubmitted.event_type():
            self.submitted.set()
        if envelope.event_type == ExecutionStepConfirmed.event_type():
            self._confirmed += 1
            if self._confirmed == self.cancel_after:
                self.cancelled.set()
        return duplicate


def assert_chained(events: list[EventEnvelope], intent: Intent, after: EventEnvelope) -> None:
    """Consecutive sequences after `after` (the PlanCreated), each caused by the one before."""
    start = after.sequence + 1
    assert [e.sequence for e in events] == list(range(start, start + len(events)))
    assert all(e.intent_id == intent.id and e.strategy_id == intent.strategy_id for e in events)
    assert events[0].causation_id == after.event_id
    for prev, nxt in pairwise(events):
        assert nxt.causation_id == prev.event_id


async def test_seed_intent_executes_and_the_wallet_receives_the_confirmed_amount(
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    stream: EventStream,
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
) -> None:
    intent, plan = intent_and_plan(await synced_planner(uniswap), seed_intent)
    usdc, weth, me = plan.steps[0].token_in, plan.steps[0].token_out, sender.address
    weth_before = await uniswap.balance_of(weth, me)
    usdc_before = await uniswap.balance_of(usdc, me)

    plan_created = planned(intent, plan)  # the event that caused the execution

    orchestrator = ExecutionOrchestrator(uniswap, sender, stream, wallet=me)
    result = await orchestrator.execute(intent, plan, after=plan_created)

    assert result.status is IntentStatus.COMPLETED
    assert result.steps_confirmed == len(plan.steps)
    events = await stream_contents(isolated_settings)
    assert [e.event_id for e in events] == [e.event_id for e in result.events]
    kinds = ["ExecutionStepSubmitted", "ExecutionStepConfirmed"] * len(plan.steps)
    assert [e.event_type for e in events] == [*kinds, "ExecutionCompleted"]
    assert_chained(events, intent, plan_created)

    received = await uniswap.balance_of(weth, me) - weth_before
    paid = usdc_before - await uniswap.balance_of(usdc, me)
    completed = events[-1].event()
    assert received == completed.amount_out == result.amount_out >= 15 * WETH_UNIT // 10
    assert paid == completed.amount_in == sum(s.amount_in for s in plan.steps)
    for submitted, confirmed in zip(events[0:-1:2], events[1:-1:2], strict=True):
        sub, conf = submitted.event(), confirmed.event()
        assert sub.tx_hash == conf.tx_hash and sub.wallet == me
        receipt = await uniswap.client.receipt(bytes.fromhex(conf.tx_hash[2:]))
        assert receipt is not None and receipt["status"] == 1
        assert (receipt["blockNumber"], receipt["gasUsed"]) == (conf.block_number, conf.gas_used)
        assert conf.effective_gas_price == receipt["effectiveGasPrice"] > 0
        step = next(s for s in plan.steps if s.step_id == conf.step_id)
        assert conf.amount_out >= step.min_amount_out


async def test_an_unreachable_minimum_is_refused_in_preflight_and_nothing_is_sent(
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    stream: EventStream,
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
) -> None:
    intent, plan = intent_and_plan(await synced_planner(uniswap), seed_intent)
    await approve_router(uniswap, sender, plan)
    first = plan.steps[0]
    greedy = first.model_copy(
        update={
            "min_amount_out": first.expected_amount_out * 2,
            "expected_amount_out": first.expected_amount_out * 2,
        }
    )
    plan = plan.model_copy(update={"steps": [greedy, *plan.steps[1:]]})
    nonce_before = await uniswap.client.nonce(sender.address, "latest")

    created = planned(intent, plan)
    orchestrator = ExecutionOrchestrator(uniswap, sender, stream, wallet=sender.address)
    result = await orchestrator.execute(intent, plan, after=created)

    assert result.status is IntentStatus.FAILED and result.steps_confirmed == 0
    events = await stream_contents(isolated_settings)
    assert [e.event_type for e in events] == ["ExecutionStepFailed", "IntentFailed"]
    assert_chained(events, intent, created)
    failed = events[0].event()
    assert failed.tx_hash is None and not failed.reverted and "pre-flight" in failed.reason
    assert "pre-flight" in events[1].event().reason
    assert await uniswap.client.nonce(sender.address, "latest") == nonce_before
    record = sender.journal.get(f"{step_key(plan, greedy)}:swap")
    assert record.state is StepState.REFUSED and not record.attempts

    # A re-run repeats the same verdict with the same ids and payloads, and sends nothing.
    again = await orchestrator.execute(intent, plan, after=created)
    assert [(e.event_id, e.payload) for e in again.events] == [
        (e.event_id, e.payload) for e in events
    ]
    assert len(await stream_contents(isolated_settings)) == len(events)
    assert await uniswap.client.nonce(sender.address, "latest") == nonce_before


async def test_a_plan_past_its_deadline_sends_nothing_and_expires(
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    stream: EventStream,
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
) -> None:
    intent, plan = intent_and_plan(await synced_planner(uniswap), seed_intent)
    nonce_before = await uniswap.client.nonce(sender.address, "latest")
    an_hour_later = datetime.now(UTC) + timedelta(hours=1)  # the 5-minute window is over

    orchestrator = ExecutionOrchestrator(
        uniswap, sender, stream, wallet=sender.address, clock=lambda: an_hour_later
    )
    result = await orchestrator.execute(intent, plan, after=planned(intent, plan))

    assert result.status is IntentStatus.EXPIRED
    events = await stream_contents(isolated_settings)
    assert [e.event_type for e in events] == ["IntentExpired"]
    expired = events[0].event()
    assert expired.steps_completed == 0
    assert expired.deadline == intent.deadline == intent.created_at + timedelta(minutes=5)
    assert await uniswap.client.nonce(sender.address, "latest") == nonce_before
    with pytest.raises(JournalError):
        sender.journal.get(f"{step_key(plan, plan.steps[0])}:swap")


async def test_a_cancel_before_the_second_slice_keeps_it_from_being_sent(
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    stream: EventStream,
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
) -> None:
    # PASSIVE over two minutes: two TWAP slices, the second a minute after the first.
    constraints = {**seed_intent["constraints"], "execution_style": "passive",
                   "time_window_ms": 120_000}  # fmt: skip
    intent, plan = intent_and_plan(
        await synced_planner(uniswap), {**seed_intent, "constraints": constraints}
    )
    later = [s for s in plan.steps if s.not_before and s.not_before > plan.created_at]
    assert len(plan.steps) >= 2 and later, "the passive plan has a later slice"
    first_batch = [s for s in plan.steps if s not in later]
    await approve_router(uniswap, sender, plan)
    nonce_before = await uniswap.client.nonce(sender.address, "latest")
    publisher = RecordingPublisher(stream, cancel_after_confirmed=len(first_batch))

    created = planned(intent, plan)
    orchestrator = ExecutionOrchestrator(uniswap, sender, publisher, wallet=sender.address)
    result = await asyncio.wait_for(
        orchestrator.execute(intent, plan, after=created, cancelled=publisher.cancelled),
        timeout=30,  # the cancel wakes the wait for the second slice at once
    )

    assert result.status is IntentStatus.CANCELLED
    assert result.steps_confirmed == len(first_batch)
    events = await stream_contents(isolated_settings)
    kinds = ["ExecutionStepSubmitted", "ExecutionStepConfirmed"] * len(first_batch)
    assert [e.event_type for e in events] == [*kinds, "IntentCancelled"]
    assert_chained(events, intent, created)
    assert events[-1].event().steps_cancelled == len(later)
    assert await uniswap.client.nonce(sender.address, "latest") == nonce_before + len(first_batch)
    for step in later:
        with pytest.raises(JournalError):
            sender.journal.get(f"{step_key(plan, step)}:swap")


async def test_a_rerun_after_completion_publishes_the_same_ids_and_sends_nothing(
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    stream: EventStream,
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
) -> None:
    intent, plan = intent_and_plan(await synced_planner(uniswap), seed_intent)
    weth, me = plan.steps[0].token_out, sender.address
    first_run = RecordingPublisher(stream)
    created = planned(intent, plan)
    first = await ExecutionOrchestrator(uniswap, sender, first_run, wallet=me).execute(
        intent, plan, after=created
    )
    assert first.status is IntentStatus.COMPLETED and not any(first_run.duplicates)
    published = await stream_contents(isolated_settings)
    nonce_after_first = await uniswap.client.nonce(me, "latest")
    weth_after_first = await uniswap.balance_of(weth, me)

    rerun = RecordingPublisher(stream)
    second = await ExecutionOrchestrator(uniswap, sender, rerun, wallet=me).execute(
        intent, plan, after=created
    )

    assert second.status is IntentStatus.COMPLETED
    assert [e.event_id for e in second.events] == [e.event_id for e in first.events]
    assert [e.sequence for e in second.events] == [e.sequence for e in first.events]
    assert [e.payload for e in second.events] == [e.payload for e in first.events]
    assert rerun.duplicates == [True] * len(second.events)  # JetStream dropped every one
    assert [e.to_bytes() for e in await stream_contents(isolated_settings)] == [
        e.to_bytes() for e in published
    ]
    assert await uniswap.client.nonce(me, "latest") == nonce_after_first
    assert await uniswap.balance_of(weth, me) == weth_after_first


async def test_an_undecided_step_is_never_reported_failed_and_a_rerun_settles_it(
    uniswap: UniswapV3Adapter,
    client: ChainClient,
    journal: Journal,
    stream: EventStream,
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
) -> None:
    impatient = make_sender(client, journal, 1, receipt_timeout_s=0.3)
    intent, plan = intent_and_plan(await synced_planner(uniswap), seed_intent)
    await approve_router(uniswap, impatient, plan)
    await client.rpc("evm_setAutomine", [False])  # broadcast, but not mined: no receipt
    orchestrator = ExecutionOrchestrator(
        uniswap, impatient, stream, wallet=impatient.address, reconcile_rounds=2
    )

    created = planned(intent, plan)
    with pytest.raises(ExecutionUndecided):
        await orchestrator.execute(intent, plan, after=created)
    undecided = await stream_contents(isolated_settings)
    assert [e.event_type for e in undecided] == ["ExecutionStepSubmitted"]  # no failure
    swap = journal.get(f"{step_key(plan, plan.steps[0])}:swap")
    assert swap.state is StepState.UNKNOWN and len(swap.attempts) == 1

    await client.rpc("evm_mine", [])  # the chain decides; later steps are mined at once
    await client.rpc("evm_setAutomine", [True])
    result = await orchestrator.execute(intent, plan, after=created)

    assert result.status is IntentStatus.COMPLETED
    events = await stream_contents(isolated_settings)
    kinds = ["ExecutionStepSubmitted", "ExecutionStepConfirmed"] * len(plan.steps)
    assert [e.event_type for e in events] == [*kinds, "ExecutionCompleted"]
    assert events[0].to_bytes() == undecided[0].to_bytes()  # the re-run's copy was dropped
    assert_chained(events, intent, created)
    assert events[1].event().tx_hash == "0x" + swap.attempts[0].tx_hash.hex()
    assert len(journal.get(swap.step_key).attempts) == 1  # never signed twice


async def test_a_swap_mined_past_its_deadline_reverts_and_the_intent_expires(
    uniswap: UniswapV3Adapter,
    client: ChainClient,
    sender: TransactionSender,
    stream: EventStream,
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
) -> None:
    intent, plan = intent_and_plan(await synced_planner(uniswap), seed_intent)
    await approve_router(uniswap, sender, plan)
    await client.rpc("evm_setAutomine", [False])
    publisher = RecordingPublisher(stream)
    orchestrator = ExecutionOrchestrator(uniswap, sender, publisher, wallet=sender.address)
    created = planned(intent, plan)
    run = asyncio.create_task(orchestrator.execute(intent, plan, after=created))

    # Pre-flight passed and the swap is in the pool; it is mined only after its deadline,
    # so the router reverts it ("Transaction too old").
    await asyncio.wait_for(publisher.submitted.wait(), timeout=20)
    too_late = int(plan.steps[0].deadline.timestamp()) + 10
    await client.rpc("evm_setNextBlockTimestamp", [too_late])
    await client.rpc("evm_mine", [])
    result = await asyncio.wait_for(run, timeout=20)

    # The step failed (it reverted), and the intent expired: its window ran out on chain.
    assert result.status is IntentStatus.EXPIRED and result.steps_confirmed == 0
    events = await stream_contents(isolated_settings)
    kinds = ["ExecutionStepSubmitted", "ExecutionStepFailed", "IntentExpired"]
    assert [e.event_type for e in events] == kinds
    assert_chained(events, intent, created)
    submitted, failed = events[0].event(), events[1].event()
    assert failed.reverted and failed.tx_hash == submitted.tx_hash
    receipt = await client.receipt(bytes.fromhex(failed.tx_hash[2:]))
    assert receipt is not None and receipt["status"] == 0


async def test_a_step_signed_before_a_crash_is_followed_to_its_receipt_not_signed_again(
    uniswap: UniswapV3Adapter,
    client: ChainClient,
    sender: TransactionSender,
    stream: EventStream,
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
) -> None:
    intent, plan = intent_and_plan(await synced_planner(uniswap), seed_intent)
    step, me = plan.steps[0], sender.address
    await approve_router(uniswap, sender, plan)
    # The crashed run: the swap was journalled, signed and broadcast, then nothing was
    # published. (Automine off: it is still pending when the orchestrator takes over.)
    await client.rpc("evm_setAutomine", [False])
    (swap,) = await uniswap.build_swap_tx(order_from_step(step, me), me, step_key(plan, step))
    record = await sender.prepare(swap)
    attempt = await sender.sign_and_journal(record.step_key, await sender.preflight(record))
    await sender.broadcast(record.step_key, attempt)
    nonce_before = await client.nonce(me, "latest")
    await client.rpc("evm_mine", [])
    await client.rpc("evm_setAutomine", [True])

    # Restarted after the deadline: the signed step is still settled and reported.
    an_hour_later = datetime.now(UTC) + timedelta(hours=1)
    orchestrator = ExecutionOrchestrator(uniswap, sender, stream, wallet=me,
                                         clock=lambda: an_hour_later)  # fmt: skip
    result = await orchestrator.execute(intent, plan, after=planned(intent, plan))

    events = await stream_contents(isolated_settings)
    assert [e.event_type for e in events][:2] == [
        "ExecutionStepSubmitted",
        "ExecutionStepConfirmed",
    ]
    submitted, confirmed = events[0].event(), events[1].event()
    assert submitted.tx_hash == confirmed.tx_hash == "0x" + attempt.tx_hash.hex()
    assert submitted.nonce == attempt.nonce == nonce_before
    assert await client.nonce(me, "latest") == nonce_before + 1  # the one swap, once
    assert confirmed.amount_out >= step.min_amount_out
    assert len(plan.steps) == 1 and result.status is IntentStatus.COMPLETED
    assert events[-1].event_type == "ExecutionCompleted" and len(events) == 3
