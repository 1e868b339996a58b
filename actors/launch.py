"""Start the platform's long-lived actors on a running cluster (used by `sep up`).

The state coordinator, the execution planner, `SEP_INTENT_PROCESSORS` intent processors and
one execution actor for the wallet of the configured signing key. Actors are named and
detached, so they outlive this script; `get_if_exists` makes a second run find the running
ones instead of starting more.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import ray

from actors.execution_actor import ExecutionActor
from actors.execution_planner import ExecutionPlannerActor
from actors.intent_processor import IntentProcessorActor
from actors.state_coordinator import ACTOR_NAME, StateCoordinatorActor
from actors.wiring import NAMESPACE, PLANNER_NAME, VENUE, executor_name, processor_name
from platform_core.chain.signer import Signer
from platform_core.config import Settings


def actor_names(settings: Settings) -> list[str]:
    """Every name `start_actors` may use, for teardown."""
    names = [ACTOR_NAME, PLANNER_NAME]
    names += [processor_name(i) for i in range(settings.intent_processors)]
    wallet = signing_wallet(settings)
    if wallet is not None:
        names.append(executor_name(VENUE, wallet))
    return names


def signing_wallet(settings: Settings) -> str | None:
    try:
        return Signer(settings.load_signing_key()).address
    except LookupError:
        return None


def start_actors(settings: Settings, timeout_s: float = 180.0) -> list[str]:
    """Start (or find) every actor, wait until each is ready; what started, for printing."""
    named: list[tuple[str, Any]] = []

    def start(actor_class: Any, name: str, *args: Any) -> None:
        handle = actor_class.options(
            name=name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
        ).remote(*args)
        named.append((name, handle))

    start(StateCoordinatorActor, ACTOR_NAME)
    start(ExecutionPlannerActor, PLANNER_NAME)
    wallet = signing_wallet(settings)
    if wallet is not None:
        start(ExecutionActor, executor_name(VENUE, wallet), VENUE, wallet)
    for index in range(settings.intent_processors):
        start(IntentProcessorActor, processor_name(index), index)
    ray.get([handle.ready.remote() for _, handle in named], timeout=timeout_s)
    lines = [f"actors: {name} ready" for name, _ in named]
    if wallet is None:
        lines.append("actors: no signing key (SEP_SIGNING_KEY): planned intents fail NO_EXECUTOR")
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
