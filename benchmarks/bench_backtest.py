"""The backtest: how fast the history replays, and the grid's wall time on Ray against the
same grid in one process.

Replay: both pools of the data day rebuilt event by event (`PoolReplay`, tick-map inference
included) and every snapshot walked; baseline, same run: only reading the same CSV rows with
the standard library (the floor any replay pays). Grid: `SEP_BENCH_BACKTEST_GRID` (default
`full`) run by `ray_jobs.backtest.run_grid` on a local Ray cluster (every core of the
machine, `DEFAULT_BATCH` cells per task); baseline, same run: the same cells one after
another in this process with `run_cell`.
"""

from __future__ import annotations

import csv
import os
import time

import ray

from benchmarks.report import print_table
from platform_core.backtest.cell import run_cell
from platform_core.backtest.grid import GRIDS, data_day_market
from platform_core.backtest.history import (
    USDC_WETH_500,
    USDC_WETH_500_EVENTS,
    USDC_WETH_3000,
    USDC_WETH_3000_EVENTS,
    load_pool_events,
)
from platform_core.backtest.replay import PoolReplay
from ray_jobs.backtest import DEFAULT_BATCH, run_grid

GRID = os.environ.get("SEP_BENCH_BACKTEST_GRID", "full")
POOLS = ((USDC_WETH_500, USDC_WETH_500_EVENTS), (USDC_WETH_3000, USDC_WETH_3000_EVENTS))
REPEATS = 5


def _replay_events_per_s() -> tuple[float, float]:
    """(events/s replayed, events/s of bare CSV reading), best of REPEATS each."""
    replay_s, read_s, events = [], [], 0
    for _ in range(REPEATS):
        start = time.perf_counter()
        events = 0
        for spec, path in POOLS:
            replay = PoolReplay(spec, load_pool_events(path))
            events += sum(1 for _ in replay.snapshots())
        replay_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        for _, path in POOLS:
            with path.open(newline="") as handle:
                sum(1 for _ in csv.DictReader(handle))
        read_s.append(time.perf_counter() - start)
    return events / min(replay_s), events / min(read_s)


def _one_process(grid: str) -> float:
    start = time.perf_counter()
    market = data_day_market()
    for cell in GRIDS[grid].cells():
        run_cell(cell, market)
    return time.perf_counter() - start


def main() -> None:
    replayed, read = _replay_events_per_s()
    cells = len(GRIDS[GRID].cells())
    sequential_s = _one_process(GRID)
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    try:
        start = time.perf_counter()
        _, summary, _ = run_grid(GRID, DEFAULT_BATCH)
        on_ray_s = time.perf_counter() - start
        cpus = int(ray.cluster_resources().get("CPU", 0))
    finally:
        ray.shutdown()
    print_table(
        f"Backtest: replay of the data day's two pools; grid `{GRID}` ({cells} cells) on Ray "
        f"({cpus} CPUs, {DEFAULT_BATCH} cells per task) vs one process",
        [
            ("replay, events/s (vs reading the CSV rows)", replayed, read, "1/s"),
            ("grid wall time", on_ray_s, sequential_s, "s"),
            ("grid cells/s", cells / on_ray_s, cells / sequential_s, "1/s"),
        ],
    )
    print(f"  grid status: {summary['status']}")


if __name__ == "__main__":
    main()
