"""The consolidated book (`platform_core/market/book.py`): V2 and V3 pools on two venues
merged into one book per pair, its mid, per-venue parts and depth bands."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from platform_core.intent.manager import Signals, UsdToken, leg_depths, market_context
from platform_core.intent.validator import RoutedLeg
from platform_core.market.book import (
    DEPTH_BANDS_BPS,
    BookDepth,
    PairBook,
    Token,
    build_book,
    liquidity_within,
    pair_pools,
    pairs_of,
)
from platform_core.market.pool_registry import PoolRegistry
from platform_core.types.intent import Intent, IntentSubmission
from platform_rust import ExecutionEngine
from tests.unit.pool_graphs import DAI, USDC, WETH, add_v3_pool, whole

AS_OF = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
ETH = Token(WETH, "WETH", 18)
USD = Token(USDC, "USDC", 6)
DAI_T = Token(DAI, "DAI", 18)
TOKENS = {t.address.lower(): t for t in (ETH, USD, DAI_T)}


def two_venues() -> PoolRegistry:
    """WETH/USDC at 3000: two V3 fee tiers on uniswap_v3, a V2 pair on sushiswap_v2 (its
    tokens the other way round in the call: the registry keeps them as given), and a
    WETH/DAI pool that is not the pair."""
    registry = PoolRegistry(ExecutionEngine())
    add_v3_pool(registry, "v3-500", WETH, whole(WETH, 2_000), USDC, whole(USDC, 6_000_000), 500)
    add_v3_pool(registry, "v3-3000", WETH, whole(WETH, 500), USDC, whole(USDC, 1_500_000), 3000)
    registry.upsert_v2_pool("v2", USDC, WETH, whole(USDC, 3_000_000), whole(WETH, 1_000),
                            fee_pips=3000, venue="sushiswap_v2")  # fmt: skip
    add_v3_pool(registry, "dai", WETH, whole(WETH, 100), DAI, whole(DAI, 300_000), 3000)
    return registry


def book_of(registry: PoolRegistry, base: Token = ETH, quote: Token = USD) -> PairBook:
    book = build_book(registry.engine, registry.pools, base, quote, chain_id=42161,
                      block_number=7, as_of=AS_OF)  # fmt: skip
    assert book is not None
    return book


def test_pools_of_a_pair_by_venue_either_token_order() -> None:
    registry = two_venues()
    assert pair_pools(registry.pools, WETH, USDC) == {
        "uniswap_v3": ["v3-3000", "v3-500"], "sushiswap_v2": ["v2"]
    }  # fmt: skip
    assert pair_pools(registry.pools, USDC.lower(), WETH) == pair_pools(registry.pools, WETH, USDC)
    assert pair_pools(registry.pools, USDC, DAI) == {}
    assert pairs_of(registry.pools, TOKENS) == {
        (WETH.lower(), USDC.lower()), (USDC.lower(), WETH.lower()),
        (WETH.lower(), DAI.lower()), (DAI.lower(), WETH.lower()),
    }  # fmt: skip


def test_mid_between_best_bid_and_ask_near_the_pools_price() -> None:
    book = book_of(two_venues())
    assert book.best_bid is not None and book.best_ask is not None and book.mid is not None
    assert book.best_bid < book.mid < book.best_ask
    assert book.mid == pytest.approx((book.best_bid + book.best_ask) / 2)
    # Every pool is at 3000: the spread is the cheapest fee tier plus one ladder step.
    assert book.mid == pytest.approx(3000, rel=1e-4)
    assert 3000 * (1 - 0.0015) < book.best_bid < 3000 < book.best_ask < 3000 * (1 + 0.0015)
    assert set(book.venues) == {"uniswap_v3", "sushiswap_v2"}
    assert set(book.pools) == {"v3-500", "v3-3000", "v2"}


def test_levels_ordered_and_venue_parts_sum_to_sizes() -> None:
    book = book_of(two_venues())
    assert book.bids and book.asks
    bid_prices = [lv.price for lv in book.bids]
    ask_prices = [lv.price for lv in book.asks]
    assert bid_prices == sorted(bid_prices, reverse=True)
    assert ask_prices == sorted(ask_prices)
    assert bid_prices[0] < ask_prices[0]
    seen: set[str] = set()
    for level in (*book.bids, *book.asks):
        assert level.size > 0
        assert sum(level.venues.values()) == pytest.approx(level.size)
        seen.update(level.venues)
    assert seen == {"uniswap_v3", "sushiswap_v2"}
    assert book.price_step == pytest.approx(book.mid * 5e-4)  # type: ignore[operator]


def test_depth_monotone_in_the_band_and_in_both_units() -> None:
    book = book_of(two_venues())
    assert [d.bps for d in book.depth] == list(DEPTH_BANDS_BPS)
    for narrow, wide in itertools.pairwise(book.depth):
        assert narrow.bid_base <= wide.bid_base and narrow.ask_base <= wide.ask_base
        assert narrow.bid_quote <= wide.bid_quote and narrow.ask_quote <= wide.ask_quote
    widest = book.depth[-1]
    assert widest.bid_base > 0 and widest.ask_base > 0
    assert book.mid is not None
    # Quote depth is base depth at prices within the band.
    assert widest.bid_quote == pytest.approx(widest.bid_base * book.mid, rel=0.011)
    assert widest.ask_quote == pytest.approx(widest.ask_base * book.mid, rel=0.011)


def test_a_pool_adds_its_depth_and_its_venue() -> None:
    registry = two_venues()
    alone = PoolRegistry(ExecutionEngine())
    add_v3_pool(alone, "v3-500", WETH, whole(WETH, 2_000), USDC, whole(USDC, 6_000_000), 500)
    one, three = book_of(alone), book_of(registry)
    assert one.venues == ("uniswap_v3",)
    assert three.depth[-1].bid_base > one.depth[-1].bid_base
    assert three.depth[-1].ask_base > one.depth[-1].ask_base


def test_the_inverse_pair_inverts_prices() -> None:
    registry = two_venues()
    forward, inverse = book_of(registry), book_of(registry, USD, ETH)
    assert forward.mid is not None and inverse.mid is not None
    assert inverse.mid == pytest.approx(1 / forward.mid, rel=1e-5)
    assert inverse.best_bid == pytest.approx(1 / forward.best_ask, rel=1e-9)  # type: ignore[operator]


def test_no_pool_no_book_and_json_shape() -> None:
    registry = two_venues()
    assert build_book(registry.engine, registry.pools, USD, DAI_T, chain_id=1,
                      block_number=1, as_of=AS_OF) is None  # fmt: skip
    body = book_of(registry).to_json()
    assert body["base"] == {"address": WETH, "symbol": "WETH", "decimals": 18}
    assert body["block_number"] == 7 and body["as_of"] == AS_OF.isoformat()
    assert {"price", "size", "venues"} == set(body["bids"][0])
    assert set(body["depth"][0]) == {"bps", "bid_base", "bid_quote", "ask_base", "ask_quote"}


def test_liquidity_within_slippage_on_allowed_venues() -> None:
    registry = two_venues()
    engine, pools = registry.engine, registry.pools
    every = liquidity_within(engine, pools, ETH, USD, max_slippage=0.005)
    wide = liquidity_within(engine, pools, ETH, USD, max_slippage=0.02)
    v2_only = liquidity_within(engine, pools, ETH, USD, max_slippage=0.005,
                               venues=["sushiswap_v2"])  # fmt: skip
    assert every is not None and wide is not None and v2_only is not None
    assert 0 < v2_only < every < wide
    assert liquidity_within(engine, pools, ETH, USD, max_slippage=0.005,
                            venues=["curve"]) is None  # fmt: skip
    assert liquidity_within(engine, pools, USD, DAI_T, max_slippage=0.005) is None


def _intent(seed: dict, **constraints: object) -> Intent:
    seed["constraints"].update(constraints)
    return Intent.from_submission(IntentSubmission.model_validate(seed))


def test_the_prioritisers_liquidity_comes_from_the_book(seed_intent: dict) -> None:
    """Buying 1.5 WETH with USDC: the leg sells USDC, so its depth is the USDC the
    (USDC, WETH) book takes within the intent's slippage, on its allowed venues."""
    registry = two_venues()
    buy = RoutedLeg(USDC, WETH, 4_500 * 10**6, 15 * 10**17, fee=0.0005, cost=0.0006)
    usd = UsdToken(USDC, 6)
    venues = ("uniswap_v3", "sushiswap_v2")
    every = leg_depths(_intent(dict(seed_intent)), (buy,), BookDepth(registry), venues)
    [depth] = every
    assert depth == liquidity_within(registry.engine, registry.pools, USD, ETH,
                                     max_slippage=0.005)  # fmt: skip
    assert depth is not None and depth > 4_500
    context = market_context((buy,), usd, Signals(), every, [6])
    assert context.available_liquidity_usd == pytest.approx(4_500.0 / (4_500.0 / depth))
    # Restricted to one venue, the book is thinner: less liquidity, a larger size ratio.
    seed = json.loads(json.dumps(seed_intent))
    only_v2 = _intent(seed, allowed_venues=["sushiswap_v2"])
    [thin] = leg_depths(only_v2, (buy,), BookDepth(registry), venues)
    assert thin is not None and 0 < thin < depth
    narrow = market_context((buy,), usd, Signals(), [thin], [6])
    assert narrow.available_liquidity_usd < context.available_liquidity_usd
    # No book for the pair (a multi-hop route): the route's impact, as before.
    assert market_context((buy,), usd, Signals(), [None], [6]).available_liquidity_usd == (
        pytest.approx(4_500.0 / 0.0001)
    )
