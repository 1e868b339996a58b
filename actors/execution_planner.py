"""`ExecutionPlannerActor`: the Rust engine in actor memory, kept at the chain's head by a
market watcher, serving plans to the intent processors (`PlanningService`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray

import platform_rust
from actors.background import BackgroundStart
from actors.wiring import venue_adapter
from platform_core import logs
from platform_core.config import Settings
from platform_core.execution.planner import ExecutionPlanner
from platform_core.execution.planning_service import PlanningService, PlanResult
from platform_core.execution.pool_registry import PoolRegistry
from platform_core.intent.decomposer import Portfolio
from platform_core.market.watcher import MarketWatcher
from platform_core.types.intent import Intent

log = logging.getLogger(__name__)


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class ExecutionPlannerActor:
    def __init__(self, overrides: dict[str, Any] | None = None) -> None:
        logs.configure(actor="execution-planner")
        self._settings = Settings(**(overrides or {}))
        self._stop = asyncio.Event()
        self._service: PlanningService | None = None
        self._start = BackgroundStart(self._run())

    async def _run(self) -> None:
        s = self._settings
        adapter = venue_adapter(s)
        try:
            registry = PoolRegistry(platform_rust.ExecutionEngine())
            watcher = MarketWatcher(adapter, registry, min_interval_s=s.market_poll_interval_s)
            first = await watcher.refresh()
            planner = ExecutionPlanner(registry, chain_id=adapter.chain_id)
            self._service = PlanningService(
                planner, watcher, slice_interval_ms=s.passive_slice_interval_ms
            )
            log.info("planner: %d pools at block %d", first.pools_read, first.block)
            self._start.started.set()
            await watcher.run(self._stop)
        finally:
            await adapter.client.close()

    async def ready(self, timeout_s: float = 120.0) -> bool:
        return await self._start.ready(timeout_s)

    async def plan(self, intent: Intent, portfolio: Portfolio) -> PlanResult:
        await self._start.wait_started()
        assert self._service is not None
        return await self._service.plan(intent, portfolio)

    async def block(self) -> int | None:
        """The block the engine reflects."""
        return None if self._service is None else self._service.watcher.block

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.shield(self._start.task), timeout=30)
