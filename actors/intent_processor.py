"""`IntentProcessorActor`: one of a pool of N sharing the durable consumer `intent-processor`
on `<prefix>.IntentSubmitted`. Each fetched batch is worked highest priority first; a plan
goes to the execution actor of the intent's (chain, wallet) (`executor_name`; none there: the
intent ends `IntentFailed` with `NO_EXECUTOR`); the batch is acked only after every intent
in it was planned and handed off (or ended), so a crash redelivers, never loses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import ray

from actors import metrics
from actors.background import BackgroundStart
from actors.wiring import NAMESPACE, PLANNER_NAME, executor_name, venue_adapter
from platform_core import logs
from platform_core.config import Settings
from platform_core.execution.cancels import CancelRequests
from platform_core.execution.planning_service import PlanResult
from platform_core.intent.decomposer import Portfolio
from platform_core.intent.processor import Handoff, IntentProcessor
from platform_core.state.event_store import EventStore
from platform_core.streaming.event_stream import ConsumerSettings, EventStream, is_transient
from platform_core.types.events import EventEnvelope, IntentSubmitted
from platform_core.types.intent import Intent

log = logging.getLogger(__name__)

DURABLE = "intent-processor"
# A planner or executor that does not answer within these is treated as away: the intent's
# message is retried (both calls are idempotent), never held by heartbeats forever.
PLAN_TIMEOUT_S = 60.0
SUBMIT_TIMEOUT_S = 60.0


def _transient(exc: BaseException) -> bool:
    """A service away, or an actor restarting (Ray restarts each of ours)."""
    return is_transient(exc) or isinstance(
        exc, ray.exceptions.RayActorError | ray.exceptions.ActorUnavailableError
    )


class _RemotePlanner:
    """The planner actor, called as the processor's `Planner`."""

    def __init__(self) -> None:
        self._handle: Any = None

    async def plan(self, intent: Intent, portfolio: Portfolio) -> PlanResult:
        if self._handle is None:
            self._handle = ray.get_actor(PLANNER_NAME, namespace=NAMESPACE)
        ref = self._handle.plan.remote(intent, dict(portfolio))
        result: PlanResult = await asyncio.wait_for(ref, PLAN_TIMEOUT_S)
        return result


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class IntentProcessorActor:
    def __init__(
        self, index: int, overrides: dict[str, Any] | None = None, concurrency: int = 4
    ) -> None:
        logs.configure(actor=f"intent-processor-{index}")
        self._settings = Settings(**(overrides or {}))
        self._concurrency = concurrency
        self._stop = asyncio.Event()
        self._processor: IntentProcessor | None = None
        self.processed = 0
        self._start = BackgroundStart(self._run())

    async def _run(self) -> None:
        s = self._settings
        adapter = venue_adapter(s)
        store = await EventStore.connect(s.postgres_dsn)
        cancels = CancelRequests.from_url(s.redis_url, prefix=s.redis_key_prefix)
        stream = await EventStream.connect(
            s.nats_url, stream=s.stream_name, subject_prefix=s.subject_prefix
        )

        async def balances(wallet: str, tokens: Sequence[str]) -> Portfolio:
            amounts = await asyncio.gather(*(adapter.balance_of(t, wallet) for t in tokens))
            return dict(zip(tokens, amounts, strict=True))

        processor = IntentProcessor(
            _RemotePlanner(),
            stream,
            store,
            cancels,
            balances,
            s.strategy_wallets,
            venue=adapter.venue,
        )
        self._processor = processor

        async def handle(batch: Sequence[EventEnvelope]) -> None:
            await processor.process_batch(batch, self._hand_off, concurrency=self._concurrency)
            self.processed += len(batch)

        consumer = ConsumerSettings(
            durable=DURABLE,
            filter_subject=f"{s.subject_prefix}.{IntentSubmitted.event_type()}",
            batch=16,
            ack_wait_s=10.0,  # a batch being planned is kept alive by heartbeats
            transient=_transient,
        )
        self._start.started.set()
        try:
            await stream.consume(consumer, handle, store, self._stop)
        finally:
            await stream.close()
            await cancels.close()
            await store.close()
            await adapter.client.close()

    async def _hand_off(self, handoff: Handoff) -> None:
        metrics.observe_stage("plan", handoff.submitted_at, handoff.plan_created.occurred_at)
        name = executor_name(handoff.chain_id, handoff.wallet)
        try:
            executor = ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:  # no actor signs for this wallet on this chain
            assert self._processor is not None
            await self._processor.no_executor(handoff, name)
            return
        await asyncio.wait_for(executor.submit.remote(handoff), SUBMIT_TIMEOUT_S)

    async def ready(self, timeout_s: float = 120.0) -> bool:
        return await self._start.ready(timeout_s)

    async def stats(self) -> dict[str, int]:
        return {"processed": self.processed}

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.shield(self._start.task), timeout=30)
