"""The pieces of a replayed pool's state: the state after each event, the day's position
changes, and the liquidity profile the tick map is inferred from.

How they fit together is described in `platform_core/backtest/replay.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from platform_core.backtest.history import HistoryError, PoolEvent

State = tuple[int, int, int]
"""(sqrt_price_x96, tick, active liquidity) after an event."""


def cell_of(tick: int, spacing: int) -> int:
    """The lowest tick of the tick-spacing cell holding `tick` (floor, as the pool rounds)."""
    return (tick // spacing) * spacing


def pool_states(events: Sequence[PoolEvent]) -> list[State]:
    """The pool's state after each event. A swap's is the file's (the Swap log's fields); a
    position event keeps the price and tick and changes the active liquidity when the
    position holds the current tick (`tick_lower <= tick < tick_upper`, the pool's rule).
    The first event's state is the file's, whatever its kind."""
    first = events[0]
    sqrt_price, tick, active = first.sqrt_price_x96, first.tick, first.liquidity
    states: list[State] = []
    for event in events:
        if event.kind == "SWAP" or not states:
            sqrt_price, tick, active = event.sqrt_price_x96, event.tick, event.liquidity
        elif (event.sqrt_price_x96, event.tick) != (sqrt_price, tick):
            raise HistoryError(f"{_where(event)}: the price moved without a swap")
        elif _holds(event, tick):
            active += event.liquidity_delta or 0
            if active < 0:
                raise HistoryError(f"{_where(event)}: the active liquidity goes negative")
        states.append((sqrt_price, tick, active))
    return states


def _holds(event: PoolEvent, tick: int) -> bool:
    lower, upper = event.tick_lower, event.tick_upper
    return lower is not None and upper is not None and lower <= tick < upper


def _where(event: PoolEvent) -> str:
    return f"{event.kind} at block {event.block_number} log {event.log_index}"


def day_tick_maps(events: Sequence[PoolEvent]) -> list[dict[int, int]]:
    """The liquidity_net the day's mints and burns added, as of after each event:
    `net[tick_lower] += L`, `net[tick_upper] -= L` for a mint, the reverse for a burn.
    Events that change nothing share one dict (treat them as read-only)."""
    current: dict[int, int] = {}
    maps = []
    for event in events:
        delta = event.liquidity_delta
        if delta and event.tick_lower is not None and event.tick_upper is not None:
            current = dict(current)
            current[event.tick_lower] = current.get(event.tick_lower, 0) + delta
            current[event.tick_upper] = current.get(event.tick_upper, 0) - delta
        maps.append(current)
    return maps


def net_at_or_below(net: Mapping[int, int], tick: int) -> int:
    """The sum of liquidity_net over the ticks at or below `tick`."""
    return sum(value for index, value in net.items() if index <= tick)


def liquidity_profile(
    events: Sequence[PoolEvent],
    states: Sequence[State],
    day_maps: Sequence[Mapping[int, int]],
    spacing: int,
) -> dict[int, int]:
    """The liquidity of the positions that existed before the file starts, per tick cell
    the pool visits: `active - net_at_or_below(day map, tick)` after each event, keyed by
    the cell of the tick. That is a property of the older positions alone, the same
    whenever a cell is visited; a cell seen with two values means the file lacks an event
    (HistoryError)."""
    profile: dict[int, int] = {}
    for event, (_, tick, active), day in zip(events, states, day_maps, strict=True):
        cell = cell_of(tick, spacing)
        value = active - net_at_or_below(day, tick)
        if profile.setdefault(cell, value) != value:
            raise HistoryError(
                f"{_where(event)}: cell {cell} holds {value} of older liquidity, "
                f"earlier {profile[cell]}: an event is missing from the file"
            )
    return profile


@dataclass(frozen=True)
class Gap:
    """Cells never visited between two visited ones, `low` and `high`, whose older
    liquidity is `below` and `above`. The cells inside are given one older liquidity,
    `level`: liquidity_net `level - below` on the boundary `low + spacing` and
    `above - level` on `high`."""

    low: int
    high: int
    below: int
    above: int
    level: int

    def ticks(self, spacing: int) -> tuple[tuple[int, int], tuple[int, int]]:
        return (self.low + spacing, self.level - self.below), (self.high, self.above - self.level)


def profile_steps(profile: Mapping[int, int], spacing: int) -> tuple[dict[int, int], list[Gap]]:
    """The older liquidity_net between adjacent visited cells (exact: the step at their
    shared boundary), and the gaps (their level at first: the liquidity below them)."""
    cells = sorted(profile)
    net: dict[int, int] = {}
    gaps = []
    for low, high in pairwise(cells):
        below, above = profile[low], profile[high]
        if high > low + spacing:
            gaps.append(Gap(low, high, below, above, below))
        elif above != below:
            net[high] = above - below
    return net, gaps


def with_gaps(net: Mapping[int, int], gaps: Sequence[Gap], spacing: int) -> dict[int, int]:
    """The older tick map: the adjacent steps plus each gap's two boundaries."""
    merged = dict(net)
    for gap in gaps:
        for index, value in gap.ticks(spacing):
            merged[index] = merged.get(index, 0) + value
    return merged


def merged_ticks(older: Mapping[int, int], day: Mapping[int, int]) -> tuple[tuple[int, int], ...]:
    """The tick map an engine gets: older plus the day's, sorted, zeros left out."""
    merged = dict(older)
    for index, value in day.items():
        merged[index] = merged.get(index, 0) + value
    return tuple(sorted((index, value) for index, value in merged.items() if value != 0))
