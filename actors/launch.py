"""Start the platform's long-lived actors on a running cluster (used by `sep up`).

One venue adapter actor per (chain, venue) the deployment has (started first: the planner
and the API replicas follow their pool changes), one MarketData actor per chain (the
consolidated books), one ChainMonitor actor per chain (its blocks, for our transactions),
the state coordinator, the execution
planner, `SEP_INTENT_PROCESSORS` intent processors and
one execution actor per (chain, wallet) for every wallet with a key (`SEP_SIGNING_KEYS`,
`SEP_KEYSTORE_DIR`, `SEP_SIGNING_KEY` or `SEP_KEYSTORE_PATH`). Actors are named and
detached, so they outlive this script; `get_if_exists` makes a second run find the running
ones instead of starting more.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import ray

from actors.chain_monitor import ChainMonitorActor
from actors.execution_actor import ExecutionActor
from actors.execution_planner import ExecutionPlannerActor
from actors.intent_processor import IntentProcessorActor
from actors.market_data import MarketDataActor
from actors.state_coordinator import ACTOR_NAME, StateCoordinatorActor
from actors.venue_adapter import VenueAdapterActor
from actors.wiring import (
    NAMESPACE,
    PLANNER_NAME,
    chain_monitor_name,
    execution_chains,
    executor_name,
    market_data_name,
    market_venues,
    processor_name,
    venue_actor_name,
)
from platform_core.config import Settings
from platform_core.errors import PlatformError


def actor_names(settings: Settings) -> list[str]:
    """Every name `start_actors` may use, for teardown."""
    names = [venue_actor_name(chain_id, venue) for chain_id, venue in market_venues(settings)]
    names += [market_data_name(chain_id) for chain_id in execution_chains(settings)]
    names += [chain_monitor_name(chain_id) for chain_id in execution_chains(settings)]
    names += [ACTOR_NAME, PLANNER_NAME]
    names += [processor_name(i) for i in range(settings.intent_processors)]
    try:
        lanes = execution_lanes(settings)
    except PlatformError:  # keys that do not load: no executor could start with them
        lanes = []
    return names + [executor_name(chain_id, wallet) for chain_id, wallet in lanes]


def execution_lanes(settings: Settings) -> list[tuple[int, str]]:
    """One (chain id, wallet) per execution actor: every wallet with a key, on every chain
    the deployment has venues on. Keys that do not load raise `SigningKeyError`."""
    wallets = sorted(settings.load_signing_keys())
    return [(chain_id, wallet) for chain_id in execution_chains(settings) for wallet in wallets]


def start_actors(settings: Settings, timeout_s: float = 180.0) -> list[str]:
    """Start (or find) every actor, wait until each is ready; what started, for printing."""
    named: list[tuple[str, Any]] = []

    def start(actor_class: Any, name: str, *args: Any) -> None:
        handle = actor_class.options(
            name=name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
        ).remote(*args)
        named.append((name, handle))

    for chain_id, venue in market_venues(settings):
        start(VenueAdapterActor, venue_actor_name(chain_id, venue), chain_id, venue)
    for chain_id in execution_chains(settings):
        start(MarketDataActor, market_data_name(chain_id), chain_id)
    for chain_id in execution_chains(settings):  # before the executors it reports to
        start(ChainMonitorActor, chain_monitor_name(chain_id), chain_id)
    start(StateCoordinatorActor, ACTOR_NAME)
    start(ExecutionPlannerActor, PLANNER_NAME)
    lanes = execution_lanes(settings)
    for chain_id, wallet in lanes:
        start(ExecutionActor, executor_name(chain_id, wallet), chain_id, wallet)
    for index in range(settings.intent_processors):
        start(IntentProcessorActor, processor_name(index), index)
    ray.get([handle.ready.remote() for _, handle in named], timeout=timeout_s)
    lines = [f"actors: {name} ready" for name, _ in named]
    if not lanes:
        lines.append("actors: no signing key (SEP_SIGNING_KEYS, SEP_SIGNING_KEY or a keystore)")
    keyed = {wallet for _, wallet in lanes}
    for strategy, wallet in sorted(settings.strategy_wallets.items()):
        if wallet not in keyed:
            lines.append(f"actors: no signing key for {wallet} (strategy {strategy}):"
                         " its planned intents fail NO_EXECUTOR")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="the cluster's GCS address, host:port")
    args = parser.parse_args(argv)
    ray.init(address=args.address, namespace=NAMESPACE, logging_level=logging.ERROR,
             log_to_driver=False)  # fmt: skip
    try:
        for line in start_actors(Settings()):
            print(line)
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
