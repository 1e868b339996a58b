"""`decompose`: what is traded, how much, and when."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from platform_core.errors import PlanningError
from platform_core.execution import ExactOutputSizer
from platform_core.intent.decomposer import (
    decompose,
    slice_count,
    split_evenly,
    with_slippage_cover,
)
from tests.unit.pool_graphs import (
    CREATED_AT,
    DAI,
    LONELY,
    USDC,
    WBTC,
    WETH,
    asset,
    make_intent,
    small_graph,
    whole,
)

NOW = CREATED_AT + timedelta(seconds=2)


def fixed_price_sizer(price: int):
    """Pretends every unit out costs `price` units in; records what it was asked."""
    calls = []

    def sizer(token_in: str, token_out: str, amount_out: int) -> int:
        calls.append((token_in, token_out, amount_out))
        return amount_out * price

    sizer.calls = calls  # type: ignore[attr-defined]
    return sizer


def test_aggressive_dispose_sells_the_exact_amount_now() -> None:
    intent = make_intent("dispose", [asset(WETH, amount="2.25"), asset(USDC)])
    [order] = decompose(intent, {}, NOW)
    assert (order.index, order.token_in, order.token_out) == (0, WETH, USDC)
    assert order.amount_in == 2_250_000_000_000_000_000
    assert order.not_before is None and order.target_amount_out is None


@pytest.mark.parametrize(
    ("window_ms", "started_after_s", "slices"),
    [(300_000, 0, 5), (300_000, 2, 4), (10_000, 0, 2), (3_600_000, 0, 20), (86_400_000, 0, 20),
     (300_000, 240, 2), (1_000, 0, 2)],
)  # fmt: skip
def test_passive_slices_sum_exactly_and_fit_the_window(
    window_ms: int, started_after_s: int, slices: int
) -> None:
    intent = make_intent(
        "dispose", [asset(WETH, amount="7.000000000000000013"), asset(USDC)],
        style="passive", window_ms=window_ms,
    )  # fmt: skip
    now = CREATED_AT + timedelta(seconds=started_after_s)
    orders = decompose(intent, {}, now)
    assert len(orders) == slices
    assert [o.index for o in orders] == list(range(slices))
    total = 7 * 10**18 + 13
    assert sum(o.amount_in for o in orders) == total
    assert [o.amount_in for o in orders[:-1]] == [total // slices] * (slices - 1)
    assert orders[-1].amount_in == total - (slices - 1) * (total // slices)

    deadline = CREATED_AT + timedelta(milliseconds=window_ms)
    starts = [o.not_before for o in orders]
    assert starts[0] == now
    interval = (deadline - now) / slices
    for i, start in enumerate(starts):
        assert start is not None
        assert abs(start - (now + interval * i)) <= timedelta(microseconds=1)
    # The last slice still has one interval before the deadline.
    assert deadline - starts[-1] >= interval - timedelta(microseconds=1)


def test_slice_rule() -> None:
    assert [slice_count(ms) for ms in (1_000, 119_999, 120_000, 600_000, 10**8)] == [
        2, 2, 2, 10, 20,
    ]  # fmt: skip
    assert split_evenly(10, 3) == [3, 3, 4]
    assert split_evenly(2, 2) == [1, 1]


def test_passive_never_cuts_more_slices_than_base_units() -> None:
    intent = make_intent(
        "dispose", [asset(USDC, amount="0.000003"), asset(WETH)], style="passive",
        window_ms=3_600_000,
    )  # fmt: skip
    assert [o.amount_in for o in decompose(intent, {}, NOW)] == [1, 1, 1]


def test_dispose_percentage_of_the_portfolio_rounds_down() -> None:
    intent = make_intent("dispose", [asset(WETH, percentage="33.3"), asset(USDC)])
    held = 10**18 + 7
    [order] = decompose(intent, {WETH.lower(): held}, NOW)  # keys in any case
    assert order.amount_in == held * 333 // 1000


def test_acquire_percentage_buys_a_share_of_what_is_held() -> None:
    intent = make_intent("acquire", [asset(WETH, percentage="10"), asset(USDC)])
    sizer = fixed_price_sizer(3)
    decompose(intent, {WETH: whole(WETH, 4)}, NOW, sizer=sizer, cover_slippage=False)
    assert sizer.calls == [(USDC, WETH, whole(WETH, 0.4))]


def test_percentage_of_nothing_is_refused() -> None:
    intent = make_intent("dispose", [asset(WETH, percentage="50"), asset(USDC)])
    for portfolio in ({}, {WETH: 0}, {USDC: 10**9}):
        with pytest.raises(PlanningError) as err:
            decompose(intent, portfolio, NOW)
        assert err.value.code == "PERCENTAGE_OF_NOTHING"


def test_amount_rounding_to_zero_is_refused() -> None:
    intent = make_intent("dispose", [asset(WBTC, percentage="0.5"), asset(USDC)])
    with pytest.raises(PlanningError) as err:
        decompose(intent, {WBTC: 199}, NOW)
    assert err.value.code == "AMOUNT_TOO_SMALL"


def test_no_counter_asset_is_refused() -> None:
    intent = make_intent("dispose", [asset(WETH, amount="1"), asset(USDC, amount="5")])
    with pytest.raises(PlanningError) as err:
        decompose(intent, {}, NOW)
    assert err.value.code == "NO_COUNTER_ASSET"


def test_an_elapsed_window_is_refused() -> None:
    intent = make_intent("dispose", [asset(WETH, amount="1"), asset(USDC)], window_ms=5_000)
    with pytest.raises(PlanningError) as err:
        decompose(intent, {}, CREATED_AT + timedelta(seconds=5))
    assert err.value.code == "WINDOW_ELAPSED"


def test_acquire_without_a_sizer_is_refused() -> None:
    intent = make_intent("acquire", [asset(WETH, amount="1"), asset(USDC)])
    with pytest.raises(PlanningError) as err:
        decompose(intent, {}, NOW)
    assert err.value.code == "QUOTE_UNAVAILABLE"


def test_multi_asset_dispose_makes_one_order_per_asset() -> None:
    intent = make_intent(
        "dispose", [asset(WETH, amount="1"), asset(USDC), asset(WBTC, amount="0.5")]
    )
    orders = decompose(intent, {}, NOW)
    assert [(o.token_in, o.token_out, o.amount_in) for o in orders] == [
        (WETH, USDC, 10**18),
        (WBTC, USDC, 5 * 10**7),
    ]


def test_multi_asset_passive_orders_are_in_time_order() -> None:
    intent = make_intent(
        "acquire", [asset(WETH, amount="3"), asset(DAI, amount="100"), asset(USDC)],
        style="passive", window_ms=180_000,
    )  # fmt: skip
    sizer = fixed_price_sizer(2)
    orders = decompose(intent, {}, CREATED_AT, sizer=sizer, cover_slippage=False)
    assert [(o.token_out, o.target_amount_out) for o in orders] == [
        (WETH, 10**18), (DAI, 33333333333333333333),
        (WETH, 10**18), (DAI, 33333333333333333333),
        (WETH, 10**18), (DAI, 33333333333333333334),
    ]  # fmt: skip
    assert [o.amount_in for o in orders] == [2 * o.target_amount_out for o in orders]
    assert orders[0].not_before == orders[1].not_before < orders[2].not_before
    # Equal slices are sized once.
    assert len(sizer.calls) == 3


def test_slippage_cover_keeps_the_minimum_at_the_amount_asked() -> None:
    for amount in (1, 10**6, 15 * 10**17):
        for slippage in (Decimal("0.005"), Decimal("0.0001"), Decimal("0.5")):
            target = with_slippage_cover(amount, slippage)
            # Even split into 4 parts each floored, the minimums cover the amount.
            parts = split_evenly(target, 4)
            floors = sum(int(p * (1 - slippage)) for p in parts)
            assert floors >= amount
            assert target <= amount / (1 - slippage) + 16 / (1 - slippage) + 1


def test_acquire_is_sized_through_the_engine() -> None:
    graph = small_graph()
    sizer = ExactOutputSizer(graph.engine, allowed_venues=["uniswap_v3"])
    intent = make_intent("acquire", [asset(WETH, amount="150"), asset(USDC)])
    [order] = decompose(intent, {}, NOW, sizer=sizer)
    target = with_slippage_cover(whole(WETH, 150), Decimal("0.005"))
    assert (order.token_in, order.token_out, order.target_amount_out) == (USDC, WETH, target)
    out = sizer.output_for(USDC, WETH, order.amount_in)
    assert out is not None and out >= target
    # And not much more than needed: one ppm less input falls short.
    less = sizer.output_for(USDC, WETH, order.amount_in - order.amount_in // 10**6 - 1)
    assert less is not None and less < target


def test_acquire_beyond_the_liquidity_is_refused() -> None:
    sizer = ExactOutputSizer(small_graph().engine, allowed_venues=["uniswap_v3"])
    intent = make_intent("acquire", [asset(WETH, amount="5000"), asset(USDC)])
    with pytest.raises(PlanningError) as err:
        decompose(intent, {}, NOW, sizer=sizer)
    assert err.value.code == "INSUFFICIENT_LIQUIDITY"


def test_acquire_without_any_path_is_refused() -> None:
    sizer = ExactOutputSizer(small_graph().engine, allowed_venues=["uniswap_v3"])
    intent = make_intent("acquire", [asset(LONELY, amount="1"), asset(USDC)])  # V2 only
    with pytest.raises(PlanningError) as err:
        decompose(intent, {}, NOW, sizer=sizer)
    assert err.value.code == "NO_ROUTE"


def test_sizing_finds_the_input_without_a_reverse_estimate() -> None:
    # A one-way graph would leave no reverse estimate: the search still brackets the input
    # from a guess many orders of magnitude off (1 unit of USDC per unit of WETH).
    class OneWaySizer(ExactOutputSizer):
        def _reverse_estimate(self, token_in: str, token_out: str, amount_out: int) -> None:
            return None

    sizer = OneWaySizer(small_graph().engine, allowed_venues=["uniswap_v3"])
    amount_in = sizer(USDC, WETH, whole(WETH, 1.5))
    assert (sizer.output_for(USDC, WETH, amount_in) or 0) >= whole(WETH, 1.5)
    assert (sizer.output_for(USDC, WETH, amount_in * 999_998 // 10**6) or 0) < whole(WETH, 1.5)
