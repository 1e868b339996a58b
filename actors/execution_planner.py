"""`ExecutionPlannerActor`: the Rust engine in actor memory, fed by every venue adapter
actor's `PoolStateChanged` messages (`MarketFeed`s), serving plans across the venues to the
intent processors (`PlanningService`). It reads no pool from the chain itself: start the
venue adapter actors first (it waits for them, bounded). Routes are priced net of gas at
the price a transaction pays now (`GasPriceWatch`, read from the node every few seconds),
in wrapped ether, the deployment's gas token."""

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
from platform_core.chain.client import ChainClient
from platform_core.chain.devnet import load_deployment
from platform_core.chain.gas_price import GasPriceWatch
from platform_core.config import Settings
from platform_core.execution.planner import ExecutionPlanner
from platform_core.execution.planning_service import PlanningService, PlanResult
from platform_core.intent.decomposer import Portfolio
from platform_core.market.feed import VenuesBlock, follow_venues
from platform_core.market.pool_registry import PoolRegistry
from platform_core.types.intent import Intent

log = logging.getLogger(__name__)

GAS_PRICE_REFRESH_S = 5.0


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
        deployment = load_deployment(s.deployment_path)
        chain_id = int(deployment["chain_id"])
        gas_token = deployment["tokens"]["WETH"]["address"]  # gas is paid in ether
        registry = PoolRegistry(platform_rust.ExecutionEngine(gas_token=gas_token))
        venues = [venue for chain, venue in market_venues(s) if chain == chain_id]
        sources = {venue: VenueActorRef(chain_id, venue, self._venue_wait_s) for venue in venues}
        markets = await follow_venues(
            registry, sources, nats_url=s.nats_url, subject_prefix=s.subject_prefix,
            chain_id=chain_id, snapshot_timeout_s=2 * self._venue_wait_s,
        )  # fmt: skip
        client = ChainClient(s.chains[chain_id].rpc_url, timeout_s=s.rpc_timeout_s)
        try:
            planner = ExecutionPlanner(registry, chain_id=chain_id, venues=venues)
            gas = GasPriceWatch(client, planner.set_gas_price, interval_s=GAS_PRICE_REFRESH_S)
            await gas.refresh()
            block = VenuesBlock([market.feed for market in markets])
            self._service = PlanningService(
                planner, block, slice_interval_ms=s.passive_slice_interval_ms
            )
            log.info("planner: %d pools of %s at block %s, gas %s wei", len(registry.pools),
                     venues, block.block, gas.last)  # fmt: skip
            self._start.started.set()
            await gas.run(self._stop)
        finally:
            await asyncio.gather(*(market.close() for market in markets), return_exceptions=True)
            await client.close()

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
