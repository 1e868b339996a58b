"""The execution actor's core on a private devnet, publishing to the real JetStream: a run
stopped mid-flight (as a crash stops it) is resumed by a new runner on the same journal,
which reconciles with the chain, signs nothing twice, and publishes each event once. And the
market watcher brings an engine to the chain's head after a swap moved a pool."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import platform_rust
from platform_core.chain.client import ChainClient
from platform_core.chain.journal import Journal
from platform_core.chain.sender import TransactionSender
from platform_core.config import Settings
from platform_core.execution import ExecutionPlanner
from platform_core.execution.orchestrator import ExecutionOrchestrator
from platform_core.execution.runner import ExecutionRunner
from platform_core.intent.processor import Handoff
from platform_core.market.pool_registry import PoolRegistry
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from platform_core.market.watcher import MarketWatcher
from platform_core.streaming.event_stream import EventStream
from platform_core.types.events import EventEnvelope
from platform_core.types.intent import IntentStatus
from tests.integration.chain.conftest import CHAIN_ID, make_sender
from tests.integration.chain.test_orchestrator_devnet import (
    RecordingPublisher,
    approve_router,
    intent_and_plan,
    planned,
    stream_contents,
)
from tests.integration.chain.test_planner_devnet import synced_planner


class NoCancels:
    async def requested(self, intent_ids: Sequence[UUID]) -> set[UUID]:
        return set()


def handoff_for(intent: Any, plan: Any, wallet: str) -> Handoff:
    return Handoff(intent, plan, planned(intent, plan), wallet, "uniswap_v3", 5, intent.created_at)


async def test_a_run_stopped_mid_flight_is_resumed_without_signing_twice(
    uniswap: UniswapV3Adapter,
    client: ChainClient,
    journal: Journal,
    stream: EventStream,
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
) -> None:
    sender = make_sender(client, journal, 1)
    intent, plan = intent_and_plan(await synced_planner(uniswap), seed_intent)
    await approve_router(uniswap, sender, plan)
    nonce_before = await client.nonce(sender.address, "latest")
    handoff = handoff_for(intent, plan, sender.address)

    # The first incarnation: stopped the moment its first transaction is out.
    await client.rpc("evm_setAutomine", [False])  # keep it unmined while the runner "dies"
    publisher = RecordingPublisher(stream)
    first = ExecutionRunner(
        ExecutionOrchestrator(uniswap, sender, publisher, wallet=sender.address), NoCancels()
    )
    assert first.start(handoff)
    await asyncio.wait_for(publisher.submitted.wait(), 60)
    await first.stop()
    await client.rpc("evm_setAutomine", [True])
    await client.rpc("evm_mine", [])

    # The second: a new sender on the same journal, as after an actor restart.
    resumed_sender: TransactionSender = make_sender(client, journal, 1)
    second = ExecutionRunner(
        ExecutionOrchestrator(uniswap, resumed_sender, stream, wallet=sender.address),
        NoCancels(),
    )
    assert await second.recover([handoff]) == 1
    result = await asyncio.wait_for(second.wait(intent.id), 120)

    assert result is not None and result.status is IntentStatus.COMPLETED
    events = await stream_contents(isolated_settings)
    assert len({e.event_id for e in events}) == len(events)  # each published once
    assert [e.sequence for e in events] == list(range(3, 3 + len(events)))
    assert events[0].causation_id == handoff.plan_created.event_id
    kinds = ["ExecutionStepSubmitted", "ExecutionStepConfirmed"] * len(plan.steps)
    assert [e.event_type for e in events] == [*kinds, "ExecutionCompleted"]
    # One transaction per step: the journalled one was followed, not signed again.
    assert await client.nonce(sender.address, "latest") - nonce_before == len(plan.steps)


async def test_the_watcher_reads_only_the_pools_a_swap_moved(
    uniswap: UniswapV3Adapter,
    client: ChainClient,
    journal: Journal,
    seed_intent: dict[str, Any],
) -> None:
    registry = PoolRegistry(platform_rust.ExecutionEngine())
    watcher = MarketWatcher(uniswap, registry, min_interval_s=0.0)
    full = await watcher.refresh()
    assert full.full and full.pools_read == registry.engine.pool_count() >= 8
    assert (await watcher.refresh()).pools_read == 0  # no new block: nothing read

    sender = make_sender(client, journal, 2)
    intent, plan = intent_and_plan(ExecutionPlanner(registry, chain_id=CHAIN_ID), seed_intent)
    orchestrator = ExecutionOrchestrator(
        uniswap, sender, RecordingPublisher(_Sink()), wallet=sender.address
    )
    result = await orchestrator.execute(intent, plan, after=planned(intent, plan))
    assert result.status is IntentStatus.COMPLETED

    moved = {hop.pool_id.lower() for step in plan.steps for hop in step.hops}
    first_hop = plan.steps[0].hops[0]
    quote_before = registry.engine.quote([first_hop.pool_id], first_hop.token_in, 10**9)
    update = await watcher.refresh()
    assert not update.full and update.pools_read == len(moved)
    # What it read is returned, for a venue adapter actor to publish.
    assert {state.info.address.lower() for state in update.states} == moved
    assert {state.block_number for state in update.states} == {update.block}
    assert update.block_hash == "0x" + bytes((await client.get_block(update.block))["hash"]).hex()
    quote_after = registry.engine.quote([first_hop.pool_id], first_hop.token_in, 10**9)
    assert quote_after < quote_before  # the engine saw WETH get dearer in that pool
    chain_state = await uniswap.pool_state(
        next(p for p in await uniswap.pools() if p.address.lower() in moved)
    )
    fresh = PoolRegistry(platform_rust.ExecutionEngine())
    again = MarketWatcher(uniswap, fresh)
    await again.refresh()
    assert watcher.block == again.block == chain_state.block_number
    assert fresh.engine.quote([first_hop.pool_id], first_hop.token_in, 10**9) == quote_after


class _Sink:
    async def publish(self, envelope: EventEnvelope) -> bool:
        return False
