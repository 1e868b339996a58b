"""A backtest cell runs the platform's own decomposer, planner and orchestrator against the
simulated chain and venue on the replayed history of 2024-01-05, and its figures are
checked here against the independent Python V3 model (`tests/uniswap_v3_reference.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from platform_core.backtest.cell import Cell, SizeUnit, run_cell
from platform_core.backtest.history import (
    USDC,
    USDC_WETH_500,
    USDC_WETH_3000,
    WETH,
    load_pool_events,
)
from platform_core.backtest.replay import PoolReplay, PoolSnapshot
from platform_core.backtest.sim_chain import MAINNET_V3, decode_swap
from platform_core.backtest.simulator import BlockTimes, ImpactRule, Market, SimulatedVenue
from platform_core.market.adapter import Route, SwapOrder
from platform_core.market.uniswap_v3 import UniswapV3Adapter
from platform_core.types.intent import ExecutionStyle, IntentStatus, IntentType
from tests.data_files import HISTORY_DIR
from tests.uniswap_v3_reference import Q96, SwapResult, simulate_exact_input

POOL = USDC_WETH_500.address
NOON = datetime(2024, 1, 5, 12, 0, tzinfo=UTC)
FEE_BPS = 5  # the 0.05 % pool


@pytest.fixture(scope="module")
def market() -> Market:
    files = {USDC_WETH_500: 500, USDC_WETH_3000: 3000}
    return Market(
        PoolReplay(
            spec, load_pool_events(HISTORY_DIR / f"eth_usdc_weth_{fee}_2024-01-05.events.csv")
        )
        for spec, fee in files.items()
    )


def busy_blocks(market: Market) -> set[int]:
    return {e.block_number for replay in market.pools.values() for e in replay.events}


def quiet_blocks(market: Market, after: datetime, count: int) -> Iterator[int]:
    """Blocks with an event of the 0.05 % pool followed by `count` blocks in which no pool
    has one: our swaps landing there see exactly the state at the end of the first."""
    busy = busy_blocks(market)
    for event in market.pools[POOL].events:
        b = event.block_number
        if event.timestamp > after and not busy & set(range(b + 1, b + 1 + count)):
            yield b


def reference(
    state: PoolSnapshot, token_in: str, amount_in: int, fee_pips: int = 500
) -> SwapResult:
    return simulate_exact_input(
        sqrt_price_x96=state.sqrt_price_x96, tick=state.tick, liquidity=state.liquidity,
        fee_pips=fee_pips, tick_spacing=USDC_WETH_500.tick_spacing, ticks=state.ticks,
        zero_for_one=token_in == USDC, amount_in=amount_in,
    )  # fmt: skip


def after(result: SwapResult, state: PoolSnapshot) -> PoolSnapshot:
    """The pool state a reference swap leaves (its tick map unchanged)."""
    return replace(
        state, sqrt_price_x96=result.sqrt_price_x96, tick=result.tick, liquidity=result.liquidity
    )


def usdc_per_weth(sqrt_price_x96: int) -> Fraction:
    return Fraction(10**12 * Q96**2, sqrt_price_x96**2)


# -- the shortfall of a small order: the fee plus the exact V3 impact --------------------------


@pytest.mark.parametrize("side", [IntentType.DISPOSE, IntentType.ACQUIRE])
def test_small_aggressive_shortfall_is_the_pool_fee_plus_the_exact_v3_impact(
    market: Market, side: IntentType
) -> None:
    block = next(quiet_blocks(market, NOON, 1))
    start = market.blocks.timestamp(block) + timedelta(seconds=1)
    result = run_cell(Cell(side, Decimal("0.5"), start), market)

    assert result.status is IntentStatus.COMPLETED and result.reason is None
    assert (result.arrival_block, result.child_orders, result.steps) == (block, 1, 1)
    (fill,) = result.fills
    assert (fill.pools, fill.block) == ((POOL,), block + 1)  # one block of latency
    state = market.state(POOL, block)
    assert market.state(POOL, block + 1) == state  # nothing else happened in that block

    # The fill is the reference model's swap on that state, to the base unit.
    token_in = WETH if side is IntentType.DISPOSE else USDC
    swap = reference(state, token_in, fill.amount_in)
    assert fill.amount_out == swap.amount_out
    mid = usdc_per_weth(state.sqrt_price_x96)
    assert result.arrival_mid == pytest.approx(float(mid), rel=1e-12)

    usdc, weth = (
        (swap.amount_out, fill.amount_in)
        if side is IntentType.DISPOSE
        else (fill.amount_in, swap.amount_out)
    )
    price = Fraction(usdc, 10**6) / Fraction(weth, 10**18)
    sign = 1 if side is IntentType.ACQUIRE else -1
    shortfall = float(sign * (price - mid) / mid * 10_000)
    assert result.shortfall_bps is not None
    assert result.shortfall_bps == pytest.approx(shortfall, rel=1e-9)

    # The same swap with no fee, on the input net of the fee: the pure price impact.
    net_in = fill.amount_in * (10**6 - 500) // 10**6
    pure = reference(state, token_in, net_in, fee_pips=0)
    usdc0, weth0 = (
        (pure.amount_out, net_in) if side is IntentType.DISPOSE else (net_in, pure.amount_out)
    )
    price0 = Fraction(usdc0, 10**6) / Fraction(weth0, 10**18)
    impact = float(sign * (price0 - mid) / mid * 10_000)
    assert 0 < impact < 1  # half a WETH barely moves the pool
    assert result.shortfall_bps == pytest.approx(FEE_BPS + impact, abs=0.01)
    fee, s, i = FEE_BPS / 1e4, result.shortfall_bps / 1e4, impact / 1e4
    if side is IntentType.ACQUIRE:  # paying in: price = pure price / (1 - fee)
        assert (1 + s) * (1 - fee) == pytest.approx(1 + i, abs=1e-9)
    else:  # selling: price = pure price x (1 - fee)
        assert 1 - s == pytest.approx((1 - i) * (1 - fee), abs=1e-9)

    fee_units = Fraction(fill.amount_in * 500, 10**6)  # the fee is taken from the input
    fee_usd = fee_units / 10**18 * mid if side is IntentType.DISPOSE else fee_units / 10**6
    assert result.fees_usd == pytest.approx(float(fee_usd), rel=1e-9)
    assert result.gas_used == 124_439 and result.gas_eth == pytest.approx(124_439 * 20e9 / 1e18)
    assert result.filled_fraction == 1.0 and result.transactions == 1


# -- PASSIVE: one slice per interval, each filled on the state of the block it lands in ------


def test_passive_slices_fill_at_their_times_on_the_state_of_the_blocks_they_land_in(
    market: Market,
) -> None:
    cell = Cell(IntentType.DISPOSE, Decimal("5"), NOON, style=ExecutionStyle.PASSIVE,
                window_ms=300_000, latency_blocks=2)  # fmt: skip
    result = run_cell(cell, market)

    assert result.status is IntentStatus.COMPLETED
    assert (result.child_orders, result.steps, len(result.fills)) == (5, 5, 5)
    anchors = []
    for i, fill in enumerate(result.fills):
        sent = NOON + timedelta(minutes=i)  # the decomposer's slice times: one a minute
        assert fill.step == i and fill.block == market.blocks.head_at(sent) + 2
        assert fill.timestamp == market.blocks.timestamp(fill.block)
        assert fill.pools == (POOL,) and fill.amount_in == 10**18  # 1 WETH a slice
        state = market.state(POOL, fill.block)
        anchors.append((state.block_number, state.log_index))
        # The pool had events between the slices: each one sees the file's state alone.
        assert fill.amount_out == reference(state, WETH, 10**18).amount_out
    assert len(set(anchors)) == 5
    assert result.base_filled == 5.0 and result.filled_fraction == 1.0
    assert result.end_block == result.fills[-1].block
    assert result.vwap == pytest.approx(market.vwap(result.arrival_block + 1, result.end_block))
    assert result.gas_used == 5 * 124_439


# -- a breached minimum fails the step, and the cell says why --------------------------------


def test_a_swap_landing_below_its_minimum_reverts_and_the_cell_fails_with_the_reason(
    market: Market,
) -> None:
    # A block after which the next block's events move the price down by more than 3 bps:
    # planned (and pre-flighted) before, a 1 bp sale lands after them.
    busy = busy_blocks(market)
    block = next(
        b for b in sorted(busy)
        if b + 1 in busy and market.blocks.timestamp(b) > NOON
        and market.mid(b + 1) < market.mid(b) * (1 - 3e-4)
    )  # fmt: skip
    start = market.blocks.timestamp(block) + timedelta(seconds=1)
    result = run_cell(
        Cell(IntentType.DISPOSE, Decimal("1"), start, max_slippage=Decimal("0.0001")), market
    )

    assert result.status is IntentStatus.FAILED and result.fills == ()
    assert result.reason == "step 0: transaction reverted (Too little received)"
    assert result.transactions == 1 and result.gas_used == 124_439  # a revert pays its gas
    assert result.filled_fraction == 0.0 and result.avg_price is None
    assert result.shortfall_bps is None


def test_a_passive_slice_below_its_minimum_ends_the_intent_partially_filled(market: Market) -> None:
    # The plan's minimums are set at the start; the price falls through the hour, so a
    # later slice is refused in pre-flight and the orchestrator sends nothing more.
    cell = Cell(IntentType.DISPOSE, Decimal("500"), NOON, style=ExecutionStyle.PASSIVE,
                window_ms=3_600_000, max_slippage=Decimal("0.001"))  # fmt: skip
    result = run_cell(cell, market)

    assert result.status is IntentStatus.PARTIALLY_FILLED
    assert result.reason is not None and "refused" in result.reason
    assert result.reason.endswith("Too little received")
    assert 0 < result.steps_filled < result.steps == 20
    assert result.filled_fraction == result.steps_filled / result.steps
    assert result.transactions == result.steps_filled  # the refused slice was never sent
    assert result.base_filled == 25.0 * result.steps_filled


def test_a_swap_mined_past_the_deadline_is_refused_by_the_router_and_the_cell_expires(
    market: Market,
) -> None:
    # 30 blocks (6 minutes) of latency on a 5-minute window.
    result = run_cell(Cell(IntentType.DISPOSE, Decimal("1"), NOON, latency_blocks=30), market)

    assert result.status is IntentStatus.EXPIRED and result.fills == ()
    assert result.reason is not None and result.reason.endswith("(Transaction too old)")
    assert result.transactions == 1 and result.gas_used == 124_439


# -- our own impact, reconciled with the history that follows ----------------------------------


def _venue_case(market: Market) -> tuple[int, int]:
    """(a block followed by two quiet blocks, the block of the 0.05 % pool's next event)."""
    block = next(quiet_blocks(market, NOON, 2))
    following = next(e.block_number for e in market.pools[POOL].events if e.block_number > block)
    return block, following


def test_history_wins_our_impact_lasts_until_the_pools_next_event(market: Market) -> None:
    block, following = _venue_case(market)
    venue = SimulatedVenue(market, ImpactRule.HISTORY_WINS)
    first = venue.quote(block + 1, [POOL], WETH, 50 * 10**18)
    venue.commit(first)

    state = market.state(POOL, block)
    ours = reference(state, WETH, 50 * 10**18)
    assert first[0].amount_out == ours.amount_out
    # Two blocks later the pool has had no event: the second swap starts where ours left it.
    (second,) = venue.quote(block + 2, [POOL], WETH, 10**18)
    assert second.amount_out == reference(after(ours, state), WETH, 10**18).amount_out
    assert second.amount_out < reference(state, WETH, 10**18).amount_out
    # After the pool's next event the file's state is taken as is.
    (later,) = venue.quote(following, [POOL], WETH, 10**18)
    assert later.amount_out == reference(market.state(POOL, following), WETH, 10**18).amount_out


def test_with_impact_persisting_our_earlier_swaps_are_settled_again_on_later_states(
    market: Market,
) -> None:
    block, following = _venue_case(market)
    venue = SimulatedVenue(market, ImpactRule.IMPACT_PERSISTS)
    venue.commit(venue.quote(block + 1, [POOL], WETH, 50 * 10**18))

    (later,) = venue.quote(following, [POOL], WETH, 10**18)
    state = market.state(POOL, following)
    ours_again = reference(state, WETH, 50 * 10**18)
    assert later.amount_out == reference(after(ours_again, state), WETH, 10**18).amount_out
    # A pool we never traded is untouched.
    other = USDC_WETH_3000.address
    (untouched,) = venue.quote(following, [other], WETH, 10**18)
    assert untouched.amount_out == simulate_exact_input(
        sqrt_price_x96=market.state(other, following).sqrt_price_x96,
        tick=market.state(other, following).tick,
        liquidity=market.state(other, following).liquidity, fee_pips=3000,
        tick_spacing=USDC_WETH_3000.tick_spacing, ticks=market.state(other, following).ticks,
        zero_for_one=False, amount_in=10**18,
    ).amount_out  # fmt: skip


def test_a_passive_order_sees_its_own_impact_only_while_the_pool_is_quiet(market: Market) -> None:
    # The same PASSIVE sale under both rules: with the history winning, every slice lands
    # after other trades re-anchored the pool; with the impact persisting it accumulates.
    cell = Cell(IntentType.DISPOSE, Decimal("200"), NOON, style=ExecutionStyle.PASSIVE,
                window_ms=600_000, max_slippage=Decimal("0.05"))  # fmt: skip
    wins = run_cell(cell, market)
    persists = run_cell(replace(cell, impact=ImpactRule.IMPACT_PERSISTS), market)
    assert wins.status is persists.status is IntentStatus.COMPLETED
    assert wins.fills[0].amount_out == persists.fills[0].amount_out  # nothing to carry yet
    for a, b in zip(wins.fills[1:], persists.fills[1:], strict=True):
        assert b.amount_out < a.amount_out
    assert persists.shortfall_bps is not None and wins.shortfall_bps is not None
    assert persists.shortfall_bps > wins.shortfall_bps


# -- the parts -----------------------------------------------------------------------------------


def test_block_times_follow_the_history_and_count_12_s_slots_between() -> None:
    t = datetime(2024, 1, 5, 12, 0, tzinfo=UTC)
    blocks = BlockTimes({100: t, 103: t + timedelta(seconds=40)})  # a missed slot before 103
    assert [blocks.timestamp(b) - t for b in (99, 100, 101, 102, 103, 104)] == [
        timedelta(seconds=s) for s in (-12, 0, 12, 24, 40, 52)
    ]
    assert blocks.head_at(t - timedelta(seconds=1)) == 99
    assert blocks.head_at(t - timedelta(seconds=12)) == 99
    assert blocks.head_at(t + timedelta(seconds=11)) == 100
    assert blocks.head_at(t + timedelta(seconds=39)) == 102
    assert blocks.head_at(t + timedelta(seconds=40)) == 103
    assert blocks.head_at(t + timedelta(seconds=64)) == 105


def test_the_router_calldata_the_adapter_builds_decodes_to_the_same_swap() -> None:
    adapter = UniswapV3Adapter(None, 1, MAINNET_V3)  # type: ignore[arg-type]  # no calls made
    me = "0x" + "ab" * 20
    for route in (Route((USDC, WETH), (500,)), Route((USDC, WETH, USDC), (500, 3000))):
        order = SwapOrder(route, 123, 45, me, 1_700_000_000)
        swap = decode_swap(adapter.swap_calldata(order, me))
        assert swap is not None
        assert (swap.tokens, swap.fees, swap.amount_in, swap.min_amount_out) == (
            route.tokens, route.fees, 123, 45)  # fmt: skip
        assert (swap.recipient.lower(), swap.deadline) == (me, 1_700_000_000)
    assert decode_swap(b"\x00" * 36) is None


def test_a_size_in_usd_is_converted_at_the_arrival_mid(market: Market) -> None:
    result = run_cell(
        Cell(IntentType.ACQUIRE, Decimal("10000"), NOON, size_unit=SizeUnit.USD), market
    )
    assert result.base_target == pytest.approx(10_000 / result.arrival_mid, rel=1e-6)
    assert result.status is IntentStatus.COMPLETED
    # ACQUIRE covers the slippage tolerance: at least the target arrives.
    assert result.base_filled >= result.base_target
