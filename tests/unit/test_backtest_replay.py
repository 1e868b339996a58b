"""The day of history in `data/history/` replayed: the loader, the state after every event
against the file, the inferred tick map, `state_at`, and the Rust engine quoting each
historical swap from the replayed state before it (checked against the pool's own
arithmetic in `tests/uniswap_v3_reference.py`)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from platform_core.backtest.fidelity import SwapFidelity, check_swaps
from platform_core.backtest.history import (
    HISTORY_DIR,
    USDC_WETH_500,
    USDC_WETH_3000,
    HistoryError,
    PoolEvent,
    PoolSpec,
    load_minutes,
    load_pool_events,
)
from platform_core.backtest.replay import PoolReplay, PoolSnapshot
from platform_core.errors import ErrorCode
from platform_core.rust_bindings import load_v3
from platform_rust import ExecutionEngine
from tests import data_files
from tests.uniswap_v3_reference import (
    amount0_delta,
    amount1_delta,
    div_up,
    mul_div_up,
    simulate_exact_input,
)

EVENTS_500 = data_files.HISTORY_DIR / "eth_usdc_weth_500_2024-01-05.events.csv"
EVENTS_3000 = data_files.HISTORY_DIR / "eth_usdc_weth_3000_2024-01-05.events.csv"
POOLS = {"500": (USDC_WETH_500, EVENTS_500), "3000": (USDC_WETH_3000, EVENTS_3000)}


@pytest.fixture(scope="module", params=sorted(POOLS))
def replay(request: pytest.FixtureRequest) -> PoolReplay:
    spec, path = POOLS[request.param]
    return PoolReplay(spec, load_pool_events(path))


def _cell(tick: int, spec: PoolSpec) -> int:
    return tick // spec.tick_spacing * spec.tick_spacing


# ------------------------------------------------------------------------- the files


def test_the_platform_and_the_tests_read_the_same_folder() -> None:
    assert HISTORY_DIR.resolve() == data_files.HISTORY_DIR.resolve()


def test_events_load_typed_and_in_chain_order() -> None:
    events = load_pool_events(EVENTS_500)
    assert Counter(e.kind for e in events) == {"SWAP": 6046, "MINT": 54, "BURN": 69, "COLLECT": 65}
    assert [(e.block_number, e.log_index) for e in events] == sorted(
        (e.block_number, e.log_index) for e in events
    )
    first = events[0]
    assert (first.block_number, first.log_index, first.kind) == (18937382, 169, "SWAP")
    assert first.timestamp == datetime(2024, 1, 5, 0, 0, 23, tzinfo=UTC)
    assert (first.amount0, first.amount1) == (-22686110, 10_000_000_000_000_000)
    assert (first.tick, first.liquidity) == (199045, 12453647101533358277)
    assert first.sqrt_price_x96 == 1662995104975155420368771254341874
    assert first.tick_lower is first.tick_upper is first.liquidity_delta is None
    assert len(load_pool_events(EVENTS_3000)) == 304


def test_position_liquidity_is_read_exactly_and_signed() -> None:
    events = load_pool_events(EVENTS_500)
    mint, burn = (
        next(e for e in events if e.kind == kind and e.block_number == 18937605)
        for kind in ("MINT", "BURN")
    )
    # Through a float the low digits would be lost (3.8929757265181147e+20).
    assert mint.liquidity_delta == 389297572651811471360
    assert burn.liquidity_delta == -389297572651811471360
    assert (mint.tick_lower, mint.tick_upper) == (199060, 199070)
    collects = [e for e in events if e.kind == "COLLECT"]
    assert all(e.liquidity_delta is None and e.tick_lower is not None for e in collects)


def test_minute_bars_load_from_a_file_and_from_a_folder() -> None:
    day = load_minutes(data_files.HISTORY_DIR / "eth_usdc_weth_500_2024-01-05.minute.csv")
    assert len(day) == 1440
    assert day[0].timestamp == datetime(2024, 1, 5, tzinfo=UTC)
    assert (day[0].open_tick, day[0].close_tick, day[0].liquidity) == (
        199045,
        199045,
        12453647101533358277,
    )
    polygon = load_minutes(data_files.HISTORY_DIR / "polygon_usdc_weth_500_minutes")
    assert len(polygon) == 50_390
    assert polygon[0].timestamp == datetime(2022, 7, 19, tzinfo=UTC)
    assert all(a.timestamp < b.timestamp for a, b in pairwise(polygon))


def test_bad_files_raise_history_errors(tmp_path: Path) -> None:
    with pytest.raises(HistoryError) as missing:
        load_pool_events(tmp_path / "absent.csv")
    assert missing.value.code is ErrorCode.HISTORY_INVALID
    lines = EVENTS_500.read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], lines[1], lines[2].replace(",SWAP,", ",SKIM,")]))
    with pytest.raises(HistoryError, match=r"bad\.csv:3: .*SKIM"):
        load_pool_events(bad)
    bad.write_text("\n".join([lines[0], lines[1].replace(",199045.0,", ",199045.5,")]))
    with pytest.raises(HistoryError, match=r"bad\.csv:2: .*199045\.5"):
        load_pool_events(bad)


def test_a_file_missing_an_event_is_refused() -> None:
    events = load_pool_events(EVENTS_500)
    # Without the mint of a position that a later swap and burn see, the older
    # liquidity of the cell no longer agrees with itself (or the burn takes too much).
    jit_mint = next(e for e in events if e.kind == "MINT" and e.block_number == 18937605)
    with pytest.raises(HistoryError, match=r"missing|negative"):
        PoolReplay(USDC_WETH_500, [e for e in events if e != jit_mint])


# --------------------------------------------------------------- the state, event by event


def _liquidity_before(replay: PoolReplay, index: int) -> int:
    return replay.snapshot(index - 1).liquidity


def test_replayed_state_equals_the_file_after_every_event(replay: PoolReplay) -> None:
    """Price and tick after every event, and the active liquidity after every swap, are
    the file's. After a position event the file's `total_liquidity` is demeter-fetch's
    running figure: where it differs from the replay it is either a range starting at
    the current tick left out (the pool counts it in; the next swap's liquidity shows
    it) or a figure the file already showed on an earlier row (stale)."""
    shown: set[int] = set()
    quirks: Counter[str] = Counter()
    for index, (event, state) in enumerate(replay.snapshots()):
        assert (state.block_number, state.log_index) == (event.block_number, event.log_index)
        assert (state.sqrt_price_x96, state.tick) == (event.sqrt_price_x96, event.tick)
        if event.kind == "SWAP" or state.liquidity == event.liquidity:
            assert state.liquidity == event.liquidity, (event.block_number, event.log_index)
        elif event.kind in ("MINT", "BURN") and event.tick == event.tick_lower:
            assert event.liquidity == _liquidity_before(replay, index)
            quirks["lower tick == current tick"] += 1
            quirks["... confirmed by the next swap"] += _next_swap_confirms(replay, index)
        else:
            assert event.liquidity in shown, (event.block_number, event.log_index)
            quirks[f"stale {event.kind}"] += 1
        shown.add(event.liquidity)
    print(f"{replay.spec.fee_pips}: file rows the replay corrects: {dict(quirks)}")


def _next_swap_confirms(replay: PoolReplay, index: int) -> bool:
    """Whether the next swap after event `index` stays in the cell (then its Swap log
    must report the replay's liquidity, unchanged; no position changes in between)."""
    spec, after = replay.spec, replay.snapshot(index)
    for event in replay.events[index + 1 :]:
        assert not event.liquidity_delta, "a position changed before the next swap"
        if event.kind == "SWAP":
            if _cell(event.tick, spec) != _cell(after.tick, spec):
                return False  # it crossed: its quote from this state is checked below
            assert event.liquidity == after.liquidity
            return True
    return False


def test_active_liquidity_is_the_tick_map_summed_below_the_tick(replay: PoolReplay) -> None:
    """The construction's invariant: after every event, the active liquidity less the net
    of the snapshot's ticks at or below the current tick is one constant, the older
    liquidity of the lowest cell visited."""
    spacing = replay.spec.tick_spacing
    lowest = min(replay.inference.profile)
    for _, state in replay.snapshots():
        below = sum(net for index, net in state.ticks if index <= state.tick)
        assert state.liquidity - below == replay.inference.profile[lowest]
        assert all(index % spacing == 0 and net != 0 for index, net in state.ticks)
        assert [index for index, _ in state.ticks] == sorted({i for i, _ in state.ticks})


def test_the_tick_map_changes_only_at_mints_and_burns(replay: PoolReplay) -> None:
    changes = [
        event
        for (_, a), (event, b) in zip(
            replay.snapshots(), list(replay.snapshots())[1:], strict=False
        )
        if a.ticks != b.ticks
    ]
    assert changes and all(e.kind in ("MINT", "BURN") for e in changes)
    distinct = {id(state.ticks) for _, state in replay.snapshots()}
    assert len(distinct) <= 1 + sum(e.kind in ("MINT", "BURN") for e in replay.events)


def test_gaps_are_inferred_only_where_no_event_stood() -> None:
    wide = PoolReplay(USDC_WETH_500, load_pool_events(EVENTS_500))
    assert [(g.low, g.high) for g in wide.inference.gaps] == [(198970, 198990), (199310, 199340)]
    for gap in wide.inference.gaps:
        assert (gap.below, gap.above) == (
            wide.inference.profile[gap.low],
            wide.inference.profile[gap.high],
        )
        assert gap.level > 0
        visited = range(gap.low + 10, gap.high, 10)
        assert not any(cell in wide.inference.profile for cell in visited)
    narrow = PoolReplay(USDC_WETH_3000, load_pool_events(EVENTS_3000))
    assert narrow.inference.gaps == ()


# ------------------------------------------------------------------------------ state_at


def test_state_at_picks_the_last_event_at_or_before() -> None:
    replay = PoolReplay(USDC_WETH_500, load_pool_events(EVENTS_500))
    events = replay.events
    # Block 18937605 holds a mint, a swap, a burn, a collect and another swap.
    in_block = [i for i, e in enumerate(events) if e.block_number == 18937605]
    assert len(in_block) == 5
    last = replay.snapshot(in_block[-1])
    assert replay.state_at(18937605) is last
    assert replay.state_at(events[in_block[0]].timestamp) is last
    assert replay.state_at(18937605 - 1) is replay.snapshot(in_block[0] - 1)
    # Between two events: the earlier one; a second before: the one before that.
    gap_block = next(
        a.block_number + 1 for a, b in pairwise(events) if b.block_number > a.block_number + 1
    )
    at = replay.index_at(gap_block)
    assert events[at].block_number < gap_block < events[at + 1].block_number
    assert replay.state_at(events[at + 1].timestamp - timedelta(seconds=1)) is replay.snapshot(at)
    # Before the first event: the state after it; after the last: the last.
    assert replay.state_at(0) is replay.snapshot(0)
    assert replay.state_at(datetime(2024, 1, 4, tzinfo=UTC)) is replay.snapshot(0)
    assert replay.state_at(datetime(2024, 1, 6, tzinfo=UTC)) is replay.snapshot(len(replay) - 1)
    with pytest.raises(HistoryError, match="aware"):
        replay.state_at(datetime(2024, 1, 5, 12))


# ------------------------------------------------------------------ the engine reproduces it


def _exact_output(before: PoolSnapshot, zero_for_one: bool, out: int, fee: int) -> tuple[int, int]:
    """(input, sqrt price after) of an exact-OUTPUT swap within one range, by the pool's
    arithmetic: the price from the output (rounded against the trader), the input to it
    rounded up, the fee on it rounded up."""
    price, liquidity = before.sqrt_price_x96, before.liquidity
    if zero_for_one:  # token1 out, the price falls
        after = price - div_up(out << 96, liquidity)
        amount_in = amount0_delta(after, price, liquidity, True)
    else:  # token0 out, the price rises
        after = mul_div_up(liquidity << 96, price, (liquidity << 96) - out * price)
        amount_in = amount1_delta(price, after, liquidity, True)
    return amount_in + mul_div_up(amount_in, fee, 1_000_000 - fee), after


def _reference_kind(spec: PoolSpec, before: PoolSnapshot, event: PoolEvent, quoted: int) -> str:
    """How the pool's own arithmetic explains a swap that stayed in one range:
    "input": exact input, the reference model's output and price are the file's;
    "output": exact output, the input it charges and the price are the file's;
    "limit": stopped at its price limit, a step to the file's price charges the file's
    input and pays the file's output."""
    zero_for_one = event.amount0 > 0
    amount_in, out = (
        (event.amount0, -event.amount1) if zero_for_one else (event.amount1, -event.amount0)
    )
    model = simulate_exact_input(
        sqrt_price_x96=before.sqrt_price_x96, tick=before.tick, liquidity=before.liquidity,
        fee_pips=spec.fee_pips, tick_spacing=spec.tick_spacing, ticks=before.ticks,
        zero_for_one=zero_for_one, amount_in=amount_in,
    )  # fmt: skip
    assert quoted == model.amount_out  # the engine and the reference agree
    if (model.amount_out, model.sqrt_price_x96) == (out, event.sqrt_price_x96):
        return "input"
    if _exact_output(before, zero_for_one, out, spec.fee_pips) == (amount_in, event.sqrt_price_x96):
        return "output"
    assert _step_to(before, event.sqrt_price_x96, spec.fee_pips) == (amount_in, out), (
        event.block_number,
        event.log_index,
    )
    return "limit"


def _step_to(before: PoolSnapshot, target: int, fee: int) -> tuple[int, int]:
    """(input with fee, output) of a swap step that reaches `target` within one range."""
    price, liquidity = before.sqrt_price_x96, before.liquidity
    if target < price:  # token0 in
        step_in = amount0_delta(target, price, liquidity, True)
        out = amount1_delta(target, price, liquidity, False)
    else:
        step_in = amount1_delta(price, target, liquidity, True)
        out = amount0_delta(price, target, liquidity, False)
    return step_in + mul_div_up(step_in, fee, 1_000_000 - fee), out


def test_swaps_within_one_range_are_reproduced_exactly(replay: PoolReplay) -> None:
    """Every swap that stays in one tick-spacing cell, quoted on the engine from the
    replayed state before it (`load_into`), pays exactly what the pool paid when it was an
    exact-input swap; for an exact-output swap, the pool's exact-output arithmetic from
    the same state charges exactly the historical input and lands on the file's price."""
    engine, spec = ExecutionEngine(), replay.spec
    kinds: Counter[str] = Counter()
    for index in range(1, len(replay)):
        event, before = replay.events[index], replay.snapshot(index - 1)
        if event.kind != "SWAP" or _cell(before.tick, spec) != _cell(event.tick, spec):
            continue
        replay.load_into(engine, before)
        token_in, amount_in = (
            (spec.token0, event.amount0) if event.amount0 > 0 else (spec.token1, event.amount1)
        )
        quoted = engine.quote([spec.address], token_in, amount_in)
        kinds[_reference_kind(spec, before, event, quoted)] += 1
    assert kinds["input"] > kinds["output"] > 0
    print(f"{spec.fee_pips}: swaps within one range: {dict(kinds)}")


def test_match_rates_over_the_day_are_reported(replay: PoolReplay) -> None:
    """Every swap, crossing ticks or not: reported, not asserted (beyond the in-range
    ones, which the test above pins)."""
    checks = check_swaps(replay)
    fidelity = SwapFidelity.of(checks)
    assert fidelity.in_range.reproduced == fidelity.in_range.count
    assert fidelity.swaps.count == sum(e.kind == "SWAP" for e in replay.events[1:])
    print(f"{replay.spec.fee_pips}: {fidelity}")
    for check in checks:
        if not check.reproduced:
            print(f"  block {check.event.block_number} log {check.event.log_index}: "
                  f"{check.error_bps:.4f} bp")  # fmt: skip


def test_load_into_keys_the_pool_by_address_at_the_snapshot() -> None:
    replay = PoolReplay(USDC_WETH_3000, load_pool_events(EVENTS_3000))
    engine = ExecutionEngine()
    noon = replay.state_at(datetime(2024, 1, 5, 12, tzinfo=UTC))
    replay.load_into(engine, noon, venue="backtest")
    replay.load_into(engine, noon, venue="backtest")  # an upsert: still one pool
    assert engine.pool_count() == 1
    route = engine.optimize_route(USDC_WETH_3000.token0, USDC_WETH_3000.token1, 10**9)
    assert route.splits[0].pool_path == [USDC_WETH_3000.address]
    model = simulate_exact_input(
        sqrt_price_x96=noon.sqrt_price_x96, tick=noon.tick, liquidity=noon.liquidity,
        fee_pips=3000, tick_spacing=60, ticks=noon.ticks, zero_for_one=True, amount_in=10**9,
    )  # fmt: skip
    assert route.amount_out == model.amount_out
    # The same snapshot through the platform's own loader of chain state.
    other = ExecutionEngine()
    load_v3(other, [replay.pool_state(noon)], "backtest")
    assert other.quote([USDC_WETH_3000.address], USDC_WETH_3000.token0, 10**9) == model.amount_out
    price = USDC_WETH_3000.price_of_token1(noon.sqrt_price_x96)
    assert 2195 < price < 2285  # the README's range for the day
