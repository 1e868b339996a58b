"""The SushiSwap V2 venue adapter actor on a private devnet, real NATS and Ray, as the
Uniswap V3 one is tested (`test_venue_feed.py`): it publishes V2 `PoolStateChanged`
messages (reserves), a `MarketFeed` following it holds what the chain holds after a swap the
actor built, and one engine follows both venues of the chain (`follow_venues`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import ray

import platform_rust
from actors.venue_adapter import VenueActorRef, VenueAdapterActor
from actors.wiring import market_venues, venue_actor_name
from platform_core.chain.devnet import AnvilProcess
from platform_core.chain.sender import TransactionSender
from platform_core.config import Settings
from platform_core.market.adapter import Route, SwapOrder, deadline_from_window, min_amount_out
from platform_core.market.engine_sync import sync_engine
from platform_core.market.feed import follow_venues
from platform_core.market.pool_registry import PoolRegistry
from platform_core.market.pool_state import PoolKind
from platform_core.market.uniswap_v2 import UniswapV2Adapter
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from platform_core.streaming.event_stream import EventStream
from tests.integration.chain.conftest import CHAIN_ID
from tests.integration.chain.test_sushiswap_v2 import VENUE, amounts_out, send, sushi
from tests.integration.chain.test_venue_feed import (
    Quotes,
    follow,
    quotes,
)

__all__ = ["sushi"]  # the fixture, shared with test_sushiswap_v2


def actor_config(anvil: AnvilProcess, settings: Settings) -> dict[str, Any]:
    return {
        "subject_prefix": settings.subject_prefix,
        "chains": {CHAIN_ID: {"name": "arbitrum", "rpc_url": anvil.rpc_url}},
        "market_poll_interval_s": 0.1,
    }


@pytest.fixture
async def venues(
    ray_cluster: None,
    anvil: AnvilProcess,
    isolated_settings: Settings,
    stream: EventStream,
    sushi: UniswapV2Adapter,
) -> AsyncIterator[dict[str, Any]]:
    """Both venue adapter actors of the chain, as `sep up` starts them (`market_venues`)."""
    config = actor_config(anvil, isolated_settings)
    names = market_venues(Settings(**config))
    assert names == [(CHAIN_ID, "uniswap_v3"), (CHAIN_ID, VENUE)]
    handles = {
        venue: VenueAdapterActor.options(name=venue_actor_name(chain_id, venue)).remote(
            chain_id, venue, config
        )
        for chain_id, venue in names
    }
    assert all(await asyncio.gather(*(h.ready.remote() for h in handles.values())))
    yield handles
    for handle in handles.values():
        await handle.stop.remote()
        ray.kill(handle)


async def chain_quotes(adapter: UniswapV2Adapter | UniswapV3Adapter, block: int) -> Quotes:
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    await sync_engine(adapter, registry, block=block)
    return quotes(registry)


async def test_the_v2_actor_publishes_reserves_and_a_feed_follows_a_swap(
    venues: dict[str, Any],
    sushi: UniswapV2Adapter,
    sender: TransactionSender,
    tokens: dict[str, str],
    isolated_settings: Settings,
) -> None:
    actor = venues[VENUE]
    snapshot = await actor.snapshot.remote()
    assert snapshot.venue == VENUE and snapshot.full and len(snapshot.pools) == 5
    assert {record.kind for record in snapshot.pools} == {PoolKind.V2}
    for record in snapshot.pools:
        state = record.state(VENUE)
        assert state == await sushi.pool_state(state.info, snapshot.block_number)

    stop = asyncio.Event()
    following = await follow(actor, isolated_settings, stop, VENUE)
    try:
        start = following.feed.block
        assert start is not None
        before = await chain_quotes(sushi, start)
        assert quotes(following.feed.registry) == before and len(before) == 5

        weth, usdc, me = tokens["WETH"], tokens["USDC"], sender.address
        quoted = (await amounts_out(sushi, 10**18, [weth, usdc]))[-1]
        order = SwapOrder(Route((weth, usdc)), 10**18, min_amount_out(quoted, Decimal("0.005")),
                          me, deadline_from_window(300_000))  # fmt: skip
        requests = await actor.build_swap_tx.remote(order, me, "v2-feed")
        assert requests == await sushi.build_swap_tx(order, me, "v2-feed")
        outcomes = await send(sushi, order, sender, "v2-feed")
        receipt = outcomes[-1].receipt
        assert receipt is not None
        block = int(receipt["blockNumber"])

        await following.reached(block)
        after = await chain_quotes(sushi, block)
        assert following.feed.block == block and quotes(following.feed.registry) == after
        assert after != before  # the swap moved a pair (its Sync log), and the feed saw it
    finally:
        stop.set()
        if following.task is not None:
            await following.task


async def test_one_engine_follows_both_venues_of_the_chain(
    venues: dict[str, Any],
    sushi: UniswapV2Adapter,
    uniswap: UniswapV3Adapter,
    isolated_settings: Settings,
) -> None:
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    sources = {venue: VenueActorRef(CHAIN_ID, venue) for venue in venues}
    followed = await follow_venues(
        registry, sources, nats_url=isolated_settings.nats_url,
        subject_prefix=isolated_settings.subject_prefix, chain_id=CHAIN_ID,
    )  # fmt: skip
    try:
        by_venue: dict[str, set[str]] = {}
        for pool_id, meta in registry.pools.items():
            by_venue.setdefault(meta.venue, set()).add(pool_id)
        assert by_venue[VENUE] == {p.address for p in await sushi.pools()}
        assert by_venue["uniswap_v3"] == {p.address for p in await uniswap.discover_pools()}
        assert [f.feed.venue for f in followed] == ["uniswap_v3", VENUE]
    finally:
        await asyncio.gather(*(f.close() for f in followed))
