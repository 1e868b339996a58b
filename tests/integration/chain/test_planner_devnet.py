"""Plans made from the devnet's pools are what the chain's QuoterV2 quotes: the engine synced
from chain state, intents decomposed and planned, every step's route re-quoted on chain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import platform_rust
from platform_core.chain.journal import StepState
from platform_core.chain.sender import TransactionSender
from platform_core.execution import ExecutionPlanner
from platform_core.intent.decomposer import decompose
from platform_core.market.adapter import Route, order_from_step
from platform_core.market.engine_sync import sync_engine
from platform_core.market.pool_registry import PoolRegistry
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from platform_core.types.intent import Intent, IntentSubmission
from platform_core.types.plan import ExecutionPlan, ExecutionStep
from tests.integration.chain.quoter import best_direct_out, quoted_out, send_order

CHAIN_ID = 42161
WETH_UNIT = 10**18


async def synced_planner(uniswap: UniswapV3Adapter) -> ExecutionPlanner:
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    states = await sync_engine(uniswap, registry)
    assert registry.engine.pool_count() == len(states) == len(registry.pools) >= 8
    return ExecutionPlanner(registry, chain_id=CHAIN_ID)


def plan_intent(planner: ExecutionPlanner, body: dict[str, Any]) -> ExecutionPlan:
    now = datetime.now(UTC)
    intent = Intent.from_submission(IntentSubmission.model_validate(body), created_at=now)
    orders = decompose(intent, {}, now, sizer=planner.sizer(intent))
    return planner.plan(intent, orders, now)


async def quoted(uniswap: UniswapV3Adapter, step: ExecutionStep) -> int:
    route = order_from_step(step, step.token_in).route  # the path the swap will take
    assert route == Route(
        (step.token_in, *(h.token_out for h in step.hops)), tuple(h.fee_pips for h in step.hops)
    )
    return await quoted_out(uniswap, route, step.amount_in)


async def check_against_quoter(uniswap: UniswapV3Adapter, plan: ExecutionPlan) -> None:
    """A one-step plan is quoted exactly; so is a split plan's first step, and every step
    when no two steps share a pool (otherwise later steps settle against the state the
    earlier ones leave); a split plan beats the best single pool for the same input."""
    pools = [hop.pool_id for step in plan.steps for hop in step.hops]
    exact = plan.steps if len(pools) == len(set(pools)) else plan.steps[:1]
    for step in exact:
        assert await quoted(uniswap, step) == step.expected_amount_out, step
    first = plan.steps[0]
    if len(plan.steps) > 1:
        total_in = sum(s.amount_in for s in plan.steps)
        direct = await best_direct_out(uniswap, first.token_in, first.token_out, total_in)
        assert plan.expected_amount_out >= direct
    for step in plan.steps:
        assert step.min_amount_out == step.expected_amount_out * 995 // 1000
        assert all(hop.fee_pips in (100, 500, 3000, 10000) for hop in step.hops)


async def test_seed_intent_plan_is_what_the_quoter_quotes(
    uniswap: UniswapV3Adapter, tokens: dict[str, str], seed_intent: dict[str, Any]
) -> None:
    planner = await synced_planner(uniswap)
    plan = plan_intent(planner, seed_intent)
    assert all((s.token_in, s.token_out) == (tokens["USDC"], tokens["WETH"]) for s in plan.steps)
    # Sized so that even the minimum output is the 1.5 WETH asked for.
    assert plan.expected_amount_out >= 15 * WETH_UNIT // 10
    assert sum(s.min_amount_out for s in plan.steps) >= 15 * WETH_UNIT // 10
    await check_against_quoter(uniswap, plan)


async def test_large_acquire_is_split_and_beats_the_best_pool(
    uniswap: UniswapV3Adapter, seed_intent: dict[str, Any]
) -> None:
    planner = await synced_planner(uniswap)
    body = {**seed_intent, "assets": [{**seed_intent["assets"][0], "amount": "500"},
                                      seed_intent["assets"][1]]}  # fmt: skip
    plan = plan_intent(planner, body)
    assert len(plan.steps) > 1
    assert sum(s.min_amount_out for s in plan.steps) >= 500 * WETH_UNIT
    await check_against_quoter(uniswap, plan)


async def test_a_split_plan_executed_in_order_gets_exactly_the_planned_amounts(
    uniswap: UniswapV3Adapter, sender: TransactionSender, seed_intent: dict[str, Any]
) -> None:
    """The engine settles split k against the state splits 0..k-1 leave: sent in index
    order on chain, every step receives exactly its `expected_amount_out`."""
    planner = await synced_planner(uniswap)
    body = {**seed_intent, "assets": [{**seed_intent["assets"][0], "amount": "500"},
                                      seed_intent["assets"][1]]}  # fmt: skip
    plan = plan_intent(planner, body)
    weth, me = plan.steps[0].token_out, sender.address
    assert len(plan.steps) > 1
    before = await uniswap.balance_of(weth, me)
    for step in plan.steps:
        held = await uniswap.balance_of(weth, me)
        order = order_from_step(step, me)
        outcomes = await send_order(uniswap, order, sender, str(step.step_id))
        assert [o.state for o in outcomes] == [StepState.CONFIRMED] * len(outcomes)
        assert await uniswap.balance_of(weth, me) - held == step.expected_amount_out
    assert await uniswap.balance_of(weth, me) - before >= 500 * WETH_UNIT
