"""Order-book aggregation: platform_rust against a pure-Python heapq merge, same run.

Run: `python benchmarks/bench_order_books.py`. Prints aggregations per second for ours and
for the baseline, and the ratio (ours / baseline), for a few book shapes.

Both sides do the same work: validate levels, merge the venues' sorted sides (bids
descending, asks ascending), sum sizes per price with a per-venue breakdown, stop at `depth`,
and find crossing venue pairs. Ours is measured three ways: the call alone (levels become
Python objects only when read); the call plus `to_tuples()`, which yields the same
`(price, size, {venue: size})` lists the baseline builds; and the call plus reading every
`BookLevel`'s price, size and venues attributes one by one.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import time
from collections.abc import Callable
from typing import Any

import platform_rust
from platform_rust import aggregate_order_books

Book = dict[str, Any]


def make_books(venues: int, levels: int, seed: int = 7) -> list[Book]:
    """Books around a 2000.00 mid on a 0.01 tick, overlapping so prices collide across venues."""
    rng = random.Random(seed)
    books = []
    for venue in range(venues):
        bid_ticks = sorted(rng.sample(range(1, levels * 3), levels))
        ask_ticks = sorted(rng.sample(range(1, levels * 3), levels))
        books.append(
            {
                "venue": f"venue{venue}",
                "bids": [(round(2000 - t * 0.01, 2), rng.uniform(0.1, 5)) for t in bid_ticks],
                "asks": [(round(2000 + t * 0.01, 2), rng.uniform(0.1, 5)) for t in ask_ticks],
            }
        )
    return books


def python_side(books: list[Book], side: str, depth: int | None) -> list[Any]:
    descending = side == "bids"
    streams = []
    for book in books:
        for price, size in book[side]:
            if not (math.isfinite(price) and price > 0 and math.isfinite(size) and size >= 0):
                raise ValueError(f"bad level {(price, size)} in {book['venue']}")
        # Venue sides arrive sorted best-first; heapq.merge needs one ascending key.
        sign = -1.0 if descending else 1.0
        streams.append([(sign * p, book["venue"], s) for p, s in book[side] if s > 0])
    levels: list[Any] = []
    for key, venue, size in heapq.merge(*streams):
        price = -key if descending else key
        if not levels or levels[-1][0] != price:
            if depth is not None and len(levels) == depth:
                break
            levels.append([price, 0.0, {}])
        level = levels[-1]
        level[1] += size
        level[2][venue] = level[2].get(venue, 0.0) + size
    return levels


def python_aggregate(books: list[Book], depth: int | None) -> dict[str, Any]:
    best_bids = {b["venue"]: max(p for p, s in b["bids"] if s > 0) for b in books if b["bids"]}
    best_asks = {b["venue"]: min(p for p, s in b["asks"] if s > 0) for b in books if b["asks"]}
    crossings = [(b, a) for b, bp in best_bids.items() for a, ap in best_asks.items() if bp >= ap]
    return {
        "bids": python_side(books, "bids", depth),
        "asks": python_side(books, "asks", depth),
        "crossings": crossings,
    }


def ours_attributes(books: list[Book], depth: int | None) -> list[Any]:
    book = aggregate_order_books(books, depth=depth)
    return [(lvl.price, lvl.size, lvl.venues) for lvl in (*book.bids, *book.asks)]


def ours_tuples(books: list[Book], depth: int | None) -> Any:
    return aggregate_order_books(books, depth=depth).to_tuples()


def rate(run: Callable[[], object], min_seconds: float = 0.5) -> float:
    """Best calls per second over batches of runs lasting at least `min_seconds` in total."""
    best, total, calls = float("inf"), 0.0, 0
    while total < min_seconds or calls < 3:
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        best, total, calls = min(best, elapsed), total + elapsed, calls + 1
    return 1.0 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="minimum time per case")
    # Known options only: `python -m benchmarks NAME` leaves its own selectors in argv.
    args, _ = parser.parse_known_args()

    cases = [
        ("5 venues x 200 levels, full", 5, 200, None),
        ("5 venues x 200 levels, depth 20", 5, 200, 20),
        ("20 venues x 500 levels, full", 20, 500, None),
        ("20 venues x 500 levels, depth 50", 20, 500, 50),
        ("3 venues x 20 levels (AMM-ladder size)", 3, 20, None),
    ]
    print(
        f"Order-book aggregation, platform_rust {platform_rust.__version__} "
        f"({platform_rust.build_profile()} build): aggregations per second, best call"
    )
    print(f"  {'measure':<54} {'ours':>10} {'baseline':>10} {'ratio':>8}  unit")
    for name, venues, levels, depth in cases:
        books = make_books(venues, levels)
        expected = python_aggregate(books, depth)
        bids, asks = ours_tuples(books, depth)
        assert [lvl[0] for lvl in bids] == [lvl[0] for lvl in expected["bids"]]
        assert [lvl[2] for lvl in asks] == [lvl[2] for lvl in expected["asks"]]
        baseline = rate(lambda b=books, d=depth: python_aggregate(b, d), args.seconds)
        call_only = rate(lambda b=books, d=depth: aggregate_order_books(b, depth=d), args.seconds)
        tuples = rate(lambda b=books, d=depth: ours_tuples(b, d), args.seconds)
        attributes = rate(lambda b=books, d=depth: ours_attributes(b, d), args.seconds)
        variants = (("call", call_only), ("+to_tuples", tuples), ("+attributes", attributes))
        for variant, ours in variants:
            measure = f"{name}: {variant}"
            ratio = ours / baseline
            print(f"  {measure:<54} {ours:>10,.0f} {baseline:>10,.0f} {ratio:>8.2f}  calls/s")


if __name__ == "__main__":
    main()
