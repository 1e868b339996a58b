"""Exact-output sizing on an exact-input router.

The engine only answers "how much comes out for this much in". To buy a given amount we
search the input: a reverse estimate (what selling the wanted output would fetch), then
proportional steps until an input is found whose route reaches the target, then bisection
between the best input known to fall short and the least known to suffice. The answer is
always an input whose route was actually simulated to reach the target, never an
extrapolation, so planning the same input on the same graph gives at least that output.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import isqrt
from typing import Any

from platform_core.errors import ErrorCode, PlatformError
from platform_rust import ExecutionEngine, NoRouteError, Route

# Bisection stops once the bracket is this narrow relative to the input (1 ppm): beyond that
# the overpayment is below any fee or price tick.
RELATIVE_TOLERANCE = 10**6
MAX_BRACKET_STEPS = 16


def route_net_of_gas(
    engine: ExecutionEngine,
    token_in: str,
    token_out: str,
    amount_in: int,
    *,
    gas_price_wei: int,
    **options: Any,
) -> Route:
    """`engine.optimize_route` net of gas at `gas_price_wei`; where gas cannot be priced in
    `token_out` (no path from the gas token to it), the route as without a gas price, rather
    than no route at all."""
    try:
        return engine.optimize_route(
            token_in, token_out, amount_in, gas_price_wei=gas_price_wei, **options
        )
    except NoRouteError as exc:
        if not gas_price_wei or not str(exc).startswith("cannot price gas"):
            raise
    return engine.optimize_route(token_in, token_out, amount_in, gas_price_wei=0, **options)


class InsufficientLiquidityError(PlatformError, ValueError):
    """No input amount makes the reachable pools yield the wanted output."""

    code = ErrorCode.INSUFFICIENT_LIQUIDITY


class NoPathError(PlatformError, ValueError):
    """No amount of any size finds a path between the tokens."""

    code = ErrorCode.NO_ROUTE


class ExactOutputSizer:
    """Finds the least input (within 1 ppm) whose optimised route yields `amount_out`."""

    def __init__(
        self,
        engine: ExecutionEngine,
        *,
        max_hops: int = 3,
        max_splits: int | None = None,
        allowed_venues: Sequence[str] | None = None,
        gas_price_wei: int = 0,
        single_venue_paths: bool = False,
    ) -> None:
        # Route exactly as the planner will, so that planning the input found here picks
        # the same route and the same output.
        self._engine = engine
        self._max_hops = max_hops
        self._max_splits = max_splits
        self._allowed_venues = list(allowed_venues) if allowed_venues is not None else None
        self._gas_price_wei = gas_price_wei
        self._single_venue_paths = single_venue_paths

    def output_for(self, token_in: str, token_out: str, amount_in: int) -> int | None:
        """The routed output of `amount_in`, or None when the pools cannot take it."""
        try:
            return route_net_of_gas(
                self._engine,
                token_in,
                token_out,
                amount_in,
                max_hops=self._max_hops,
                max_splits=self._max_splits,
                allowed_venues=self._allowed_venues,
                gas_price_wei=self._gas_price_wei,
                single_venue_paths=self._single_venue_paths,
            ).amount_out
        except NoRouteError:  # also: no path can absorb this much
            return None

    def __call__(self, token_in: str, token_out: str, amount_out: int) -> int:
        if amount_out <= 0:
            raise ValueError("amount_out must be positive")
        short, enough = self._bracket(token_in, token_out, amount_out)
        while enough - short > max(1, enough // RELATIVE_TOLERANCE):
            middle = (short + enough) // 2
            out = self.output_for(token_in, token_out, middle)
            if out is not None and out >= amount_out:
                enough = middle
            else:
                short = middle
        return enough

    def _reverse_estimate(self, token_in: str, token_out: str, amount_out: int) -> int | None:
        # Selling the wanted output back gives roughly the input it costs (less two fees and
        # twice the impact, so it usually falls a little short: a good lower start).
        return self.output_for(token_out, token_in, amount_out)

    def _bracket(self, token_in: str, token_out: str, amount_out: int) -> tuple[int, int]:
        """(an input known to fall short, or 0; an input known to reach `amount_out`)."""
        short, too_large = 0, None
        back = self._reverse_estimate(token_in, token_out, amount_out)
        routed = back is not None  # some amount found a path (pools trade both ways)
        guess = max(1, back or amount_out)
        for _ in range(MAX_BRACKET_STEPS):
            out = self.output_for(token_in, token_out, guess)
            routed = routed or out is not None
            if out is not None and out >= amount_out:
                return short, guess
            if out is None:
                too_large = guess  # the pools cannot absorb it
            else:
                short = guess
                # Scale by the shortfall, a little generously since impact grows with size.
                scaled = guess * amount_out // out if out else guess * 16
                guess = max(scaled + scaled // 100, guess + 1)
            if too_large is not None and guess >= too_large:
                # Halve the bracket in log space: the first guess may be off by many orders
                # of magnitude (no reverse estimate), then arithmetically.
                guess = isqrt(max(short, 1) * too_large)
                if guess <= short:
                    guess = (short + too_large) // 2
                if guess <= short:
                    break
        if not routed:
            raise NoPathError(f"no path from {token_in} to {token_out}")
        raise InsufficientLiquidityError(
            f"no route from {token_in} yields {amount_out} of {token_out}"
        )
