"""The intent processor and planner actors on a local Ray cluster, over the real JetStream,
PostgreSQL and Redis and a private devnet: intents waiting in the stream when the processor
starts (more than it can run at once) are planned highest priority first. The planner's
engine is fed by the venue adapter actors, started first as `sep up` starts them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import ray

from actors.execution_planner import ExecutionPlannerActor
from actors.intent_processor import IntentProcessorActor
from actors.venue_adapter import VenueAdapterActor
from actors.wiring import PLANNER_NAME, market_venues, venue_actor_name
from platform_core.chain.devnet import AnvilProcess
from platform_core.config import Settings
from platform_core.streaming.event_stream import EventStream
from platform_core.types import EventEnvelope, Intent, IntentSubmission, IntentSubmitted
from tests.integration.chain.test_orchestrator_devnet import stream_contents

WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
PRIORITIES = (3, 8, 1, 10, 5, 8)


def overrides(settings: Settings, anvil: AnvilProcess, seed_strategy: str) -> dict[str, Any]:
    return {
        "postgres_dsn": settings.postgres_dsn,
        "redis_key_prefix": settings.redis_key_prefix,
        "stream_name": settings.stream_name,
        "subject_prefix": settings.subject_prefix,
        "chains": {42161: {"name": "arbitrum", "rpc_url": anvil.rpc_url}},
        "strategy_wallets": {seed_strategy: WALLET},
    }


async def test_waiting_intents_are_planned_highest_priority_first(
    ray_cluster: None,
    anvil: AnvilProcess,
    stream: EventStream,
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
) -> None:
    # The intents wait in the stream before any processor runs: contention.
    submitted = []
    for priority in PRIORITIES:
        intent = Intent.from_submission(
            IntentSubmission.model_validate(seed_intent), created_at=datetime.now(UTC)
        )
        envelope = EventEnvelope.wrap(
            IntentSubmitted(intent=intent, priority=priority),
            intent_id=intent.id, strategy_id=intent.strategy_id, sequence=0,
        )  # fmt: skip
        await stream.publish(envelope)
        submitted.append(envelope)

    config = overrides(isolated_settings, anvil, seed_intent["strategy_id"])
    venues = [  # every venue's, as `sep up` starts them: the planner follows each
        VenueAdapterActor.options(name=venue_actor_name(chain_id, venue)).remote(
            chain_id, venue, config
        )
        for chain_id, venue in market_venues(Settings(**config))
    ]
    planner = ExecutionPlannerActor.options(name=PLANNER_NAME).remote(config)
    assert len(venues) == 2 and all([await venue.ready.remote() for venue in venues])
    assert await planner.ready.remote()
    # The planner reads no pool itself: its engine is at the blocks the venue actors published.
    blocks = [await venue.block.remote() for venue in venues]
    assert await planner.block.remote() == min(blocks) is not None
    # One intent at a time: the order of the plans is the order of the work.
    processor = IntentProcessorActor.remote(0, config, concurrency=1)
    try:
        assert await processor.ready.remote()
        plans: list[EventEnvelope] = []
        for _ in range(240):
            events = await stream_contents(isolated_settings)
            plans = [e for e in events if e.event_type == "PlanCreated"]
            if len(plans) == len(PRIORITIES):
                break
            await asyncio.sleep(0.25)
        assert len(plans) == len(PRIORITIES)
        priority_of = {e.intent_id: e.event().priority for e in submitted}
        order = [priority_of[e.intent_id] for e in plans]
        assert order == sorted(PRIORITIES, reverse=True)
        # Equal scores keep their arrival order.
        eights = [e.intent_id for e in submitted if priority_of[e.intent_id] == 8]
        assert [e.intent_id for e in plans if priority_of[e.intent_id] == 8] == eights
        # No execution actor signs for the wallet here: each plan ends NO_EXECUTOR, said once.
        failed = [
            e for e in await stream_contents(isolated_settings) if e.event_type == "IntentFailed"
        ]
        assert all("NO_EXECUTOR" in e.event().reason for e in failed)
        # ... appended after the intent's PlanCreated, as its next event.
        created = {e.intent_id: e for e in plans}
        for e in failed:
            assert (e.sequence, e.causation_id) == (3, created[e.intent_id].event_id)
    finally:
        await processor.stop.remote()
        await planner.stop.remote()
        for venue in venues:
            await venue.stop.remote()
        for actor in (processor, planner, *venues):
            ray.kill(actor)
