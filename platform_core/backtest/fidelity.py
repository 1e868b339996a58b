"""How well the engine reproduces history: each historical swap quoted on the Rust engine
from the replayed state before it, its output against the output the pool paid.

A swap sent as exact OUTPUT charges the least input that buys its output (rounded up),
and one stopped by its price limit charges what reaching the limit costs (rounded up);
quoting that input as exact input then pays up to one input unit's worth more. So a swap
counts as "reproduced" when the engine pays exactly the historical output, or when the
historical input is the least input for which the engine pays at least that output."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from platform_core.backtest.history import PoolEvent, PoolSpec
from platform_core.backtest.replay import (
    PoolReplay,
    PoolSnapshot,
    load_snapshot,
    quote_swap,
    swap_amounts,
)
from platform_core.backtest.tickmap import cell_of
from platform_rust import ExecutionEngine


@dataclass(frozen=True)
class SwapCheck:
    """One historical swap quoted from the state before it. `in_range`: the pool stayed in
    one tick-spacing cell (no initialisable tick crossed). `quoted` is None when the
    engine could not fill the input; `least_input`, computed when it pays more than the
    pool did, is the least input for which it pays at least the pool's output."""

    index: int
    event: PoolEvent
    in_range: bool
    amount_in: int
    expected: int
    quoted: int | None
    least_input: int | None

    @property
    def exact(self) -> bool:
        return self.quoted == self.expected

    @property
    def reproduced(self) -> bool:
        """Exact, or the historical input is the engine's least for the historical output."""
        return self.exact or self.least_input == self.amount_in

    @property
    def error_bps(self) -> float:
        """|quoted - expected| in bps of the expected output (inf when refused)."""
        if self.quoted is None:
            return float("inf")
        return abs(self.quoted - self.expected) * 10_000 / max(self.expected, 1)


def check_swaps(replay: PoolReplay, engine: ExecutionEngine | None = None) -> list[SwapCheck]:
    """Every swap after the first event, quoted from the snapshot before it."""
    engine = engine if engine is not None else ExecutionEngine()
    spec, spacing = replay.spec, replay.spec.tick_spacing
    checks = []
    for index in range(1, len(replay)):
        event = replay.events[index]
        if event.kind != "SWAP":
            continue
        before, after = replay.snapshot(index - 1), replay.snapshot(index)
        token_in, amount_in, expected = swap_amounts(spec, event)
        quoted = quote_swap(engine, spec, before, event)
        least = None
        if quoted is not None and quoted > expected:
            least = least_input(engine, spec, before, token_in, amount_in, expected)
        in_range = cell_of(before.tick, spacing) == cell_of(after.tick, spacing)
        checks.append(SwapCheck(index, event, in_range, amount_in, expected, quoted, least))
    return checks


def least_input(
    engine: ExecutionEngine,
    spec: PoolSpec,
    before: PoolSnapshot,
    token_in: str,
    most: int,
    output: int,
) -> int:
    """The least input (at most `most`, which pays at least `output`) for which the engine
    pays at least `output` from `before`."""
    load_snapshot(engine, spec, before)
    low, high = 0, most  # the engine pays less than `output` for `low`, enough for `high`
    while high - low > 1:
        middle = (low + high) // 2
        if engine.quote([spec.address], token_in, middle) >= output:
            high = middle
        else:
            low = middle
    return high


@dataclass(frozen=True)
class Tally:
    count: int
    exact: int
    reproduced: int
    within_1bp: int

    @classmethod
    def of(cls, checks: Sequence[SwapCheck]) -> Tally:
        return cls(
            count=len(checks),
            exact=sum(check.exact for check in checks),
            reproduced=sum(check.reproduced for check in checks),
            within_1bp=sum(check.error_bps <= 1.0 for check in checks),
        )


@dataclass(frozen=True)
class SwapFidelity:
    """`check_swaps` summed: every swap, those within one cell, those crossing cells."""

    swaps: Tally
    in_range: Tally
    crossing: Tally
    refused: int
    worst_bps: float

    @classmethod
    def of(cls, checks: Sequence[SwapCheck]) -> SwapFidelity:
        return cls(
            swaps=Tally.of(checks),
            in_range=Tally.of([check for check in checks if check.in_range]),
            crossing=Tally.of([check for check in checks if not check.in_range]),
            refused=sum(check.quoted is None for check in checks),
            worst_bps=max((check.error_bps for check in checks), default=0.0),
        )
