"""The venue-neutral market layer with a V2 venue: V2 pool states on the wire and into the
engine beside V3 pools, steps of a V2 venue as swap orders, and the transactions
`UniswapV2Adapter` builds for them (router calls, approvals, ETH in and out)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

import platform_rust
from platform_core.chain.client import ChainClient
from platform_core.errors import ErrorCode, PlatformError
from platform_core.market import contracts as c
from platform_core.market.adapter import MAX_UINT256, Route, SwapOrder, order_from_step
from platform_core.market.changes import PoolStateChanged, PoolStateRecord
from platform_core.market.engine_sync import load_states, replace_venue
from platform_core.market.feed import MarketFeed, Verdict
from platform_core.market.pool_registry import PoolRegistry
from platform_core.market.pool_state import PoolInfo, PoolKind, V2PoolState, V3PoolState
from platform_core.market.uniswap_v2 import UniswapV2Adapter, UniswapV2Addresses
from platform_core.market.uniswap_v3 import UniswapV3Adapter, UniswapV3Addresses
from platform_core.types import ExecutionStep, RouteHop
from tests.unit.pool_graphs import USDC, WBTC, WETH

SUSHI = "sushiswap_v2"
ROUTER = "0x1b02dA8Cb0d097eB8D57A175b88c7D8b47997506"
ADDRESSES = UniswapV2Addresses(
    factory="0xc35DADB65012eC5796536bD9864eD8773aBc74C4", router=ROUTER, weth=WETH
)
OWNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PAIR = PoolInfo("0x" + "a1" * 20, WETH, USDC, 3000, 0, venue=SUSHI, kind=PoolKind.V2)
PAIR_B = PoolInfo("0x" + "b2" * 20, WBTC, WETH, 3000, 0, venue=SUSHI, kind=PoolKind.V2)
AT = datetime(2026, 12, 6, tzinfo=UTC)


def v2_out(amount_in: int, reserve_in: int, reserve_out: int, fee_pips: int = 3000) -> int:
    """UniswapV2Library.getAmountOut, for a fee in pips."""
    kept = amount_in * (1_000_000 - fee_pips)
    return kept * reserve_out // (reserve_in * 1_000_000 + kept)


def test_a_v2_record_round_trips_with_its_reserves_as_strings() -> None:
    state = V2PoolState(PAIR, 42, 2**111 + 7, 3 * 10**12)
    record = PoolStateRecord.of(state)
    wire = json.loads(record.model_dump_json())
    assert wire["kind"] == "v2" and wire["reserve0"] == str(2**111 + 7)
    assert wire["reserve1"] == str(3 * 10**12) and wire["sqrt_price_x96"] is None
    back = PoolStateRecord.model_validate_json(record.model_dump_json())
    assert back == record and back.state(SUSHI) == state


def test_a_v3_record_still_reads_without_a_kind_and_records_are_complete() -> None:
    info = PoolInfo("0x" + "c3" * 20, WETH, USDC, 500, 10)
    v3 = V3PoolState(info, 7, 2**96, 0, 10**18, ((-10, 5), (10, -5)))
    wire = json.loads(PoolStateRecord.of(v3).model_dump_json())
    del wire["kind"], wire["reserve0"], wire["reserve1"]  # a message of before the V2 venue
    assert PoolStateRecord.model_validate(wire).state("uniswap_v3") == v3
    base: dict[str, Any] = {"address": PAIR.address, "token0": WETH, "token1": USDC,
                            "fee_pips": 3000, "block_number": 1}  # fmt: skip
    with pytest.raises(ValueError, match="reserve0 and reserve1"):
        PoolStateRecord(kind=PoolKind.V2, reserve0=1, **base)
    with pytest.raises(ValueError, match="reserve0 and reserve1"):
        PoolStateRecord(kind=PoolKind.V2, reserve0=1, reserve1=2, tick=3, **base)
    with pytest.raises(ValueError, match="no reserves"):
        PoolStateRecord(kind=PoolKind.V3, sqrt_price_x96=2**96, tick=0, liquidity=1,
                        reserve0=1, **base)  # fmt: skip


def test_v2_states_load_into_the_engine_with_their_venue_and_quote_constant_product() -> None:
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    v3 = V3PoolState(PoolInfo("0x" + "c3" * 20, WETH, USDC, 500, 10), 7, 2**96, 0, 10**18,
                     ((-887270, 10**18), (887270, -(10**18))))  # fmt: skip
    pairs = [V2PoolState(PAIR, 7, 1_000 * 10**18, 3_004_500 * 10**6),
             V2PoolState(PAIR_B, 7, 3_333 * 10**8, 667 * 10**18)]  # fmt: skip
    assert load_states(registry, [v3], "uniswap_v3") == 1
    assert load_states(registry, pairs, SUSHI) == 2
    meta = registry.pools[PAIR.address]
    assert (meta.venue, meta.kind, meta.fee_pips) == (SUSHI, PoolKind.V2, 3000)
    assert registry.pools[v3.info.address].kind is PoolKind.V3
    amount = 10**18
    expected = v2_out(amount, 1_000 * 10**18, 3_004_500 * 10**6)
    assert registry.engine.quote([PAIR.address], WETH, amount) == expected
    two_hops = v2_out(v2_out(10**8, 3_333 * 10**8, 667 * 10**18), 1_000 * 10**18,
                      3_004_500 * 10**6)  # fmt: skip
    assert registry.engine.quote([PAIR_B.address, PAIR.address], WBTC, 10**8) == two_hops

    # A snapshot of the V2 venue without PAIR_B removes it, and leaves the V3 venue alone.
    assert replace_venue(registry, pairs[:1], SUSHI) == 1
    assert set(registry.pools) == {PAIR.address, v3.info.address}


async def test_a_feed_applies_v2_messages() -> None:
    class NoSnapshots:
        async def snapshot(self) -> PoolStateChanged:
            raise AssertionError("the feed follows without a snapshot")

    registry = PoolRegistry(platform_rust.ExecutionEngine())
    feed = MarketFeed(registry, NoSnapshots(), chain_id=42161, venue=SUSHI)

    def message(sequence: int, block: int, reserves: tuple[int, int], full: bool) -> bytes:
        record = PoolStateRecord.of(V2PoolState(PAIR, block, *reserves))
        return PoolStateChanged(
            chain_id=42161, venue=SUSHI, incarnation="i", sequence=sequence, block_number=block,
            full=full, pools=(record,), observed_at=AT,
        ).to_bytes()  # fmt: skip

    first = PoolStateChanged.from_bytes(message(1, 10, (10**21, 3 * 10**12), True))
    assert await feed.receive(first) is Verdict.RESET
    moved = PoolStateChanged.from_bytes(message(2, 11, (2 * 10**21, 3 * 10**12), False))
    assert await feed.receive(moved) is Verdict.APPLY
    assert feed.block == 11 and registry.pools[PAIR.address].kind is PoolKind.V2
    assert registry.engine.quote([PAIR.address], WETH, 10**18) == v2_out(
        10**18, 2 * 10**21, 3 * 10**12
    )


def step(venue: str, fees: tuple[int | None, int | None]) -> ExecutionStep:
    return ExecutionStep(
        index=0, venue=venue, chain_id=42161, token_in=USDC, token_out=WBTC,
        amount_in=5_000 * 10**6, expected_amount_out=8_000_000, min_amount_out=7_960_000,
        hops=[
            RouteHop(pool_id="a", token_in=USDC, token_out=WETH, fee_pips=fees[0],
                     amount_in=5_000 * 10**6, amount_out=10**18),
            RouteHop(pool_id="b", token_in=WETH, token_out=WBTC, fee_pips=fees[1],
                     amount_in=10**18, amount_out=8_000_000),
        ],
        deadline=datetime(2030, 1, 1, tzinfo=UTC),
    )  # fmt: skip


class Allowances:
    """Stands in for the chain client: `allowance(token, owner, spender)` reads only."""

    def __init__(self, allowance: int) -> None:
        self.allowance = allowance
        self.calls: list[dict[str, Any]] = []

    async def call(self, tx: dict[str, Any], block: Any = "latest") -> bytes:
        self.calls.append(tx)
        assert tx["data"][:4] == c.ALLOWANCE.selector
        return self.allowance.to_bytes(32, "big")


def sushi(allowance: int) -> tuple[UniswapV2Adapter, Allowances]:
    client = Allowances(allowance)
    adapter = UniswapV2Adapter(client, 42161, ADDRESSES, SUSHI)  # type: ignore[arg-type]
    return adapter, client


async def test_a_v2_step_needs_no_fee_tier_and_swaps_through_the_router() -> None:
    order = order_from_step(step(SUSHI, (None, None)), recipient=OWNER)
    assert order.route == Route((USDC, WETH, WBTC)) and order.route.fees == (None, None)
    adapter, client = sushi(allowance=0)
    approve, swap = await adapter.build_swap_tx(order, OWNER, "k")
    assert client.calls[0]["to"] == USDC  # the input token's allowance to the router
    assert (approve.step_key, approve.to) == ("k:approve", USDC)
    assert c.APPROVE.decode_input(approve.data) == (ROUTER, MAX_UINT256)
    assert approve.meta["spender"] == ROUTER and approve.meta["kind"] == "approve"
    assert (swap.step_key, swap.to, swap.value) == ("k:swap", ROUTER, 0)
    assert c.SWAP_EXACT_TOKENS_FOR_TOKENS.decode_input(swap.data) == (
        5_000 * 10**6, 7_960_000, (USDC, WETH, WBTC), OWNER, order.deadline,
    )  # fmt: skip
    assert swap.meta["min_amount_out"] == "7960000"
    assert swap.meta["execution_step"]["venue"] == SUSHI

    covered, _ = sushi(allowance=5_000 * 10**6)
    assert [r.step_key for r in await covered.build_swap_tx(order, OWNER, "k")] == ["k:swap"]


async def test_a_v3_venue_still_needs_every_fee_tier() -> None:
    order = order_from_step(step("uniswap_v3", (500, None)), recipient=OWNER)
    addresses = UniswapV3Addresses(factory="0x" + "11" * 20, swap_router="0x" + "22" * 20,
                                   quoter_v2="0x" + "33" * 20, tick_lens="0x" + "44" * 20,
                                   weth=WETH)  # fmt: skip
    v3 = UniswapV3Adapter(Allowances(MAX_UINT256), 42161, addresses)  # type: ignore[arg-type]
    with pytest.raises(PlatformError) as refused:
        await v3.build_swap_tx(order, OWNER, "k")
    assert refused.value.code is ErrorCode.UNKNOWN_POOL
    full = order_from_step(step("uniswap_v3", (500, 3000)), recipient=OWNER)
    assert full.route.fee_tiers() == (500, 3000)


async def test_eth_in_and_out_use_the_routers_eth_functions() -> None:
    adapter, client = sushi(allowance=0)
    eth_in = SwapOrder(Route((WETH, USDC)), 10**18, 3_000 * 10**6, OWNER, 1_900_000_000,
                       native_in=True)  # fmt: skip
    (swap,) = await adapter.build_swap_tx(eth_in, OWNER, "in")  # ETH needs no approval
    assert not client.calls and swap.value == 10**18
    assert c.SWAP_EXACT_ETH_FOR_TOKENS.decode_input(swap.data) == (
        3_000 * 10**6,
        (WETH, USDC),
        OWNER,
        1_900_000_000,
    )
    eth_out = SwapOrder(Route((USDC, WETH)), 3_000 * 10**6, 10**17, OWNER, 1_900_000_000,
                        native_out=True)  # fmt: skip
    approve, swap = await adapter.build_swap_tx(eth_out, OWNER, "out")
    assert approve.to == USDC and swap.value == 0
    assert c.SWAP_EXACT_TOKENS_FOR_ETH.decode_input(swap.data) == (
        3_000 * 10**6,
        10**17,
        (USDC, WETH),
        OWNER,
        1_900_000_000,
    )
    with pytest.raises(ValueError, match="starts with WETH"):
        await adapter.build_swap_tx(SwapOrder(Route((USDC, WETH)), 1, 0, OWNER, 1,
                                              native_in=True), OWNER, "x")  # fmt: skip
    with pytest.raises(ValueError, match="ends with WETH"):
        await adapter.build_swap_tx(SwapOrder(Route((WETH, USDC)), 1, 0, OWNER, 1,
                                              native_out=True), OWNER, "x")  # fmt: skip


def test_a_v2_adapter_takes_its_venue_name_and_addresses_from_the_deployment() -> None:
    deployment = {
        "tokens": {"WETH": {"address": WETH, "decimals": 18}},
        "sushiswap_v2": {"factory": ADDRESSES.factory, "router": ROUTER, "fee_pips": 2500,
                         "deployed_at_block": 95},
    }  # fmt: skip
    addresses = UniswapV2Addresses.from_deployment(deployment, SUSHI)
    assert addresses == UniswapV2Addresses(ADDRESSES.factory, ROUTER, WETH, 2500, 95)
    adapter = UniswapV2Adapter(ChainClient("http://127.0.0.1:1"), 42161, addresses, SUSHI)
    assert adapter.venue == SUSHI and adapter.factory == ADDRESSES.factory
    assert [event.signature for event in adapter.pool_events] == ["Sync(uint112,uint112)"]
