"""The `StateCoordinatorActor` on a real local Ray cluster: killed mid-stream, restarted by
Ray, and nothing is lost or stored twice."""

from __future__ import annotations

import asyncio

import ray

from actors.state_coordinator import StateCoordinatorActor
from platform_core.config import Settings
from platform_core.state.event_store import EventStore
from platform_core.state.read_model import ReadModel
from platform_core.streaming.event_stream import EventStream
from platform_core.types import IntentStatus
from tests.integration.event_factory import many_lifecycles


def _overrides(settings: Settings) -> dict[str, str]:
    return {
        "postgres_dsn": settings.postgres_dsn,
        "redis_key_prefix": settings.redis_key_prefix,
        "stream_name": settings.stream_name,
        "subject_prefix": settings.subject_prefix,
    }


async def test_killed_coordinator_resumes_without_loss_or_duplicates(
    ray_cluster: None, isolated_settings: Settings
) -> None:
    s = isolated_settings
    actor = StateCoordinatorActor.remote(_overrides(s), ack_wait_s=2.0)
    assert await actor.ready.remote()
    first_pid = await actor.pid.remote()

    stream = await EventStream.connect(s.nats_url, stream=s.stream_name,
                                       subject_prefix=s.subject_prefix)  # fmt: skip
    store = await EventStore.connect(s.postgres_dsn)
    read_model = ReadModel.from_url(s.redis_url, prefix=s.redis_key_prefix)
    events = many_lifecycles(80)
    try:
        half = len(events) // 2
        for env in events[:half]:
            await stream.publish(env)
        # Kill it while it is working through the first half; Ray restarts it.
        ray.kill(actor, no_restart=False)
        for env in events[half:]:
            await stream.publish(env)
        assert await actor.ready.remote()  # the new incarnation, consuming on its own
        assert await actor.pid.remote() != first_pid

        deadline = asyncio.get_running_loop().time() + 90
        while await store.count() < len(events):
            assert asyncio.get_running_loop().time() < deadline, await store.count()
            await asyncio.sleep(0.2)
        await asyncio.sleep(3.0)  # past ack_wait: any redelivery would have landed by now

        stored = [st.envelope.event_id async for st in store.replay()]
        assert len(stored) == len(events) == len(set(stored))
        assert set(stored) == {e.event_id for e in events}
        for env in events[:: len(events) // 10]:
            view = await read_model.get(env.intent_id)
            if view is None or view.status is not IntentStatus.COMPLETED:
                print(
                    "DEBUG",
                    view and view.last_sequence,
                    [e.sequence for e in await store.intent_events(env.intent_id)],
                    await actor.stats.remote(),
                )
            assert view is not None and view.status is IntentStatus.COMPLETED
            assert view.last_sequence == 4
        assert await store.dead_letters() == []
    finally:
        await actor.stop.remote()
        ray.kill(actor, no_restart=True)
        await stream.close()
        await store.close()
        await read_model.close()
