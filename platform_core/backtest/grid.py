"""The backtest grid: which cells run, in which batches, and what the grid's results sum to.

A grid crosses order sizes x sides x styles (AGGRESSIVE, and PASSIVE over windows of minutes
to hours) x start times through the data day x slippage limits. `GRIDS` names the ones a
user picks with `--grid`: `full` for the report, `quick` for tests and smoke runs.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import product
from typing import Any

from platform_core.backtest.cell import Cell, CellResult
from platform_core.backtest.history import (
    USDC_WETH_500,
    USDC_WETH_500_EVENTS,
    USDC_WETH_3000,
    USDC_WETH_3000_EVENTS,
    load_pool_events,
)
from platform_core.backtest.replay import PoolReplay
from platform_core.backtest.simulator import BacktestError, Market
from platform_core.types.intent import ExecutionStyle, IntentType

DATA_DAY = datetime(2024, 1, 5, tzinfo=UTC)  # the day data/history covers
MINUTE_MS = 60_000


@dataclass(frozen=True)
class GridSpec:
    """The axes of a grid; `windows_min` are PASSIVE windows (AGGRESSIVE takes the first
    one of `aggressive_window_min`), `start_hours` are hours of the data day (UTC)."""

    sizes_weth: tuple[Decimal, ...]
    sides: tuple[IntentType, ...] = (IntentType.ACQUIRE, IntentType.DISPOSE)
    passive_windows_min: tuple[int, ...] = (10, 60, 240)
    aggressive_window_min: int = 5
    start_hours: tuple[float, ...] = (1.0, 7.0, 13.0, 19.0)
    slippages: tuple[Decimal, ...] = (Decimal("0.005"), Decimal("0.01"))

    def styles(self) -> list[tuple[ExecutionStyle, int]]:
        """(style, window in minutes) pairs: AGGRESSIVE once, PASSIVE per window."""
        return [(ExecutionStyle.AGGRESSIVE, self.aggressive_window_min)] + [
            (ExecutionStyle.PASSIVE, window) for window in self.passive_windows_min
        ]

    def cells(self) -> list[Cell]:
        axes = product(self.sizes_weth, self.sides, self.styles(), self.start_hours, self.slippages)
        cells = []
        for size, side, (style, window_min), hour, slippage in axes:
            start = DATA_DAY + timedelta(hours=hour)
            if start + timedelta(minutes=window_min) > DATA_DAY + timedelta(days=1):
                raise BacktestError(f"a {window_min} min window from {start} leaves the data")
            cells.append(
                Cell(
                    side=side,
                    size=size,
                    start=start,
                    style=style,
                    window_ms=window_min * MINUTE_MS,
                    max_slippage=slippage,
                )
            )
        return cells


GRIDS: dict[str, GridSpec] = {
    "full": GridSpec(sizes_weth=tuple(Decimal(s) for s in ("1", "10", "100", "500"))),
    "quick": GridSpec(
        sizes_weth=(Decimal("1"), Decimal("50")),
        passive_windows_min=(10,),
        start_hours=(13.0,),
        slippages=(Decimal("0.01"),),
    ),
}


def data_day_market() -> Market:
    """Both USDC/WETH pools of the data day, replayed (WETH the base, the 0.05 % pool the
    reference mid)."""
    return Market(
        [
            PoolReplay(USDC_WETH_500, load_pool_events(USDC_WETH_500_EVENTS)),
            PoolReplay(USDC_WETH_3000, load_pool_events(USDC_WETH_3000_EVENTS)),
        ]
    )


def batches(cells: Sequence[Cell], size: int) -> list[list[Cell]]:
    """`cells` in consecutive batches of at most `size` (one Ray task each)."""
    if size < 1:
        raise BacktestError("a batch holds at least one cell")
    return [list(cells[i : i + size]) for i in range(0, len(cells), size)]


def style_label(cell: Cell) -> str:
    """ "aggressive", or "passive 60 min": a style with its window."""
    if cell.style is ExecutionStyle.AGGRESSIVE:
        return "aggressive"
    return f"passive {cell.window_ms // MINUTE_MS} min"


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(results: Sequence[CellResult], *, wall_s: float, grid: str) -> dict[str, Any]:
    """What the grid sums to: cells per status, and per (style, side, size) the median
    shortfall against the arrival mid and the interval VWAP, fees, gas and fill."""
    groups: dict[tuple[bool, int, str, float], list[CellResult]] = {}
    for result in results:
        cell = result.cell
        passive = cell.style is ExecutionStyle.PASSIVE
        key = (passive, cell.window_ms if passive else 0, cell.side.value, float(cell.size))
        groups.setdefault(key, []).append(result)
    rows = [
        {
            "style": style_label(group[0].cell),
            "side": side,
            "size_weth": size,
            "cells": len(group),
            "completed": sum(r.status.value == "completed" for r in group),
            "median_shortfall_bps": _median(r.shortfall_bps for r in group),
            "median_shortfall_vwap_bps": _median(r.shortfall_vwap_bps for r in group),
            "median_fees_usd": _median(r.fees_usd for r in group),
            "median_gas_usd": _median(r.gas_usd for r in group),
            "median_child_orders": _median(float(r.child_orders) for r in group),
            "median_filled_fraction": _median(r.filled_fraction for r in group),
        }
        for (_, _, side, size), group in sorted(groups.items())
    ]
    return {
        "grid": grid,
        "cells": len(results),
        "wall_s": wall_s,
        "cells_per_s": len(results) / wall_s if wall_s > 0 else None,
        "status": dict(Counter(r.status.value for r in results)),
        "groups": rows,
    }
