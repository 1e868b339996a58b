"""`ChainMonitorActor`: one per chain, `chain-monitor:<chain id>`. It follows the chain's new
blocks with a `ChainMonitor` (`platform_core/chain/monitor.py`) over the journals of every
wallet with a key, and reports to each wallet's execution actor: an inclusion (its receipt
wait looks at once) and a replacement (logged; the wait settles the step from the chain).
The orchestrators ask it for a confirmed swap's front-run indicator (`ChainMonitorRef`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import ray

from actors.background import BackgroundStart
from actors.wiring import NAMESPACE, chain_monitor_name, executor_name
from platform_core import logs
from platform_core.chain.journal import wallet_journal_path
from platform_core.chain.monitor import (
    ChainMonitor,
    Inclusion,
    JournalBook,
    MonitorPolicy,
    Replacement,
    RpcChainSource,
)
from platform_core.config import Settings
from platform_core.types.events import FrontRun

log = logging.getLogger(__name__)


class ChainMonitorRef:
    """The chain's monitor actor by name: an orchestrator's `FrontRunSource`."""

    def __init__(self, chain_id: int) -> None:
        self.name = chain_monitor_name(chain_id)

    async def front_run(
        self, tx_hash: bytes, block_number: int, block_hash: bytes, pools: Sequence[str]
    ) -> FrontRun | None:
        try:
            actor = ray.get_actor(self.name, namespace=NAMESPACE)
        except ValueError:  # no monitor runs: no indicator
            return None
        found: FrontRun | None = await actor.front_run.remote(
            tx_hash, block_number, block_hash, list(pools)
        )
        return found


class _ExecutorSink:
    """Reports go to the wallet's execution actor, when it runs."""

    def __init__(self, chain_id: int) -> None:
        self.chain_id = chain_id

    def _executor(self, wallet: str) -> Any:
        try:
            return ray.get_actor(executor_name(self.chain_id, wallet), namespace=NAMESPACE)
        except ValueError:
            return None

    async def included(self, inclusion: Inclusion) -> None:
        executor = self._executor(inclusion.wallet)
        if executor is not None:
            executor.included.remote([inclusion.tx_hash])  # a wake-up: no answer awaited

    async def replaced(self, replacement: Replacement) -> None:
        executor = self._executor(replacement.wallet)
        if executor is not None:
            hashes = [*replacement.replaced, replacement.by]
            executor.included.remote(hashes, replacement.describe())


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class ChainMonitorActor:
    def __init__(self, chain_id: int, overrides: dict[str, Any] | None = None) -> None:
        logs.configure(actor=chain_monitor_name(chain_id))
        self._settings = Settings(**(overrides or {}))
        self._chain_id = chain_id
        self._stop = asyncio.Event()
        self._monitor: ChainMonitor | None = None
        self._start = BackgroundStart(self._run())

    async def _run(self) -> None:
        s = self._settings
        wallets = sorted(s.load_signing_keys())
        journals = {w: wallet_journal_path(s.journal_path, self._chain_id, w) for w in wallets}
        source = RpcChainSource(s.chains[self._chain_id].rpc_url, timeout_s=s.rpc_timeout_s)
        policy = MonitorPolicy(
            poll_interval_s=s.monitor_poll_interval_s, use_websocket=s.monitor_websocket
        )
        self._monitor = ChainMonitor(
            source, JournalBook(journals), _ExecutorSink(self._chain_id), wallets, policy
        )
        try:
            self._start.started.set()
            await self._monitor.run(self._stop)
        finally:
            await source.close()

    async def ready(self, timeout_s: float = 120.0) -> bool:
        return await self._start.ready(timeout_s)

    async def front_run(
        self, tx_hash: bytes, block_number: int, block_hash: bytes, pools: list[str]
    ) -> FrontRun | None:
        await self._start.wait_started()
        assert self._monitor is not None
        return await self._monitor.front_run(tx_hash, block_number, block_hash, pools)

    async def status(self) -> dict[str, Any]:
        """How heads are followed ("websocket" or "polling") and the last block read."""
        monitor = self._monitor
        if monitor is None:
            return {"mode": "starting", "last_block": None}
        return {"mode": monitor.mode, "last_block": monitor.last_block}

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.shield(self._start.task), timeout=30)
