"""Planning benchmark on the mainnet snapshot: decompose + plan, beside baselines run here.

  * ACQUIRE sizing (exact output on an exact-input router): our search (reverse estimate,
    proportional bracketing, bisection to 1 ppm) against the textbook one (double from one
    base unit until the output suffices, then bisect to the same 1 ppm), in latency and in
    `optimize_route` calls per sizing.
  * DISPOSE planning: decompose + plan of one child order against the bare
    `optimize_route` call it makes, i.e. what building the plan costs on top of routing
    (mostly the EIP-55 checksums the pydantic types recompute for every address field).

Run: python benchmarks/bench_planner.py
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from benchmarks.report import print_table, summary, time_per_call
from platform_core.execution import ExactOutputSizer, ExecutionPlanner
from platform_core.execution.input_sizing import RELATIVE_TOLERANCE
from platform_core.intent.decomposer import decompose
from tests.unit.pool_graphs import CREATED_AT, make_intent, snapshot_graph

WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
NOW = CREATED_AT + timedelta(seconds=1)


def spec(address: str, symbol: str, decimals: int, **sizing: str) -> dict[str, Any]:
    asset = {"symbol": symbol, "address": address, "decimals": decimals, "chain_id": 42161}
    return {"asset": asset, **sizing}


class CountingSizer(ExactOutputSizer):
    calls = 0

    def output_for(self, token_in: str, token_out: str, amount_in: int) -> int | None:
        type(self).calls += 1
        return super().output_for(token_in, token_out, amount_in)


class DoublingSizer(CountingSizer):
    """The baseline: no estimate, double from one unit, then bisect."""

    def __call__(self, token_in: str, token_out: str, amount_out: int) -> int:
        short, enough = 0, 1
        while (self.output_for(token_in, token_out, enough) or 0) < amount_out:
            short, enough = enough, enough * 2
        while enough - short > max(1, enough // RELATIVE_TOLERANCE):
            middle = (short + enough) // 2
            if (self.output_for(token_in, token_out, middle) or 0) >= amount_out:
                enough = middle
            else:
                short = middle
        return enough


def calls_per_sizing(sizer: CountingSizer, amount_out: int) -> int:
    type(sizer).calls = 0
    sizer(USDC, WETH, amount_out)
    return type(sizer).calls


def main() -> None:
    registry = snapshot_graph()
    engine = registry.engine
    planner = ExecutionPlanner(registry, chain_id=42161)
    v3 = {"allowed_venues": ["uniswap_v3"]}
    ours, baseline = CountingSizer(engine, **v3), DoublingSizer(engine, **v3)
    rows = []
    for weth in (1.5, 200):
        wanted = int(weth * 10**18)
        fast = summary(time_per_call(lambda w=wanted: ours(USDC, WETH, w), min_seconds=0.5))
        slow = summary(time_per_call(lambda w=wanted: baseline(USDC, WETH, w), min_seconds=0.5))
        rows += [
            (f"size {weth} WETH in USDC: p50", fast[0], slow[0], "µs"),
            (f"size {weth} WETH: optimize_route calls", calls_per_sizing(ours, wanted),
             calls_per_sizing(baseline, wanted), "calls"),
        ]  # fmt: skip

    intent = make_intent("dispose", [spec(WETH, "WETH", 18, amount="1.5"), spec(USDC, "USDC", 6)])
    plan = summary(time_per_call(lambda: planner.plan(intent, decompose(intent, {}, NOW), NOW)))
    bare = summary(time_per_call(lambda: engine.optimize_route(WETH, USDC, 15 * 10**17, **v3)))
    rows += [("dispose 1.5 WETH: decompose + plan p50", plan[0], bare[0], "µs")]
    print_table(
        "Planning on the mainnet snapshot (baselines: doubling sizing; bare optimize_route)",
        rows,
    )


if __name__ == "__main__":
    main()
