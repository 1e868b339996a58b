"""What batching buys the prioritiser, per intent scored.

Ours: 32 intents scored in one `session.run` (what the Serve deployment's `@serve.batch`
does under load). Baseline, same run: the same 32 intents, one `session.run` each. Both go
through `OnnxPrioritizer.score_matrix` (shape checks, rounding), one thread each.

With `--serve` (`python benchmarks/bench_prioritizer.py --serve`) it also measures the whole
path through a `DeploymentHandle` on a private local Ray cluster: the deployment batching
up to 32 against the same deployment limited to batches of one, under the same concurrent
load. Off by default: it starts Ray, which takes a while and shares the machine's cores.
On that path Serve's own cost per request (milliseconds) dwarfs the model's (microseconds),
so expect a small, noisy ratio there: batching saves replica CPU, not handle overhead.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time

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


async def _drive(handle: object, rows: list[list[float]], rounds: int) -> float:
    """Seconds per intent with all of `rows` in flight at once, best of `rounds`."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        await asyncio.gather(*(handle.score.remote(r) for r in rows))  # type: ignore[attr-defined]
        best = min(best, (time.perf_counter() - start) / len(rows))
    return best


def _serve_table(concurrent: int = 256, rounds: int = 5) -> None:
    import ray
    from ray import serve

    from serve_apps.prioritizer import Prioritizer

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rows = [[float(v) for v in row] for row in _rows(concurrent)]
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False)  # fmt: skip
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        batched = serve.run(Prioritizer.bind(max_batch_size=BATCH), name="bench-batched",
                            route_prefix=None)  # fmt: skip
        single = serve.run(Prioritizer.bind(max_batch_size=1), name="bench-single",
                           route_prefix=None)  # fmt: skip
        asyncio.run(_drive(batched, rows, 1))  # warm-up
        asyncio.run(_drive(single, rows, 1))
        ours = asyncio.run(_drive(batched, rows, rounds))
        base = asyncio.run(_drive(single, rows, rounds))
    finally:
        serve.shutdown()
        ray.shutdown()
    print_table(
        f"Through the Serve handle, {concurrent} concurrent requests: batches of up to "
        f"{BATCH} vs batches of 1",
        [
            ("time per intent (best round)", ours * 1e6, base * 1e6, "µs"),
            ("throughput", 1 / ours, 1 / base, "intents/s"),
        ],
    )


def main(serve_path: bool = False) -> None:
    _core_table()
    if serve_path:
        _serve_table()


if __name__ == "__main__":
    main(serve_path="--serve" in sys.argv[1:])
