"""The tests' reference model of the V3 arithmetic, in isolation (its equality with
QuoterV2 is checked on the devnet in tests/integration/chain)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests import uniswap_v3_reference as m
from tests.uniswap_v3_reference import _next_tick_in_word

ticks = st.integers(m.MIN_TICK, m.MAX_TICK - 1)


def test_tick_math_bounds() -> None:
    assert m.sqrt_ratio_at_tick(0) == m.Q96
    assert m.sqrt_ratio_at_tick(m.MIN_TICK) == m.MIN_SQRT_RATIO
    assert m.sqrt_ratio_at_tick(m.MAX_TICK) == m.MAX_SQRT_RATIO
    assert m.tick_at_sqrt_ratio(m.MIN_SQRT_RATIO) == m.MIN_TICK
    assert m.tick_at_sqrt_ratio(m.MAX_SQRT_RATIO - 1) == m.MAX_TICK - 1


@given(ticks)
def test_tick_at_sqrt_ratio_inverts_sqrt_ratio_at_tick(tick: int) -> None:
    price = m.sqrt_ratio_at_tick(tick)
    assert m.tick_at_sqrt_ratio(price) == tick
    assert m.tick_at_sqrt_ratio(m.sqrt_ratio_at_tick(tick + 1) - 1) == tick
    assert price < m.sqrt_ratio_at_tick(tick + 1)


def test_next_tick_stops_at_word_edges_and_initialised_ticks() -> None:
    initialised = [-300, -3, 2, 400]  # compressed (spacing 10)
    assert _next_tick_in_word(initialised, 25, 10, lte=True) == (20, True)
    assert _next_tick_in_word(initialised, 19, 10, lte=True) == (0, False)  # word edge
    assert _next_tick_in_word(initialised, -1, 10, lte=True) == (-30, True)
    assert _next_tick_in_word(initialised, 20, 10, lte=False) == (2550, False)
    assert _next_tick_in_word(initialised, -40, 10, lte=False) == (-30, True)
    assert _next_tick_in_word(initialised, -3000, 10, lte=False) == (-2570, False)
    assert _next_tick_in_word(initialised, -3010, 10, lte=False) == (-3000, True)


@given(st.integers(1, 10**24), st.integers(1, 10**24), st.sampled_from([100, 500, 3000, 10000]))
def test_a_step_never_creates_value(amount: int, liquidity: int, fee: int) -> None:
    current = m.sqrt_ratio_at_tick(0)
    target = m.sqrt_ratio_at_tick(-600)
    price, amount_in, amount_out, fee_amount = m.compute_swap_step(
        current, target, liquidity, amount, fee
    )
    assert target <= price <= current
    assert amount_in + fee_amount <= amount
    # At a price at or below 1, one token0 buys at most one token1.
    assert amount_out <= amount_in


def _pool(liquidity: int) -> dict[str, object]:
    return {
        "sqrt_price_x96": m.sqrt_ratio_at_tick(0),
        "tick": 0,
        "liquidity": liquidity,
        "fee_pips": 3000,
        "tick_spacing": 60,
        "ticks": [(-600, liquidity), (600, -liquidity)],
    }


def test_a_swap_through_the_whole_range_is_a_partial_fill() -> None:
    pool = _pool(10**18)
    small = m.simulate_exact_input(**pool, zero_for_one=True, amount_in=10**15)  # type: ignore[arg-type]
    assert small.amount_in == 10**15 and small.ticks_crossed == 0
    assert 0 < small.amount_out < 10**15
    huge = m.simulate_exact_input(**pool, zero_for_one=True, amount_in=10**24)  # type: ignore[arg-type]
    assert huge.ticks_crossed == 1 and huge.liquidity == 0
    assert huge.amount_in < 10**24  # stopped at the price limit with input left over
    assert huge.sqrt_price_x96 == m.MIN_SQRT_RATIO + 1
