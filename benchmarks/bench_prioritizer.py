"""What batching buys the prioritiser, per intent scored.

Ours: 32 intents scored in one `session.run`. Baseline, same run: the same 32 intents, one
`session.run` each. Both go through `OnnxPrioritizer.score_matrix` (shape checks,
rounding), one thread each.
"""

from __future__ import annotations

import numpy as np

from benchmarks.report import print_table, summary, time_per_call
from platform_core.config import DEFAULT_PRIORITY_MODEL_PATH
from platform_core.intent.prioritizer import FEATURE_NAMES, OnnxPrioritizer

BATCH = 32


def _rows(n: int) -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.column_stack(
        [
            np.exp(rng.uniform(0, np.log(86_400), n)),
            rng.uniform(1, 7.5, n),
            10 ** rng.uniform(-7, 0, n),
            rng.uniform(0, 0.3, n),
            rng.uniform(0, 0.6, n),
            rng.integers(0, 2, n),
            rng.integers(0, 2, n),
        ]
    ).astype(np.float32)


def _core_table() -> None:
    model = OnnxPrioritizer(DEFAULT_PRIORITY_MODEL_PATH, intra_op_threads=1, inter_op_threads=1)
    rows = _rows(BATCH)
    assert rows.shape == (BATCH, len(FEATURE_NAMES))
    singles = [rows[i : i + 1] for i in range(BATCH)]
    # Same answers either way, or the comparison means nothing.
    assert model.score_matrix(rows) == [s for row in singles for s in model.score_matrix(row)]

    def batched() -> None:
        model.score_matrix(rows)

    def one_by_one() -> None:
        for row in singles:
            model.score_matrix(row)

    ours = summary(time_per_call(batched))
    base = summary(time_per_call(one_by_one))
    print_table(
        f"Prioritizer scoring, {BATCH} intents: one batched session.run vs one run per intent",
        [
            (f"p50 per intent (call time / {BATCH})", ours[0] / BATCH, base[0] / BATCH, "µs"),
            (f"p99 per intent (call time / {BATCH})", ours[1] / BATCH, base[1] / BATCH, "µs"),
            (f"p50 wall time for all {BATCH}", ours[0], base[0], "µs"),
            ("throughput (from p50)", BATCH * 1e6 / ours[0], BATCH * 1e6 / base[0], "intents/s"),
        ],
    )


def main() -> None:
    _core_table()


if __name__ == "__main__":
    main()
