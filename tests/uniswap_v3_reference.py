"""A reference model for the tests: Uniswap V3 swap arithmetic in exact integers, step for
step as the pool contract does it. The platform itself quotes with the Rust
`ExecutionEngine`; this model is what pool state read from the chain is checked with.

The result of `simulate_exact_input` equals the pool's (and so QuoterV2's) output to the wei:
same rounding in every step, and the same step boundaries, including the tick-bitmap word
edges a swap stops at even where no tick is initialised.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from platform_core.market.pool_state import V3PoolState

Q96 = 1 << 96
MIN_TICK, MAX_TICK = -887272, 887272
MIN_SQRT_RATIO = 4295128739
MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342
FEE_DENOMINATOR = 1_000_000
_MAX_UINT256 = (1 << 256) - 1

# sqrt(1.0001)^-(2^i) in Q128.128, for bit i of |tick| (the pool's TickMath table).
_RATIO_FACTORS = (
    0xFFF97272373D413259A46990580E213A,
    0xFFF2E50F5F656932EF12357CF3C7FDCC,
    0xFFE5CACA7E10E4E61C3624EAA0941CD0,
    0xFFCB9843D60F6159C9DB58835C926644,
    0xFF973B41FA98C081472E6896DFB254C0,
    0xFF2EA16466C96A3843EC78B326B52861,
    0xFE5DEE046A99A2A811C461F1969C3053,
    0xFCBE86C7900A88AEDCFFC83B479AA3A4,
    0xF987A7253AC413176F2B074CF7815E54,
    0xF3392B0822B70005940C7A398E4B70F3,
    0xE7159475A2C29B7443B29C7FA6E889D9,
    0xD097F3BDFD2022B8845AD8F792AA5825,
    0xA9F746462D870FDF8A65DC1F90E061E5,
    0x70D869A156D2A1B890BB3DF62BAF32F7,
    0x31BE135F97D08FD981231505542FCFA6,
    0x9AA508B5B7A84E1C677DE54F3E99BC9,
    0x5D6AF8DEDB81196699C329225EE604,
    0x2216E584F5FA1EA926041BEDFE98,
    0x48A170391F7DC42444E8FA2,
)


def mul_div(a: int, b: int, d: int) -> int:
    return a * b // d


def mul_div_up(a: int, b: int, d: int) -> int:
    return -(-a * b // d)


def div_up(a: int, d: int) -> int:
    return -(-a // d)


def sqrt_ratio_at_tick(tick: int) -> int:
    """sqrt(1.0001^tick) as Q64.96, rounded up, exactly as `TickMath.getSqrtRatioAtTick`."""
    if not MIN_TICK <= tick <= MAX_TICK:
        raise ValueError(f"tick {tick} out of range")
    abs_tick = abs(tick)
    ratio = 0xFFFCB933BD6FAD37AA2D162D1A594001 if abs_tick & 1 else 1 << 128
    for bit, factor in enumerate(_RATIO_FACTORS, start=1):
        if abs_tick & (1 << bit):
            ratio = (ratio * factor) >> 128
    if tick > 0:
        ratio = _MAX_UINT256 // ratio
    return (ratio >> 32) + (0 if ratio % (1 << 32) == 0 else 1)


def tick_at_sqrt_ratio(sqrt_price_x96: int) -> int:
    """The greatest tick whose sqrt ratio is <= the price (`TickMath.getTickAtSqrtRatio`)."""
    if not MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO:
        raise ValueError("sqrt price out of range")
    low, high = MIN_TICK, MAX_TICK
    while low < high:
        mid = (low + high + 1) // 2
        if sqrt_ratio_at_tick(mid) <= sqrt_price_x96:
            low = mid
        else:
            high = mid - 1
    return low


def amount0_delta(sqrt_a: int, sqrt_b: int, liquidity: int, round_up: bool) -> int:
    if sqrt_a > sqrt_b:
        sqrt_a, sqrt_b = sqrt_b, sqrt_a
    numerator1, numerator2 = liquidity << 96, sqrt_b - sqrt_a
    if round_up:
        return div_up(mul_div_up(numerator1, numerator2, sqrt_b), sqrt_a)
    return mul_div(numerator1, numerator2, sqrt_b) // sqrt_a


def amount1_delta(sqrt_a: int, sqrt_b: int, liquidity: int, round_up: bool) -> int:
    if sqrt_a > sqrt_b:
        sqrt_a, sqrt_b = sqrt_b, sqrt_a
    if round_up:
        return mul_div_up(liquidity, sqrt_b - sqrt_a, Q96)
    return mul_div(liquidity, sqrt_b - sqrt_a, Q96)


def _next_price_from_amount0_up(sqrt_p: int, liquidity: int, amount: int) -> int:
    """Price after adding `amount` of token0 (exact input only), rounded up."""
    if amount == 0:
        return sqrt_p
    numerator1 = liquidity << 96
    product = amount * sqrt_p
    # The contract takes the precise formula unless a 256-bit intermediate overflows.
    if product <= _MAX_UINT256 and numerator1 + product <= _MAX_UINT256:
        return mul_div_up(numerator1, sqrt_p, numerator1 + product)
    return div_up(numerator1, numerator1 // sqrt_p + amount)


def _next_price_from_amount1_down(sqrt_p: int, liquidity: int, amount: int) -> int:
    """Price after adding `amount` of token1 (exact input only), rounded down."""
    return sqrt_p + (amount << 96) // liquidity


def compute_swap_step(
    sqrt_current: int, sqrt_target: int, liquidity: int, amount_remaining: int, fee_pips: int
) -> tuple[int, int, int, int]:
    """One exact-input step: (next sqrt price, amount in, amount out, fee amount)."""
    zero_for_one = sqrt_current >= sqrt_target
    remaining_less_fee = mul_div(amount_remaining, FEE_DENOMINATOR - fee_pips, FEE_DENOMINATOR)
    if zero_for_one:
        amount_in = amount0_delta(sqrt_target, sqrt_current, liquidity, True)
    else:
        amount_in = amount1_delta(sqrt_current, sqrt_target, liquidity, True)
    if remaining_less_fee >= amount_in:
        sqrt_next = sqrt_target
    elif liquidity == 0:
        sqrt_next = sqrt_current  # unreachable in a pool (target is returned first); guard
    elif zero_for_one:
        sqrt_next = _next_price_from_amount0_up(sqrt_current, liquidity, remaining_less_fee)
    else:
        sqrt_next = _next_price_from_amount1_down(sqrt_current, liquidity, remaining_less_fee)
    reached = sqrt_next == sqrt_target
    if zero_for_one:
        if not reached:
            amount_in = amount0_delta(sqrt_next, sqrt_current, liquidity, True)
        amount_out = amount1_delta(sqrt_next, sqrt_current, liquidity, False)
    else:
        if not reached:
            amount_in = amount1_delta(sqrt_current, sqrt_next, liquidity, True)
        amount_out = amount0_delta(sqrt_current, sqrt_next, liquidity, False)
    if not reached:
        fee_amount = amount_remaining - amount_in  # the remainder all goes to fees
    else:
        fee_amount = mul_div_up(amount_in, fee_pips, FEE_DENOMINATOR - fee_pips)
    return sqrt_next, amount_in, amount_out, fee_amount


@dataclass(frozen=True)
class SwapResult:
    amount_in: int  # consumed (less than asked when the price limit stops the swap)
    amount_out: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    ticks_crossed: int


def _next_tick_in_word(
    compressed_ticks: Sequence[int], tick: int, spacing: int, lte: bool
) -> tuple[int, bool]:
    """`TickBitmap.nextInitializedTickWithinOneWord` over a sorted list of initialised
    ticks divided by the spacing: the next initialised tick, or the edge of the 256-tick
    word when there is none in it."""
    compressed = tick // spacing  # floor division, as the contract rounds towards -inf
    if lte:
        word_start = (compressed >> 8) << 8
        i = bisect_right(compressed_ticks, compressed) - 1
        if i >= 0 and compressed_ticks[i] >= word_start:
            return compressed_ticks[i] * spacing, True
        return word_start * spacing, False
    nxt = compressed + 1
    word_end = ((nxt >> 8) << 8) + 255
    i = bisect_left(compressed_ticks, nxt)
    if i < len(compressed_ticks) and compressed_ticks[i] <= word_end:
        return compressed_ticks[i] * spacing, True
    return word_end * spacing, False


def simulate_exact_input(
    *,
    sqrt_price_x96: int,
    tick: int,
    liquidity: int,
    fee_pips: int,
    tick_spacing: int,
    ticks: Sequence[tuple[int, int]],
    zero_for_one: bool,
    amount_in: int,
    sqrt_price_limit_x96: int = 0,
) -> SwapResult:
    """The pool's `swap` for an exact input, from its state: slot0, liquidity, and every
    initialised tick as (tick, liquidity_net)."""
    if amount_in <= 0:
        raise ValueError("amount_in must be positive")
    if sqrt_price_limit_x96 == 0:  # QuoterV2's default: no limit
        sqrt_price_limit_x96 = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
    net = dict(ticks)
    compressed_ticks = sorted(t // tick_spacing for t in net)
    remaining, out, crossed = amount_in, 0, 0
    price, current_tick, active = sqrt_price_x96, tick, liquidity
    while remaining != 0 and price != sqrt_price_limit_x96:
        start = price
        next_tick, initialized = _next_tick_in_word(
            compressed_ticks, current_tick, tick_spacing, zero_for_one
        )
        next_tick = max(MIN_TICK, min(MAX_TICK, next_tick))
        sqrt_next = sqrt_ratio_at_tick(next_tick)
        beyond_limit = (
            sqrt_next < sqrt_price_limit_x96 if zero_for_one else sqrt_next > sqrt_price_limit_x96
        )
        target = sqrt_price_limit_x96 if beyond_limit else sqrt_next
        price, step_in, step_out, fee = compute_swap_step(
            price, target, active, remaining, fee_pips
        )
        remaining -= step_in + fee
        out += step_out
        if price == sqrt_next:
            if initialized:
                delta = net[next_tick]
                active += -delta if zero_for_one else delta
                crossed += 1
            current_tick = next_tick - 1 if zero_for_one else next_tick
        elif price != start:
            current_tick = tick_at_sqrt_ratio(price)
    return SwapResult(amount_in - remaining, out, price, current_tick, active, crossed)


def simulate_state(state: V3PoolState, token_in: str, amount_in: int) -> SwapResult:
    """`simulate_exact_input` on a pool state read from the chain."""
    zero_for_one = token_in.lower() == state.info.token0.lower()
    if not zero_for_one and token_in.lower() != state.info.token1.lower():
        raise ValueError(f"{token_in} is not in pool {state.info.address}")
    return simulate_exact_input(
        sqrt_price_x96=state.sqrt_price_x96,
        tick=state.tick,
        liquidity=state.liquidity,
        fee_pips=state.info.fee_pips,
        tick_spacing=state.info.tick_spacing,
        ticks=state.ticks,
        zero_for_one=zero_for_one,
        amount_in=amount_in,
    )
