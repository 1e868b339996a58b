"""SushiSwap V2 on the devnet, through `UniswapV2Adapter`: the pairs found from the factory's
logs are the deployment's, their states are what `getReserves` says, the engine quotes what
the router's `getAmountsOut` says, swaps built by the adapter (an approval first when the
allowance is short; ETH in and out) move exactly those amounts, and a `MarketWatcher` reads
again just the pair a swap moved (its `Sync` log).
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

import platform_rust
from platform_core.chain.client import ChainClient
from platform_core.chain.journal import StepState
from platform_core.chain.sender import StepOutcome, TransactionSender
from platform_core.config import Settings
from platform_core.execution import ExecutionPlanner
from platform_core.execution.orchestrator import ExecutionOrchestrator
from platform_core.market import contracts as c
from platform_core.market.adapter import Route, SwapOrder, deadline_from_window, min_amount_out
from platform_core.market.engine_sync import sync_engine
from platform_core.market.pool_registry import PoolRegistry
from platform_core.market.pool_state import PoolKind, V2PoolState
from platform_core.market.uniswap_v2 import UniswapV2Adapter, UniswapV2Addresses
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from platform_core.market.watcher import MarketWatcher
from platform_core.streaming.event_stream import EventStream
from platform_core.types.events import ExecutionStepSubmitted
from platform_core.types.intent import IntentStatus
from tests.integration.chain.conftest import CHAIN_ID
from tests.integration.chain.test_orchestrator_devnet import (
    intent_and_plan,
    planned,
    stream_contents,
)

VENUE = "sushiswap_v2"


@pytest.fixture
async def sushi(client: ChainClient, deployment: dict[str, Any]) -> UniswapV2Adapter:
    if VENUE not in deployment:
        pytest.fail("devnet/deployment.json has no sushiswap_v2 section")
    addresses = UniswapV2Addresses.from_deployment(deployment, VENUE)
    adapter = UniswapV2Adapter(client, CHAIN_ID, addresses, VENUE)
    return adapter


async def amounts_out(sushi: UniswapV2Adapter, amount_in: int, path: list[str]) -> list[int]:
    """The router's own quote along `path`."""
    raw = await sushi.client.call(
        {"to": sushi.addresses.router, "data": c.GET_AMOUNTS_OUT.encode(amount_in, path)}
    )
    return [int(x) for x in c.GET_AMOUNTS_OUT.decode_output(raw)[0]]


async def quoted_order(
    sushi: UniswapV2Adapter, tokens: tuple[str, ...], amount_in: int, me: str, **flags: bool
) -> tuple[SwapOrder, int]:
    quoted = (await amounts_out(sushi, amount_in, list(tokens)))[-1]
    order = SwapOrder(Route(tokens), amount_in, min_amount_out(quoted, Decimal("0.005")), me,
                      deadline_from_window(300_000), **flags)  # fmt: skip
    return order, quoted


async def send(
    sushi: UniswapV2Adapter, order: SwapOrder, sender: TransactionSender, key: str
) -> list[StepOutcome]:
    outcomes = []
    for request in await sushi.build_swap_tx(order, sender.address, key):
        outcomes.append(await sender.execute(request))
    assert [o.state for o in outcomes] == [StepState.CONFIRMED] * len(outcomes)
    return outcomes


def received(outcome: StepOutcome, token: str, me: str) -> int:
    assert outcome.receipt is not None
    logs = [log for log in outcome.receipt["logs"]
            if log["address"].lower() == token.lower()
            and bytes(log["topics"][0]) == c.TRANSFER.topic]  # fmt: skip
    return sum(
        amount
        for _from, to, amount in (c.TRANSFER.decode(log["topics"], log["data"]) for log in logs)
        if to == me
    )


async def test_discovery_finds_the_deployments_pairs(
    sushi: UniswapV2Adapter, deployment: dict[str, Any], tokens: dict[str, str]
) -> None:
    pools = await sushi.discover_pools()
    expected = {pair["address"] for pair in deployment["v2_pairs"]}
    assert {p.address for p in pools} == expected and len(expected) == 5
    raw = await sushi.client.call({"to": sushi.factory, "data": c.ALL_PAIRS_LENGTH.encode()})
    assert c.ALL_PAIRS_LENGTH.decode_output(raw)[0] == len(pools)
    for pool in pools:
        assert (pool.venue, pool.kind, pool.fee_pips) == (VENUE, PoolKind.V2, 3000)
        assert pool.token0.lower() < pool.token1.lower()  # sorted, as the factory sorts them
        raw = await sushi.client.call(
            {"to": sushi.factory, "data": c.GET_PAIR.encode(pool.token1, pool.token0)}
        )
        assert c.GET_PAIR.decode_output(raw)[0] == pool.address
    weth_usdc = {tokens["WETH"].lower(), tokens["USDC"].lower()}
    assert any({p.token0.lower(), p.token1.lower()} == weth_usdc for p in pools)


async def test_pool_state_is_get_reserves_at_the_block(sushi: UniswapV2Adapter) -> None:
    pools = await sushi.discover_pools()
    head = await sushi.client.block_number()
    states = await sushi.pool_states(pools, head)
    for pool, state in zip(pools, states, strict=True):
        assert isinstance(state, V2PoolState) and state.block_number == head
        raw = await sushi.client.call({"to": pool.address, "data": c.GET_RESERVES.encode()}, head)
        reserve0, reserve1, _ = c.GET_RESERVES.decode_output(raw)
        assert (state.reserve0, state.reserve1) == (reserve0, reserve1) and reserve0 > 0
        assert await sushi.pool_state(pool, head) == state


async def test_the_engine_quotes_what_the_router_quotes(
    sushi: UniswapV2Adapter, tokens: dict[str, str]
) -> None:
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    states = await sync_engine(sushi, registry)
    assert len(states) == 5 and {m.venue for m in registry.pools.values()} == {VENUE}
    by_pair = {frozenset((p.token0, p.token1)): p.address for p in await sushi.pools()}
    weth, usdc, wbtc = tokens["WETH"], tokens["USDC"], tokens["WBTC"]
    paths = [[weth, usdc], [usdc, weth], [wbtc, weth, usdc]]
    for path in paths:
        pools = [by_pair[frozenset(hop)] for hop in itertools.pairwise(path)]
        decimals_in = {weth: 18, usdc: 6, wbtc: 8}[path[0]]
        for whole in (1, 37, 400):
            amount = whole * 10**decimals_in // 10
            router = (await amounts_out(sushi, amount, path))[-1]
            assert registry.engine.quote(pools, path[0], amount) == router > 0


async def test_a_swap_approves_once_then_moves_exactly_the_quoted_amount(
    sushi: UniswapV2Adapter, sender: TransactionSender, tokens: dict[str, str]
) -> None:
    weth, usdc, me = tokens["WETH"], tokens["USDC"], sender.address
    router = sushi.addresses.router
    weth0, usdc0 = await sushi.balance_of(weth, me), await sushi.balance_of(usdc, me)
    assert weth0 >= 2 * 10**18
    order, quoted = await quoted_order(sushi, (weth, usdc), 10**18, me)

    assert await sushi.allowance(weth, me, router) < order.amount_in
    outcomes = await send(sushi, order, sender, "sushi-1")
    assert [o.step_key for o in outcomes] == ["sushi-1:approve", "sushi-1:swap"]
    assert received(outcomes[-1], usdc, me) == quoted
    assert await sushi.balance_of(weth, me) == weth0 - order.amount_in
    assert await sushi.balance_of(usdc, me) == usdc0 + quoted

    # The allowance covers the next swap: no second approval. Two hops, WETH -> USDC -> USDT.
    again, quoted = await quoted_order(sushi, (weth, usdc, tokens["USDT"]), 10**18, me)
    (swap,) = await send(sushi, again, sender, "sushi-2")
    assert swap.step_key == "sushi-2:swap" and received(swap, tokens["USDT"], me) == quoted


async def test_eth_in_and_out_through_the_router(
    sushi: UniswapV2Adapter,
    sender: TransactionSender,
    client: ChainClient,
    tokens: dict[str, str],
) -> None:
    weth, usdc, me = tokens["WETH"], tokens["USDC"], sender.address
    weth0, usdc0 = await sushi.balance_of(weth, me), await sushi.balance_of(usdc, me)
    order, quoted = await quoted_order(sushi, (weth, usdc), 10**18, me, native_in=True)
    eth0 = await client.balance(me)
    (swap,) = await send(sushi, order, sender, "eth-in")  # ETH in: no approval
    assert swap.receipt is not None
    gas = swap.receipt["gasUsed"] * swap.receipt["effectiveGasPrice"]
    assert await client.balance(me) == eth0 - 10**18 - gas
    assert await sushi.balance_of(usdc, me) == usdc0 + quoted
    assert await sushi.balance_of(weth, me) == weth0

    order, quoted = await quoted_order(sushi, (usdc, weth), 1_000 * 10**6, me, native_out=True)
    eth1 = await client.balance(me)
    outcomes = await send(sushi, order, sender, "eth-out")  # approve USDC, then swap
    assert [o.step_key for o in outcomes] == ["eth-out:approve", "eth-out:swap"]
    gas = sum(o.receipt["gasUsed"] * o.receipt["effectiveGasPrice"]
              for o in outcomes if o.receipt is not None)  # fmt: skip
    assert await client.balance(me) == eth1 + quoted - gas
    assert await sushi.balance_of(weth, me) == weth0


async def test_the_watcher_reads_again_only_the_pair_a_swap_moved(
    sushi: UniswapV2Adapter, sender: TransactionSender, tokens: dict[str, str]
) -> None:
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    watcher = MarketWatcher(sushi, registry, min_interval_s=0)
    first = await watcher.refresh()
    assert first.full and first.pools_read == 5
    order, _ = await quoted_order(sushi, (tokens["WETH"], tokens["USDC"]), 10**18, sender.address)
    await send(sushi, order, sender, "watched")
    moved = await watcher.refresh()
    assert not moved.full and moved.block > first.block
    (state,) = moved.states
    pair = {tokens["WETH"].lower(), tokens["USDC"].lower()}
    assert {state.info.token0.lower(), state.info.token1.lower()} == pair
    assert state == await sushi.pool_state(state.info, moved.block)


async def test_the_orchestrator_executes_a_sushiswap_step_with_the_v2_adapter(
    sushi: UniswapV2Adapter,
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    stream: EventStream,
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
) -> None:
    """A plan routed on the V2 venue alone (its steps name `sushiswap_v2`) is executed by an
    orchestrator holding both venues' builders, as an execution actor holds them."""
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    await sync_engine(sushi, registry)
    planner = ExecutionPlanner(registry, venues=[VENUE], chain_id=CHAIN_ID)
    intent, plan = intent_and_plan(planner, seed_intent)
    assert {step.venue for step in plan.steps} == {VENUE}
    first = plan.steps[0]
    path = [first.token_in, *(hop.token_out for hop in first.hops)]
    assert first.expected_amount_out == (await amounts_out(sushi, first.amount_in, path))[-1]
    usdc, weth, me = first.token_in, first.token_out, sender.address
    weth0, usdc0 = await sushi.balance_of(weth, me), await sushi.balance_of(usdc, me)

    orchestrator = ExecutionOrchestrator(uniswap, sender, stream, wallet=me,
                                         venues={VENUE: sushi})  # fmt: skip
    result = await orchestrator.execute(intent, plan, after=planned(intent, plan))

    assert result.status is IntentStatus.COMPLETED, result
    events = await stream_contents(isolated_settings)
    completed = events[-1].event()
    assert await sushi.balance_of(weth, me) - weth0 == completed.amount_out == result.amount_out
    assert usdc0 - await sushi.balance_of(usdc, me) == sum(s.amount_in for s in plan.steps)
    assert result.amount_out >= sum(s.min_amount_out for s in plan.steps) > 0
    submitted = [e.event() for e in events]
    swaps = [s for s in submitted if isinstance(s, ExecutionStepSubmitted)]
    assert len(swaps) == len(plan.steps)
    for swap in swaps:  # every swap went to the V2 router
        tx = await sushi.client.w3.eth.get_transaction(swap.tx_hash)
        assert tx["to"] == sushi.addresses.router
