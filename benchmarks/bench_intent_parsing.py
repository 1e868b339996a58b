"""How much the full schema validation of an intent costs, per submission.

Ours: `IntentSubmission.model_validate_json` (every rule: checksums, precision, ranges).
Baseline, same run: `json.loads` of the same bytes, which checks nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.report import print_table, summary, time_per_call
from platform_core.types import IntentSubmission

SEED = (Path(__file__).parent.parent / "tests" / "fixtures" / "seed_intent.json").read_bytes()


def main() -> None:
    ours = summary(time_per_call(lambda: IntentSubmission.model_validate_json(SEED)))
    base = summary(time_per_call(lambda: json.loads(SEED)))
    print_table(
        "Intent parsing and validation (seed example), per call",
        [
            ("p50 latency", ours[0], base[0], "µs"),
            ("p99 latency", ours[1], base[1], "µs"),
            ("throughput (1/p50)", 1e6 / ours[0], 1e6 / base[0], "intents/s"),
        ],
    )


if __name__ == "__main__":
    main()
