"""`StateCoordinatorActor`: the Ray shell around `StateCoordinator`.

It consumes every event from the durable consumer `state-coordinator`, persists it, updates
Redis (the read model, then the reservations of intents that ended), then acks. With
`max_restarts=-1` Ray brings it back after a crash; the durable consumer resumes where the
last ack left off, and the idempotent stores absorb redelivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import ray

from actors import metrics
from actors.background import BackgroundStart
from platform_core import logs
from platform_core.config import Settings
from platform_core.intent.ledger import ReservationLedger
from platform_core.state.coordinator import StateCoordinator
from platform_core.state.event_store import EventStore
from platform_core.state.read_model import ReadModel
from platform_core.streaming.event_stream import ConsumerSettings, EventStream
from platform_core.types import EventEnvelope

log = logging.getLogger(__name__)

ACTOR_NAME = "state-coordinator"
DURABLE = "state-coordinator"
REDIS_CHECK_S = 1.0


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class StateCoordinatorActor:
    def __init__(self, overrides: dict[str, Any] | None = None, ack_wait_s: float = 10.0) -> None:
        logs.configure(actor=ACTOR_NAME)
        self._settings = Settings(**(overrides or {}))
        self._consumer = ConsumerSettings(durable=DURABLE, ack_wait_s=ack_wait_s)
        self._stop = asyncio.Event()
        self._coordinator: StateCoordinator | None = None
        self._start = BackgroundStart(self._run())

    async def ready(self, timeout_s: float = 60.0) -> bool:
        """Wait until connected and consuming; raise what stopped it, if anything did."""
        return await self._start.ready(timeout_s)

    async def _run(self) -> None:
        s = self._settings
        store = await EventStore.connect(s.postgres_dsn)
        read_model = ReadModel.from_url(s.redis_url, prefix=s.redis_key_prefix)
        ledger = ReservationLedger.from_url(s.redis_url, prefix=s.redis_key_prefix)
        stream = await EventStream.connect(
            s.nats_url, stream=s.stream_name, subject_prefix=s.subject_prefix
        )
        self._coordinator = StateCoordinator(store, read_model, ledger)
        await self._coordinator.restore_if_lost()
        watch = asyncio.create_task(self._watch_redis(self._coordinator))
        self._start.started.set()
        try:
            await stream.consume(self._consumer, self._handle, store, self._stop)
        finally:
            watch.cancel()
            await stream.close()
            await ledger.close()
            await read_model.close()
            await store.close()

    async def _watch_redis(self, coordinator: StateCoordinator) -> None:
        """Notice a Redis that lost its data while no events flow (gates refuse until the
        ledger is rebuilt, so none may)."""
        while not self._stop.is_set():
            await asyncio.sleep(REDIS_CHECK_S)
            try:
                if (count := await coordinator.restore_if_lost()) is not None:
                    log.warning("Redis had lost the read model: %d intents rebuilt", count)
            except Exception as exc:  # Redis or PostgreSQL away: try again next time
                log.warning("read model check failed: %s", type(exc).__name__)

    async def _handle(self, batch: Sequence[EventEnvelope]) -> None:
        assert self._coordinator is not None
        await self._coordinator.handle(batch)
        metrics.count_statuses(batch)  # after the write: a retried batch is not counted twice

    async def stats(self) -> dict[str, float]:
        if self._start.task.done():
            self._start.task.result()
        return self._coordinator.stats.snapshot() if self._coordinator else {}

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(self._start.task, timeout=30)

    def pid(self) -> int:
        import os

        return os.getpid()
