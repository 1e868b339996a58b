"""A pool's state through a day of history, rebuilt from its events, for the Rust engine.

State after each event
    After a swap: the file's `sqrtPriceX96`, tick and `total_liquidity` (the Swap log's own
    fields; exact). After a mint or a burn: the same price and tick, and the active
    liquidity changed by the position's liquidity when `tick_lower <= tick < tick_upper`
    (the pool's rule; the file's own figure is wrong on a few of these rows, see
    `history.py`). A collect changes nothing. The first event's state is the file's.

The tick map, and how the missing part is inferred
    A quote that moves the price needs liquidity_net at every initialised tick it crosses.
    Positions opened during the day are known from their mints and burns (the "day map",
    which changes as they happen). Positions opened earlier are not in the file, but their
    liquidity is seen whenever the pool visits a tick: after every event, the active
    liquidity less the day map's net at or below the current tick is the liquidity of the
    OLDER positions at that tick, and it is the same every time the pool is in the same
    tick-spacing cell (the replay checks it; a mismatch means the file lacks an event and
    raises HistoryError). That gives the older positions' liquidity profile over every cell
    the pool visited during the day, and from it their liquidity_net:

    - between two adjacent visited cells, the step of the profile sits on their shared
      boundary: exact (the pool's own value), for any crossing in either direction;
    - across a gap (cells no event ever stood in, because swaps jumped over them) only
      the liquidity on either side is known. The cells inside get ONE common older
      liquidity, the gap's `level`: liquidity_net `level - below` on the gap's first
      boundary and `above - level` on its last (a single step on either edge is the
      special case `level == above` or `level == below`). The level is fitted to the
      swaps that jumped the gap: for each, the least level at which the engine, quoting
      it from the state before it, pays at least what the pool paid (the output grows
      with the liquidity crossed); the gap gets the lower median of these (gaps one after
      another, the others as fitted so far; when no level reproduces any of them, the
      level stays `below`). Several ticks crossed in one swap can only
      be attributed in aggregate: real liquidity that varies between the hidden cells,
      or a quote that stops inside the gap, differs from the pool's. (On 2024-01-05 the
      0.05 % pool has two gaps, one cell and two cells wide; the six sandwich swaps over
      the second need more liquidity inside than on either side, which a single step
      cannot give; with the level they are within 0.45 bp.)
    - beyond the lowest and highest cells visited, nothing is known: the older liquidity is
      taken as flat (no initialised tick) there, so a quote that walks past the day's range
      keeps the liquidity of the last cell visited (plus the day map's ticks out there).

    The older map is a property of the pool before the day, so it is used at every moment
    of the day (inferred from the whole file, including swaps after the moment: that is
    what lets a quote from the state before a swap cross what that swap crossed). Each
    snapshot's tick map is the older map plus the day map as of that event. The invariant
    that follows: after every event, active liquidity minus the net of the snapshot's ticks
    at or below the current tick is one constant (the older liquidity of the lowest cell
    visited). Ticks whose net is zero are left out: the pool may hold an initialised tick
    of zero net there (a step boundary of its swap loop), which the file cannot show.

Before the first event, `state_at` answers the state after it (nothing earlier is known).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from statistics import median_low

from platform_core.backtest.history import HistoryError, PoolEvent, PoolSpec
from platform_core.backtest.tickmap import (
    Gap,
    State,
    cell_of,
    day_tick_maps,
    liquidity_profile,
    merged_ticks,
    pool_states,
    profile_steps,
    with_gaps,
)
from platform_core.market.pool_state import V3PoolState
from platform_rust import ExecutionEngine


@dataclass(frozen=True)
class PoolSnapshot:
    """A pool's state after one event: what `ExecutionEngine.upsert_v3_pool` takes."""

    block_number: int
    timestamp: datetime
    log_index: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    ticks: tuple[tuple[int, int], ...]  # (tick index, liquidity_net), sorted


@dataclass(frozen=True)
class TickInference:
    """What the replay inferred: the older positions' liquidity per visited cell, their
    tick map (adjacent steps and placed gaps), and the gaps."""

    profile: Mapping[int, int]
    older_ticks: tuple[tuple[int, int], ...]
    gaps: tuple[Gap, ...]


def swap_amounts(spec: PoolSpec, swap: PoolEvent) -> tuple[str, int, int]:
    """(token in, amount in, amount out) of a historical swap, from its signed amounts."""
    if swap.amount0 > 0:
        return spec.token0, swap.amount0, -swap.amount1
    return spec.token1, swap.amount1, -swap.amount0


def load_snapshot(
    engine: ExecutionEngine, spec: PoolSpec, snapshot: PoolSnapshot, venue: str = "uniswap_v3"
) -> None:
    """Upsert the pool, keyed by its address, at this snapshot's state."""
    engine.upsert_v3_pool(
        spec.address, spec.token0, spec.token1, spec.fee_pips, spec.tick_spacing,
        snapshot.sqrt_price_x96, snapshot.liquidity, snapshot.tick, snapshot.ticks,
        venue=venue,
    )  # fmt: skip


def quote_swap(
    engine: ExecutionEngine, spec: PoolSpec, before: PoolSnapshot, swap: PoolEvent
) -> int | None:
    """The engine's output for a historical swap's input, from the state before it; None
    when the engine cannot fill it (not enough liquidity in its tick map)."""
    token_in, amount_in, _ = swap_amounts(spec, swap)
    if amount_in <= 0:
        return None
    load_snapshot(engine, spec, before)
    try:
        return engine.quote([spec.address], token_in, amount_in)
    except ValueError:
        return None


class PoolReplay:
    """One pool's events and its state after each of them (see the module docstring).

    Everything is computed once here; `state_at` is a bisection over precomputed
    snapshots, which share their tick tuples between position events."""

    def __init__(self, spec: PoolSpec, events: Sequence[PoolEvent]) -> None:
        ordered = sorted(events, key=lambda event: (event.block_number, event.log_index))
        if not ordered:
            raise HistoryError(f"no events to replay for pool {spec.address}")
        self.spec = spec
        self.events: tuple[PoolEvent, ...] = tuple(ordered)
        states = pool_states(ordered)
        day_maps = day_tick_maps(ordered)
        profile = liquidity_profile(ordered, states, day_maps, spec.tick_spacing)
        steps, gaps = profile_steps(profile, spec.tick_spacing)
        fitted = _GapFit(spec, ordered, states, day_maps, steps).fit(gaps)
        older = with_gaps(steps, fitted, spec.tick_spacing)
        self.inference = TickInference(profile, merged_ticks(older, {}), tuple(fitted))
        self._snapshots = _snapshots(ordered, states, day_maps, older)
        self._blocks = [event.block_number for event in ordered]
        self._times = [event.timestamp for event in ordered]

    def __len__(self) -> int:
        return len(self.events)

    def snapshots(self) -> Iterator[tuple[PoolEvent, PoolSnapshot]]:
        """Each event with the pool's state after it, in chain order."""
        return zip(self.events, self._snapshots, strict=True)

    def snapshot(self, index: int) -> PoolSnapshot:
        """The state after event `index` (of `events`)."""
        return self._snapshots[index]

    def index_at(self, when: datetime | int) -> int:
        """The index of the last event at or before `when` (an aware datetime, or a block
        number); -1 before the first event."""
        if isinstance(when, datetime):
            if when.tzinfo is None:
                raise HistoryError("state_at needs an aware datetime (the history is UTC)")
            return bisect_right(self._times, when) - 1
        return bisect_right(self._blocks, when) - 1

    def state_at(self, when: datetime | int) -> PoolSnapshot:
        """The state after the last event at or before `when` (timestamp or block number);
        before the first event, the state after it."""
        return self._snapshots[max(self.index_at(when), 0)]

    def pool_state(self, snapshot: PoolSnapshot) -> V3PoolState:
        """The snapshot as the record the platform reads from a chain (`load_v3`, the
        planner's `PoolRegistry`)."""
        return V3PoolState(
            self.spec.info, snapshot.block_number, snapshot.sqrt_price_x96, snapshot.tick,
            snapshot.liquidity, snapshot.ticks,
        )  # fmt: skip

    def load_into(
        self, engine: ExecutionEngine, snapshot: PoolSnapshot, *, venue: str = "uniswap_v3"
    ) -> None:
        """Upsert this pool into the engine (keyed by its address) at `snapshot`."""
        load_snapshot(engine, self.spec, snapshot, venue)


def _snapshot(event: PoolEvent, state: State, ticks: tuple[tuple[int, int], ...]) -> PoolSnapshot:
    sqrt_price, tick, active = state
    return PoolSnapshot(
        event.block_number, event.timestamp, event.log_index, sqrt_price, tick, active, ticks
    )


def _snapshots(
    events: Sequence[PoolEvent],
    states: Sequence[State],
    day_maps: Sequence[Mapping[int, int]],
    older: Mapping[int, int],
) -> list[PoolSnapshot]:
    merged: dict[int, tuple[tuple[int, int], ...]] = {}  # by day map: one tuple per change
    snapshots = []
    for event, state, day in zip(events, states, day_maps, strict=True):
        ticks = merged.get(id(day))
        if ticks is None:
            ticks = merged[id(day)] = merged_ticks(older, day)
        snapshots.append(_snapshot(event, state, ticks))
    return snapshots


_LEVEL_CEILING = 1 << 100  # far above any pool's liquidity; the nets stay within int128


@dataclass
class _GapFit:
    """Fits each gap's level to the swaps that jumped it (see the module docstring)."""

    spec: PoolSpec
    events: Sequence[PoolEvent]
    states: Sequence[State]
    day_maps: Sequence[Mapping[int, int]]
    steps: Mapping[int, int]
    engine: ExecutionEngine = field(default_factory=ExecutionEngine)

    def fit(self, gaps: Sequence[Gap]) -> list[Gap]:
        """One gap after another, each at the median of its swaps' levels."""
        fitted = list(gaps)
        for k, gap in enumerate(gaps):
            jumps = _jumps(self.events, self.states, gap, self.spec.tick_spacing)
            levels = [level for i in jumps if (level := self.level(fitted, k, i)) is not None]
            if levels:
                fitted[k] = replace(gap, level=median_low(levels))
        return fitted

    def level(self, gaps: Sequence[Gap], k: int, index: int) -> int | None:
        """The least level of gap `k` at which the engine pays at least what swap `index`
        paid (more older liquidity in the gap: more output); None if no level does."""
        low, high = 0, _LEVEL_CEILING
        if not self.pays_enough(gaps, k, high, index):
            return None
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (
                (low, middle) if self.pays_enough(gaps, k, middle, index) else (middle, high)
            )
        return high

    def pays_enough(self, gaps: Sequence[Gap], k: int, level: int, index: int) -> bool:
        trial = [*gaps[:k], replace(gaps[k], level=level), *gaps[k + 1 :]]
        older = with_gaps(self.steps, trial, self.spec.tick_spacing)
        ticks = merged_ticks(older, self.day_maps[index - 1])
        before = _snapshot(self.events[index - 1], self.states[index - 1], ticks)
        quoted = quote_swap(self.engine, self.spec, before, self.events[index])
        _, _, paid = swap_amounts(self.spec, self.events[index])
        return quoted is not None and quoted >= paid


def _jumps(
    events: Sequence[PoolEvent], states: Sequence[State], gap: Gap, spacing: int
) -> list[int]:
    """The indices of the swaps that moved the pool across the gap, either way."""
    jumps = []
    for i in range(1, len(events)):
        before, after = cell_of(states[i - 1][1], spacing), cell_of(states[i][1], spacing)
        if (
            events[i].kind == "SWAP"
            and min(before, after) <= gap.low
            and max(before, after) >= gap.high
        ):
            jumps.append(i)
    return jumps
