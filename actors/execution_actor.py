"""`ExecutionActor`: one per (chain, wallet), `executor:<chain id>:<wallet>`. It alone numbers
and signs the wallet's transactions on its chain, for every venue there, so nonces never race
between processes; they are pipelined, at most `SEP_MAX_IN_FLIGHT` broadcast and not yet
mined. It runs each hand-off through the `ExecutionOrchestrator` and, on every start, checks
its journal (one per (chain, wallet)) against the chain (a journal that does not match is
logged as an error, and the plans it would run end FAILED with JOURNAL_CHAIN_MISMATCH),
reconciles it and resumes the plans left open."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from uuid import UUID

import ray
from eth_utils import to_checksum_address

from actors import metrics
from actors.background import BackgroundStart
from actors.chain_monitor import ChainMonitorRef
from actors.venue_adapter import VenueActorRef
from actors.wiring import chain_venues, executor_name
from platform_core import logs
from platform_core.chain.journal import Journal, adopt_venue_journal, wallet_journal_path
from platform_core.chain.sender import SenderPolicy, TransactionSender
from platform_core.chain.signer import Signer
from platform_core.config import Settings
from platform_core.execution.cancels import CancelRequests
from platform_core.execution.orchestrator import ExecutionOrchestrator, ExecutionResult
from platform_core.execution.runner import ExecutionRunner, handoffs_from_log
from platform_core.intent.processor import Handoff
from platform_core.state.event_store import EventStore
from platform_core.streaming.event_stream import EventStream

log = logging.getLogger(__name__)


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class ExecutionActor:
    def __init__(self, chain_id: int, wallet: str, overrides: dict[str, Any] | None = None) -> None:
        logs.configure(actor=executor_name(chain_id, wallet))
        self._settings = Settings(**(overrides or {}))
        self.chain_id = chain_id
        self.wallet = to_checksum_address(wallet)
        self._stop = asyncio.Event()
        self._runner: ExecutionRunner | None = None
        self.resumed = 0
        self._start = BackgroundStart(self._run())

    async def _run(self) -> None:
        s = self._settings
        key = s.load_signing_keys().get(self.wallet)
        if key is None:
            raise LookupError(f"no signing key for {self.wallet} (SEP_SIGNING_KEYS and others)")
        signer = Signer(key)
        client, adapters = chain_venues(s, self.chain_id)
        if not adapters:
            await client.close()
            raise LookupError(f"no venue on chain {self.chain_id} in {s.deployment_path}")
        adopted = adopt_venue_journal(s.journal_path, self.chain_id, self.wallet)
        if adopted is not None:
            log.info("executor: took over the per-venue journal %s", adopted)
        journal = Journal(wallet_journal_path(s.journal_path, self.chain_id, self.wallet))
        store = await EventStore.connect(s.postgres_dsn)
        cancels = CancelRequests.from_url(s.redis_url, prefix=s.redis_key_prefix)
        stream = await EventStream.connect(
            s.nats_url, stream=s.stream_name, subject_prefix=s.subject_prefix
        )
        sender = TransactionSender(
            client, signer, journal, chain_id=self.chain_id, policy=SenderPolicy.from_settings(s)
        )
        # Each step is built by its venue's adapter actor, the one reader of that venue.
        builders = [VenueActorRef(self.chain_id, adapter.venue) for adapter in adapters]
        orchestrator = ExecutionOrchestrator(
            builders[0], sender, stream, wallet=signer.address,
            venues={builder.venue: builder for builder in builders},
            front_runs=ChainMonitorRef(self.chain_id),
        )  # fmt: skip
        self._runner = ExecutionRunner(orchestrator, cancels, on_result=self._observe)
        try:
            open_plans = await store.open_plans()
            handoffs = handoffs_from_log(
                open_plans, s.strategy_wallets, chain_id=self.chain_id, wallet=self.wallet
            )
            self.resumed = await self._runner.recover(handoffs)
            log.info("executor: resumed %d open plans", self.resumed)
            self._start.started.set()
            await self._stop.wait()
        finally:
            await self._runner.stop()
            await stream.close()
            await cancels.close()
            await store.close()
            journal.close()
            await client.close()

    @staticmethod
    def _observe(handoff: Handoff, result: ExecutionResult) -> None:
        metrics.observe_execution(handoff, result)

    async def ready(self, timeout_s: float = 120.0) -> bool:
        return await self._start.ready(timeout_s)

    async def submit(self, handoff: Handoff) -> bool:
        """Start the hand-off's plan; False when it runs here already."""
        await self._start.wait_started()
        assert self._runner is not None
        return self._runner.start(handoff)

    async def wait(self, intent_id: UUID) -> str | None:
        """Until the intent's run ends here; its status (None if it never ran here)."""
        assert self._runner is not None
        result = await self._runner.wait(intent_id)
        return None if result is None else result.status.value

    async def included(self, tx_hashes: list[bytes], replaced: str | None = None) -> None:
        """The chain monitor saw a block deciding these hashes' nonces (`replaced`: how one
        of ours was replaced): their receipt waits look now, and settle from the chain."""
        if replaced is not None:
            log.warning("executor: chain monitor: %s", replaced)
        if self._runner is not None:
            for tx_hash in tx_hashes:
                self._runner.orchestrator.sender.included(tx_hash)

    async def stats(self) -> dict[str, Any]:
        running = [] if self._runner is None else sorted(map(str, self._runner.running))
        return {"running": running, "resumed": self.resumed}

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.shield(self._start.task), timeout=30)
