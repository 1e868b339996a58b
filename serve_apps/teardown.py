"""Delete the platform's Serve application from a running cluster (used by `sep down`).

Only our application is deleted: other applications on a shared cluster keep running.
"""

from __future__ import annotations

import sys

import ray
from ray import serve


def main(address: str, app_name: str) -> int:
    ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    try:
        serve.delete(app_name, _blocking=True)
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
