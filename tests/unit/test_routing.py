"""`ExecutionEngine.optimize_route` on the real mainnet snapshot and on generated graphs."""

from __future__ import annotations

import itertools
import json
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from platform_rust import ExecutionEngine, NoRouteError, Route
from tests.data_files import MAINNET_POOLS_SNAPSHOT as SNAPSHOT

FEE_PIPS = {"Lowest": 100, "Low": 500, "Medium": 3000, "High": 10000}
USDC, WETH = 10**6, 10**18


def load_snapshot(engine: ExecutionEngine) -> list[str]:
    """Upserts every snapshot pool; tokens are named by symbol, pools `T0/T1-fee` or `-v2`."""
    ids = []
    for item in json.loads(SNAPSHOT.read_text()):
        t0, t1 = (t["symbol"] for t in item["tokens"])
        state = item["state"]["state"]
        if item["state"]["protocol"] == "UniswapV2State":
            pool_id = f"{t0}/{t1}-v2"
            engine.upsert_v2_pool(
                pool_id, t0, t1, int(state["reserve0"], 16), int(state["reserve1"], 16)
            )
        else:
            fee = FEE_PIPS[state["fee"]]
            pool_id = f"{t0}/{t1}-{fee}"
            ticks = [(t["index"], t["net_liquidity"]) for t in state["ticks"]["ticks"]]
            engine.upsert_v3_pool(
                pool_id, t0, t1, fee, state["ticks"]["tick_spacing"],
                int(state["sqrt_price"], 16), state["liquidity"], state["tick"], ticks,
            )  # fmt: skip
        ids.append(pool_id)
    return ids


@pytest.fixture(scope="module")
def mainnet() -> ExecutionEngine:
    engine = ExecutionEngine()
    assert len(load_snapshot(engine)) == engine.pool_count() == 19
    return engine


def check_route_consistency(engine: ExecutionEngine, route: Route, token_in: str) -> None:
    """Splits add up, hops chain, the legs carry the splits out, and the amounts are what
    exact quotes give."""
    assert route.splits, "a route always has at least one split"
    assert sum(s.amount_in for s in route.splits) == route.amount_in
    assert sum(s.amount_out for s in route.splits) == route.amount_out
    for split in route.splits:
        assert split.amount_in > 0
        assert split.hops[0].token_in == token_in
        assert split.hops[0].amount_in == split.amount_in
        assert split.hops[-1].amount_out == split.amount_out
        for a, b in itertools.pairwise(split.hops):
            assert a.token_out == b.token_in and a.amount_out == b.amount_in
    check_legs(engine, route, token_in)
    paths = [(s.pool_path, s.amount_in) for s in route.splits]
    if all(leg.inputs[0][0] is None for leg in route.legs):
        # One leg per path: they execute one after another, shared pools seeing the earlier
        # paths' impact.
        assert engine.quote_sequential(paths, token_in) == [s.amount_out for s in route.splits]
    pools = [p for s in route.splits for p in s.pool_path]
    if len(pools) == len(set(pools)):  # no pool shared: independent quotes add up exactly
        assert sum(engine.quote(p, token_in, a) for p, a in paths) == route.amount_out


def check_legs(engine: ExecutionEngine, route: Route, token_in: str) -> None:
    """Each leg spends what it names (the route's input, or earlier legs' outputs), every
    output but the route's is spent whole, and a leg's amounts are the exact quote of its
    pools on the state the legs before it left."""
    token_out = route.splits[0].hops[-1].token_out
    legs = route.legs
    assert sum(a for leg in legs for j, a in leg.inputs if j is None) == route.amount_in
    for i, leg in enumerate(legs):
        assert sum(a for _, a in leg.inputs) == leg.amount_in > 0
        assert all(j is None or j < i for j, _ in leg.inputs)
        assert leg.hops[0].amount_in == leg.amount_in and leg.hops[-1].amount_out == leg.amount_out
        spent = sum(a for later in legs for j, a in later.inputs if j == i)
        assert spent == (0 if leg.hops[-1].token_out == token_out else leg.amount_out)
    finals = [leg.amount_out for leg in legs if leg.hops[-1].token_out == token_out]
    assert sum(finals) == route.amount_out
    pools = [h.pool_id for leg in legs for h in leg.hops]
    if len(pools) == len(set(pools)):  # each pool traded once: each leg an exact quote
        for leg in legs:
            pool_path = [h.pool_id for h in leg.hops]
            assert engine.quote(pool_path, leg.hops[0].token_in, leg.amount_in) == leg.amount_out


SWEEP_USDC = [1, 10, 100, 1_000, 10_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000,
              20_000_000, 50_000_000]  # fmt: skip


def test_usdc_to_weth_size_sweep_is_sane(mainnet: ExecutionEngine) -> None:
    previous_out, previous_price = 0, float("inf")
    for usdc in SWEEP_USDC:
        amount = usdc * USDC
        route = mainnet.optimize_route("USDC", "WETH", amount)
        check_route_consistency(mainnet, route, "USDC")
        assert route.amount_out >= previous_out
        price = route.amount_out / amount
        assert price <= previous_price * (1 + 1e-9)
        # ETH traded around 2,700 USDC in the snapshot.
        assert 1 / 3_000 < price * USDC / WETH < 1 / 2_000 or usdc >= 3_000_000
        previous_out, previous_price = route.amount_out, price
        single = mainnet.optimize_route("USDC", "WETH", amount, max_splits=1)
        assert len(single.splits) == 1
        assert route.amount_out >= single.amount_out
        direct = max(
            mainnet.quote([p], "USDC", amount) for p in ("USDC/WETH-500", "USDC/WETH-3000")
        )
        assert single.amount_out >= direct


def test_large_trades_split_across_both_usdc_weth_tiers(mainnet: ExecutionEngine) -> None:
    for usdc in (10_000_000, 50_000_000):
        route = mainnet.optimize_route("USDC", "WETH", usdc * USDC)
        used = {p for s in route.splits for p in s.pool_path}
        assert {"USDC/WETH-500", "USDC/WETH-3000"} <= used
        single = mainnet.optimize_route("USDC", "WETH", usdc * USDC, max_splits=1)
        # Splitting a trade this size must pay clearly (> 1 %).
        assert route.amount_out > single.amount_out * 1.01


def test_weth_to_usdc_and_triangle_routes(mainnet: ExecutionEngine) -> None:
    route = mainnet.optimize_route("WETH", "USDC", 1_000 * WETH)
    check_route_consistency(mainnet, route, "WETH")
    assert 2_000 * 1_000 * USDC < route.amount_out < 3_000 * 1_000 * USDC
    # WBTC -> WETH: direct pool or through USDC/USDT; the best is never worse than direct.
    for btc in (1, 100, 2_000):
        route = mainnet.optimize_route("WBTC", "WETH", btc * 10**8)
        check_route_consistency(mainnet, route, "WBTC")
        assert route.amount_out >= mainnet.quote(["WBTC/WETH-3000"], "WBTC", btc * 10**8)
    # LINK is only reachable through WETH: two hops at least.
    route = mainnet.optimize_route("WBTC", "LINK", 10**8)
    check_route_consistency(mainnet, route, "WBTC")
    assert all(len(s.hops) >= 2 and s.pool_path[-1] == "LINK/WETH-3000" for s in route.splits)


def test_v2_pools_route(mainnet: ExecutionEngine) -> None:
    route = mainnet.optimize_route("PEPE", "USDC", 10**9 * WETH)  # 1e9 PEPE
    check_route_consistency(mainnet, route, "PEPE")
    assert route.splits[0].pool_path[0] == "PEPE/WETH-v2"
    with pytest.raises(NoRouteError):
        mainnet.optimize_route("PEPE", "USDC", WETH, max_hops=1)


def test_allowed_venues_and_errors(mainnet: ExecutionEngine) -> None:
    with pytest.raises(NoRouteError):
        mainnet.optimize_route("PEPE", "WETH", WETH, allowed_venues=["uniswap_v3"])
    route = mainnet.optimize_route("PEPE", "WETH", WETH, allowed_venues=["uniswap_v2"])
    assert [s.pool_path for s in route.splits] == [["PEPE/WETH-v2"]]
    with pytest.raises(NoRouteError, match=r"no path$"):  # isolated pair
        mainnet.optimize_route("XAUt", "WETH", 10**6)
    with pytest.raises(NoRouteError, match="absorb"):  # more USDC than all pools can take
        mainnet.optimize_route("USDC", "WETH", 2**200)
    with pytest.raises(ValueError, match="unknown token"):
        mainnet.optimize_route("DOGE", "WETH", 1)
    with pytest.raises(ValueError):
        mainnet.optimize_route("USDC", "USDC", 1)
    with pytest.raises(ValueError):
        mainnet.optimize_route("USDC", "WETH", 0)
    with pytest.raises(ValueError):
        mainnet.optimize_route("USDC", "WETH", -5)
    with pytest.raises(ValueError):
        mainnet.optimize_route("USDC", "WETH", 1 << 256)
    with pytest.raises(ValueError):
        mainnet.optimize_route("USDC", "WETH", 1, max_hops=0)
    with pytest.raises(ValueError):
        mainnet.optimize_route("USDC", "WETH", 1, max_splits=0)
    assert issubclass(NoRouteError, ValueError)


def test_gas_is_priced_in_the_output_token(mainnet: ExecutionEngine) -> None:
    gwei = 10**9
    small = mainnet.optimize_route("USDC", "WETH", 100 * USDC, gas_price_wei=30 * gwei)
    assert len(small.splits) == 1  # a second path's gas would cost more than it could gain
    assert small.gas_cost_out == small.gas_units * 30 * gwei  # output is the gas token
    assert small.amount_out_net == small.amount_out - small.gas_cost_out
    # Into USDC the gas cost is converted through the graph (~2,700 USDC per ETH).
    to_usdc = mainnet.optimize_route("WETH", "USDC", WETH, gas_price_wei=30 * gwei)
    eth_cost = to_usdc.gas_units * 30 * gwei
    assert 2_000 * USDC < to_usdc.gas_cost_out * WETH / eth_cost < 3_000 * USDC
    # Gas never makes the net result worse than the gas-blind route's net.
    big = 5_000_000 * USDC
    blind = mainnet.optimize_route("USDC", "WETH", big)
    aware = mainnet.optimize_route("USDC", "WETH", big, gas_price_wei=300 * gwei)
    blind_net = blind.amount_out - blind.gas_units * 300 * gwei
    assert aware.amount_out_net >= blind_net * (1 - 1e-6)
    # An absurd gas price still prices (near spot) and yields a negative net figure.
    absurd = mainnet.optimize_route("WETH", "USDC", WETH, gas_price_wei=2**120)
    assert absurd.amount_out_net < 0 < absurd.amount_out
    free = mainnet.optimize_route("USDC", "WETH", 100 * USDC)
    assert free.gas_cost_out == 0 and free.amount_out_net == free.amount_out


def test_depth_ladder_of_v3_and_v2_pools(mainnet: ExecutionEngine) -> None:
    for pool, token, dec_in, dec_out in (
        ("USDC/WETH-500", "WETH", 18, 6),
        ("USDC/WETH-3000", "USDC", 6, 18),
        ("PEPE/WETH-v2", "WETH", 18, 18),
    ):
        ladder = mainnet.depth_ladder(
            pool, token, levels=10, max_impact_bps=200.0, decimals_in=dec_in, decimals_out=dec_out
        )
        assert len(ladder) == 10
        for (p0, s0), (p1, s1) in itertools.pairwise(ladder):
            assert p1 < p0 and s1 > s0 > 0
        # Selling a level's size gets an average price between spot and that level's price.
        price, size = ladder[4]
        raw_in = int(size * 10**dec_in)
        got = mainnet.quote([pool], token, raw_in) / 10**dec_out / (raw_in / 10**dec_in)
        assert price <= got <= ladder[0][0] / (1 - 200e-4 / 10) * 1.0001
        per_level = mainnet.depth_ladder(
            pool, token, levels=10, max_impact_bps=200.0, decimals_in=dec_in,
            decimals_out=dec_out, cumulative=False,
        )  # fmt: skip
        assert sum(s for _, s in per_level) == pytest.approx(ladder[-1][1])
    with pytest.raises(ValueError):
        mainnet.depth_ladder("USDC/WETH-500", "PEPE")
    with pytest.raises(ValueError):
        mainnet.depth_ladder("nope", "WETH")


def test_upserts_and_removals_change_routes() -> None:
    engine = ExecutionEngine()
    engine.upsert_v2_pool("ab", "A", "B", 10**21, 10**21)
    with pytest.raises(ValueError, match="unknown token"):
        engine.optimize_route("A", "C", 10**18)
    engine.upsert_v2_pool("cd", "C", "D", 10**21, 10**21)
    with pytest.raises(NoRouteError):
        engine.optimize_route("A", "C", 10**18)
    engine.upsert_v2_pool("bc", "B", "C", 10**21, 10**21)
    assert [s.pool_path for s in engine.optimize_route("A", "C", 10**18).splits] == [["ab", "bc"]]
    engine.upsert_v2_pool("ac", "A", "C", 10**24, 10**24, venue="sushiswap")
    route = engine.optimize_route("A", "C", 10**18)
    assert route.splits[0].pool_path == ["ac"]
    engine.upsert_v2_pool("ac", "A", "C", 10**24, 10**20, venue="sushiswap")  # price crash
    assert engine.optimize_route("A", "C", 10**18).splits[0].pool_path == ["ab", "bc"]
    engine.remove_pool("bc")
    assert engine.pool_count() == 3
    assert engine.optimize_route("A", "C", 10**18).splits[0].pool_path == ["ac"]


def test_search_runs_while_another_thread_upserts(mainnet: ExecutionEngine) -> None:
    engine = ExecutionEngine()
    load_snapshot(engine)
    errors: list[BaseException] = []

    def search() -> None:
        try:
            for _ in range(30):
                engine.optimize_route("USDC", "WETH", 10**7 * USDC)
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=search) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(300):
        engine.upsert_v2_pool("churn", "USDC", f"X{i % 7}", 10**12, 10**12)
    for t in threads:
        t.join(timeout=60)
    assert not errors and not any(t.is_alive() for t in threads)


# --- Generated constant-product graphs --------------------------------------------------------


@st.composite
def v2_graphs(draw: st.DrawFn) -> list[tuple[str, str, str, int, int, int]]:
    n_tokens = draw(st.integers(3, 6))
    tokens = [f"T{i}" for i in range(n_tokens)]
    pools = []
    for i in range(draw(st.integers(3, 12))):
        a, b = draw(st.lists(st.sampled_from(tokens), min_size=2, max_size=2, unique=True))
        r0 = draw(st.integers(10**6, 10**24))
        # Prices within ~3 orders of magnitude so paths compete.
        r1 = max(1, r0 * draw(st.integers(1, 2000)) // 1000)
        fee = draw(st.sampled_from([3000, 500, 10000]))
        pools.append((f"p{i}", a, b, r0, r1, fee))
    return pools


def simple_paths(pools: list[tuple[str, str, str, int, int, int]], src: str, dst: str, hops: int):
    """Every path of distinct tokens from src to dst (brute force)."""
    stack = [(src, [], {src})]
    while stack:
        token, path, seen = stack.pop()
        if token == dst and path:
            yield path
            continue
        if len(path) == hops:
            continue
        for pid, a, b, *_ in pools:
            if token in (a, b):
                other = b if token == a else a
                if other not in seen:
                    stack.append((other, [*path, pid], seen | {other}))


@settings(max_examples=300, deadline=None)
@given(pools=v2_graphs(), size=st.integers(10**3, 10**23))
def test_split_never_below_the_best_single_path(pools, size: int) -> None:
    engine = ExecutionEngine()
    for pid, a, b, r0, r1, fee in pools:
        engine.upsert_v2_pool(pid, a, b, r0, r1, fee_pips=fee)
    brute = []
    for path in simple_paths(pools, "T0", "T1", 3):
        try:
            brute.append(engine.quote(path, "T0", size))
        except ValueError:
            pass
    if not brute:
        listed = {"T0", "T1"} <= {t for _, a, b, *_ in pools for t in (a, b)}
        with pytest.raises(NoRouteError if listed else ValueError):
            engine.optimize_route("T0", "T1", size)
        return
    best_single = max(brute)
    single = engine.optimize_route("T0", "T1", size, max_splits=1)
    split = engine.optimize_route("T0", "T1", size)
    check_route_consistency(engine, single, "T0")
    check_route_consistency(engine, split, "T0")
    assert single.amount_out == best_single
    assert split.amount_out >= best_single
