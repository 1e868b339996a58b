"""Events persisted end to end: publish to JetStream -> PostgreSQL log -> Redis view.

Ours: the coordinator as it runs, fetching batches of 128 and writing each batch in one
round trip. Baseline, same run and services: the same pipeline taking one event at a time
(one insert, one read-model update per event). Then the read-model lag (event created ->
view updated) at a steady publish rate below saturation.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Sequence

import asyncpg
import nats
import redis.asyncio as aioredis

from benchmarks.report import percentile, print_table
from platform_core.config import Settings
from platform_core.state.coordinator import StateCoordinator
from platform_core.state.event_store import EventStore
from platform_core.state.read_model import ReadModel
from platform_core.streaming.event_stream import ConsumerSettings, EventStream
from platform_core.types import EventEnvelope, IntentFailed, uuid7

EVENTS = 4000
PACED_RATE = 400  # events/s for the lag measurement
PACED_SECONDS = 5


def _events(count: int) -> list[EventEnvelope]:
    """`count` events over count/4 intents, sequences 0..3 each, interleaved."""
    intents = [(uuid7(), uuid7()) for _ in range(count // 4)]
    return [
        EventEnvelope.wrap(IntentFailed(reason="bench"), intent_id=i, strategy_id=s, sequence=seq)
        for seq in range(4)
        for i, s in intents
    ]


async def _publish_all(stream: EventStream, events: Sequence[EventEnvelope]) -> None:
    for start in range(0, len(events), 256):
        await asyncio.gather(*(stream.publish(e) for e in events[start : start + 256]))


class Pipeline:
    def __init__(self, settings: Settings, batch: int) -> None:
        self.settings = settings
        self.batch = batch

    async def __aenter__(self) -> Pipeline:
        s = self.settings
        self.store = await EventStore.connect(s.postgres_dsn)
        self.read_model = ReadModel.from_url(s.redis_url, prefix=s.redis_key_prefix)
        self.stream = await EventStream.connect(s.nats_url, stream=s.stream_name,
                                                subject_prefix=s.subject_prefix)  # fmt: skip
        self.coordinator = StateCoordinator(self.store, self.read_model)
        self.stop = asyncio.Event()
        consumer = ConsumerSettings(durable=f"bench{self.batch}", batch=self.batch)
        self.task = asyncio.create_task(
            self.stream.consume(consumer, self.coordinator.handle, self.store, self.stop)
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)
        await self.stream.close()
        await self.read_model.close()
        await self.store.close()

    async def wait_stored(self, total: int, timeout_s: float = 300) -> None:
        deadline = time.perf_counter() + timeout_s
        while self.coordinator.stats.events_seen < total:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"only {self.coordinator.stats.events_seen} of {total}")
            await asyncio.sleep(0.01)


async def _throughput(batch: int, events: list[EventEnvelope]) -> float:
    """Events/s from the first publish until every event is in PostgreSQL and Redis."""
    settings = _isolated()
    try:
        async with Pipeline(settings, batch) as pipeline:
            start = time.perf_counter()
            await _publish_all(pipeline.stream, events)
            await pipeline.wait_stored(len(events))
            elapsed = time.perf_counter() - start
            assert await pipeline.store.count() == len(events)
        return len(events) / elapsed
    finally:
        await _drop(settings)


async def _paced_lag() -> list[float]:
    settings = _isolated()
    events = _events(PACED_RATE * PACED_SECONDS)
    try:
        async with Pipeline(settings, 128) as pipeline:
            interval = 1.0 / PACED_RATE
            next_at = time.perf_counter()
            for env in events:
                fresh = env.model_copy(update={"occurred_at": _now()})
                await pipeline.stream.publish(fresh)
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            await pipeline.wait_stored(len(events))
            return list(pipeline.coordinator.stats.lag_s)
    finally:
        await _drop(settings)


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _isolated() -> Settings:
    tag = uuid.uuid4().hex[:10]
    return Settings(
        postgres_dsn=f"postgresql://postgres@127.0.0.1:5432/sep_bench_{tag}",
        redis_key_prefix=f"bench:{tag}:",
        stream_name=f"SEP_BENCH_{tag}",
        subject_prefix=f"b{tag}.events",
    )


async def _drop(settings: Settings) -> None:
    name = settings.postgres_dsn.rsplit("/", 1)[1]
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
    client = aioredis.from_url(settings.redis_url)
    keys = [k async for k in client.scan_iter(match=f"{settings.redis_key_prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    nc = await nats.connect(settings.nats_url)
    await nc.jetstream().delete_stream(settings.stream_name)
    await nc.close()


async def _run() -> None:
    events = _events(EVENTS)
    batched = await _throughput(128, events)
    single = await _throughput(1, _events(EVENTS))
    print_table(
        f"Event backbone, {EVENTS} events end to end (JetStream -> PostgreSQL -> Redis)",
        [("throughput, batched (128) vs one per event", batched, single, "events/s")],
    )
    lags = await _paced_lag()
    print(f"Read-model lag at {PACED_RATE} events/s for {PACED_SECONDS} s "
          f"({len(lags)} events): p50 {statistics.median(lags) * 1e3:.1f} ms, "
          f"p99 {percentile(lags, 0.99) * 1e3:.1f} ms")  # fmt: skip


def main() -> None:
    asyncio.run(_run())


if __name__ == "__main__":
    main()
