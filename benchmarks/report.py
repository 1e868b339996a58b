"""Shared table printing and timing for the benchmarks."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def time_per_call(fn: Callable[[], object], *, min_seconds: float = 1.0) -> list[float]:
    """Per-call wall times in seconds, repeated for at least `min_seconds`."""
    fn()  # warm-up
    samples: list[float] = []
    deadline = time.perf_counter() + min_seconds
    while time.perf_counter() < deadline or len(samples) < 20:
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# Every table printed since the last `take_tables()`: what `make bench` writes as JSON.
_TABLES: list[dict[str, object]] = []


def take_tables() -> list[dict[str, object]]:
    """The tables printed since the last call, as records (and forget them)."""
    taken = list(_TABLES)
    _TABLES.clear()
    return taken


def print_table(title: str, rows: list[tuple[str, float, float, str]]) -> None:
    """rows: (measure, ours, baseline, unit); the ratio is ours / baseline."""
    _TABLES.append(
        {
            "title": title,
            "rows": [
                {"measure": m, "ours": o, "baseline": b, "ratio": o / b if b else None, "unit": u}
                for m, o, b, u in rows
            ],
        }
    )
    print(title)
    print(f"  {'measure':<44} {'ours':>14} {'baseline':>14} {'ratio':>8}  unit")
    for measure, ours, baseline, unit in rows:
        ratio = ours / baseline if baseline else float("nan")
        print(f"  {measure:<44} {ours:>14,.2f} {baseline:>14,.2f} {ratio:>8.2f}  {unit}")


def summary(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) in microseconds."""
    return statistics.median(samples) * 1e6, percentile(samples, 0.99) * 1e6


def write_json(name: str, figures: dict[str, object]) -> Path:
    """Write a benchmark's figures to `.run/bench/<name>.json` (beside the checkout's other
    run files) and return the path."""
    folder = Path(__file__).resolve().parent.parent / ".run" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2, sort_keys=True, default=str) + "\n")
    return path
