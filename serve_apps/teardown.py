"""Remove what `sep up` put on a running cluster: our Serve application and our named
actors (used by `sep down` when the cluster itself was not ours to stop)."""

from __future__ import annotations

import logging
import sys

import ray
from ray import serve

from actors.launch import actor_names
from actors.wiring import NAMESPACE
from platform_core.config import Settings


def main(address: str, app_name: str) -> int:
    ray.init(address=address, namespace=NAMESPACE, logging_level=logging.ERROR, log_to_driver=False)
    try:
        serve.delete(app_name, _blocking=True)
        for name in actor_names(Settings()):
            try:
                ray.kill(ray.get_actor(name), no_restart=True)
            except ValueError:
                pass  # not running
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
