"""`ExecutionEngine.optimize_route` allocation: venue-pure paths and the convex optimum."""

from __future__ import annotations

import random

import cvxpy as cp
import pytest

from platform_rust import ExecutionEngine, NoRouteError, Route
from tests.unit.test_routing import check_legs

E18 = 10**18


def venues_of(route: Route, venue: dict[str, str]) -> list[set[str]]:
    return [{venue[h.pool_id] for h in s.hops} for s in route.splits]


def test_single_venue_paths_keep_each_split_on_one_venue() -> None:
    # Cheapest A->B mixes venues: deep A->C on uniswap_v3, deep C->B on sushiswap.
    pools = {
        "ac_u": ("A", "C", 100, "uniswap_v3"),
        "cb_s": ("C", "B", 100, "sushiswap"),
        "ac_s": ("A", "C", 1, "sushiswap"),
        "cb_u": ("C", "B", 1, "uniswap_v3"),
        "ab_u": ("A", "B", 1, "uniswap_v3"),
    }
    engine = ExecutionEngine()
    for pid, (t0, t1, depth, name) in pools.items():
        engine.upsert_v2_pool(pid, t0, t1, depth * E18, depth * E18, 3000, name)
    venue = {pid: p[3] for pid, p in pools.items()}
    mixed = engine.optimize_route("A", "B", E18)
    assert any(len(v) > 1 for v in venues_of(mixed, venue))
    pure = engine.optimize_route("A", "B", E18, single_venue_paths=True)
    per_split = venues_of(pure, venue)
    assert all(len(v) == 1 for v in per_split)
    assert set().union(*per_split) == {"uniswap_v3", "sushiswap"}
    assert sum(s.amount_in for s in pure.splits) == E18
    assert pure.amount_out <= mixed.amount_out
    # Unchanged default: the keyword is optional and False.
    assert engine.optimize_route("A", "B", E18, single_venue_paths=False).amount_out == (
        mixed.amount_out
    )
    with pytest.raises(TypeError):
        engine.optimize_route("A", "B", E18, single_venue_paths="yes")  # type: ignore[arg-type]


# --- The allocation against the convex optimum (cvxpy) ------------------------------------------

HOPS = 3


def small_graph(
    seed: int,
) -> tuple[dict[str, float], list[tuple[str, str, str, float, float, int]]]:
    """5 tokens, 10 arbitrage-free constant-product pools (fees 0.05-1 %), in float units."""
    rng = random.Random(seed)
    tokens = [f"T{i}" for i in range(5)]
    price = {t: 10 ** rng.uniform(-1, 1) for t in tokens}
    pools = []
    for i in range(10):
        a, b = rng.sample(tokens, 2)
        tvl = 10 ** rng.uniform(5, 6.5)
        fee = rng.choice([500, 3000, 10000])
        pools.append((f"p{i}", a, b, tvl / 2 / price[a], tvl / 2 / price[b], fee))
    return price, pools


def within_reach(pools: list, src: str, dst: str) -> list:
    """Pools on some walk of at most HOPS hops from src to dst (the others carry no flow;
    leaving them out keeps the solver well conditioned)."""

    def dist(start: str) -> dict[str, int]:
        d, frontier = {start: 0}, [start]
        for k in range(1, HOPS):
            nxt = [y for x in frontier for p in pools for y in p[1:3] if x in p[1:3] and y not in d]
            for y in nxt:
                d.setdefault(y, k)
            frontier = nxt
        return d

    ds, dt = dist(src), dist(dst)
    far = HOPS
    return [p for p in pools
            if min(ds.get(p[1], far) + dt.get(p[2], far), ds.get(p[2], far) + dt.get(p[1], far))
            <= HOPS - 1]  # fmt: skip


def convex_optimum(pools, price: dict[str, float], src: str, dst: str, usd: float) -> float:
    """Max output over routes of at most HOPS hops, any splits (Angeris et al.), each token
    measured in units worth the trade. Trades are layered by hop; each pool's constant
    product binds the sum over layers and each layer alone (a slight relaxation: an upper
    bound on what sequential execution can get)."""
    unit = {t: usd / p for t, p in price.items()}
    pools = within_reach(pools, src, dst)
    tendered: dict[tuple[str, int], list] = {}
    received: dict[tuple[str, int], list] = {}
    cons = []
    for _, a, b, ra, rb, fee in pools:
        r0, r1, gamma = ra / unit[a], rb / unit[b], 1 - fee / 1e6
        d = cp.Variable((HOPS, 2), nonneg=True)
        lam = cp.Variable((HOPS, 2), nonneg=True)
        rows = [(cp.sum(d[:, 0]), cp.sum(d[:, 1]), cp.sum(lam[:, 0]), cp.sum(lam[:, 1]))]
        rows += [(d[h, 0], d[h, 1], lam[h, 0], lam[h, 1]) for h in range(HOPS)]
        for d0, d1, l0, l1 in rows:
            terms = cp.hstack([1 + (gamma * d0 - l0) / r0, 1 + (gamma * d1 - l1) / r1])
            cons.append(cp.geo_mean(terms) >= 1)
        for h in range(HOPS):
            for side, tok in ((0, a), (1, b)):
                tendered.setdefault((tok, h), []).append(d[h, side])
                received.setdefault((tok, h), []).append(lam[h, side])

    def total(xs: list) -> cp.Expression | float:
        return cp.sum(cp.hstack(xs)) if xs else 0.0

    for t in price:
        for h in range(HOPS):
            out = total(tendered.get((t, h), []))
            if t == dst:
                cons.append(out == 0)
            elif h == 0:
                cons.append(out <= (1.0 if t == src else 0.0))
            else:
                cons.append(out <= total(received.get((t, h - 1), [])))
    objective = total([total(received.get((dst, h), [])) for h in range(HOPS)])
    problem = cp.Problem(cp.Maximize(objective), cons)
    # Clarabel's equilibration sometimes stalls short of its certificates on these cones;
    # without it the same problem solves to OPTIMAL.
    for settings in ({}, {"equilibrate_enable": False}):
        problem.solve(solver=cp.CLARABEL, **settings)
        if problem.status == cp.OPTIMAL:
            break
    assert problem.status == cp.OPTIMAL
    return float(problem.value) * unit[dst]


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_allocation_is_within_5_bps_of_the_convex_optimum(seed: int) -> None:
    price, pools = small_graph(seed)
    scale = 10**18
    engine = ExecutionEngine()
    for pid, a, b, ra, rb, fee in pools:
        engine.upsert_v2_pool(pid, a, b, int(ra * scale), int(rb * scale), fee)
    rng = random.Random(seed)
    tokens = sorted({t for p in pools for t in p[1:3]})
    checked = 0
    for usd in (1_000.0, 100_000.0, 3_000_000.0):  # small to far beyond one pool's depth
        src, dst = rng.sample(tokens, 2)
        raw = int(usd / price[src] * scale)
        try:
            route = engine.optimize_route(src, dst, raw, max_hops=HOPS)
        except NoRouteError:
            continue
        single = engine.optimize_route(src, dst, raw, max_hops=HOPS, max_splits=1)
        optimum = convex_optimum(pools, price, src, dst, usd)
        gap_bps = (optimum - route.amount_out / scale) / optimum * 1e4
        assert gap_bps <= 5.0, (seed, src, dst, usd, gap_bps)
        assert route.amount_out >= single.amount_out
        assert sum(s.amount_in for s in route.splits) == raw
        # What the legs really give: each an exact quote on the state those before it left.
        check_legs(engine, route, src)
        # Never below the same paths swapped one after another, each pool once per path.
        paths = [(s.pool_path, s.amount_in) for s in route.splits]
        assert sum(engine.quote_sequential(paths, src)) <= route.amount_out
        checked += 1
    assert checked >= 2
