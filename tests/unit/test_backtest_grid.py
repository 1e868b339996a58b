"""The backtest grid, its batches, its summary and its output folder (without Ray: the job
only fans these out as tasks)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from platform_core.backtest.cell import run_cell
from platform_core.backtest.grid import (
    DATA_DAY,
    GRIDS,
    GridSpec,
    batches,
    data_day_market,
    summarize,
)
from platform_core.backtest.report import write_report
from platform_core.backtest.simulator import BacktestError
from platform_core.types.intent import ExecutionStyle, IntentStatus


def test_the_full_grid_crosses_every_axis_within_the_data_day() -> None:
    spec = GRIDS["full"]
    cells = spec.cells()
    assert len(cells) == (
        len(spec.sizes_weth) * len(spec.sides) * (1 + len(spec.passive_windows_min))
        * len(spec.start_hours) * len(spec.slippages)
    )  # fmt: skip
    assert len(set(cells)) == len(cells)
    assert {c.style for c in cells} == {ExecutionStyle.AGGRESSIVE, ExecutionStyle.PASSIVE}
    for cell in cells:
        assert DATA_DAY <= cell.start
        assert cell.start + timedelta(milliseconds=cell.window_ms) <= DATA_DAY + timedelta(days=1)


def test_a_window_that_leaves_the_data_day_is_refused() -> None:
    with pytest.raises(BacktestError):
        GridSpec(sizes_weth=(Decimal(1),), passive_windows_min=(240,), start_hours=(22.0,)).cells()


def test_batches_keep_every_cell_once_in_order() -> None:
    cells = GRIDS["full"].cells()
    chunks = batches(cells, 7)
    assert [c for chunk in chunks for c in chunk] == cells
    assert max(map(len, chunks)) == 7 and min(map(len, chunks)) >= 1
    with pytest.raises(BacktestError):
        batches(cells, 0)


def test_the_quick_grid_runs_and_its_folder_holds_tables_summary_and_report(
    tmp_path: Path,
) -> None:
    market = data_day_market()
    cells = GRIDS["quick"].cells()
    results = [run_cell(cell, market) for cell in cells]
    summary = summarize(results, wall_s=1.0, grid="quick")
    assert summary["cells"] == len(cells) == sum(summary["status"].values())
    assert sum(row["cells"] for row in summary["groups"]) == len(cells)
    styles = [row["style"] for row in summary["groups"]]
    assert styles == sorted(styles, key=lambda s: s != "aggressive")  # AGGRESSIVE first
    completed = [r for r in results if r.status is IntentStatus.COMPLETED]
    assert completed, "the quick grid's small orders complete"

    write_report(results, summary, market, tmp_path)
    cells_table = pq.read_table(tmp_path / "cells.parquet").to_pylist()
    assert [row["cell"] for row in cells_table] == list(range(len(cells)))
    assert [row["status"] for row in cells_table] == [r.status.value for r in results]
    fills = pq.read_table(tmp_path / "fills.parquet").to_pylist()
    assert len(fills) == sum(len(r.fills) for r in results)
    assert json.loads((tmp_path / "summary.json").read_text())["cells"] == len(cells)
    report = (tmp_path / "report.md").read_text()
    assert report.count("\n| ") == len(summary["groups"]) + 1  # the header and one row each
    for png in ("shortfall_vs_size.png", "price_path.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
