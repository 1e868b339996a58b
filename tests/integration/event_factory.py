"""Realistic event sequences for the backbone tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from platform_core.intent.aggregate import IntentAggregate
from platform_core.types import (
    EventEnvelope,
    ExecutionCompleted,
    ExecutionPlan,
    ExecutionStep,
    ExecutionStepConfirmed,
    ExecutionStepSubmitted,
    Intent,
    IntentSubmitted,
    PlanCreated,
    RouteHop,
    uuid7,
)

SEED = json.loads((Path(__file__).parents[1] / "fixtures" / "seed_intent.json").read_text())
WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"


def lifecycle(strategy_id: UUID | None = None) -> list[EventEnvelope]:
    """The happy path of one intent: submitted, planned, one step sent and confirmed."""
    seed = dict(SEED)
    if strategy_id is not None:
        seed["strategy_id"] = str(strategy_id)
    intent = Intent.model_validate(seed)
    now = datetime.now(UTC)
    step = ExecutionStep(
        index=0, venue="uniswap_v3", chain_id=42161, token_in=USDC, token_out=WETH,
        amount_in=4_500_000_000, expected_amount_out=1_500_000_000_000_000_000,
        min_amount_out=1_492_500_000_000_000_000, deadline=now + timedelta(minutes=5),
        hops=[RouteHop(pool_id="p1", token_in=USDC, token_out=WETH, amount_in=4_500_000_000,
                       amount_out=1_500_000_000_000_000_000)],
    )  # fmt: skip
    plan = ExecutionPlan(intent_id=intent.id, created_at=now, steps=[step])
    tx = "0x" + intent.id.hex * 2
    events = [
        IntentSubmitted(intent=intent, priority=6),
        PlanCreated(plan=plan),
        ExecutionStepSubmitted(plan_id=plan.plan_id, step_id=step.step_id, tx_hash=tx,
                               wallet="0x" + "11" * 20, nonce=7),
        ExecutionStepConfirmed(plan_id=plan.plan_id, step_id=step.step_id, tx_hash=tx,
                               block_number=10, amount_in=4_500_000_000,
                               amount_out=1_500_100_000_000_000_000, gas_used=120_000,
                               effective_gas_price=100_000_000),
        ExecutionCompleted(plan_id=plan.plan_id, amount_in=4_500_000_000,
                           amount_out=1_500_100_000_000_000_000),
    ]  # fmt: skip
    aggregate = IntentAggregate.start(intent)  # a chain, as the log admits it
    return [aggregate.append(e, event_id=uuid7()) for e in events]


def many_lifecycles(count: int) -> list[EventEnvelope]:
    """`count` intents' events, interleaved the way concurrent intents produce them."""
    per_intent = [lifecycle(uuid7()) for _ in range(count)]
    return [env for stage in zip(*per_intent, strict=True) for env in stage]
