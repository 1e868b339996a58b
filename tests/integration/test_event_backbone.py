"""Event log, read model, JetStream stream and coordinator on the real services."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis
import redis.exceptions

from platform_core.config import Settings
from platform_core.errors import ErrorCode
from platform_core.intent.aggregate import (
    CauseBroken,
    CauseNotRecorded,
    IntentAggregate,
    SequenceTaken,
)
from platform_core.state.coordinator import StateCoordinator
from platform_core.state.event_store import EventStore, _migration, ensure_database
from platform_core.state.read_model import ReadModel
from platform_core.streaming.event_stream import (
    ConsumerSettings,
    EventStream,
    PermanentEventError,
    PublishFailed,
    is_transient,
)
from platform_core.types import (
    ChildOrder,
    EventEnvelope,
    Intent,
    IntentCancelled,
    IntentDecomposed,
    IntentExpired,
    IntentFailed,
    IntentStatus,
    IntentSubmitted,
    uuid7,
)
from tests.integration.conftest import NatsServer
from tests.integration.event_factory import SEED, USDC, WETH, lifecycle, many_lifecycles


@pytest.fixture
async def store(isolated_settings: Settings) -> AsyncIterator[EventStore]:
    store = await EventStore.connect(isolated_settings.postgres_dsn)
    yield store
    await store.close()


@pytest.fixture
async def read_model(isolated_settings: Settings) -> AsyncIterator[ReadModel]:
    model = ReadModel.from_url(
        isolated_settings.redis_url, prefix=isolated_settings.redis_key_prefix
    )
    yield model
    await model.close()


@contextlib.asynccontextmanager
async def running_coordinator(
    settings: Settings, store: EventStore, read_model: ReadModel, nats_url: str | None = None
) -> AsyncIterator[EventStream]:
    """A coordinator consuming in the background, as the actor runs it; yields its stream."""
    stream = await EventStream.connect(nats_url or settings.nats_url,
                                       stream=settings.stream_name,
                                       subject_prefix=settings.subject_prefix)  # fmt: skip
    stop = asyncio.Event()
    consumer = ConsumerSettings(durable="coord", ack_wait_s=2)
    task = asyncio.create_task(
        stream.consume(consumer, StateCoordinator(store, read_model).handle, store, stop)
    )
    try:
        yield stream
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await stream.close()


async def _wait_for(predicate, timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.1)


# --- event log -------------------------------------------------------------------------


async def test_append_is_idempotent_and_batched(store: EventStore) -> None:
    events = many_lifecycles(20)
    assert len(await store.append(events)) == 100
    assert await store.append(events) == set()  # redelivered: nothing new
    assert await store.append(events[:3] + events[:3]) == set()
    assert await store.count() == 100
    one = events[0].intent_id
    assert [e.sequence for e in await store.intent_events(one)] == [0, 1, 2, 3, 4]
    stored = await store.intent_events(one)
    assert [e.to_bytes() for e in stored] == [e.to_bytes() for e in events if e.intent_id == one]


async def test_replay_is_in_recording_order(store: EventStore) -> None:
    events = many_lifecycles(30)
    for chunk in (events[:70], events[70:]):
        await store.append(chunk)
    replayed = [s async for s in store.replay(page=16)]
    assert [s.envelope.event_id for s in replayed] == [e.event_id for e in events]
    positions = [s.position for s in replayed]
    assert positions == sorted(positions)
    after = await store.events_after(positions[9], limit=5)
    assert [s.position for s in after] == positions[10:15]


async def test_the_database_refuses_update_delete_truncate(
    store: EventStore, isolated_settings: Settings
) -> None:
    await store.append(lifecycle())
    conn = await asyncpg.connect(isolated_settings.postgres_dsn)
    try:
        for statement in ("UPDATE events SET event_type = 'x'", "DELETE FROM events",
                          "TRUNCATE events"):  # fmt: skip
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
    finally:
        await conn.close()
    assert await store.count() == 5


async def test_conflicting_sequence_is_refused_not_dropped(store: EventStore) -> None:
    events = lifecycle()
    await store.append(events)
    impostor = events[1].model_copy(update={"event_id": lifecycle()[1].event_id})
    with pytest.raises(SequenceTaken):
        await store.append([impostor])


def two_writers() -> tuple[list[EventEnvelope], EventEnvelope]:
    """An intent's IntentSubmitted, then two writers continuing after it: one appends
    IntentDecomposed and IntentFailed (sequences 1, 2), the other, from the same (soon
    stale) view, IntentCancelled at sequence 1. Returns ([submitted, first, second], stale)."""
    intent = Intent.model_validate(SEED)
    submitted = IntentAggregate.start(intent).append(IntentSubmitted(intent=intent, priority=5))
    planner = IntentAggregate.after(intent, submitted)
    canceller = IntentAggregate.after(intent, submitted)
    order = ChildOrder(index=0, token_in=USDC, token_out=WETH, amount_in=1)
    first = planner.append(IntentDecomposed(child_orders=[order]))
    second = planner.append(IntentFailed(reason="NO_ROUTE: no pool"))
    stale = canceller.append(IntentCancelled(steps_cancelled=0))
    assert stale.sequence == first.sequence and stale.event_id != first.event_id
    return [submitted, first, second], stale


async def test_a_stale_writer_at_a_taken_sequence_is_refused(store: EventStore) -> None:
    (submitted, first, second), stale = two_writers()
    assert await store.append([submitted, first]) == {submitted.event_id, first.event_id}
    with pytest.raises(SequenceTaken) as refused:
        await store.append([stale])
    assert refused.value.code is ErrorCode.SEQUENCE_TAKEN and not refused.value.retryable
    assert "sequence 1 is taken" in str(refused.value)
    async with store.pool.acquire() as conn:  # a race past the check: the index refuses it
        with pytest.raises(SequenceTaken, match=r"\(intent_id, sequence\)"):
            await store._insert(conn, [stale])
    with pytest.raises(SequenceTaken):  # in a batch: nothing of the batch is stored
        await store.append([second, stale])
    assert await store.append([first]) == set()  # the same event again: redelivery, no error
    assert await store.append([second]) == {second.event_id}
    stored = await store.intent_events(submitted.intent_id)
    assert [e.event_id for e in stored] == [submitted.event_id, first.event_id, second.event_id]


async def test_a_stale_writers_event_after_the_other_writers_final_one_is_refused(
    store: EventStore,
) -> None:
    """Seen in a 10,000-intent chaos run: the stale writer's first event was refused (its
    sequence taken by the other writer's final event), and its next one was stored after
    it. Now the log holds one chain per intent."""
    intent = Intent.model_validate(SEED)
    submitted = IntentAggregate.start(intent).append(IntentSubmitted(intent=intent, priority=5))
    expirer, planner = (IntentAggregate.after(intent, submitted) for _ in range(2))
    expired = expirer.append(IntentExpired(deadline=intent.deadline, steps_completed=0))
    order = ChildOrder(index=0, token_in=USDC, token_out=WETH, amount_in=1)
    decomposed = planner.append(IntentDecomposed(child_orders=[order]))
    failed_later = planner.append(IntentFailed(reason="NO_ROUTE: stale"))
    # Out of order: an event whose predecessor the log does not hold yet can come back.
    with pytest.raises(CauseNotRecorded) as early:
        await store.append([failed_later])
    assert early.value.retryable
    await store.append([submitted, expired])
    with pytest.raises(SequenceTaken):
        await store.append([decomposed])
    with pytest.raises(CauseBroken) as refused:
        await store.append([failed_later])
    assert refused.value.code is ErrorCode.CAUSE_BROKEN and not refused.value.retryable
    stored = await store.intent_events(intent.id)
    assert [e.event_id for e in stored] == [submitted.event_id, expired.event_id]


async def test_the_hypertable_flavour_refuses_a_stale_writer_too(
    isolated_settings: Settings,
) -> None:
    """TimescaleDB is not on this machine: the hypertable flavour's insert runs here on the
    tables it writes (events keyed by (event_id, occurred_at), the event_ids and
    event_sequences side tables), everything but the hypertable conversion itself."""
    await ensure_database(isolated_settings.postgres_dsn)
    pool = await asyncpg.create_pool(isolated_settings.postgres_dsn, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await conn.execute(_migration("001_events.sql"))
            await conn.execute(
                "CREATE TABLE event_ids (event_id UUID PRIMARY KEY);"
                "ALTER TABLE events ADD PRIMARY KEY (event_id, occurred_at);"
            )
            await conn.execute(_migration("004_event_sequences_timescale.sql"))
        store = EventStore(pool, timescale=True)
        (submitted, first, second), stale = two_writers()
        assert await store.append([submitted, first]) == {submitted.event_id, first.event_id}
        with pytest.raises(SequenceTaken) as refused:
            await store.append([second, stale])
        assert refused.value.code is ErrorCode.SEQUENCE_TAKEN
        async with pool.acquire() as conn:  # a race past the check: the side table refuses
            with pytest.raises(SequenceTaken):
                await store._insert(conn, [second, stale])
        assert await store.append([first]) == set()  # redelivery: no error, nothing new
        assert await store.append([second]) == {second.event_id}
        stored = await store.intent_events(submitted.intent_id)
        assert [e.event_id for e in stored] == [submitted.event_id, first.event_id, second.event_id]
    finally:
        await pool.close()


# --- read model -------------------------------------------------------------------------


async def test_apply_twice_or_out_of_order_changes_nothing(
    read_model: ReadModel, store: EventStore
) -> None:
    events = lifecycle()
    await store.append(events)
    assert await read_model.apply(events[:3]) == 1
    view = await read_model.get(events[0].intent_id)
    assert view is not None and view.last_sequence == 2 and view.status is IntentStatus.PROCESSING
    assert await read_model.apply(events[:3]) == 0  # twice
    assert await read_model.apply([events[1]]) == 0  # older after newer
    assert await read_model.get(events[0].intent_id) == view
    # A gap (3 is missing) is filled from the event log.
    assert await read_model.apply([events[4]], source=store) == 1
    done = await read_model.get(events[0].intent_id)
    assert done is not None and done.status is IntentStatus.COMPLETED
    assert done.last_sequence == 4 and done.tx_hashes == (events[2].payload["tx_hash"],)
    assert done.priority == 6 and done.amount_out == 1_500_100_000_000_000_000


async def test_events_past_a_gap_are_stored_and_applied_once_the_gap_fills(
    read_model: ReadModel, store: EventStore
) -> None:
    """3 and 4 come before 1 and 2 (a redelivery): the log takes them only after 1 and 2
    (refused for now, `retryable`, as the coordinator's consumer retries them), and the
    view reaches 4."""
    events = lifecycle()
    await store.append([events[0]])
    with pytest.raises(CauseNotRecorded):
        await store.append([events[3], events[4]])
    for batch in ([events[1], events[2]], [events[3], events[4]]):
        await store.append(batch)
        await read_model.apply(batch, source=store)
    view = await read_model.get(events[0].intent_id)
    assert view is not None and view.last_sequence == 4
    assert view.status is IntentStatus.COMPLETED


async def test_gap_without_source_waits_for_the_missing_event(read_model: ReadModel) -> None:
    events = lifecycle()
    await read_model.apply([events[0], events[2]])
    view = await read_model.get(events[0].intent_id)
    assert view is not None and view.last_sequence == 0
    await read_model.apply([events[1], events[2]])
    view = await read_model.get(events[0].intent_id)
    assert view is not None and view.last_sequence == 2


async def test_flush_and_rebuild_equals_the_live_model(
    read_model: ReadModel, store: EventStore, isolated_settings: Settings
) -> None:
    events = many_lifecycles(25)
    partial = [e for e in events if not (e.sequence == 4 and e.intent_id.int % 3 == 0)]
    await store.append(partial)
    for start in range(0, len(partial), 7):  # live: applied in small batches
        await read_model.apply(partial[start : start + 7], source=store)

    client = aioredis.from_url(isolated_settings.redis_url, decode_responses=True)
    prefix = isolated_settings.redis_key_prefix

    async def snapshot() -> dict[str, object]:
        ours = [k async for k in client.scan_iter(match=f"{prefix}*")]
        keys = sorted(k for k in ours if not k.startswith(f"{prefix}ledger:"))  # read model's
        result: dict[str, object] = {}
        for key in keys:
            kind = await client.type(key)
            if kind == "hash":
                result[key] = await client.hgetall(key)
            else:
                result[key] = await client.zrange(key, 0, -1, withscores=True)
        return result

    try:
        live = await snapshot()
        assert len([k for k in live if ":intent:" in k]) == 25
        await read_model.clear()
        assert await snapshot() == {}
        assert await read_model.rebuild(store) == 25
        assert await snapshot() == live  # field for field
    finally:
        await client.aclose()


# --- stream and coordinator ---------------------------------------------------------------


async def test_published_twice_or_redelivered_is_stored_once(
    isolated_settings: Settings, store: EventStore, read_model: ReadModel
) -> None:
    async with running_coordinator(isolated_settings, store, read_model) as stream:
        events = many_lifecycles(10)
        duplicates = [await stream.publish(e) for e in events]
        assert not any(duplicates)
        assert all([await stream.publish(e) for e in events])  # the server saw them already

        async def all_stored() -> bool:
            return await store.count() == 50

        await _wait_for(all_stored)
        await asyncio.sleep(0.5)
        assert await store.count() == 50
        views = [await read_model.get(e.intent_id) for e in events[:10]]
        assert all(v is not None and v.status is IntentStatus.COMPLETED for v in views)


async def test_malformed_event_is_dead_lettered_and_the_stream_flows(
    isolated_settings: Settings, store: EventStore, read_model: ReadModel
) -> None:
    import nats

    s = isolated_settings
    nc = await nats.connect(s.nats_url)
    async with running_coordinator(s, store, read_model) as stream:
        try:
            good = lifecycle()
            await stream.publish(good[0])
            js = nc.jetstream()
            await js.publish(f"{s.subject_prefix}.IntentSubmitted", b"{not an envelope")
            unknown = good[1].model_copy(update={"event_type": "NoSuchEvent", "event_id": uuid7()})
            await stream.publish(unknown)
            bad_payload = good[1].model_copy(
                update={"payload": {"plan": "nonsense"}, "event_id": uuid7()}
            )
            await js.publish(f"{s.subject_prefix}.PlanCreated", bad_payload.to_bytes(),
                             headers={"Nats-Msg-Id": "bad-payload"})  # fmt: skip
            for env in good[1:]:
                await stream.publish(env)

            async def settled() -> bool:
                return await store.count() == 5 and len(await store.dead_letters()) == 3

            await _wait_for(settled)
        finally:
            await nc.close()
    letters = await store.dead_letters()
    assert any("undecodable" in r["error"] for r in letters)
    assert any("unknown event type" in r["error"] for r in letters)
    assert all(r["data"] for r in letters)
    view = await read_model.get(good[0].intent_id)
    assert view is not None and view.status is IntentStatus.COMPLETED


async def test_the_coordinator_dead_letters_a_stale_writer_with_its_code(
    isolated_settings: Settings, store: EventStore, read_model: ReadModel
) -> None:
    (submitted, first, second), stale = two_writers()
    async with running_coordinator(isolated_settings, store, read_model) as stream:
        for envelope in (submitted, first, stale, second):
            await stream.publish(envelope)

        async def settled() -> bool:
            return await store.count() == 3 and len(await store.dead_letters()) == 1

        await _wait_for(settled)
    (letter,) = await store.dead_letters()
    assert ErrorCode.SEQUENCE_TAKEN in letter["error"] and letter["deliveries"] == 1
    assert letter["message_id"] == str(stale.event_id) and letter["data"] == stale.to_bytes()
    view = await read_model.get(submitted.intent_id)
    assert view is not None and view.status is IntentStatus.FAILED and view.last_sequence == 2


async def test_nats_restart_mid_stream_loses_nothing(
    isolated_settings: Settings, store: EventStore, read_model: ReadModel, own_nats: NatsServer
) -> None:
    events = many_lifecycles(60)
    async with running_coordinator(isolated_settings, store, read_model, own_nats.url) as stream:

        async def publish_all() -> None:
            for env in events:
                await stream.publish(env, timeout_s=2, attempts=100)

        publisher = asyncio.create_task(publish_all())

        async def some_stored() -> bool:
            return await store.count() >= 60

        await _wait_for(some_stored)
        own_nats.stop()  # mid-stream: the publisher and the consumer are both busy
        await asyncio.sleep(1.0)
        own_nats.start()
        await asyncio.wait_for(publisher, 120)

        async def all_stored() -> bool:
            return await store.count() == len(events)

        await _wait_for(all_stored, timeout_s=120)
    stored_ids = {st.envelope.event_id async for st in store.replay()}
    assert stored_ids == {e.event_id for e in events}


# --- failure modes and the API's reads ---------------------------------------------------


async def test_jetstream_off_is_a_clear_error(tmp_path) -> None:
    import subprocess

    from platform_core.services import launcher
    from platform_core.streaming.event_stream import JetStreamUnavailable
    from tests.integration.conftest import free_port, launcher_wait_port

    port = free_port()
    binary = launcher._venv_binary("nats-server")
    assert binary
    proc = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(port)],  # noqa: ASYNC220
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        launcher_wait_port(port)
        with pytest.raises(JetStreamUnavailable, match="-js"):
            await EventStream.connect(f"nats://127.0.0.1:{port}", stream="S", subject_prefix="x")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_api_reads_fall_back_to_the_event_log(
    isolated_settings: Settings, store: EventStore, read_model: ReadModel
) -> None:
    from platform_core.api.backends import ServiceBackends

    events = lifecycle()
    await store.append(events)
    backends = ServiceBackends(isolated_settings)
    try:
        view, source = await backends.intent_view(events[0].intent_id)
        assert source == "event_log"
        assert view is not None and view.status is IntentStatus.COMPLETED
        await read_model.apply(events)
        cached, source = await backends.intent_view(events[0].intent_id)
        assert source == "read_model" and cached == view
        assert [e.event_id for e in await backends.intent_events(events[0].intent_id)] == [
            e.event_id for e in events
        ]
    finally:
        await backends.close()


async def test_strategy_index_lists_newest_first_and_filters(read_model: ReadModel) -> None:
    from platform_core.types import uuid7

    strategy = uuid7()
    lifecycles = [lifecycle(strategy) for _ in range(5)]
    for events in lifecycles[:3]:
        await read_model.apply(events)  # completed
    for events in lifecycles[3:]:
        await read_model.apply(events[:1])  # still pending
    listed = await read_model.list_for_strategy(strategy)
    assert len(listed) == 5
    assert [v.created_at for v in listed] == sorted((v.created_at for v in listed), reverse=True)
    pending = await read_model.list_for_strategy(strategy, status=IntentStatus.PENDING)
    assert {v.intent_id for v in pending} == {str(e[0].intent_id) for e in lifecycles[3:]}
    assert len(await read_model.list_for_strategy(strategy, limit=2)) == 2
    assert await read_model.list_for_strategy(uuid7()) == []


async def test_a_slow_batch_is_kept_by_heartbeats_and_a_dead_consumers_is_redelivered(
    isolated_settings: Settings, store: EventStore
) -> None:
    """Two consumers share one durable, as the intent processors do, with a 1 s ack wait.
    A batch handled for 4 s is not redelivered meanwhile (its consumer says it is still at
    work); the batch of a consumer that dies mid-batch goes to the other after the wait."""
    s = isolated_settings
    stream = await EventStream.connect(s.nats_url, stream=s.stream_name,
                                       subject_prefix=s.subject_prefix)  # fmt: skip
    consumer = ConsumerSettings(durable="pool", batch=4, ack_wait_s=1.0)
    seen: list[tuple[str, str]] = []
    release = asyncio.Event()

    def handler(name: str, work_s: float | None) -> object:
        async def handle(batch: list[EventEnvelope]) -> None:
            seen.extend((name, str(env.event_id)) for env in batch)
            if work_s is None:
                await release.wait()  # never returns on its own: killed mid-batch
            else:
                await asyncio.sleep(work_s)

        return handle

    async def run(name: str, work_s: float | None, stop: asyncio.Event) -> None:
        await stream.consume(consumer, handler(name, work_s), store, stop)  # type: ignore[arg-type]

    try:
        slow_stop, other_stop = asyncio.Event(), asyncio.Event()
        slow = asyncio.create_task(run("slow", 4.0, slow_stop))
        await asyncio.sleep(0.5)
        first = lifecycle()[0]
        await stream.publish(first)
        await _wait_for(lambda: _true(len(seen) == 1), 10)
        other = asyncio.create_task(run("other", 0.0, other_stop))
        await asyncio.sleep(5.0)  # past the batch and four ack waits
        assert seen == [("slow", str(first.event_id))]  # handled once: never redelivered

        slow_stop.set()
        await asyncio.wait_for(slow, 10)
        doomed_stop = asyncio.Event()
        doomed = asyncio.create_task(run("doomed", None, doomed_stop))
        other_stop.set()
        await asyncio.wait_for(other, 10)  # only the doomed consumer fetches now
        second = lifecycle()[0]
        await stream.publish(second)
        await _wait_for(lambda: _true(("doomed", str(second.event_id)) in seen), 10)
        doomed.cancel()  # dies mid-batch: no ack, no heartbeat
        with contextlib.suppress(asyncio.CancelledError):
            await doomed
        rescuer_stop = asyncio.Event()
        rescuer = asyncio.create_task(run("rescuer", 0.0, rescuer_stop))
        await _wait_for(lambda: _true(("rescuer", str(second.event_id)) in seen), 15)
        rescuer_stop.set()
        await asyncio.wait_for(rescuer, 10)
    finally:
        release.set()
        await stream.close()


async def _true(value: bool) -> bool:
    return value


class _SinkAway:
    """The event store as a dead-letter sink that is unreachable for its first `away` calls
    (PostgreSQL restarting), then records for real."""

    def __init__(self, store: EventStore, away: int) -> None:
        self.store, self.away, self.refused = store, away, 0

    async def record_dead_letter(self, **letter: object) -> None:
        if self.refused < self.away:
            self.refused += 1
            raise ConnectionRefusedError(111, "Connect call failed")
        await self.store.record_dead_letter(**letter)  # type: ignore[arg-type]


async def test_an_outage_dead_letters_nothing_and_a_sink_away_ends_no_consumer(
    isolated_settings: Settings, store: EventStore
) -> None:
    """A handler failing because a service is away is retried past `max_deliveries` and
    never dead-lettered; a poison event whose dead letter cannot be recorded (the sink is
    away too) stays on the stream until it can, and the consumer keeps consuming throughout.
    (Before: the sink's error escaped `consume`, and the consumer was gone for good.)"""
    s = isolated_settings
    stream = await EventStream.connect(s.nats_url, stream=s.stream_name,
                                       subject_prefix=s.subject_prefix)  # fmt: skip
    consumer = ConsumerSettings(durable="outage", batch=4, ack_wait_s=2.0, max_deliveries=2,
                                backoff_s=(0.05, 0.1))  # fmt: skip
    outage, poison = lifecycle()[0], lifecycle()[0]
    failures: dict[str, int] = {}
    handled: list[str] = []

    async def handle(batch: list[EventEnvelope]) -> None:
        for env in batch:
            if env.event_id == poison.event_id:
                raise PermanentEventError("never processable")
            if env.event_id == outage.event_id and failures.get("outage", 0) < 6:
                failures["outage"] = failures.get("outage", 0) + 1
                raise ConnectionRefusedError(111, "Connect call failed")  # PostgreSQL away
            handled.append(str(env.event_id))

    sink = _SinkAway(store, away=3)
    stop = asyncio.Event()
    task = asyncio.create_task(stream.consume(consumer, handle, sink, stop))  # type: ignore[arg-type]
    try:
        for env in (outage, poison):
            await stream.publish(env)
        await _wait_for(lambda: _true(str(outage.event_id) in handled), 30)
        await _wait_for(lambda: _true(sink.refused == 3), 30)
        later = lifecycle()[0]
        await stream.publish(later)
        await _wait_for(lambda: _true(str(later.event_id) in handled), 30)

        async def lettered() -> bool:
            return len(await store.dead_letters()) == 1

        await _wait_for(lettered, 30)
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await stream.close()
    assert failures["outage"] == 6 and handled.count(str(outage.event_id)) == 1
    (letter,) = await store.dead_letters()
    assert letter["message_id"] == str(poison.event_id) and "never processable" in letter["error"]


def test_what_counts_as_a_service_away() -> None:
    assert is_transient(ConnectionRefusedError(111, "refused"))
    assert is_transient(asyncpg.exceptions.InternalClientError("lost"))
    assert is_transient(asyncpg.CannotConnectNowError("starting up"))
    assert is_transient(redis.exceptions.ConnectionError("reset"))
    assert is_transient(PublishFailed("no ack"))
    assert not is_transient(asyncpg.UniqueViolationError("dup"))
    assert not is_transient(PermanentEventError("bad"))
    assert not is_transient(ValueError("bug"))
