"""`platform_core.rust_bindings`: domain objects in and out of the native module."""

from __future__ import annotations

import pytest

from platform_core.market.pool_state import PoolInfo, V3PoolState
from platform_core.rust_bindings import EngineRouter, NoRouteError, consolidated_book
from platform_core.types import Asset, IntentConstraints

WETH = Asset(symbol="WETH", address="0x82aF49447D8a07e3bd95BD0d56f35241523fBab1", decimals=18,
             chain_id=42161)  # fmt: skip
USDC = Asset(symbol="USDC", address="0xaf88d065e77c8cC2239327C5EDb3A432268e5831", decimals=6,
             chain_id=42161)  # fmt: skip
Q96 = 2**96
LIQUIDITY = 10**24


def _pool(address: str, fee: int, spacing: int) -> V3PoolState:
    """A pool at price 1 (tick 0) with one range of liquidity around it."""
    token0, token1 = sorted([WETH.address, USDC.address], key=str.lower)
    info = PoolInfo(address, token0, token1, fee, spacing)
    edge = spacing * 100
    return V3PoolState(info, 1, Q96, 0, LIQUIDITY, ((-edge, LIQUIDITY), (edge, -LIQUIDITY)))


def _constraints(**venues: list[str]) -> IntentConstraints:
    return IntentConstraints(max_slippage="0.005", time_window_ms=60_000, **venues)


@pytest.fixture
def router() -> EngineRouter:
    router = EngineRouter()
    assert (
        router.load_v3([_pool("0x" + "a1" * 20, 500, 10), _pool("0x" + "b2" * 20, 3000, 60)]) == 2
    )
    return router


def test_route_becomes_hops_with_their_fees(router: EngineRouter) -> None:
    route = router.best_route(WETH, USDC, 10**18, _constraints())
    assert route.amount_in == 10**18 and route.amount_out > 0
    for split in route.splits:
        hops = router.hops(split)
        assert [h.pool_id for h in hops] == split.pool_path
        assert all(h.fee_pips in (500, 3000) for h in hops)
        assert hops[0].token_in == WETH.address and hops[-1].token_out == USDC.address
        assert (
            router.engine.quote(split.pool_path, WETH.address, split.amount_in)
            == (split.amount_out)
            or len(route.splits) > 1
        )


def test_venue_filters_reach_the_engine(router: EngineRouter) -> None:
    assert router.allowed_venues(_constraints()) is None
    assert router.allowed_venues(_constraints(allowed_venues=["uniswap_v3", "curve"])) == [
        "uniswap_v3"
    ]
    with pytest.raises(NoRouteError):
        router.best_route(WETH, USDC, 10**18, _constraints(excluded_venues=["uniswap_v3"]))
    with pytest.raises(NoRouteError):
        router.best_route(WETH, USDC, 10**18, _constraints(allowed_venues=["sushiswap"]))


def test_removed_pools_are_forgotten(router: EngineRouter) -> None:
    router.remove("0x" + "a1" * 20)
    assert router.engine.pool_count() == 1 and "0x" + "a1" * 20 not in router.pools


def test_amm_ladders_merge_into_one_book(router: EngineRouter) -> None:
    pools = list(router.pools)
    ladders = {
        pool: (router.engine.depth_ladder(pool, WETH.address, levels=5, cumulative=False), [])
        for pool in pools
    }
    book = consolidated_book(ladders)
    assert set(book.venues) == set(pools)
    prices = [level.price for level in book.bids]
    assert prices == sorted(prices, reverse=True) and len(prices) > 0
    total = sum(level.size for level in book.bids)
    assert total == pytest.approx(sum(size for bids, _ in ladders.values() for _, size in bids))
