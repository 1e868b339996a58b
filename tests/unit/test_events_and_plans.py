"""Event envelope, one class per transition, plans, and ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from platform_core.types import (
    EVENT_TYPES,
    EventEnvelope,
    ExecutionCompleted,
    ExecutionPlan,
    ExecutionStep,
    ExecutionStepSubmitted,
    Intent,
    IntentDenied,
    IntentStatus,
    IntentSubmitted,
    PlanCreated,
    RouteHop,
    deterministic_id,
    uuid7,
)

WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"


def _step(index: int = 0, **overrides: object) -> ExecutionStep:
    now = datetime.now(UTC)
    fields: dict[str, object] = {
        "index": index,
        "venue": "uniswap_v3",
        "chain_id": 42161,
        "token_in": USDC,
        "token_out": WETH,
        "amount_in": 4_500_000_000,
        "expected_amount_out": 1_500_000_000_000_000_000,
        "min_amount_out": 1_492_500_000_000_000_000,
        "hops": [
            RouteHop(
                pool_id="0xpool",
                token_in=USDC,
                token_out=WETH,
                fee_pips=500,
                amount_in=4_500_000_000,
                amount_out=1_500_000_000_000_000_000,
            )
        ],
        "deadline": now + timedelta(minutes=5),
    }
    fields.update(overrides)
    return ExecutionStep.model_validate(fields)


def test_every_lifecycle_event_of_the_map_has_a_class() -> None:
    expected = {
        "IntentSubmitted", "IntentDenied", "IntentDecomposed", "PlanCreated",
        "ExecutionStepSubmitted", "ExecutionStepConfirmed", "ExecutionStepFailed",
        "ExecutionCompleted", "IntentFailed", "IntentExpired", "IntentCancelled",
    }  # fmt: skip
    assert expected <= set(EVENT_TYPES)


def test_envelope_bytes_round_trip_and_rebuild_the_intent(seed_intent: dict) -> None:
    intent = Intent.model_validate(seed_intent)
    envelope = EventEnvelope.wrap(
        IntentSubmitted(intent=intent, priority=7),
        intent_id=intent.id,
        strategy_id=intent.strategy_id,
        sequence=0,
    )
    data = envelope.to_bytes()
    again = EventEnvelope.from_bytes(data)
    assert again == envelope and again.to_bytes() == data  # serialised once, stably
    event = again.event()
    assert isinstance(event, IntentSubmitted)
    assert event.intent == intent and event.priority == 7
    assert again.subject() == "events.IntentSubmitted"
    assert IntentSubmitted.status_after is IntentStatus.PENDING


def test_big_amounts_travel_as_strings() -> None:
    amount = 2**200 + 1
    event = ExecutionCompleted(plan_id=uuid7(), amount_in=amount, amount_out=amount)
    envelope = EventEnvelope.wrap(event, intent_id=uuid7(), strategy_id=uuid7(), sequence=3)
    assert f'"{amount}"' in envelope.to_bytes().decode()
    assert envelope.event() == event


def test_unknown_event_type_is_a_clear_error() -> None:
    envelope = EventEnvelope(
        event_type="SomethingElse",
        intent_id=uuid7(),
        strategy_id=uuid7(),
        sequence=0,
        payload={},
    )
    with pytest.raises(ValueError, match="unknown event type"):
        envelope.event()


def test_event_payloads_refuse_bad_values() -> None:
    with pytest.raises(ValidationError):
        IntentDenied(reason_codes=[])
    with pytest.raises(ValidationError):
        ExecutionStepSubmitted(
            plan_id=uuid7(), step_id=uuid7(), tx_hash="0x12", wallet="w", nonce=0
        )


def test_plan_with_steps_in_order() -> None:
    plan = ExecutionPlan(
        intent_id=uuid7(), created_at=datetime.now(UTC), steps=[_step(0), _step(1)]
    )
    assert plan.expected_amount_out == 3_000_000_000_000_000_000
    event = PlanCreated(plan=plan)
    assert PlanCreated.model_validate_json(event.model_dump_json()) == event


def test_plan_refuses_inconsistent_steps() -> None:
    with pytest.raises(ValidationError, match=r"0\.\.n-1"):
        ExecutionPlan(intent_id=uuid7(), created_at=datetime.now(UTC), steps=[_step(1)])
    with pytest.raises(ValidationError, match="min_amount_out"):
        _step(min_amount_out=2 * 10**18)
    with pytest.raises(ValidationError, match="token_out"):
        _step(token_out=USDC)
    with pytest.raises(ValidationError):
        _step(amount_in=-1)


def test_uuid7_is_time_ordered_and_versioned() -> None:
    ids = [uuid7(unix_ms=ms) for ms in (1, 2, 1_700_000_000_000, 2**48 - 1)]
    assert ids == sorted(ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert len({uuid7() for _ in range(1000)}) == 1000
    with pytest.raises(ValueError):
        uuid7(unix_ms=2**48)


def test_deterministic_ids_are_stable_and_distinct() -> None:
    assert deterministic_id("step", 1, "confirmed") == deterministic_id("step", 1, "confirmed")
    assert deterministic_id("step", 1, "confirmed") != deterministic_id("step", 1, "failed")
