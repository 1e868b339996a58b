"""Start the platform's long-lived actors on a running cluster (used by `sep up`).

Actors are named and detached, so they outlive this script; `get_if_exists` makes a second
run find the running ones instead of starting more.
"""

from __future__ import annotations

import argparse
import sys

import ray

from actors.state_coordinator import ACTOR_NAME, NAMESPACE, StateCoordinatorActor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="the cluster's GCS address, host:port")
    args = parser.parse_args(argv)
    ray.init(address=args.address, namespace=NAMESPACE, logging_level="ERROR",
             log_to_driver=False)  # fmt: skip
    try:
        coordinator = StateCoordinatorActor.options(
            name=ACTOR_NAME, lifetime="detached", get_if_exists=True
        ).remote()
        ray.get(coordinator.ready.remote(), timeout=120)
        print(f"actors: {ACTOR_NAME} consuming")
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
