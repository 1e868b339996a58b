"""The Rust `ExecutionEngine`, synced from the devnet, quotes exactly what QuoterV2 quotes
(to the wei) along every pool and every two-hop route of the fixtures, and its optimised
routes for large trades beat the direct pool."""

from __future__ import annotations

import itertools

import pytest

import platform_rust
from platform_core.market.adapter import Route
from platform_core.market.engine_sync import sync_engine
from platform_core.market.pool_state import PoolInfo
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from tests.integration.chain.quoter import best_direct_out, decimals, quoted_out
from tests.uniswap_v3_reference import simulate_state

WHOLE_TOKEN_AMOUNTS = (0.001, 1, 37, 1_000, 250_000)


def _two_hop_paths(pools: list[PoolInfo]) -> list[tuple[PoolInfo, PoolInfo, str]]:
    """(first pool, second pool, token_in) for every two-pool path through a middle token."""
    paths = []
    for a, b in itertools.permutations(pools, 2):
        for middle in {a.token0, a.token1} & {b.token0, b.token1}:
            start, end = a.other(middle), b.other(middle)
            if start.lower() != end.lower():
                paths.append((a, b, start))
    return paths


async def test_engine_quote_equals_quoter_on_every_pool_and_route(
    uniswap: UniswapV3Adapter,
) -> None:
    engine = platform_rust.ExecutionEngine()
    states = await sync_engine(uniswap, engine)
    pools = [state.info for state in states]
    assert engine.pool_count() == len(pools) >= 8

    checked = partial = 0
    for state in states:
        pool = state.info
        for token_in in (pool.token0, pool.token1):
            units = 10 ** await decimals(uniswap, token_in)
            for whole in WHOLE_TOKEN_AMOUNTS:
                amount = max(1, int(whole * units))
                route = Route((token_in, pool.other(token_in)), (pool.fee_pips,))
                quoted = await quoted_out(uniswap, route, amount)
                if simulate_state(state, token_in, amount).amount_in < amount:
                    # The pool runs dry: QuoterV2 quotes a partial fill, while the engine
                    # refuses an exact input it cannot take in full.
                    with pytest.raises(ValueError, match="insufficient liquidity"):
                        engine.quote([pool.address], token_in, amount)
                    partial += 1
                    continue
                assert engine.quote([pool.address], token_in, amount) == quoted, (
                    pool, token_in, amount,
                )  # fmt: skip
                checked += 1
    assert partial < checked

    for first, second, token_in in _two_hop_paths(pools):
        middle = first.other(token_in)
        token_out = second.other(middle)
        units = 10 ** await decimals(uniswap, token_in)
        for whole in (1, 1_000):
            amount = whole * units
            route = Route((token_in, middle, token_out), (first.fee_pips, second.fee_pips))
            quoted = await quoted_out(uniswap, route, amount)
            try:
                simulated = engine.quote([first.address, second.address], token_in, amount)
            except ValueError as exc:
                assert "insufficient liquidity" in str(exc)
                continue
            assert simulated == quoted, (first, second, token_in, amount)
            checked += 1
    assert checked >= 100


async def test_optimised_route_for_a_large_trade_beats_the_direct_pool(
    uniswap: UniswapV3Adapter, tokens: dict[str, str]
) -> None:
    engine = platform_rust.ExecutionEngine()
    await sync_engine(uniswap, engine)
    weth, usdc = tokens["WETH"], tokens["USDC"]
    amount = 500 * 10**18
    route = engine.optimize_route(weth, usdc, amount, max_hops=3)
    direct = await best_direct_out(uniswap, weth, usdc, amount)
    assert route.amount_in == amount
    assert route.amount_out > direct
    assert sum(split.amount_in for split in route.splits) == amount
    # Every split is exact along its own pools (shared pools were simulated in order).
    assert sum(split.amount_out for split in route.splits) == route.amount_out
