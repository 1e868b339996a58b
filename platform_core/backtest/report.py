"""A backtest's output folder: `cells.parquet` (one row per cell), `fills.parquet` (one row
per confirmed step), `summary.json`, and `report.md` with two PNG plots: shortfall against
size per style, and the price path of the day with the fills of a few cells."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a cluster node

import matplotlib.pyplot as plt
import pyarrow as pa
import pyarrow.parquet as pq

from platform_core.backtest.cell import CellResult
from platform_core.backtest.grid import DATA_DAY, style_label
from platform_core.backtest.simulator import Market
from platform_core.types.intent import ExecutionStyle

SHOWN_CELLS = 4  # fills drawn on the price path


def fill_rows(results: Sequence[CellResult]) -> list[dict[str, Any]]:
    return [
        {
            "cell": index,
            "step": fill.step,
            "block": fill.block,
            "timestamp": fill.timestamp,
            "base": fill.base,
            "quote": fill.quote,
            "price": fill.price,
            "fee_usd": fill.fee_usd,
            "gas_used": fill.gas_used,
        }
        for index, result in enumerate(results)
        for fill in result.fills
    ]


def write_tables(results: Sequence[CellResult], out: Path) -> None:
    cells = [{"cell": i, **result.row()} for i, result in enumerate(results)]
    pq.write_table(pa.Table.from_pylist(cells), out / "cells.parquet")
    pq.write_table(pa.Table.from_pylist(fill_rows(results)), out / "fills.parquet")


def plot_shortfall(results: Sequence[CellResult], path: Path) -> None:
    """Median shortfall against the arrival mid by size, one line per style, per side."""
    sides = sorted({r.cell.side.value for r in results})
    figure, axes = plt.subplots(1, len(sides), figsize=(6 * len(sides), 4.5), squeeze=False)
    for ax, side in zip(axes[0], sides, strict=True):
        by_style: dict[tuple[bool, int, str], dict[float, list[float]]] = {}
        for r in results:
            if r.cell.side.value == side and r.shortfall_bps is not None:
                passive = r.cell.style is ExecutionStyle.PASSIVE
                key = (passive, r.cell.window_ms if passive else 0, style_label(r.cell))
                by_style.setdefault(key, {}).setdefault(float(r.cell.size), []).append(
                    r.shortfall_bps
                )
        for (_, _, style), sizes in sorted(by_style.items()):  # AGGRESSIVE, then by window
            xs = sorted(sizes)
            ax.plot(xs, [statistics.median(sizes[x]) for x in xs], marker="o", label=style)
        ax.set_xscale("log")
        ax.set_xlabel("order size (WETH)")
        ax.set_ylabel("median shortfall vs arrival mid (bps)")
        ax.set_title(side)
        ax.grid(True, alpha=0.3)
        ax.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def shown_cells(results: Sequence[CellResult]) -> list[int]:
    """The cells whose fills the price path shows: the largest filled ones of each style."""
    best: dict[str, int] = {}
    for index, result in enumerate(results):
        if not result.fills:
            continue
        label = f"{style_label(result.cell)} {result.cell.side.value}"
        if label not in best or result.cell.size > results[best[label]].cell.size:
            best[label] = index
    return sorted(best.values(), key=lambda i: -len(results[i].fills))[:SHOWN_CELLS]


def _hours(when: datetime) -> float:
    return (when - DATA_DAY).total_seconds() / 3600


def plot_price_path(results: Sequence[CellResult], market: Market, path: Path) -> None:
    replay = market.pools[market.reference]
    times, prices = [], []
    for _event, snapshot in replay.snapshots():
        times.append(snapshot.timestamp)
        prices.append(market.price(market.reference, snapshot.sqrt_price_x96))
    figure, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot(
        [_hours(t) for t in times], prices, linewidth=0.6, color="0.4", label="pool mid (replayed)"
    )
    for index in shown_cells(results):
        result = results[index]
        label = f"{style_label(result.cell)} {result.cell.side.value} {result.cell.size} WETH"
        ax.scatter(
            [_hours(f.timestamp) for f in result.fills],
            [f.price for f in result.fills],
            s=14,
            label=label,
        )
    ax.set_xlabel(f"hour of {DATA_DAY:%Y-%m-%d} (UTC)")
    ax.set_xlim(0, 24)
    ax.set_ylabel("USDC per WETH")
    ax.set_title("The data day, with the fills of a few cells (incl. fee and impact)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


def markdown(summary: dict[str, Any]) -> str:
    columns = [
        ("style", "style"),
        ("side", "side"),
        ("size_weth", "size (WETH)"),
        ("completed", "completed"),
        ("cells", "cells"),
        ("median_shortfall_bps", "shortfall vs mid (bps)"),
        ("median_shortfall_vwap_bps", "vs VWAP (bps)"),
        ("median_fees_usd", "fees (USD)"),
        ("median_gas_usd", "gas (USD)"),
        ("median_child_orders", "child orders"),
        ("median_filled_fraction", "filled"),
    ]
    lines = [
        "# Backtest report",
        "",
        f"Grid `{summary['grid']}`: {summary['cells']} cells in {summary['wall_s']:.1f} s; "
        f"status {summary['status']}. Medians over start times and slippage limits.",
        "",
        "Each cell runs the platform's decomposer, planner and orchestrator against the day's",
        "replayed USDC/WETH pools (0.05 % and 0.30 %); swaps land one block after they are",
        "sent, gas at the cell's set price (the history has no base fees); shortfall is in bps",
        "against the arrival mid of the 0.05 % pool and against the VWAP of the historical",
        "swaps over the cell's interval, positive when it cost us.",
        "",
        "| " + " | ".join(title for _, title in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in summary["groups"]:
        lines.append("| " + " | ".join(_cell(row[key]) for key, _ in columns) + " |")
    lines += [
        "",
        "![shortfall against size per style](shortfall_vs_size.png)",
        "",
        "![the price path with the fills of a few cells](price_path.png)",
        "",
    ]
    return "\n".join(lines)


def write_report(
    results: Sequence[CellResult], summary: dict[str, Any], market: Market, out: Path
) -> None:
    """Everything in `out` (created if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    write_tables(results, out)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    plot_shortfall(results, out / "shortfall_vs_size.png")
    plot_price_path(results, market, out / "price_path.png")
    (out / "report.md").write_text(markdown(summary))
