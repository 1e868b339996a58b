"""Exact pool math of `ExecutionEngine.quote` against an independent Python model of the
Uniswap contracts (TickMath, SqrtPriceMath, SwapMath, the V3 swap loop over a tick bitmap,
and V2's getAmountOut), rounding included."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_rust import ExecutionEngine

Q96 = 1 << 96
U256_MAX = (1 << 256) - 1
U160_MAX = (1 << 160) - 1
MIN_TICK, MAX_TICK = -887272, 887272
MIN_SQRT_RATIO = 4295128739
MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342


class Revert(Exception):
    """The contract would revert."""


# --- FullMath / UnsafeMath --------------------------------------------------------------


def mul_div(a: int, b: int, d: int) -> int:
    if d == 0:
        raise Revert("mulDiv by zero")
    r = a * b // d
    if r > U256_MAX:
        raise Revert("mulDiv overflow")
    return r


def mul_div_up(a: int, b: int, d: int) -> int:
    r = mul_div(a, b, d)
    if a * b % d:
        if r == U256_MAX:
            raise Revert("mulDivRoundingUp overflow")
        r += 1
    return r


def div_up(a: int, b: int) -> int:
    return a // b + (1 if a % b else 0)


# --- TickMath -----------------------------------------------------------------------------

# Q128 factors sqrt(1.0001)^-(2^i) for i = 0..19, as the contract tabulates them.
_TICK_FACTORS = [
    0xFFFCB933BD6FAD37AA2D162D1A594001,
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
]


def sqrt_ratio_at_tick(tick: int) -> int:
    abs_tick = abs(tick)
    if abs_tick > MAX_TICK:
        raise Revert("T")
    ratio = _TICK_FACTORS[0] if abs_tick & 1 else 1 << 128
    for bit in range(1, 20):
        if abs_tick & (1 << bit):
            ratio = (ratio * _TICK_FACTORS[bit]) >> 128
    if tick > 0:
        ratio = U256_MAX // ratio
    return (ratio >> 32) + (1 if ratio & 0xFFFFFFFF else 0)


def tick_at_sqrt_ratio(sqrt_p: int) -> int:
    """Greatest tick whose sqrt ratio is <= sqrt_p (the contract's specification)."""
    if not MIN_SQRT_RATIO <= sqrt_p < MAX_SQRT_RATIO:
        raise Revert("R")
    guess = math.floor(2 * math.log(sqrt_p / Q96) / math.log(1.0001))
    guess = max(MIN_TICK, min(MAX_TICK, guess))
    while guess > MIN_TICK and sqrt_ratio_at_tick(guess) > sqrt_p:
        guess -= 1
    while guess < MAX_TICK and sqrt_ratio_at_tick(guess + 1) <= sqrt_p:
        guess += 1
    return guess


# --- SqrtPriceMath ------------------------------------------------------------------------


def next_price_amount0_up(sqrt_p: int, liq: int, amount: int, add: bool) -> int:
    if amount == 0:
        return sqrt_p
    num1 = liq << 96
    product = amount * sqrt_p
    if add:
        if product <= U256_MAX and num1 + product <= U256_MAX:
            return mul_div_up(num1, sqrt_p, num1 + product)
        denominator = num1 // sqrt_p + amount
        if denominator > U256_MAX:
            raise Revert("add overflow")
        return div_up(num1, denominator)
    if product > U256_MAX or num1 <= product:
        raise Revert("amount0 remove")
    r = mul_div_up(num1, sqrt_p, num1 - product)
    if r > U160_MAX:
        raise Revert("uint160")
    return r


def next_price_amount1_down(sqrt_p: int, liq: int, amount: int, add: bool) -> int:
    if add:
        quotient = (amount << 96) // liq if amount <= U160_MAX else mul_div(amount, Q96, liq)
        r = sqrt_p + quotient
        if r > U160_MAX:
            raise Revert("uint160")
        return r
    quotient = div_up(amount << 96, liq) if amount <= U160_MAX else mul_div_up(amount, Q96, liq)
    if sqrt_p <= quotient:
        raise Revert("sqrtP <= quotient")
    return sqrt_p - quotient


def next_price_from_input(sqrt_p: int, liq: int, amount_in: int, zero_for_one: bool) -> int:
    if sqrt_p == 0 or liq == 0:
        raise Revert("zero price or liquidity")
    if zero_for_one:
        return next_price_amount0_up(sqrt_p, liq, amount_in, True)
    return next_price_amount1_down(sqrt_p, liq, amount_in, True)


def amount0_delta(a: int, b: int, liq: int, round_up: bool) -> int:
    a, b = min(a, b), max(a, b)
    if a == 0:
        raise Revert("zero price")
    num1, num2 = liq << 96, b - a
    if round_up:
        return div_up(mul_div_up(num1, num2, b), a)
    return mul_div(num1, num2, b) // a


def amount1_delta(a: int, b: int, liq: int, round_up: bool) -> int:
    a, b = min(a, b), max(a, b)
    return mul_div_up(liq, b - a, Q96) if round_up else mul_div(liq, b - a, Q96)


# --- SwapMath (exact input only) ------------------------------------------------------------


def compute_swap_step(current: int, target: int, liq: int, remaining: int, fee: int):
    zero_for_one = current >= target
    less_fee = mul_div(remaining, 10**6 - fee, 10**6)
    if zero_for_one:
        amount_in = amount0_delta(target, current, liq, True)
    else:
        amount_in = amount1_delta(current, target, liq, True)
    if less_fee >= amount_in:
        nxt = target
    else:
        nxt = next_price_from_input(current, liq, less_fee, zero_for_one)
    reached = nxt == target
    if zero_for_one:
        if not reached:
            amount_in = amount0_delta(nxt, current, liq, True)
        amount_out = amount1_delta(nxt, current, liq, False)
    else:
        if not reached:
            amount_in = amount1_delta(current, nxt, liq, True)
        amount_out = amount0_delta(current, nxt, liq, False)
    if nxt != target:
        fee_amount = remaining - amount_in
    else:
        fee_amount = mul_div_up(amount_in, fee, 10**6 - fee)
    return nxt, amount_in, amount_out, fee_amount


# --- The pool: tick bitmap and swap loop -----------------------------------------------------


@dataclass
class RefPool:
    fee: int
    spacing: int
    sqrt_p: int
    liquidity: int
    tick: int
    nets: dict[int, int]
    bitmap: dict[int, int] = field(default_factory=dict)
    last_crossed: int = 0

    def __post_init__(self) -> None:
        for t in self.nets:
            compressed = t // self.spacing
            word, bit = compressed >> 8, compressed % 256
            self.bitmap[word] = self.bitmap.get(word, 0) | (1 << bit)

    def next_initialized_within_word(self, tick: int, lte: bool) -> tuple[int, bool]:
        compressed = tick // self.spacing  # floor division: rounds towards -inf like the contract
        if lte:
            word, bit = compressed >> 8, compressed % 256
            masked = self.bitmap.get(word, 0) & ((1 << bit) - 1 + (1 << bit))
            if masked:
                return (compressed - (bit - (masked.bit_length() - 1))) * self.spacing, True
            return (compressed - bit) * self.spacing, False
        compressed += 1
        word, bit = compressed >> 8, compressed % 256
        masked = self.bitmap.get(word, 0) & ~((1 << bit) - 1)
        if masked:
            lsb = (masked & -masked).bit_length() - 1
            return (compressed + (lsb - bit)) * self.spacing, True
        return (compressed + (255 - bit)) * self.spacing, False

    def swap_exact_in(self, zero_for_one: bool, amount: int) -> tuple[int, int]:
        """Returns (input consumed, output)."""
        if amount == 0:
            return 0, 0
        if amount >= 1 << 255:
            raise Revert("int256")
        limit = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
        if not (limit < self.sqrt_p if zero_for_one else limit > self.sqrt_p):
            raise Revert("SPL")
        remaining, out = amount, 0
        price, liq, tick = self.sqrt_p, self.liquidity, self.tick
        self.last_crossed = 0
        while remaining and price != limit:
            start = price
            nxt, initialized = self.next_initialized_within_word(tick, zero_for_one)
            nxt = max(MIN_TICK, min(MAX_TICK, nxt))
            nxt_price = sqrt_ratio_at_tick(nxt)
            beyond = nxt_price < limit if zero_for_one else nxt_price > limit
            price, step_in, step_out, fee = compute_swap_step(
                price, limit if beyond else nxt_price, liq, remaining, self.fee
            )
            remaining -= step_in + fee
            out += step_out
            if price == nxt_price:
                if initialized:
                    net = self.nets[nxt]
                    liq += -net if zero_for_one else net
                    if liq < 0 or liq >= 1 << 128:
                        raise Revert("LS/LA")
                    self.last_crossed += 1
                tick = nxt - 1 if zero_for_one else nxt
            elif price != start:
                tick = tick_at_sqrt_ratio(price)
        return amount - remaining, out


def v2_amount_out(amount_in: int, r_in: int, r_out: int, fee_pips: int) -> int:
    if fee_pips == 3000:  # UniswapV2Library.getAmountOut, literally
        with_fee = amount_in * 997
        return with_fee * r_out // (r_in * 1000 + with_fee)
    with_fee = amount_in * (10**6 - fee_pips)
    return with_fee * r_out // (r_in * 10**6 + with_fee)


# --- Checks of the reference itself ----------------------------------------------------------


def test_reference_tick_math_matches_known_values() -> None:
    assert sqrt_ratio_at_tick(0) == Q96
    assert sqrt_ratio_at_tick(MIN_TICK) == MIN_SQRT_RATIO
    assert sqrt_ratio_at_tick(MAX_TICK) == MAX_SQRT_RATIO
    # Each tabulated factor must be sqrt(1.0001)^-(2^i) (up to the table's truncation):
    # check against 60-digit decimals for ticks that use every bit of the table.
    with localcontext() as ctx:
        ctx.prec = 60
        root = Decimal("1.0001").sqrt()
        for t in (1, -1, 1000, -54321, 200_000, -887_000, 524_287, -(2**19 + 1)):
            exact = root**t * Q96
            got = sqrt_ratio_at_tick(t)
            assert abs(Decimal(got) - exact) <= 2 + exact * Decimal("1e-24"), t
    assert tick_at_sqrt_ratio(MIN_SQRT_RATIO) == MIN_TICK
    assert tick_at_sqrt_ratio(MAX_SQRT_RATIO - 1) == MAX_TICK - 1
    assert tick_at_sqrt_ratio(Q96) == 0
    assert tick_at_sqrt_ratio(Q96 - 1) == -1


# --- Engine vs reference -----------------------------------------------------------------------


def _engine_with(pool: RefPool) -> ExecutionEngine:
    engine = ExecutionEngine()
    engine.upsert_v3_pool(
        "p",
        "T0",
        "T1",
        pool.fee,
        pool.spacing,
        pool.sqrt_p,
        pool.liquidity,
        pool.tick,
        sorted(pool.nets.items()),
    )
    return engine


def _check_swap(pool: RefPool, zero_for_one: bool, amount: int) -> None:
    engine = _engine_with(pool)
    token = "T0" if zero_for_one else "T1"
    try:
        consumed, expected = pool.swap_exact_in(zero_for_one, amount)
    except Revert:
        with pytest.raises(ValueError):
            engine.quote(["p"], token, amount)
        return
    if consumed != amount:  # price limit reached: a router's exact-input swap fails
        with pytest.raises(ValueError, match="insufficient liquidity"):
            engine.quote(["p"], token, amount)
        return
    assert engine.quote(["p"], token, amount) == expected


@st.composite
def v3_pools(draw: st.DrawFn, *, crossings: bool = False) -> RefPool:
    spacing = draw(st.sampled_from([1, 10, 60, 200]))
    lo_c, hi_c = -(MAX_TICK // spacing), MAX_TICK // spacing
    if crossings:
        # Many narrow positions packed around the price: a swap crosses hundreds of ticks.
        centre = draw(st.integers(lo_c + 2000, hi_c - 2000))
        span = draw(st.integers(30, 300))
        count = draw(st.integers(60, 160))
        liq_exp = draw(st.integers(10, 24))
        positions = []
        for _ in range(count):
            a = draw(st.integers(centre - span, centre + span))
            w = draw(st.integers(1, 20))
            positions.append((a * spacing, (a + w) * spacing, draw(st.integers(1, 10**liq_exp))))
        # A thinner full-range position keeps the pool from running dry, so big trades
        # cross the packed ticks instead of walking to the end of the price range.
        positions.append((lo_c * spacing, hi_c * spacing, 10**liq_exp // 10 + 1))
        current_c = centre
    else:
        current_c = draw(st.integers(lo_c + 1, hi_c - 2))
        count = draw(st.integers(0, 12))
        positions = []
        for _ in range(count):
            a = draw(st.integers(lo_c, hi_c - 1))
            b = draw(st.integers(a + 1, min(hi_c, a + draw(st.sampled_from([2, 50, 3000, 10**6])))))
            liq = draw(st.integers(1, 2 ** draw(st.sampled_from([20, 64, 100, 120]))))
            positions.append((a * spacing, b * spacing, liq))
    nets: dict[int, int] = {}
    for a, b, liq in positions:
        nets[a] = nets.get(a, 0) + liq
        nets[b] = nets.get(b, 0) - liq
    nets = {t: n for t, n in nets.items() if n != 0 or draw(st.booleans())}
    tick = current_c * spacing + draw(st.integers(0, spacing - 1))
    tick = max(MIN_TICK, min(MAX_TICK - 1, tick))
    lo_p, hi_p = sqrt_ratio_at_tick(tick), sqrt_ratio_at_tick(tick + 1)
    sqrt_p = draw(st.one_of(st.just(lo_p), st.integers(lo_p, hi_p - 1)))
    liquidity = sum(liq for a, b, liq in positions if a <= tick < b)
    fee = draw(st.sampled_from([100, 500, 3000, 10000, 0, 999_999]))
    return RefPool(fee, spacing, sqrt_p, liquidity, tick, nets)


amounts = st.one_of(
    st.integers(1, 10**6),
    st.integers(1, 2**128),
    st.builds(lambda e, m: m << e, st.integers(0, 250), st.integers(1, 2**5)),
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool=v3_pools(), zero_for_one=st.booleans(), amount=amounts)
def test_v3_swap_matches_contract_math(pool: RefPool, zero_for_one: bool, amount: int) -> None:
    _check_swap(pool, zero_for_one, amount)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool=v3_pools(crossings=True), zero_for_one=st.booleans(), data=st.data())
def test_v3_swap_crossing_hundreds_of_ticks_matches(
    pool: RefPool, zero_for_one: bool, data: st.DataObject
) -> None:
    # Size the trade to the pool's depth so it walks far through the packed ticks.
    depth = max(pool.liquidity, 1)
    scale = Q96 / pool.sqrt_p if zero_for_one else pool.sqrt_p / Q96
    amount = data.draw(
        st.integers(1, max(1, int(depth * scale * data.draw(st.sampled_from([0.001, 0.03, 0.3])))))
    )
    _check_swap(pool, zero_for_one, amount)


def _packed_pool(rng: random.Random) -> RefPool:
    """Hundreds of narrow positions around the price over a thin full-range position."""
    spacing = 1
    hi_c = MAX_TICK // spacing
    centre = rng.randint(-hi_c + 5000, hi_c - 5000)
    liq = 10 ** rng.randint(12, 24)
    nets = {-hi_c * spacing: liq // 10 + 1, hi_c * spacing: -(liq // 10 + 1)}
    current = liq // 10 + 1
    for _ in range(rng.randint(200, 400)):
        a = rng.randint(centre - 800, centre + 800)
        b = a + rng.randint(1, 8)
        amount = rng.randint(1, liq)
        nets[a * spacing] = nets.get(a * spacing, 0) + amount
        nets[b * spacing] = nets.get(b * spacing, 0) - amount
        if a <= centre < b:
            current += amount
    tick = centre * spacing
    return RefPool(rng.choice([500, 3000]), spacing, sqrt_ratio_at_tick(tick), current, tick, nets)


def test_deep_swaps_crossing_hundreds_of_ticks_match() -> None:
    rng = random.Random(20240611)
    crossed = []
    for _ in range(40):
        pool = _packed_pool(rng)
        zero_for_one = rng.random() < 0.5
        # Size the trade to move the price ~1-8 %: hundreds of packed ticks.
        frac = rng.uniform(0.01, 0.08)
        scale = Q96 / pool.sqrt_p if zero_for_one else pool.sqrt_p / Q96
        amount = max(1, int(pool.liquidity * scale * frac))
        _check_swap(pool, zero_for_one, amount)
        crossed.append(pool.last_crossed)
    assert sum(c >= 100 for c in crossed) >= 20, crossed


def test_crossing_many_ticks_really_happens() -> None:
    liq = 10**18
    nets = {-887272: liq, 887272: -liq}  # full range
    for i in range(-400, 400, 2):  # 400 one-tick positions: 800 initialised ticks
        nets[i] = nets.get(i, 0) + liq
        nets[i + 1] = nets.get(i + 1, 0) - liq
    pool = RefPool(3000, 1, Q96, 2 * liq, 0, nets)  # tick 0 is inside [0, 1)
    amount = 10**17
    consumed, out = pool.swap_exact_in(True, amount)
    assert consumed == amount
    assert pool.last_crossed >= 400
    assert _engine_with(pool).quote(["p"], "T0", amount) == out


@settings(max_examples=300, deadline=None)
@given(
    tick=st.one_of(
        st.integers(MIN_TICK, MIN_TICK + 5000),
        st.integers(MAX_TICK - 5000, MAX_TICK - 1),
        st.integers(MIN_TICK, MAX_TICK - 1),
    ),
    spacing=st.sampled_from([10, 60, 200]),
    zero_for_one=st.booleans(),
    amount=amounts,
    liq=st.integers(1, 2**127 - 1),  # liquidity_net is an int128
)
def test_v3_full_range_at_extreme_prices(
    tick: int, spacing: int, zero_for_one: bool, amount: int, liq: int
) -> None:
    lo, hi = -(MAX_TICK // spacing) * spacing, (MAX_TICK // spacing) * spacing
    if not lo <= tick < hi:
        tick = max(lo, min(hi - 1, tick))
    pool = RefPool(3000, spacing, sqrt_ratio_at_tick(tick), liq, tick, {lo: liq, hi: -liq})
    _check_swap(pool, zero_for_one, amount)


@settings(max_examples=2000, deadline=None)
@given(
    r_in=st.integers(1, 2**112 - 1),
    r_out=st.integers(1, 2**112 - 1),
    amount=st.one_of(st.integers(0, 10**9), st.integers(0, 2**112)),
    fee=st.sampled_from([3000, 3000, 0, 500, 10000, 250]),
)
def test_v2_matches_get_amount_out(r_in: int, r_out: int, amount: int, fee: int) -> None:
    engine = ExecutionEngine()
    engine.upsert_v2_pool("v2", "A", "B", r_in, r_out, fee_pips=fee)
    assert engine.quote(["v2"], "A", amount) == v2_amount_out(amount, r_in, r_out, fee)
    assert engine.quote(["v2"], "B", amount) == v2_amount_out(amount, r_out, r_in, fee)


def test_two_hop_quote_chains_exactly() -> None:
    engine = ExecutionEngine()
    engine.upsert_v2_pool("ab", "A", "B", 10**24, 3 * 10**21)
    pool = RefPool(500, 10, Q96, 10**22, 0, {-887270: 10**22, 887270: -(10**22)})
    engine.upsert_v3_pool("bc", "B", "C", 500, 10, Q96, 10**22, 0, sorted(pool.nets.items()))
    mid = v2_amount_out(10**20, 10**24, 3 * 10**21, 3000)
    _, out = pool.swap_exact_in(True, mid)
    assert engine.quote(["ab", "bc"], "A", 10**20) == out


def test_invalid_inputs_raise_value_error() -> None:
    engine = ExecutionEngine()
    engine.upsert_v2_pool("v2", "A", "B", 10**18, 10**18)
    with pytest.raises(ValueError, match="unknown pool"):
        engine.quote(["nope"], "A", 1)
    with pytest.raises(ValueError, match="unknown token"):
        engine.quote(["v2"], "Z", 1)
    with pytest.raises(ValueError, match="non-negative"):
        engine.quote(["v2"], "A", -1)
    with pytest.raises(ValueError, match="uint256"):
        engine.quote(["v2"], "A", 1 << 256)
    with pytest.raises(ValueError, match="overflow"):
        engine.quote(["v2"], "A", (1 << 256) - 1)
    with pytest.raises(ValueError):
        engine.upsert_v2_pool("bad", "A", "A", 1, 1)
    with pytest.raises(ValueError):
        engine.upsert_v2_pool("bad", "A", "B", 1, 1, fee_pips=10**6)
    with pytest.raises(ValueError, match="does not match"):
        engine.upsert_v3_pool("v3", "A", "B", 3000, 60, Q96, 1, 500, [])
    with pytest.raises(ValueError, match="multiple"):
        engine.upsert_v3_pool("v3", "A", "B", 3000, 60, Q96, 1, 0, [(61, 1)])
    with pytest.raises(ValueError, match="uint128"):
        engine.upsert_v3_pool("v3", "A", "B", 3000, 60, Q96, 1 << 128, 0, [])
    with pytest.raises(ValueError):
        engine.upsert_v3_pool("v3", "A", "B", 3000, 60, Q96, 1, 0, [(60, 1 << 127)])
    with pytest.raises(ValueError):
        engine.upsert_v3_pool("v3", "A", "B", 3000, 60, MAX_SQRT_RATIO, 1, 0, [])
    with pytest.raises(ValueError, match="out of range"):
        engine.upsert_v2_pool("bad", "A", "B", 1, 1, fee_pips=-1)
    with pytest.raises(ValueError, match="out of range"):
        engine.upsert_v3_pool("v3", "A", "B", 3000, 60, Q96, 1, 2**40, [])
    with pytest.raises(TypeError):
        engine.upsert_v2_pool("bad", "A", "B", "1", 1)
    with pytest.raises(ValueError, match="out of range"):
        engine.optimize_route("A", "B", 10, max_hops=-1)
    assert engine.pool_count() == 1
    with pytest.raises(ValueError, match="unknown pool"):
        engine.remove_pool("v3")
    engine.remove_pool("v2")
    assert engine.pool_count() == 0
