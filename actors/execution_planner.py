"""`ExecutionPlannerActor`: the Rust engine in actor memory, fed by every venue adapter
actor's `PoolStateChanged` messages (`MarketFeed`s), serving plans across the venues to the
intent processors (`PlanningService`). It reads no pool from the chain itself: start the
venue adapter actors first (it waits for them, bounded)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray

import platform_rust
from actors.background import BackgroundStart
from actors.venue_adapter import VenueActorRef
from actors.wiring import market_venues
from platform_core import logs
from platform_core.chain.devnet import load_deployment
from platform_core.config import Settings
from platform_core.execution.planner import ExecutionPlanner
from platform_core.execution.planning_service import PlanningService, PlanResult
from platform_core.intent.decomposer import Portfolio
from platform_core.market.feed import VenuesBlock, follow_venues
from platform_core.market.pool_registry import PoolRegistry
from platform_core.types.intent import Intent

log = logging.getLogger(__name__)


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class ExecutionPlannerActor:
    def __init__(
        self, overrides: dict[str, Any] | None = None, venue_wait_s: float = 120.0
    ) -> None:
        logs.configure(actor="execution-planner")
        self._settings = Settings(**(overrides or {}))
        self._venue_wait_s = venue_wait_s
        self._stop = asyncio.Event()
        self._service: PlanningService | None = None
        self._start = BackgroundStart(self._run())

    async def _run(self) -> None:
        s = self._settings
        chain_id = int(load_deployment(s.deployment_path)["chain_id"])
        registry = PoolRegistry(platform_rust.ExecutionEngine())
        venues = [venue for chain, venue in market_venues(s) if chain == chain_id]
        sources = {venue: VenueActorRef(chain_id, venue, self._venue_wait_s) for venue in venues}
        markets = await follow_venues(
            registry, sources, nats_url=s.nats_url, subject_prefix=s.subject_prefix,
            chain_id=chain_id, snapshot_timeout_s=2 * self._venue_wait_s,
        )  # fmt: skip
        try:
            planner = ExecutionPlanner(registry, chain_id=chain_id, venues=venues)
            block = VenuesBlock([market.feed for market in markets])
            self._service = PlanningService(
                planner, block, slice_interval_ms=s.passive_slice_interval_ms
            )
            log.info("planner: %d pools of %s at block %s", len(registry.pools), venues,
                     block.block)  # fmt: skip
            self._start.started.set()
            await self._stop.wait()
        finally:
            await asyncio.gather(*(market.close() for market in markets), return_exceptions=True)

    async def ready(self, timeout_s: float = 120.0) -> bool:
        return await self._start.ready(timeout_s)

    async def plan(self, intent: Intent, portfolio: Portfolio) -> PlanResult:
        await self._start.wait_started()
        assert self._service is not None
        return await self._service.plan(intent, portfolio)

    async def block(self) -> int | None:
        """The block the engine reflects."""
        return None if self._service is None else self._service.feed.block

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.shield(self._start.task), timeout=30)
