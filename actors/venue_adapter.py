"""`VenueAdapterActor`: one per (chain, venue), the only reader of that venue's pools from
the chain, whatever the venue (`uniswap_v3`, `sushiswap_v2`: any `VenueAdapter`). It
polls them with a `MarketWatcher`, publishes each new block's changes (`VenuePublisher`,
`PoolStateChanged` on core NATS), serves snapshots to the feeds that follow it
(`MarketFeed`), and builds swap transactions for the execution actors; its users reach it
through `VenueActorRef`."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import ray
from nats.aio.client import Client as NATS

import platform_rust
from actors.background import BackgroundStart
from actors.wiring import NAMESPACE, venue_actor_name, venue_adapter
from platform_core import logs
from platform_core.chain.sender import TxRequest
from platform_core.config import Settings
from platform_core.errors import ErrorCode, PlatformError
from platform_core.market.adapter import SwapOrder, VenueAdapter
from platform_core.market.changes import (
    PoolStateChanged,
    VenuePublisher,
    connect_nats,
    market_subject,
)
from platform_core.market.pool_registry import PoolRegistry
from platform_core.market.watcher import MarketWatcher, poll

log = logging.getLogger(__name__)


class VenueActorRef:
    """A venue adapter actor by name, found once it exists (it may start after its users):
    a feed's `SnapshotSource` (the planner, the API replicas) and an execution actor's
    `SwapBuilder` for that venue."""

    def __init__(self, chain_id: int, venue: str, wait_s: float = 120.0) -> None:
        self.venue = venue
        self.name = venue_actor_name(chain_id, venue)
        self.wait_s = wait_s
        self._handle: Any = None

    async def snapshot(self) -> PoolStateChanged:
        snapshot: PoolStateChanged = await (await self._actor()).snapshot.remote()
        return snapshot

    async def build_swap_tx(self, order: SwapOrder, owner: str, step_key: str) -> list[TxRequest]:
        built: list[TxRequest] = await (await self._actor()).build_swap_tx.remote(
            order, owner, step_key
        )
        return built

    async def _actor(self) -> Any:
        deadline = time.monotonic() + self.wait_s
        while self._handle is None:
            try:
                self._handle = ray.get_actor(self.name, namespace=NAMESPACE)
            except ValueError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no actor {self.name} after {self.wait_s} s") from None
                await asyncio.sleep(0.2)
        return self._handle


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class VenueAdapterActor:
    def __init__(self, chain_id: int, venue: str, overrides: dict[str, Any] | None = None) -> None:
        logs.configure(actor=venue_actor_name(chain_id, venue))
        self._settings = Settings(**(overrides or {}))
        self._chain_id = chain_id
        self._venue = venue
        self._stop = asyncio.Event()
        self._adapter: VenueAdapter | None = None
        self._publisher: VenuePublisher | None = None
        self._start = BackgroundStart(self._run())

    async def _run(self) -> None:
        adapter = venue_adapter(self._settings, self._venue)
        try:
            if adapter.chain_id != self._chain_id:
                message = f"the deployment is on chain {adapter.chain_id}, not {self._chain_id}"
                raise PlatformError(message, code=ErrorCode.UNSUPPORTED_CHAIN)
            nc = await connect_nats(self._settings.nats_url)
            try:
                await self._serve(adapter, nc)
            finally:
                await nc.close()
        finally:
            await adapter.client.close()

    async def _serve(self, adapter: VenueAdapter, nc: NATS) -> None:
        s = self._settings
        subject = market_subject(s.subject_prefix, self._chain_id, self._venue)

        async def publish(message: PoolStateChanged) -> None:
            await nc.publish(subject, message.to_bytes())

        registry = PoolRegistry(platform_rust.ExecutionEngine())
        watcher = MarketWatcher(adapter, registry, min_interval_s=s.market_poll_interval_s)
        publisher = VenuePublisher(watcher, publish, chain_id=self._chain_id, venue=self._venue)
        first = await publisher.refresh()
        assert first is not None  # the first read always publishes
        log.info("venue: %d pools at block %d on %s", len(first.pools), first.block_number,
                 subject)  # fmt: skip
        self._adapter, self._publisher = adapter, publisher
        self._start.started.set()
        await poll(publisher.refresh_logged, self._stop, s.market_poll_interval_s)

    async def ready(self, timeout_s: float = 120.0) -> bool:
        return await self._start.ready(timeout_s)

    async def snapshot(self) -> PoolStateChanged:
        """Every pool, at the last published block and sequence."""
        await self._start.wait_started()
        assert self._publisher is not None
        return self._publisher.snapshot()

    async def build_swap_tx(self, order: SwapOrder, owner: str, step_key: str) -> list[TxRequest]:
        """The venue's transactions for `order` (an approval first when the allowance is
        short), as `VenueAdapter.build_swap_tx` builds them."""
        await self._start.wait_started()
        assert self._adapter is not None
        return await self._adapter.build_swap_tx(order, owner, step_key)

    async def block(self) -> int | None:
        """The block of the last published message."""
        return None if self._publisher is None else self._publisher.block

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.shield(self._start.task), timeout=30)
