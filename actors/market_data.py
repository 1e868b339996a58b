"""`MarketDataActor`: one per chain (`market-data:<chain id>`), the consolidated market.

It follows every venue adapter actor of its chain (`follow_venues`: one `follow_market`
per venue, one engine for all of them), and on each new block rebuilds the books of the
pairs whose pools moved, across venues and fee tiers, into the Redis read model the API's
`GET /markets/{chain_id}/{base}/{quote}/book` reads (`platform_core/market/book_store.py`).
It holds nothing that must survive it: a restart takes snapshots and writes every book."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray
import redis.asyncio as aioredis

import platform_rust
from actors.background import BackgroundStart
from actors.venue_adapter import VenueActorRef
from actors.wiring import market_data_name, market_venues
from platform_core import logs
from platform_core.chain.devnet import load_deployment
from platform_core.config import Settings
from platform_core.market.book_store import BookKeeper, BookStore, MovedPools, deployment_tokens
from platform_core.market.feed import FollowedMarket, follow_venues

log = logging.getLogger(__name__)


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class MarketDataActor:
    def __init__(
        self, chain_id: int, overrides: dict[str, Any] | None = None, venue_wait_s: float = 120.0
    ) -> None:
        logs.configure(actor=market_data_name(chain_id))
        self._settings = Settings(**(overrides or {}))
        self._chain_id = chain_id
        self._venue_wait_s = venue_wait_s
        self._stop = asyncio.Event()
        self._keeper: BookKeeper | None = None
        self._start = BackgroundStart(self._run())

    async def _run(self) -> None:
        s, chain_id = self._settings, self._chain_id
        client = aioredis.from_url(s.redis_url, decode_responses=True)
        registry = MovedPools(platform_rust.ExecutionEngine())
        keeper = BookKeeper(
            registry, deployment_tokens(load_deployment(s.deployment_path)),
            BookStore(client, prefix=s.redis_key_prefix), chain_id=chain_id,
            debounce_s=s.book_debounce_s, pool_levels=s.book_pool_levels,
            max_impact_bps=s.book_max_impact_bps, price_step_bps=s.book_price_step_bps,
        )  # fmt: skip
        followed: list[FollowedMarket] = []
        try:
            venues = [v for c, v in market_venues(s) if c == chain_id]
            followed = await follow_venues(
                registry, {v: VenueActorRef(chain_id, v, self._venue_wait_s) for v in venues},
                nats_url=s.nats_url, subject_prefix=s.subject_prefix, chain_id=chain_id,
                on_head=[keeper.on_head], snapshot_timeout_s=2 * self._venue_wait_s,
            )  # fmt: skip
            for market in followed:
                if market.feed.block is not None:
                    await keeper.on_head(market.feed.block)
            try:
                await keeper.publish()
            except Exception as exc:  # Redis down: `run` writes them once it is back
                log.warning("market data: first write failed (%r)", exc)
            log.info("market data: %d pools, books at block %s", len(registry.pools),
                     keeper.written)  # fmt: skip
            self._keeper = keeper
            self._start.started.set()
            await keeper.run(self._stop)
        finally:
            for market in followed:
                await market.close()
            await client.aclose()

    async def ready(self, timeout_s: float = 120.0) -> bool:
        return await self._start.ready(timeout_s)

    async def block(self) -> int | None:
        """The block of the books last written."""
        return None if self._keeper is None else self._keeper.written

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.shield(self._start.task), timeout=30)
