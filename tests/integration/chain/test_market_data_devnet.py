"""The consolidated market on a private devnet, real NATS, Redis, PostgreSQL and Ray: the
venue adapter actor publishes its pools, the MarketData actor follows it and writes one book
per pair to Redis; the book equals one built from the chain at its block, its best prices
are the pools' (from their sqrtPrice, net of fee), a swap moves it at the swap's block, and
`GET /markets/{chain_id}/{base}/{quote}/book` serves it through the real API services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
import ray
import redis.asyncio as aioredis

import platform_rust
from actors.market_data import MarketDataActor
from actors.venue_adapter import VenueAdapterActor
from actors.wiring import chain_venues, market_data_name, market_venues, venue_actor_name
from platform_core.api.app import bound_app
from platform_core.api.backends import ServiceBackends
from platform_core.api.keys import ApiKeys
from platform_core.api.routes import IntentRoutes
from platform_core.chain.devnet import AnvilProcess
from platform_core.chain.sender import TransactionSender
from platform_core.config import ChainSettings, Settings
from platform_core.intent.ledger import ReservationLedger
from platform_core.intent.manager import IntentManager, UsdToken, routed_usd_quote
from platform_core.intent.prioritizer import OnnxPrioritizer
from platform_core.intent.validator import IntentValidator, connect_chain
from platform_core.market.book import BookDepth, build_book, liquidity_within
from platform_core.market.book_store import BookStore, deployment_tokens
from platform_core.market.engine_sync import sync_engine
from platform_core.market.pool_registry import PoolRegistry
from platform_core.market.pool_state import V2PoolState, V3PoolState
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from platform_core.state.event_store import EventStore
from platform_core.streaming.event_stream import EventStream
from platform_core.types.intent import IntentSubmission
from tests.integration.chain.conftest import CHAIN_ID
from tests.integration.chain.test_venue_feed import swap_through_the_actor

VENUE = "uniswap_v3"
STRATEGY = "a1b2c3d4-e5f6-7890-1234-567890abcdef"


@pytest.fixture
async def market(
    ray_cluster: None, anvil: AnvilProcess, isolated_settings: Settings, stream: EventStream
) -> AsyncIterator[tuple[dict[str, Any], Any, Settings]]:
    """A venue adapter actor per venue the devnet has, and the MarketData actor."""
    config = {
        "subject_prefix": isolated_settings.subject_prefix,
        "redis_key_prefix": isolated_settings.redis_key_prefix,
        "chains": {CHAIN_ID: {"name": "arbitrum", "rpc_url": anvil.rpc_url}},
        "market_poll_interval_s": 0.1,
    }
    chains = {CHAIN_ID: ChainSettings(name="arbitrum", rpc_url=anvil.rpc_url)}
    settings = isolated_settings.model_copy(update={**config, "chains": chains})
    venues = {
        venue: VenueAdapterActor.options(name=venue_actor_name(CHAIN_ID, venue)).remote(
            CHAIN_ID, venue, config
        )
        for _, venue in market_venues(settings)
    }
    for handle in venues.values():
        assert await handle.ready.remote()
    data = MarketDataActor.options(name=market_data_name(CHAIN_ID)).remote(CHAIN_ID, config)
    assert await data.ready.remote()
    yield venues, data, settings
    for handle in (data, *venues.values()):
        await handle.stop.remote()
        ray.kill(handle)


async def book_at(store: BookStore, base: str, quote: str, block: int) -> dict[str, Any]:
    """The stored book once it is as of `block` (bounded wait)."""
    for _ in range(300):
        book = await store.read(CHAIN_ID, base, quote)
        if book is not None and book["block_number"] >= block:
            return book
        await asyncio.sleep(0.05)
    raise AssertionError(f"no book of {base}/{quote} at block {block}")


async def chain_state(settings: Settings, block: int) -> tuple[PoolRegistry, list[Any]]:
    """An engine synced from the chain itself at `block`, every venue; and the states."""
    client, adapters = chain_venues(settings, CHAIN_ID)
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    states: list[Any] = []
    try:
        for adapter in adapters:
            states += await sync_engine(adapter, registry, block=block)
    finally:
        await client.close()
    return registry, states


async def chain_book(settings: Settings, deployment: dict[str, Any], base: str, quote: str,
                     block: int) -> dict[str, Any]:  # fmt: skip
    """The book built from the chain's own state at `block`."""
    registry, _ = await chain_state(settings, block)
    tokens = deployment_tokens(deployment)
    book = build_book(registry.engine, registry.pools, tokens[base.lower()],
                      tokens[quote.lower()], chain_id=CHAIN_ID, block_number=block,
                      as_of=datetime.now(UTC))  # fmt: skip
    assert book is not None
    return book.to_json()


def spot(state: Any, weth: str) -> float:
    """A WETH/USDC pool's spot price, USDC per WETH: from sqrtPriceX96 or the reserves."""
    if isinstance(state, V3PoolState):
        raw = (state.sqrt_price_x96 / 2**96) ** 2  # token1 per token0, base units
    else:
        assert isinstance(state, V2PoolState)
        raw = state.reserve1 / state.reserve0
    return raw * 10**12 if state.info.token0.lower() == weth.lower() else 10**12 / raw


async def spot_prices(settings: Settings, weth: str, usdc: str,
                      block: int) -> dict[str, list[tuple[float, float]]]:  # fmt: skip
    """Each venue's WETH/USDC pools: (spot price, fee)."""
    registry, states = await chain_state(settings, block)
    out: dict[str, list[tuple[float, float]]] = {}
    for state in states:
        info = state.info
        if {info.token0.lower(), info.token1.lower()} == {weth.lower(), usdc.lower()}:
            venue = registry.pools[info.address].venue
            out.setdefault(venue, []).append((spot(state, weth), info.fee_pips / 1e6))
    return out


def same_book(stored: dict[str, Any], built: dict[str, Any]) -> None:
    assert {k: v for k, v in stored.items() if k != "as_of"} == {
        k: v for k, v in built.items() if k != "as_of"
    }


async def test_the_market_data_actor_keeps_the_consolidated_book(
    market: tuple[dict[str, Any], Any, Settings],
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    tokens: dict[str, str],
    deployment: dict[str, Any],
) -> None:
    venues, data, settings = market
    assert set(venues) == {"uniswap_v3", "sushiswap_v2"}  # the devnet has both
    weth, usdc = tokens["WETH"], tokens["USDC"]
    client = aioredis.from_url(settings.redis_url, decode_responses=True)
    store = BookStore(client, prefix=settings.redis_key_prefix)
    try:
        start = await data.block.remote()
        assert start is not None
        book = await book_at(store, weth, usdc, start)
        same_book(book, await chain_book(settings, deployment, weth, usdc, start))
        # Every venue and fee tier is in the book: its levels show both venues' parts.
        spots = await spot_prices(settings, weth, usdc, start)
        assert set(spots) == set(venues) and len(spots["uniswap_v3"]) >= 2
        assert sorted(book["venues"]) == sorted(venues)
        assert len(book["pools"]) == sum(len(pools) for pools in spots.values())
        parts = {v for level in book["bids"] + book["asks"] for v in level["venues"]}
        assert parts == set(venues)
        for level in book["bids"] + book["asks"]:
            assert sum(level["venues"].values()) == pytest.approx(level["size"])
        # The best bid is the best pool's spot net of its fee, one ladder step (3 bps) on;
        # the best ask likewise: the mid sits between the pools' prices, fees aside.
        pools = [p for venue_pools in spots.values() for p in venue_pools]
        best_bid = max(price * (1 - fee) for price, fee in pools)
        best_ask = min(price / (1 - fee) for price, fee in pools)
        assert best_bid * (1 - 5e-4) < book["best_bid"] < best_bid
        assert best_ask < book["best_ask"] < best_ask * (1 + 5e-4)
        assert min(p for p, _ in pools) * 0.99 < book["mid"] < max(p for p, _ in pools) * 1.01
        inverse = await book_at(store, usdc, weth, start)
        # The other way round: its best bid is the best ask inverted (and so on); the mids
        # differ by the spread's second order only (1/a + 1/b)/2 against 2/(a + b).
        assert inverse["best_bid"] == pytest.approx(1 / book["best_ask"], rel=1e-9)
        assert inverse["best_ask"] == pytest.approx(1 / book["best_bid"], rel=1e-9)
        assert inverse["mid"] == pytest.approx(1 / book["mid"], rel=1e-5)

        # A swap (1 WETH sold into the V3 0.05 % pool) moves the book at the swap's block.
        block = await swap_through_the_actor(venues["uniswap_v3"], uniswap, sender, tokens,
                                             "book-1")  # fmt: skip
        moved = await book_at(store, weth, usdc, block)
        assert moved["block_number"] == block and moved["mid"] < book["mid"]
        same_book(moved, await chain_book(settings, deployment, weth, usdc, block))
        # The route, through the real services (API key in PostgreSQL, rate limit in Redis).
        await route_serves(settings, moved, weth, usdc)
    finally:
        await client.aclose()


async def route_serves(settings: Settings, book: dict[str, Any], weth: str, usdc: str) -> None:
    store = await EventStore.connect(settings.postgres_dsn)
    try:
        token = (await ApiKeys(store.pool).issue(UUID(STRATEGY))).token
    finally:
        await store.close()
    backends = ServiceBackends(settings)
    routes = IntentRoutes(settings, backends)
    transport = httpx.ASGITransport(app=bound_app(routes))
    headers = {"authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://sep.test",
                                     headers=headers) as client:  # fmt: skip
            response = await client.get(f"/markets/{CHAIN_ID}/WETH/USDC/book?levels=5")
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["block_number"] >= book["block_number"]
            assert len(body["bids"]) == 5 and len(body["asks"]) == 5
            by_address = await client.get(f"/markets/{CHAIN_ID}/{usdc}/{weth}/book")
            assert by_address.status_code == 200
            assert by_address.json()["mid"] == pytest.approx(1 / body["mid"], rel=1e-5)
            missing = await client.get(f"/markets/{CHAIN_ID}/ARB/USDT/book")
            assert missing.status_code == 404
            assert missing.json()["reason_codes"] == ["PAIR_NOT_FOUND"]
    finally:
        await backends.close()
        if routes.books is not None:
            await routes.books.close()  # type: ignore[attr-defined]


async def test_the_gates_liquidity_feature_is_the_books_depth(
    anvil: AnvilProcess,
    isolated_settings: Settings,
    deployment: dict[str, Any],
    tokens: dict[str, str],
    stream: EventStream,
    seed_intent: dict[str, Any],
) -> None:
    """The seed intent (buy 1.5 WETH with USDC, 0.5 % slippage) through the real gate on
    the devnet: its size-to-liquidity is what it pays over the USDC the consolidated
    USDC/WETH book (both venues) takes within 0.5 % of mid."""
    strategy = UUID(seed_intent["strategy_id"])
    settings = isolated_settings.model_copy(update={
        "chains": {CHAIN_ID: ChainSettings(name="arbitrum", rpc_url=anvil.rpc_url)},
        "strategy_wallets": {strategy: deployment["wallets"][0]["address"]},
    })  # fmt: skip
    # The gate fed as in the API (one engine, every venue), here from the chain itself.
    client, _ = chain_venues(settings, CHAIN_ID)
    try:
        head = await client.block_number()
    finally:
        await client.close()
    registry, _ = await chain_state(settings, head)
    access = await connect_chain(settings, CHAIN_ID, deployment, registry=registry)
    await access.wallets.on_head(head)
    ledger = ReservationLedger.from_url(settings.redis_url, prefix=settings.redis_key_prefix)
    try:
        venues = {meta.venue for meta in registry.pools.values()}
        planner = access.planner
        usd = UsdToken(tokens["USDC"], 6, quote=routed_usd_quote(planner, tokens["USDC"]))
        manager = IntentManager(
            IntentValidator(settings, {CHAIN_ID: access}), OnnxPrioritizer.from_settings(settings),
            stream, ledger, usd_tokens={CHAIN_ID: usd}, depth=BookDepth(registry),
            venues=sorted(venues),
        )  # fmt: skip
        decision = await manager.submit(IntentSubmission.model_validate(seed_intent), strategy)
        assert decision.accepted, decision.report.refusals
        (leg,) = decision.report.legs
        named = deployment_tokens(deployment)
        depth = liquidity_within(registry.engine, registry.pools, named[leg.token_in.lower()],
                                 named[leg.token_out.lower()], max_slippage=0.005)  # fmt: skip
        assert depth is not None and depth > leg.amount_in / 10**6
        features = decision.intent.ml_features
        assert features is not None
        assert features.size_to_liquidity == pytest.approx(leg.amount_in / 10**6 / depth)
        # Not the route's impact any more (what it was before the book).
        assert features.size_to_liquidity != pytest.approx(max(leg.price_impact, 1e-6))
        # The book it reads holds both venues' WETH/USDC pools.
        assert {"uniswap_v3", "sushiswap_v2"} <= venues
    finally:
        await ledger.clear()
        await ledger.close()
        await access.adapter.client.close()
