"""`platform_core.rust_bindings`: pool states into the engine, venues' books into one."""

from __future__ import annotations

import pytest

import platform_rust
from platform_core.market.pool_registry import PoolRegistry
from platform_core.market.pool_state import PoolInfo, V3PoolState
from platform_core.rust_bindings import consolidated_book, load_v3

WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
Q96 = 2**96
LIQUIDITY = 10**24
POOLS = ("0x" + "a1" * 20, "0x" + "b2" * 20)


def _pool(address: str, fee: int, spacing: int) -> V3PoolState:
    """A pool at price 1 (tick 0) with one range of liquidity around it."""
    token0, token1 = sorted([WETH, USDC], key=str.lower)
    info = PoolInfo(address, token0, token1, fee, spacing)
    edge = spacing * 100
    return V3PoolState(info, 1, Q96, 0, LIQUIDITY, ((-edge, LIQUIDITY), (edge, -LIQUIDITY)))


@pytest.fixture
def registry() -> PoolRegistry:
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    states = [_pool(POOLS[0], 500, 10), _pool(POOLS[1], 3000, 60)]
    assert load_v3(registry, states, "uniswap_v3") == 2
    return registry


def test_loaded_pools_quote_and_keep_their_fees(registry: PoolRegistry) -> None:
    assert registry.engine.pool_count() == 2
    assert [registry.fee_pips(p) for p in POOLS] == [500, 3000]
    cheap, dear = (registry.engine.quote([p], WETH, 10**18) for p in POOLS)
    assert cheap > dear > 0  # same liquidity and price: the lower fee gives more
    route = registry.engine.optimize_route(WETH, USDC, 10**18, allowed_venues=["uniswap_v3"])
    assert route.amount_out >= cheap


def test_amm_ladders_merge_into_one_book(registry: PoolRegistry) -> None:
    ladders = {
        pool: (registry.engine.depth_ladder(pool, WETH, levels=5, cumulative=False), [])
        for pool in POOLS
    }
    book = consolidated_book(ladders)
    assert set(book.venues) == set(POOLS)
    prices = [level.price for level in book.bids]
    assert prices == sorted(prices, reverse=True) and prices
    total = sum(level.size for level in book.bids)
    assert total == pytest.approx(sum(size for bids, _ in ladders.values() for _, size in bids))
    assert not book.crossed
