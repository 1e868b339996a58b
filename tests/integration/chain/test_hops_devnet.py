"""A path hopping across venues on the devnet: WBTC -(SushiSwap V2)-> WETH -(Uniswap V3)->
USDC. SushiSwap's WBTC is made dearer first (another wallet buys some there), so that the
route's best path sells WBTC on SushiSwap and the WETH it gets on Uniswap V3's deep pool.
The planner makes it two legs; the orchestrator, holding both venues' adapters as the
wallet's execution actor does, sends the second once the first is confirmed, spending all
the WETH the first received: the wallet ends with no WETH more or less than before. A
larger sale whose paths share pools trades each shared pool once (one step), the steps
after it spending their parts of what it received."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_typing import HexStr

import platform_rust
from platform_core.chain.client import ChainClient
from platform_core.chain.journal import Journal
from platform_core.chain.sender import TransactionSender
from platform_core.execution import ExecutionPlanner
from platform_core.execution.orchestrator import ExecutionOrchestrator
from platform_core.market.adapter import Route, SwapOrder, deadline_from_window
from platform_core.market.engine_sync import sync_engine
from platform_core.market.pool_registry import PoolRegistry
from platform_core.market.uniswap_v2 import UniswapV2Adapter, UniswapV2Addresses
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from platform_core.types.events import ExecutionStepConfirmed
from platform_core.types.intent import IntentStatus
from tests.integration.chain.conftest import CHAIN_ID, make_sender
from tests.integration.chain.test_orchestrator_devnet import intent_and_plan, planned
from tests.unit.test_orchestrator_gating import ListPublisher

SUSHI = "sushiswap_v2"
SLIPPAGE = Decimal("0.01")


@pytest.fixture
async def sushi(client: ChainClient, deployment: dict[str, Any]) -> UniswapV2Adapter:
    return UniswapV2Adapter(
        client, CHAIN_ID, UniswapV2Addresses.from_deployment(deployment, SUSHI), SUSHI
    )


async def make_wbtc_dearer_on_sushiswap(
    sushi: UniswapV2Adapter, client: ChainClient, tmp_path: Path, tokens: dict[str, str]
) -> None:
    """Wallet 2 buys WBTC with 30 WETH from SushiSwap's WBTC/WETH pair (about 4.5 % of it)."""
    journal = Journal(tmp_path / "other.sqlite")
    try:
        other = make_sender(client, journal, 2)
        order = SwapOrder(Route((tokens["WETH"], tokens["WBTC"])), 30 * 10**18, 1,
                          other.address, deadline_from_window(300_000))  # fmt: skip
        for request in await sushi.build_swap_tx(order, other.address, "push"):
            assert (await other.execute(request)).state.value == "confirmed"
    finally:
        journal.close()


async def planner_on_both_venues(
    sushi: UniswapV2Adapter,
    uniswap: UniswapV3Adapter,
    client: ChainClient,
    tmp_path: Path,
    tokens: dict[str, str],
) -> ExecutionPlanner:
    """A planner over both venues' pools, once SushiSwap's WBTC is made dearer."""
    await make_wbtc_dearer_on_sushiswap(sushi, client, tmp_path, tokens)
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    await sync_engine(uniswap, registry)
    await sync_engine(sushi, registry)
    return ExecutionPlanner(registry, chain_id=CHAIN_ID)


def dispose_wbtc(tokens: dict[str, str], amount: str) -> dict[str, Any]:
    asset = {"chain_id": CHAIN_ID}
    return {
        "strategy_id": "a1b2c3d4-e5f6-7890-1234-567890abcdef",
        "intent_type": "dispose",
        "assets": [
            {"asset": {**asset, "symbol": "WBTC", "address": tokens["WBTC"], "decimals": 8},
             "amount": amount},
            {"asset": {**asset, "symbol": "USDC", "address": tokens["USDC"], "decimals": 6}},
        ],
        "constraints": {"max_slippage": str(SLIPPAGE), "time_window_ms": 300_000,
                        "execution_style": "aggressive"},
    }  # fmt: skip


async def test_a_path_hopping_from_sushiswap_to_uniswap_runs_as_two_legs(
    sushi: UniswapV2Adapter,
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    client: ChainClient,
    tokens: dict[str, str],
    tmp_path: Path,
) -> None:
    planner = await planner_on_both_venues(sushi, uniswap, client, tmp_path, tokens)
    intent, plan = intent_and_plan(planner, dispose_wbtc(tokens, "0.2"))
    hops = [path.steps for path in plan.paths() if len(path.steps) > 1]
    assert hops, [(s.venue, s.token_in, s.token_out) for s in plan.steps]
    first, last = hops[0]
    assert (first.venue, first.token_in, first.token_out) == (SUSHI, tokens["WBTC"], tokens["WETH"])
    assert (last.venue, last.token_out) == ("uniswap_v3", tokens["USDC"])
    assert first.index in {spend.step for spend in last.spends}

    me = sender.address
    before = {s: await sushi.balance_of(tokens[s], me) for s in ("WBTC", "WETH", "USDC")}
    publisher = ListPublisher()
    orchestrator = ExecutionOrchestrator(uniswap, sender, publisher, wallet=me,
                                         venues={SUSHI: sushi})  # fmt: skip
    after = planned(intent, plan)
    result = await orchestrator.execute(intent, plan, after=after)
    assert result.status is IntentStatus.COMPLETED, result

    confirmed = {e.step_id: e for e in (x.event() for x in publisher.envelopes)
                 if isinstance(e, ExecutionStepConfirmed)}  # fmt: skip
    assert len(confirmed) == len(plan.steps)
    # The second leg spent exactly what the first received, at its planned floor or better.
    assert confirmed[last.step_id].amount_in == confirmed[first.step_id].amount_out > 0
    assert confirmed[last.step_id].amount_out >= last.min_amount_out
    # Each transaction went through its venue's router.
    for step in plan.steps:
        tx = await client.w3.eth.get_transaction(HexStr(confirmed[step.step_id].tx_hash))
        routers = {SUSHI: sushi.addresses.router, "uniswap_v3": uniswap.addresses.swap_router}
        assert tx["to"] == routers[step.venue]

    # The wallet paid the WBTC and received the paths' output; no WETH was left over.
    now = {s: await sushi.balance_of(tokens[s], me) for s in ("WBTC", "WETH", "USDC")}
    assert before["WBTC"] - now["WBTC"] == plan.amount_in == result.amount_in == 2 * 10**7
    assert now["WETH"] == before["WETH"]
    received = now["USDC"] - before["USDC"]
    assert (
        received
        == result.amount_out
        == sum(confirmed[s.step_id].amount_out for s in plan.final_steps())
    )
    assert (
        received
        >= plan.min_amount_out
        >= plan.expected_amount_out * (1 - SLIPPAGE) - len(plan.final_steps())
    )

    # A re-run sends nothing and publishes the same events.
    nonce = await client.nonce(me, "latest")
    rerun = ExecutionOrchestrator(uniswap, sender, ListPublisher(), wallet=me,
                                  venues={SUSHI: sushi})  # fmt: skip
    again = await rerun.execute(intent, plan, after=after)
    assert [e.event_id for e in again.events] == [e.event_id for e in result.events]
    assert await client.nonce(me, "latest") == nonce


async def test_a_leg_that_paths_share_trades_once_and_the_next_legs_spend_all_it_received(
    sushi: UniswapV2Adapter,
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    client: ChainClient,
    tokens: dict[str, str],
    tmp_path: Path,
) -> None:
    """3 WBTC for USDC: the route's paths share pools (SushiSwap's WBTC/WETH pair feeds
    two WETH/USDC pools; Uniswap V3's WETH/USDC pool is fed from both venues' WBTC/WETH),
    and each shared pool is one step. Every step's output is spent whole by the steps after
    it (their parts of what it received), so the wallet keeps no WETH, and it receives the
    plan's quote within its slippage."""
    planner = await planner_on_both_venues(sushi, uniswap, client, tmp_path, tokens)
    intent, plan = intent_and_plan(planner, dispose_wbtc(tokens, "3"))
    spent_by: dict[int, list[int]] = {}
    for step in plan.steps:
        for spend in step.spends:
            spent_by.setdefault(spend.step, []).append(step.index)
    layout = [(s.index, s.venue, s.token_in, s.token_out, s.spends) for s in plan.steps]
    assert any(len(users) > 1 for users in spent_by.values()), layout  # a leg parts
    assert any(len(step.spends) > 1 for step in plan.steps), layout  # a leg joins

    me = sender.address
    held = ("WBTC", "WETH", "USDC")
    before = {s: await sushi.balance_of(tokens[s], me) for s in held}
    orchestrator = ExecutionOrchestrator(uniswap, sender, ListPublisher(), wallet=me,
                                         venues={SUSHI: sushi})  # fmt: skip
    result = await orchestrator.execute(intent, plan, after=planned(intent, plan))
    assert result.status is IntentStatus.COMPLETED, result
    confirmed = {e.step_id: e for e in (x.event() for x in result.events)
                 if isinstance(e, ExecutionStepConfirmed)}  # fmt: skip
    assert len(confirmed) == len(plan.steps)
    # What the shared steps received was spent whole by the steps after them, token by
    # token, each at its floor or better.
    handed_on: Counter[str] = Counter()
    spent: Counter[str] = Counter()
    for step in plan.steps:
        done = confirmed[step.step_id]
        assert done.amount_out >= step.min_amount_out
        if step.spends:
            spent[step.token_in] += done.amount_in
        if step.index in spent_by:
            handed_on[step.token_out] += done.amount_out
    assert spent == handed_on and set(spent) == {tokens["WETH"]}
    now = {s: await sushi.balance_of(tokens[s], me) for s in held}
    assert now["WETH"] == before["WETH"]
    assert before["WBTC"] - now["WBTC"] == plan.amount_in == result.amount_in == 3 * 10**8
    received = now["USDC"] - before["USDC"]
    finals = sum(confirmed[s.step_id].amount_out for s in plan.final_steps())
    assert received == result.amount_out == finals
    assert received >= plan.min_amount_out
