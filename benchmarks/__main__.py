"""`make bench`: run every `benchmarks/bench_*.py` in turn, each printing its own table.

Each benchmark measures our figure and its baseline in the same run and prints both with
their ratio; the tables it printed are also written to `.run/bench/<name>.json`. Figures are
for reading, not for pass/fail. `bench_burst` (minutes long) runs only when named
(`make burst`).
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

from benchmarks.report import take_tables, write_json

ONLY_WHEN_NAMED = {"bench_burst"}


def main(selected: list[str]) -> int:
    names = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    if selected:
        names = [n for n in names if any(s in n for s in selected)]
    else:
        names = [n for n in names if n not in ONLY_WHEN_NAMED]
    failures = 0
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        try:
            importlib.import_module(f"benchmarks.{name}").main()
        except Exception as exc:  # one broken benchmark must not hide the others
            failures += 1
            print(f"{name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        took = f"{name}: {time.perf_counter() - start:.1f} s"
        tables = take_tables()
        if tables:
            took += f"; figures in {write_json(name, {'tables': tables})}"
        print(f"({took})", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    selection, sys.argv = sys.argv[1:], sys.argv[:1]  # a benchmark's own flags: its defaults
    sys.exit(main(selection))
