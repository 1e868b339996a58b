"""Batch backtest on real history: the entry point `ray job submit` runs.

    ray job submit --address http://127.0.0.1:8265 -- \\
        .venv/bin/python -m ray_jobs.backtest --grid full --out .run/backtest/latest

(`make backtest` runs exactly that against the cluster `make up` started.) The grid's cells
(`platform_core/backtest/grid.py`) run in batches, one Ray task per batch, each through the
platform's own decomposer, planner and orchestrator against the replayed day
(`platform_core/backtest/cell.py`); the replayed market is put in the object store once.
A progress bar (Ray's tqdm) counts cells as their batches finish. The output folder gets
`cells.parquet`, `fills.parquet`, `summary.json` and `report.md` with its PNG plots.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import ray
from ray.experimental.tqdm_ray import tqdm

from platform_core.backtest.cell import Cell, CellResult, run_cell
from platform_core.backtest.grid import GRIDS, batches, data_day_market, summarize
from platform_core.backtest.report import write_report
from platform_core.backtest.simulator import Market

DEFAULT_BATCH = 8


@ray.remote(num_cpus=1, max_retries=2)
def run_batch(cells: list[Cell], market: Market) -> tuple[str, list[CellResult]]:
    """The batch's results, in order, and the node that ran it."""
    node = ray.get_runtime_context().get_node_id()
    return node, [run_cell(cell, market) for cell in cells]


def run_grid(grid: str, batch: int) -> tuple[list[CellResult], dict[str, Any], Market]:
    """Every cell of `grid` on the connected cluster; (results in grid order, summary,
    the market)."""
    started = time.monotonic()
    market = data_day_market()
    cells = GRIDS[grid].cells()
    market_ref = ray.put(market)
    chunks = batches(cells, batch)
    pending = {run_batch.remote(chunk, market_ref): i for i, chunk in enumerate(chunks)}
    done: dict[int, list[CellResult]] = {}
    nodes: dict[str, int] = {}
    bar = tqdm(total=len(cells), desc=f"backtest {grid}")
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        index = pending.pop(ready[0])
        node, results = ray.get(ready[0])
        done[index] = results
        nodes[node] = nodes.get(node, 0) + len(results)
        bar.update(len(results))
    bar.close()
    results = [r for i in range(len(chunks)) for r in done[i]]
    summary = summarize(results, wall_s=time.monotonic() - started, grid=grid)
    summary["cells_per_node"] = nodes
    return results, summary, market


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="full")
    parser.add_argument("--out", type=Path, required=True, help="the output folder")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="cells per Ray task")
    parser.add_argument(
        "--address", default=None, help="Ray address (default: the job's cluster, else local)"
    )
    args = parser.parse_args(argv)
    # Under `ray job submit`, RAY_ADDRESS names the job's cluster; run by hand, a local one.
    ray.init(address=args.address or os.environ.get("RAY_ADDRESS") or "local")
    results, summary, market = run_grid(args.grid, args.batch)
    out = args.out.resolve()
    write_report(results, summary, market, out)
    print(json.dumps({k: summary[k] for k in ("grid", "cells", "wall_s", "status")}))
    print(f"backtest: report in {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
