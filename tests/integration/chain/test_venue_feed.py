"""One market state on a private devnet, real NATS and Ray: the venue adapter actor reads
the pools and publishes each new block; a `MarketFeed` in this process follows it. After a
swap (built by the actor), the fed engine quotes exactly as one synced from the chain at
the same block, `on_head` saw the swap's block, a feed started late gets the same state
from a snapshot, a restarted actor is followed, and the events stream holds no market
message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import ray

import platform_rust
from actors.venue_adapter import VenueAdapterActor
from actors.wiring import venue_actor_name
from platform_core.chain.devnet import AnvilProcess
from platform_core.chain.journal import StepState
from platform_core.chain.sender import TransactionSender
from platform_core.config import Settings
from platform_core.market.adapter import Route, SwapOrder, deadline_from_window, min_amount_out
from platform_core.market.changes import PoolStateChanged, connect_nats, market_subject
from platform_core.market.engine_sync import sync_engine
from platform_core.market.feed import MarketFeed, subscribe
from platform_core.market.pool_registry import PoolRegistry
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from platform_core.streaming.event_stream import EventStream
from tests.integration.chain.conftest import CHAIN_ID
from tests.integration.chain.quoter import quoted_out

VENUE = "uniswap_v3"


class ActorSnapshots:
    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def snapshot(self) -> PoolStateChanged:
        snapshot: PoolStateChanged = await self.handle.snapshot.remote()
        return snapshot


class Following:
    """A feed in this process, subscribed, synced and running; `heads` is what `on_head`
    was called with, `reached(block)` waits (bounded) until the engine reflects it."""

    def __init__(self, feed: MarketFeed) -> None:
        self.feed = feed
        self.heads: list[int] = []
        self.task: asyncio.Task[None] | None = None
        self._moved = asyncio.Condition()
        feed.on_head(self._on_head)

    async def _on_head(self, block: int) -> None:
        async with self._moved:
            self.heads.append(block)
            self._moved.notify_all()

    async def reached(self, block: int, timeout_s: float = 30.0) -> None:
        async with self._moved:
            await asyncio.wait_for(self._moved.wait_for(lambda: block in self.heads), timeout_s)


@pytest.fixture
async def venue(
    ray_cluster: None, anvil: AnvilProcess, isolated_settings: Settings, stream: EventStream
) -> AsyncIterator[Any]:
    """The venue adapter actor, started after the test's events stream exists."""
    config = {
        "subject_prefix": isolated_settings.subject_prefix,
        "chains": {CHAIN_ID: {"name": "arbitrum", "rpc_url": anvil.rpc_url}},
        "market_poll_interval_s": 0.1,
    }
    handle = VenueAdapterActor.options(name=venue_actor_name(CHAIN_ID, VENUE)).remote(
        CHAIN_ID, VENUE, config
    )
    assert await handle.ready.remote()
    yield handle
    await handle.stop.remote()
    ray.kill(handle)


async def follow(
    venue: Any, settings: Settings, stop: asyncio.Event, name: str = VENUE
) -> Following:
    """A feed following the venue adapter actor `venue` (of venue `name`) into an engine."""
    nc = await connect_nats(settings.nats_url)
    feed = MarketFeed(PoolRegistry(platform_rust.ExecutionEngine()), ActorSnapshots(venue),
                      chain_id=CHAIN_ID, venue=name)  # fmt: skip
    following = Following(feed)
    await subscribe(nc, market_subject(settings.subject_prefix, CHAIN_ID, name), feed)
    await feed.sync()

    async def run() -> None:
        try:
            await feed.run(stop)
        finally:
            await nc.close()

    following.task = asyncio.get_running_loop().create_task(run())
    return following


Quotes = dict[str, tuple[int | None, ...]]


def quote(registry: PoolRegistry, pool: str, token: str, amount: int) -> int | None:
    try:
        return registry.engine.quote([pool], token, amount)
    except ValueError:  # more than the pool holds
        return None


def quotes(registry: PoolRegistry) -> Quotes:
    """Every pool's outputs, both ways, for amounts that matter to 6- and 18-decimal tokens."""
    return {
        pool: tuple(quote(registry, pool, token, amount) for token in (meta.token0, meta.token1)
                    for amount in (10**6, 10**15))
        for pool, meta in registry.pools.items()
    }  # fmt: skip


async def chain_quotes(uniswap: UniswapV3Adapter, block: int) -> Quotes:
    """`quotes` on an engine synced directly from the chain at `block`."""
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    await sync_engine(uniswap, registry, block=block)
    return quotes(registry)


async def swap_through_the_actor(
    venue: Any, uniswap: UniswapV3Adapter, sender: TransactionSender, tokens: dict[str, str],
    key: str,
) -> int:  # fmt: skip
    """Swap 1 WETH for USDC with the transactions the actor builds; the swap's block."""
    route = Route((tokens["WETH"], tokens["USDC"]), (500,))
    quoted = await quoted_out(uniswap, route, 10**18)
    order = SwapOrder(route, 10**18, min_amount_out(quoted, Decimal("0.005")), sender.address,
                      deadline_from_window(300_000))  # fmt: skip
    requests = await venue.build_swap_tx.remote(order, sender.address, key)
    assert requests == await uniswap.build_swap_tx(order, sender.address, key)
    outcomes = [await sender.execute(request) for request in requests]
    assert [o.state for o in outcomes] == [StepState.CONFIRMED] * len(outcomes)
    receipt = outcomes[-1].receipt
    assert receipt is not None
    return int(receipt["blockNumber"])


async def test_feeds_follow_the_venue_actor_through_swaps_and_a_restart(
    venue: Any,
    uniswap: UniswapV3Adapter,
    sender: TransactionSender,
    tokens: dict[str, str],
    isolated_settings: Settings,
) -> None:
    stop = asyncio.Event()
    feeds: list[Following] = []
    try:
        early = await follow(venue, isolated_settings, stop)
        feeds.append(early)
        start = early.feed.block
        assert start is not None and start == await venue.block.remote()
        before = await chain_quotes(uniswap, start)
        assert quotes(early.feed.registry) == before and len(before) >= 8

        block = await swap_through_the_actor(venue, uniswap, sender, tokens, "feed-1")
        await early.reached(block)
        after = await chain_quotes(uniswap, block)
        assert early.feed.block == block and quotes(early.feed.registry) == after
        assert after != before  # the swap moved a pool, and the feed saw it

        late = await follow(venue, isolated_settings, stop)  # from a snapshot
        feeds.append(late)
        assert late.feed.block == block and quotes(late.feed.registry) == after
        assert late.feed.position == early.feed.position

        # A restarted actor (a new incarnation) is followed from its first full message.
        first_life = early.feed.position
        assert first_life is not None
        ray.kill(venue, no_restart=False)
        assert await venue.ready.remote()
        for _ in range(200):
            position = early.feed.position
            if position is not None and position.incarnation != first_life.incarnation:
                break
            await asyncio.sleep(0.05)
        assert early.feed.position is not None
        assert early.feed.position.incarnation != first_life.incarnation
        block = await swap_through_the_actor(venue, uniswap, sender, tokens, "feed-2")
        await early.reached(block)
        await late.reached(block)
        moved = await chain_quotes(uniswap, block)
        assert quotes(early.feed.registry) == moved == quotes(late.feed.registry)
    finally:
        stop.set()
        await asyncio.gather(*(f.task for f in feeds if f.task is not None))
    # Market messages went over core NATS only: the events stream holds none of them.
    nc = await connect_nats(isolated_settings.nats_url)
    try:
        info = await nc.jetstream().stream_info(isolated_settings.stream_name)
    finally:
        await nc.close()
    assert info.state.messages == 0
