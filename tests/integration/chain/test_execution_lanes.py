"""One execution actor per (chain, wallet), on a local Ray cluster over the real JetStream,
PostgreSQL and Redis and a private devnet: the wallets with a key in `SEP_SIGNING_KEYS` each
get an actor named `executor:<chain id>:<wallet>`, which loads its own key (never an actor
argument) and keeps a journal of its own; each strategy's plan, sent to the actor of its
intent's chain and its wallet, completes there, signed by that wallet, its steps built by
the venue adapter actor."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import ray

from actors.execution_actor import ExecutionActor
from actors.launch import actor_names, execution_lanes
from actors.venue_adapter import VenueAdapterActor
from actors.wiring import VENUE, executor_name, venue_actor_name
from platform_core.chain.devnet import AnvilProcess
from platform_core.chain.journal import Journal, wallet_journal_path
from platform_core.chain.signer import Signer
from platform_core.config import Settings
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from platform_core.streaming.event_stream import EventStream
from tests.integration.chain.conftest import CHAIN_ID, dev_key
from tests.integration.chain.test_execution_runner_devnet import handoff_for
from tests.integration.chain.test_orchestrator_devnet import intent_and_plan, stream_contents
from tests.integration.chain.test_planner_devnet import synced_planner

WALLETS = {UUID(int=5): 5, UUID(int=6): 6}  # strategy -> devnet wallet index


@pytest.fixture(scope="module")
def keyed_cluster() -> Iterator[None]:
    """The wallets' keys in the environment before the module's Ray cluster starts, so its
    workers read them as a deployment's actors do (public devnet keys)."""
    keys = {Signer(dev_key(i)).address: dev_key(i).get_secret_value() for i in WALLETS.values()}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SEP_SIGNING_KEYS", json.dumps(keys))
        env.delenv("SEP_SIGNING_KEY", raising=False)
        yield


def overrides(settings: Settings, anvil: AnvilProcess, journal: Path) -> dict[str, Any]:
    return {
        "postgres_dsn": settings.postgres_dsn,
        "redis_key_prefix": settings.redis_key_prefix,
        "stream_name": settings.stream_name,
        "subject_prefix": settings.subject_prefix,
        "chains": {CHAIN_ID: {"name": "arbitrum", "rpc_url": anvil.rpc_url}},
        "strategy_wallets": {
            str(strategy): Signer(dev_key(i)).address for strategy, i in WALLETS.items()
        },
        "journal_path": str(journal),
    }


async def test_each_wallet_has_its_executor_and_each_strategy_runs_on_its_own(
    keyed_cluster: None,
    ray_cluster: None,
    anvil: AnvilProcess,
    uniswap: UniswapV3Adapter,
    stream: EventStream,
    isolated_settings: Settings,
    seed_intent: dict[str, Any],
    tmp_path: Path,
) -> None:
    config = overrides(isolated_settings, anvil, tmp_path / "journal.sqlite")
    settings = Settings(**config)
    wallets = sorted(settings.strategy_wallets.values())
    assert execution_lanes(settings) == [(CHAIN_ID, wallet) for wallet in wallets]
    names = [executor_name(CHAIN_ID, wallet) for wallet in wallets]
    assert names == [f"executor:42161:{wallet.lower()}" for wallet in wallets]
    assert set(names) <= set(actor_names(settings))
    keys = settings.load_signing_keys().values()  # from the environment, never an argument
    assert all(key.get_secret_value()[2:] not in json.dumps(config) for key in keys)

    venue = VenueAdapterActor.options(name=venue_actor_name(CHAIN_ID, VENUE)).remote(
        CHAIN_ID, VENUE, config
    )
    executors = [
        ExecutionActor.options(name=name).remote(CHAIN_ID, wallet, config)
        for name, wallet in zip(names, wallets, strict=True)
    ]
    try:
        assert await venue.ready.remote()
        assert all(await asyncio.gather(*(e.ready.remote() for e in executors)))
        planner = await synced_planner(uniswap)
        runs = []
        for strategy, wallet in settings.strategy_wallets.items():
            intent, plan = intent_and_plan(planner, {**seed_intent, "strategy_id": str(strategy)})
            handoff = handoff_for(intent, plan, wallet)
            # As the intent processor finds it: by the intent's chain and wallet.
            executor = ray.get_actor(executor_name(handoff.chain_id, handoff.wallet))
            assert await executor.submit.remote(handoff)
            runs.append((intent, wallet, executor))
        for intent, _, executor in runs:
            assert await asyncio.wait_for(executor.wait.remote(intent.id), 120) == "completed"

        events = await stream_contents(isolated_settings)
        for intent, wallet, _ in runs:
            mine = [e for e in events if e.intent_id == intent.id]
            submitted = [e.event() for e in mine if e.event_type == "ExecutionStepSubmitted"]
            assert submitted and all(s.wallet == wallet for s in submitted)  # type: ignore[attr-defined]
            assert mine[-1].event_type == "ExecutionCompleted"
            journal = Journal(wallet_journal_path(tmp_path / "journal.sqlite", CHAIN_ID, wallet))
            try:  # a journal per (chain, wallet), holding that wallet's steps only
                assert journal.senders() == [wallet] and journal.chain() is not None
            finally:
                journal.close()
    finally:
        await asyncio.gather(*(e.stop.remote() for e in executors), return_exceptions=True)
        for actor in [*executors, venue]:
            ray.kill(actor)
