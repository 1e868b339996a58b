"""Decomposition: an intent becomes the child orders (exact-input swaps) that carry it out.

What is traded
    Every sized asset trades against the one counter asset (the asset with neither amount
    nor percentage). DISPOSE sells the sized amount exactly: the child order's input is that
    amount. ACQUIRE buys the sized amount, but swaps here are exact-input, so the input of
    counter asset is searched for (an `InputSizer`, normally `ExactOutputSizer` on the
    planner's engine) such that the routed output reaches the target. With
    `cover_slippage` (the default) the target is raised by the slippage tolerance, so that
    even the step's minimum output (expected x (1 - max_slippage)) is the amount asked for:
    the strategy gets at least what it asked, paying for at most `max_slippage` more.

Percentages
    A percentage sizes its asset against the strategy's holding of that same asset in the
    `portfolio` (token address -> balance in base units): "dispose 25 % of WETH" sells a
    quarter of the WETH held, "acquire 10 % of WETH" buys a tenth more than is held.

When
    AGGRESSIVE: one child order per sized asset, to run now (`not_before` None).
    PASSIVE: each sized asset is cut into N TWAP slices over the time left in the window,
    N = one per whole slice interval left (a minute unless the caller says otherwise), at
    least 2 and at most 20 (never more slices than base units). Slice i waits until
    `now + i x remaining / N`, so the last one starts a full interval before the deadline.
    Slice amounts are equal and the remainder of the division goes to the last slice, so
    they add up to the total exactly. Orders are numbered in time order (all assets' first
    slices, then the second ones, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from platform_core.errors import ErrorCode, PlanningError, PlatformError
from platform_core.types.events import ChildOrder
from platform_core.types.intent import ExecutionStyle, Intent, IntentType

Portfolio = Mapping[str, int]  # token address -> balance in base units

SLICE_INTERVAL_MS = 60_000
MIN_SLICES = 2
MAX_SLICES = 20
# Each split of a route floors its own minimum output, losing under one base unit apiece;
# covering the slippage adds this many units to the target so the minimums still add up.
FLOOR_SLACK_UNITS = 16


class InputSizer(Protocol):
    """The least input of `token_in` whose route yields at least `amount_out` of
    `token_out`; raises ValueError when no input does (a `PlatformError`'s code becomes
    the PlanningError's code, anything else NO_ROUTE)."""

    def __call__(self, token_in: str, token_out: str, amount_out: int) -> int: ...


@dataclass(frozen=True)
class Leg:
    """One pair to trade: `amount` is the sized asset's quantity in base units, sold exactly
    (exact_output False) or bought (exact_output True)."""

    token_in: str
    token_out: str
    amount: int
    exact_output: bool


def resolve_legs(intent: Intent, portfolio: Portfolio) -> list[Leg]:
    counter = intent.counter_asset
    if counter is None:
        raise PlanningError(
            ErrorCode.NO_COUNTER_ASSET,
            "every asset is sized: name one asset without amount or percentage to trade against",
        )
    balances = {address.lower(): balance for address, balance in portfolio.items()}
    legs = []
    for spec in intent.sized_assets:
        address = spec.asset.address
        if spec.percentage is not None:
            held = balances.get(address.lower(), 0)
            if held <= 0:
                raise PlanningError(
                    ErrorCode.PERCENTAGE_OF_NOTHING,
                    f"{spec.percentage} % of {spec.asset.symbol}, but the portfolio holds none",
                )
            numerator, denominator = spec.percentage.as_integer_ratio()
            amount = held * numerator // (denominator * 100)
        else:
            amount = spec.base_units()
        if amount <= 0:
            raise PlanningError(
                ErrorCode.AMOUNT_TOO_SMALL, f"{spec.asset.symbol} amount rounds to zero base units"
            )
        if intent.type is IntentType.ACQUIRE:
            legs.append(Leg(counter.asset.address, address, amount, exact_output=True))
        else:
            legs.append(Leg(address, counter.asset.address, amount, exact_output=False))
    return legs


def slice_count(remaining_ms: int, interval_ms: int = SLICE_INTERVAL_MS) -> int:
    return max(MIN_SLICES, min(MAX_SLICES, remaining_ms // interval_ms))


def split_evenly(total: int, parts: int) -> list[int]:
    """`parts` equal amounts, the remainder on the last one; they sum to `total` exactly."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    share = total // parts
    return [share] * (parts - 1) + [total - share * (parts - 1)]


def start_times(
    style: ExecutionStyle,
    now: datetime,
    remaining: timedelta,
    smallest_amount: int,
    interval_ms: int = SLICE_INTERVAL_MS,
) -> list[datetime | None]:
    """When each round of orders may start: once, now (AGGRESSIVE, None), or evenly over
    the time left, never more rounds than the smallest amount has base units (PASSIVE)."""
    if style is ExecutionStyle.AGGRESSIVE:
        return [None]
    slices = min(slice_count(remaining // timedelta(milliseconds=1), interval_ms), smallest_amount)
    return [now + remaining * i / slices for i in range(slices)]


def with_slippage_cover(amount_out: int, max_slippage: Decimal) -> int:
    """A target whose minimum output, target x (1 - slippage), is still `amount_out` after
    each split of the route rounds its own minimum down."""
    numerator, denominator = (1 - max_slippage).as_integer_ratio()
    wanted = (amount_out + FLOOR_SLACK_UNITS) * denominator
    return -(-wanted // numerator)  # ceiling division


def decompose(
    intent: Intent,
    portfolio: Portfolio,
    now: datetime,
    *,
    sizer: InputSizer | None = None,
    cover_slippage: bool = True,
    slice_interval_ms: int = SLICE_INTERVAL_MS,
) -> list[ChildOrder]:
    """The child orders that carry out `intent`, decided at `now` (see the module doc)."""
    deadline = intent.deadline
    remaining = deadline - now
    if remaining <= timedelta(0):
        raise PlanningError(ErrorCode.WINDOW_ELAPSED, f"the time window ended at {deadline}")
    legs = resolve_legs(intent, portfolio)
    if any(leg.exact_output for leg in legs) and sizer is None:
        raise PlanningError(ErrorCode.QUOTE_UNAVAILABLE, "ACQUIRE needs a sizer to price its input")

    schedule = start_times(
        intent.constraints.execution_style,
        now,
        remaining,
        min(leg.amount for leg in legs),
        slice_interval_ms,
    )

    sized: dict[tuple[str, str, int], int] = {}  # equal slices are sized once

    def input_for(leg: Leg, amount: int) -> tuple[int, int | None]:
        if not leg.exact_output:
            return amount, None
        assert sizer is not None
        target = (
            with_slippage_cover(amount, intent.constraints.max_slippage)
            if cover_slippage
            else amount
        )
        key = (leg.token_in, leg.token_out, target)
        if key not in sized:
            try:
                sized[key] = sizer(leg.token_in, leg.token_out, target)
            except ValueError as exc:  # no route at all, or none deep enough
                if isinstance(exc, PlatformError):
                    raise PlanningError(exc.code, exc.message) from exc
                raise PlanningError(ErrorCode.NO_ROUTE, str(exc)) from exc
        return sized[key], target

    per_leg = [split_evenly(leg.amount, len(schedule)) for leg in legs]
    orders: list[ChildOrder] = []
    for slot, not_before in enumerate(schedule):
        for leg, amounts in zip(legs, per_leg, strict=True):
            amount_in, target = input_for(leg, amounts[slot])
            orders.append(
                ChildOrder(
                    index=len(orders),
                    token_in=leg.token_in,
                    token_out=leg.token_out,
                    amount_in=amount_in,
                    not_before=not_before,
                    target_amount_out=target,
                )
            )
    return orders
