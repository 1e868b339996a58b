"""The orchestrator's pure parts: event chaining and ids, receipt amounts, step gating."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from platform_core.execution.event_chain import EventChain, execution_event_id
from platform_core.execution.receipts import moved_amounts, summarize_receipt
from platform_core.execution.step_gate import Gate, decide
from platform_core.intent.aggregate import IntentAggregate
from platform_core.market.contracts import TRANSFER
from platform_core.types.events import EventEnvelope, ExecutionCompleted, IntentFailed
from platform_core.types.intent import Intent, IntentSubmission

INTENT = UUID("01900000-0000-7000-8000-000000000001")
STRATEGY = UUID("a1b2c3d4-e5f6-7890-1234-567890abcdef")
PLAN = UUID("01900000-0000-7000-8000-000000000002")
CAUSE = UUID("01900000-0000-7000-8000-000000000003")
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
POOL = "0xC6962004f452bE9203591991D15f6b388e09E8D0"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"


def chain(seed_intent: dict, after: int = 6) -> EventChain:
    """An execution continuing after the intent's event at sequence `after` (id CAUSE)."""
    submission = IntentSubmission.model_validate(seed_intent)
    intent = Intent.from_submission(submission, id=INTENT, created_at=T0)
    before = EventEnvelope.wrap(
        IntentFailed(reason="stands in for PlanCreated"),
        intent_id=INTENT, strategy_id=STRATEGY, sequence=after, event_id=CAUSE,
    )  # fmt: skip
    return EventChain(IntentAggregate.after(intent, before), plan_id=PLAN, clock=lambda: T0)


def test_sequences_are_consecutive_and_each_event_is_caused_by_the_one_before(
    seed_intent: dict,
) -> None:
    events = chain(seed_intent)
    first = events.append(IntentFailed(reason="x"), 0)
    second = events.append(ExecutionCompleted(plan_id=PLAN, amount_in=1, amount_out=2))
    assert (first.sequence, second.sequence, events.next_sequence) == (7, 8, 9)
    assert first.causation_id == CAUSE
    assert second.causation_id == first.event_id
    assert (first.occurred_at, first.strategy_id) == (T0, STRATEGY)
    assert events.envelopes == (first, second)


def test_event_ids_are_the_same_on_a_rerun_and_differ_by_type_step_and_plan(
    seed_intent: dict,
) -> None:
    a, b = chain(seed_intent), chain(seed_intent)
    first, again = a.append(IntentFailed(reason="x"), 0), b.append(IntentFailed(reason="y"), 0)
    assert first.event_id == again.event_id
    assert first.event_id == execution_event_id(INTENT, PLAN, "IntentFailed", 0)
    ids = {
        execution_event_id(INTENT, PLAN, "ExecutionStepSubmitted", 0),
        execution_event_id(INTENT, PLAN, "ExecutionStepSubmitted", 1),
        execution_event_id(INTENT, PLAN, "ExecutionStepConfirmed", 0),
        execution_event_id(INTENT, CAUSE, "ExecutionStepSubmitted", 0),
        execution_event_id(INTENT, PLAN, "ExecutionCompleted", None),
    }
    assert len(ids) == 5


def transfer_log(token: str, source: str, target: str, value: int, hexed: bool = False) -> dict:
    topics = [TRANSFER.topic, bytes(12) + bytes.fromhex(source[2:]),
              bytes(12) + bytes.fromhex(target[2:])]  # fmt: skip
    data = value.to_bytes(32, "big")
    if hexed:  # as raw JSON-RPC returns them
        return {"address": token, "topics": ["0x" + t.hex() for t in topics],
                "data": "0x" + data.hex()}  # fmt: skip
    return {"address": token, "topics": topics, "data": data}


def test_amounts_are_the_transfers_across_the_wallet_boundary_in_the_step_tokens() -> None:
    other = "0x" + "11" * 20
    logs = [
        transfer_log(USDC, WALLET, POOL, 3_000_000_000),
        transfer_log(WETH, POOL, WALLET.lower(), 15 * 10**17, hexed=True),
        transfer_log(WETH, POOL, other, 999),  # to someone else
        transfer_log(USDC, POOL, WALLET, 5),  # token_in coming back is not "sent"
        transfer_log(WETH, WALLET, WALLET, 77),  # a self-transfer moves nothing
        {"address": POOL, "topics": [b"\x01" * 32], "data": b""},  # a Swap-like log
        {**transfer_log(WETH, POOL, WALLET, 1), "topics": [TRANSFER.topic] * 4},  # ERC-721
    ]
    moved = moved_amounts(logs, wallet=WALLET, token_in=USDC, token_out=WETH)
    assert (moved.amount_in, moved.amount_out) == (3_000_000_000, 15 * 10**17)


def test_receipt_summary_reads_gas_and_block() -> None:
    receipt = {"blockNumber": 12, "gasUsed": 120_000, "effectiveGasPrice": 10**8,
               "logs": [transfer_log(WETH, POOL, WALLET, 42)]}  # fmt: skip
    summary = summarize_receipt(receipt, wallet=WALLET, token_in=USDC, token_out=WETH)
    assert (summary.block_number, summary.gas_used, summary.effective_gas_price) == (
        12, 120_000, 10**8)  # fmt: skip
    assert (summary.moved.amount_in, summary.moved.amount_out) == (0, 42)


def test_gate_expiry_comes_first_then_cancel_then_the_start_time() -> None:
    deadline = T0 + timedelta(minutes=5)
    later = T0 + timedelta(minutes=1)
    assert decide(now=deadline, deadline=deadline, not_before=None, cancelled=True).gate is (
        Gate.EXPIRED)  # fmt: skip
    assert decide(now=T0, deadline=deadline, not_before=later, cancelled=True).gate is (
        Gate.CANCELLED)  # fmt: skip
    waiting = decide(now=T0, deadline=deadline, not_before=later, cancelled=False)
    assert waiting.gate is Gate.WAIT and waiting.wait_s == 60.0
    assert decide(now=later, deadline=deadline, not_before=later, cancelled=False).gate is Gate.GO
    assert decide(now=T0, deadline=deadline, not_before=None, cancelled=False).gate is Gate.GO


def test_gate_never_waits_past_the_deadline() -> None:
    deadline = T0 + timedelta(seconds=10)
    waiting = decide(now=T0, deadline=deadline, not_before=T0 + timedelta(hours=1), cancelled=False)
    assert waiting.gate is Gate.WAIT and waiting.wait_s == 10.0
