"""Route optimiser benchmark: `ExecutionEngine.optimize_route` against baselines run here.

Prints, for each scenario, our figure beside the baseline's and the ratio:
  * latency per optimize_route call (p50, p99) on the mainnet snapshot and on generated
    graphs of 1,000 and 10,000 pools (3 hops, default splits), against the engine's former
    algorithm (amount-aware hop-bounded Bellman-Ford with a beam, then greedy chunked
    splitting over at most 4 paths) written in pure Python over a networkx MultiGraph. The
    baseline stops at the f64 decision: it does not re-settle in exact integer math as ours
    does, so it is favoured.
  * route quality: our exact output (the route's legs: a pool that several paths share
    traded once with their sum) against the convex optimum of the routing problem
    (cvxpy, any paths of at most 3 hops and any number of splits, solved in this run), gap
    in bps, on the project's constant-product graphs and on held-aside-style graphs (20-90
    pools, trades from $100 to far beyond one pool's depth), constant-product and mixed
    V2/V3 (each V3 pool modelled as the sum of its tick ranges, checked against exact
    quotes), beside the best single path and our allocation capped at 4 splits.

Figures are also written to `.run/bench/bench_routing.json`.
Run: python benchmarks/bench_routing.py [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field

import cvxpy as cp
import networkx as nx

from benchmarks.report import write_json
from platform_rust import ExecutionEngine, NoRouteError, build_profile
from tests.data_files import MAINNET_POOLS_SNAPSHOT as SNAPSHOT

FEE_PIPS = {"Lowest": 100, "Low": 500, "Medium": 3000, "High": 10000}
Q96 = float(1 << 96)
MIN_SQRT, MAX_SQRT = 5.421010862427522e-20, 1.844674407370955e19
MAX_HOPS, MAX_SPLITS, BEAM, CHUNKS = 3, 4, 3, 100


# --- Pool specs shared by both implementations ------------------------------------------------


@dataclass
class PoolSpec:
    pool_id: str
    token0: str
    token1: str
    fee: int
    v3: bool
    reserve0: int = 0
    reserve1: int = 0
    spacing: int = 0
    sqrt_price_x96: int = 0
    liquidity: int = 0
    tick: int = 0
    ticks: list[tuple[int, int]] = field(default_factory=list)


def upsert(engine: ExecutionEngine, p: PoolSpec) -> None:
    if p.v3:
        engine.upsert_v3_pool(
            p.pool_id, p.token0, p.token1, p.fee, p.spacing, p.sqrt_price_x96, p.liquidity,
            p.tick, p.ticks,
        )  # fmt: skip
    else:
        engine.upsert_v2_pool(p.pool_id, p.token0, p.token1, p.reserve0, p.reserve1, p.fee)


def snapshot_specs() -> list[PoolSpec]:
    specs = []
    for item in json.loads(SNAPSHOT.read_text()):
        t0, t1 = (t["symbol"] for t in item["tokens"])
        s = item["state"]["state"]
        if item["state"]["protocol"] == "UniswapV2State":
            specs.append(PoolSpec(f"{t0}/{t1}-v2", t0, t1, 3000, False,
                                  int(s["reserve0"], 16), int(s["reserve1"], 16)))  # fmt: skip
        else:
            fee = FEE_PIPS[s["fee"]]
            ticks = [(t["index"], t["net_liquidity"]) for t in s["ticks"]["ticks"]]
            specs.append(
                PoolSpec(
                    f"{t0}/{t1}-{fee}",
                    t0,
                    t1,
                    fee,
                    True,
                    spacing=s["ticks"]["tick_spacing"],
                    sqrt_price_x96=int(s["sqrt_price"], 16),
                    liquidity=s["liquidity"],
                    tick=s["tick"],
                    ticks=ticks,
                )
            )
    return specs


def v3_spec(
    pool_id: str, a: str, b: str, price: dict[str, float], tvl: float, rng: random.Random
) -> PoolSpec:
    """A V3 pool at the no-arbitrage price: full range plus a few positions around it."""
    fee, spacing = rng.choice([(500, 10), (3000, 60), (10000, 200)])
    ratio = price[a] / price[b]  # token1 per token0
    tick = math.floor(math.log(ratio) / math.log(1.0001))
    sqrt_p = int(1.0001 ** ((tick + 0.5) / 2) * Q96)  # mid-tick: clear of rounding edges
    base = int(tvl / 2 / price[b] * 1e18 / (sqrt_p / Q96))  # amount1 ~ L * sqrtP
    lo, hi = -(887272 // spacing) * spacing, (887272 // spacing) * spacing
    nets: dict[int, int] = {lo: base, hi: -base}
    liquidity = base
    for _ in range(rng.randint(2, 8)):
        centre = tick // spacing
        ta = (centre - rng.randint(1, 60)) * spacing
        tb = (centre + rng.randint(1, 60)) * spacing
        extra = int(base * rng.uniform(0.5, 5))
        nets[ta] = nets.get(ta, 0) + extra
        nets[tb] = nets.get(tb, 0) - extra
        liquidity += extra
    return PoolSpec(pool_id, a, b, fee, True, spacing=spacing, sqrt_price_x96=sqrt_p,
                    liquidity=liquidity, tick=tick, ticks=sorted(nets.items()))  # fmt: skip


def generated_specs(n_pools: int, rng: random.Random) -> tuple[list[PoolSpec], dict[str, float]]:
    """A hub-and-tail token graph, 70 % V2 / 30 % V3 pools, priced without arbitrage."""
    n_tokens = max(10, n_pools // 4)
    hubs = [f"H{i}" for i in range(5)]
    tails = [f"T{i}" for i in range(n_tokens - len(hubs))]
    price = {t: 10 ** rng.uniform(-3, 3) for t in hubs + tails}  # "USD" per raw unit * 1e18
    specs = []
    for i in range(n_pools):
        r = rng.random()
        if r < 0.15:
            a, b = rng.sample(hubs, 2)
        elif r < 0.75:
            a, b = rng.choice(tails), rng.choice(hubs)
        else:
            a, b = rng.sample(tails, 2)
        tvl = 10 ** rng.uniform(4, 8)
        if rng.random() < 0.7:
            r0 = int(tvl / 2 / price[a] * 1e18)
            r1 = int(tvl / 2 / price[b] * 1e18)
            specs.append(PoolSpec(f"p{i}", a, b, 3000, False, r0, r1))
            continue
        specs.append(v3_spec(f"p{i}", a, b, price, tvl, rng))
    return specs, price


# --- The baseline: the same search in pure Python over networkx ---------------------------------


class FloatPool:
    """f64 model of a pool (same closed forms as the engine's search layer)."""

    def __init__(self, p: PoolSpec) -> None:
        self.spec = p
        self.keep = 1 - p.fee / 1e6
        if p.v3:
            self.tick_sqrt = [1.0001 ** (t / 2) for t, _ in p.ticks]
            self.tick_net = [float(n) for _, n in p.ticks]
            below = sum(1 for t, _ in p.ticks if t <= p.tick)
            self.state: tuple = (p.sqrt_price_x96 / Q96, float(p.liquidity), below)
        else:
            self.state = (float(p.reserve0), float(p.reserve1))

    def swap(self, state: tuple, zero_for_one: bool, amount: float) -> tuple[float, tuple] | None:
        if not self.spec.v3:
            r0, r1 = state
            r_in, r_out = (r0, r1) if zero_for_one else (r1, r0)
            if r_in <= 0 or r_out <= 0:
                return None
            eff = amount * self.keep
            out = eff * r_out / (r_in + eff)
            new = (r_in + amount, r_out - out)
            return out, (new if zero_for_one else new[::-1])
        sqrt_p, liq, below = state
        rest, out = amount * self.keep, 0.0
        ticks, nets = self.tick_sqrt, self.tick_net
        while rest > 0:
            if zero_for_one:
                target = ticks[below - 1] if below > 0 else MIN_SQRT
                need = liq * (1 / target - 1 / sqrt_p) if liq > 0 else 0.0
                if rest < need:
                    nxt = 1 / (1 / sqrt_p + rest / liq)
                    out += liq * (sqrt_p - nxt)
                    return out, (nxt, liq, below)
                out += liq * max(sqrt_p - target, 0.0)
                rest -= max(need, 0.0)
                sqrt_p = target
                if below == 0:
                    return None
                below -= 1
                liq = max(liq - nets[below], 0.0)
            else:
                target = ticks[below] if below < len(ticks) else MAX_SQRT
                need = liq * (target - sqrt_p)
                if rest < need:
                    nxt = sqrt_p + rest / liq
                    out += liq * (1 / sqrt_p - 1 / nxt)
                    return out, (nxt, liq, below)
                out += liq * max(1 / sqrt_p - 1 / target, 0.0)
                rest -= max(need, 0.0)
                sqrt_p = target
                if below >= len(ticks):
                    return None
                liq = max(liq + nets[below], 0.0)
                below += 1
        return out, (sqrt_p, liq, below)


def nx_graph(specs: list[PoolSpec]) -> nx.MultiGraph:
    g = nx.MultiGraph()
    for p in specs:
        g.add_edge(p.token0, p.token1, key=p.pool_id, pool=FloatPool(p))
    return g


def nx_candidates(
    g: nx.MultiGraph, src: str, dst: str, amount: float, moved: dict | None = None
) -> list[tuple[float, list]]:
    dist = nx.single_source_shortest_path_length(g, dst, cutoff=MAX_HOPS - 1)
    layer = {src: [(amount, [], (src,))]}
    found = []
    for hop in range(1, MAX_HOPS + 1):
        left = MAX_HOPS - hop
        nxt: dict[str, list] = {}
        for token, labels in layer.items():
            for _, other, data in g.edges(token, data=True):
                if dist.get(other, 99) > left:
                    continue
                pool = data["pool"]
                zfo = token == pool.spec.token0
                for amt, path, seen in labels:
                    if other in seen:
                        continue
                    state = moved.get(pool, pool.state) if moved else pool.state
                    r = pool.swap(state, zfo, amt)
                    if r is None or r[0] <= 0:
                        continue
                    label = (r[0], [*path, (pool, zfo)], (*seen, other))
                    if other == dst:
                        found.append(label)
                    else:
                        beam = nxt.setdefault(other, [])
                        beam.append(label)
                        beam.sort(key=lambda x: -x[0])
                        del beam[BEAM:]
        layer = nxt
    found.sort(key=lambda x: -x[0])
    return [(f[0], f[1]) for f in found]


def nx_simulate(paths: list, amounts: list[float]) -> tuple[float, dict] | None:
    """Paths swapped one after another on a shared what-if state."""
    moved: dict = {}
    total = 0.0
    for path, amount in zip(paths, amounts, strict=True):
        if amount <= 0:
            continue
        a = amount
        for pool, zfo in path:
            r = pool.swap(moved.get(pool, pool.state), zfo, a)
            if r is None:
                return None
            a, moved[pool] = r
        total += a
    return total, moved


def nx_greedy(paths: list, amount: float) -> tuple[list[float], dict]:
    chunk, moved, alloc = amount / CHUNKS, {}, [0.0] * len(paths)
    for _ in range(CHUNKS):
        n_used = sum(1 for a in alloc if a > 0)
        best = None
        for i, path in enumerate(paths):
            if n_used >= MAX_SPLITS and not alloc[i]:
                continue
            a, states = chunk, []
            for pool, zfo in path:
                r = pool.swap(moved.get(pool, pool.state), zfo, a)
                if r is None:
                    break
                a = r[0]
                states.append((pool, r[1]))
            else:
                if best is None or a > best[0]:
                    best = (a, i, states)
        if best is None:
            break
        alloc[best[1]] += chunk
        moved.update(best[2])
    return alloc, moved


def nx_rebalance(paths: list, alloc: list[float], step: float) -> float:
    best = nx_simulate(paths, alloc)[0]
    for _ in range(6):
        for _ in range(3):
            improved = False
            for i in range(len(paths)):
                for j in range(len(paths)):
                    if i == j or alloc[i] < step:
                        continue
                    used = sum(1 for a in alloc if a > 0)
                    closes = alloc[i] - step <= 0
                    if alloc[j] <= 0 and used >= MAX_SPLITS and not closes:
                        continue
                    ai, aj = alloc[i], alloc[j]
                    alloc[i] = 0.0 if closes else ai - step
                    alloc[j] = aj + (ai - alloc[i])
                    r = nx_simulate(paths, alloc)
                    if r is not None and r[0] > best:
                        best, improved = r[0], True
                    else:
                        alloc[i], alloc[j] = ai, aj
            if not improved:
                break
        step /= 2
    return best


def nx_route(g: nx.MultiGraph, src: str, dst: str, amount: float) -> float:
    """The engine's algorithm in Python: search, greedy split, column generation, rebalance."""
    paths = nx_candidates(g, src, dst, amount)
    small = nx_candidates(g, src, dst, amount / (2 * MAX_SPLITS))
    offer = [p for _, p in paths[: MAX_SPLITS + 4]]
    for _, p in small[: MAX_SPLITS + 4]:
        if p not in offer:
            offer.append(p)
    if not offer:
        raise NoRouteError("no route")
    alloc, moved = nx_greedy(offer, amount)
    fresh = nx_candidates(g, src, dst, amount / CHUNKS, moved)
    extra = [p for _, p in fresh[:4] if p not in offer]
    if extra:
        offer += extra
        alloc, _ = nx_greedy(offer, amount)
    total = nx_rebalance(offer, alloc, amount / CHUNKS * 4)
    return max(total, paths[0][0] if paths else 0.0)


# --- Measurements -------------------------------------------------------------------------------


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def time_calls(fn, queries) -> tuple[list[float], int]:
    times, failures = [], 0
    for q in queries:
        t = time.perf_counter()
        try:
            fn(*q)
        except NoRouteError:
            failures += 1
        times.append((time.perf_counter() - t) * 1e3)
    return times, failures


def latency_rows(name: str, specs: list[PoolSpec], queries: list, baseline_n: int) -> list[tuple]:
    engine = ExecutionEngine()
    for p in specs:
        upsert(engine, p)
    g = nx_graph(specs)
    ours_fn = lambda a, b, amt: engine.optimize_route(a, b, amt, max_hops=MAX_HOPS)  # noqa: E731
    base_fn = lambda a, b, amt: nx_route(g, a, b, float(amt))  # noqa: E731
    time_calls(ours_fn, queries[:20])  # warm-up
    ours, fails = time_calls(ours_fn, queries)
    base, _ = time_calls(base_fn, queries[:baseline_n])
    rows = []
    for label, q in (("p50", 0.5), ("p99", 0.99)):
        o, b = percentile(ours, q), percentile(base, q)
        rows.append((f"{name} latency {label} (ms)", o, b, b / o))
    note = f"{len(queries)} queries ours ({fails} without route), {baseline_n} baseline"
    return [(*r, note) for r in rows]


def upsert_rows(specs: list[PoolSpec], n: int) -> list[tuple]:
    """Cost of streaming pool updates: new state for a known pool (the deepest tick list)."""
    engine = ExecutionEngine()
    g = nx_graph(specs)
    for p in specs:
        upsert(engine, p)
    rows = []
    for kind in ("V2", "V3"):
        pool = max((p for p in specs if p.v3 == (kind == "V3")), key=lambda p: len(p.ticks))
        ours, base = [], []
        for i in range(n):
            p = PoolSpec(**{**pool.__dict__, "reserve0": pool.reserve0 + i,
                            "liquidity": pool.liquidity + i})  # fmt: skip
            t = time.perf_counter()
            upsert(engine, p)
            ours.append((time.perf_counter() - t) * 1e6)
            t = time.perf_counter()
            g.edges[p.token0, p.token1, p.pool_id]["pool"] = FloatPool(p)
            base.append((time.perf_counter() - t) * 1e6)
        o, b = statistics.median(ours), statistics.median(base)
        note = f"existing pool, {len(pool.ticks)} ticks" if kind == "V3" else "existing pool"
        rows.append((f"upsert {kind} p50 (us)", o, b, b / o, note))
    return rows


def queries_for(specs: list[PoolSpec], price: dict[str, float], n: int, rng: random.Random):
    tokens = sorted({t for p in specs for t in (p.token0, p.token1)})
    hubs = [t for t in tokens if t.startswith("H")]
    out = []
    while len(out) < n:
        a = rng.choice(tokens)
        b = rng.choice(hubs) if rng.random() < 0.6 else rng.choice(tokens)
        if a == b:
            continue
        usd = 10 ** rng.uniform(2, 6)
        out.append((a, b, max(1, int(usd / price[a] * 1e18))))
    return out


def cp_graph(rng: random.Random) -> tuple[list[str], dict[str, float], list[tuple]]:
    """10 tokens: 3 hubs with deep pools (two fee-less-distinct copies), tails on hubs."""
    hubs, tails = ["K0", "K1", "K2"], [f"K{i}" for i in range(3, 10)]
    tokens = hubs + tails
    price = {t: 10 ** rng.uniform(-1, 1) for t in tokens}
    pairs = [(a, c) for i, a in enumerate(hubs) for c in hubs[i + 1 :]] * 2
    pairs += [(t, rng.choice(hubs)) for t in tails for _ in range(2)]
    pairs += [tuple(rng.sample(tails, 2)) for _ in range(4)]
    pools = []
    for i, (a, c) in enumerate(pairs):
        deep = a in hubs and c in hubs
        tvl = 10 ** rng.uniform(6, 7.5) if deep else 10 ** rng.uniform(5, 6.5)
        pools.append((f"c{i}", a, c, tvl / 2 / price[a], tvl / 2 / price[c]))
    return tokens, price, pools


def optimum_gap_rows(rng: random.Random, graphs: int, quick: bool) -> list[tuple]:
    """Our exact output vs convex optima on arbitrage-free constant-product graphs."""
    sizes = [3_000.0, 30_000.0] if quick else [1_000.0, 10_000.0, 30_000.0, 300_000.0]
    gaps: dict[str, list[float]] = {"ours": [], "ours4": [], "base": [], "ours_any": []}
    solve_ms = []
    for _ in range(graphs):
        tokens, price, pools = cp_graph(rng)
        scale = 1e12  # engine raw units per float unit
        engine = ExecutionEngine()
        specs = [PoolSpec(pid, a, b, 3000, False, int(r0 * scale), int(r1 * scale))
                 for pid, a, b, r0, r1 in pools]  # fmt: skip
        for spec in specs:
            upsert(engine, spec)
        g = nx_graph(specs)
        for size_usd in sizes:
            src, dst = rng.sample(tokens, 2)
            amount = size_usd / price[src]
            t = time.perf_counter()
            opt = convex_optimum(pools, tokens, src, dst, amount, MAX_HOPS)
            solve_ms.append((time.perf_counter() - t) * 1e3)
            opt_any = convex_optimum(pools, tokens, src, dst, amount, None)
            if not opt or not opt_any:
                continue
            raw = int(amount * scale)
            try:
                ours = engine.optimize_route(src, dst, raw).amount_out / scale
                ours4 = engine.optimize_route(src, dst, raw, max_splits=4).amount_out / scale
                base = nx_route(g, src, dst, amount * scale) / scale
            except NoRouteError:
                continue
            gaps["ours"].append((opt - ours) / opt * 1e4)
            gaps["ours4"].append((opt - ours4) / opt * 1e4)
            gaps["base"].append((opt - base) / opt * 1e4)
            gaps["ours_any"].append((opt_any - ours) / opt_any * 1e4)
    n = len(gaps["ours"])
    med, top = statistics.median, max
    return [
        ("gap to 3-hop optimum, median (bps)", med(gaps["ours"]), med(gaps["base"]), None,
         f"{n} trades $1k-$300k on {graphs} graphs solved; cvxpy optimum, any splits"),
        ("gap to 3-hop optimum, max (bps)", top(gaps["ours"]), top(gaps["base"]), None,
         "baseline: f64 plan, not settled"),
        ("  same with max_splits=4, median (bps)", med(gaps["ours4"]), None, None, ""),
        ("  same with max_splits=4, max (bps)", top(gaps["ours4"]), None, None, ""),
        ("gap to any-length optimum, max (bps)", top(gaps["ours_any"]), None, None,
         "optimum may use >3 hops"),
        ("cvxpy solve time p50 (ms)", None, med(solve_ms), None, "for scale"),
    ]  # fmt: skip


@dataclass
class Curve:
    """A constant-product market in float units: reserves `x` of `a` and `y` of `b`, input fee
    `1 - gamma`, paying out at most `cap_a` of `a` and `cap_b` of `b` (None: no cap).

    A V2 pool is one uncapped curve. A V3 pool is the sum of its tick ranges: each range is
    a constant product on virtual reserves (L / sqrtP, L * sqrtP) at the current price
    clamped into the range, capped at what moving the price to the range's ends pays out.
    Summing concave pieces keeps the routing problem convex."""

    a: str
    b: str
    x: float
    y: float
    gamma: float
    cap_a: float | None = None
    cap_b: float | None = None


def curves_of(p: PoolSpec, scale: float) -> list[Curve]:
    gamma = 1 - p.fee / 1e6
    if not p.v3:
        return [Curve(p.token0, p.token1, p.reserve0 / scale, p.reserve1 / scale, gamma)]
    curves, liquidity = [], 0
    sqrt_now = p.sqrt_price_x96 / Q96
    for (t_lo, net), (t_hi, _) in itertools.pairwise(p.ticks):
        liquidity += net
        if liquidity <= 0:
            continue
        s_lo, s_hi = 1.0001 ** (t_lo / 2), 1.0001 ** (t_hi / 2)
        s_at = min(max(sqrt_now, s_lo), s_hi)
        big_l = liquidity / scale
        x, y = big_l / s_at, big_l * s_at
        cap_a, cap_b = x - big_l / s_hi, y - big_l * s_lo
        if cap_a > 0 or cap_b > 0:
            curves.append(Curve(p.token0, p.token1, x, y, gamma, max(cap_a, 0.0), max(cap_b, 0.0)))
    return curves


def convex_optimum(
    pools, tokens, src: str, dst: str, amount: float, hops: int | None
) -> float | None:
    """Max output under each pool's fee-adjusted constant product (Angeris et al.); `pools`
    as `(id, a, b, reserve_a, reserve_b)` with a 0.3 % fee. See `curve_optimum`."""
    curves = [Curve(a, b, r0, r1, 0.997) for _, a, b, r0, r1 in pools]
    return curve_optimum(curves, tokens, src, dst, amount, hops)


def within_reach(curves: list[Curve], src: str, dst: str, hops: int) -> list[Curve]:
    """The curves on some walk of at most `hops` hops from `src` to `dst` (the others cannot
    carry flow in the layered problem: dropping them only makes the solve faster)."""
    g = nx.Graph([(c.a, c.b) for c in curves])
    if src not in g or dst not in g:
        return []
    d_src = nx.single_source_shortest_path_length(g, src, cutoff=hops)
    d_dst = nx.single_source_shortest_path_length(g, dst, cutoff=hops)
    far = hops + 1
    return [
        c for c in curves
        if min(d_src.get(c.a, far) + d_dst.get(c.b, far),
               d_src.get(c.b, far) + d_dst.get(c.a, far)) <= hops - 1
    ]  # fmt: skip


def curve_optimum(
    curves: list[Curve], tokens, src: str, dst: str, amount: float, hops: int | None
) -> float | None:
    """Max output of `amount` of `src` in `dst` over the curves (Angeris et al.).

    With `hops`, trades are layered by hop (tokens received at hop h feed hop h + 1 only)
    and each curve's constraint binds the sum over layers: the exact optimum over routes
    of at most `hops` hops with any number of splits. Without, any path length."""
    if hops is not None:
        curves = within_reach(curves, src, dst, hops)
    # The constraints are homogeneous: measure each token in units worth the trade size (at
    # the pools' spot prices) so the solver sees numbers near 1 (small trades on deep pools
    # otherwise fail to converge).
    unit = token_units(curves, src, amount)
    amount = 1.0
    layers = hops or 1
    tendered: dict[tuple[str, int], list] = {}
    received: dict[tuple[str, int], list] = {}
    cons = []
    for c in curves:
        r0, r1, gamma = c.x / unit.get(c.a, 1.0), c.y / unit.get(c.b, 1.0), c.gamma
        d = cp.Variable((layers, 2), nonneg=True)
        lam = cp.Variable((layers, 2), nonneg=True)
        d0, d1 = cp.sum(d[:, 0]), cp.sum(d[:, 1])
        l0, l1 = cp.sum(lam[:, 0]), cp.sum(lam[:, 1])
        # Each reserve relative to its start: terms near 1 whatever the pool's depth.
        cons.append(cp.geo_mean(cp.hstack([1 + (gamma * d0 - l0) / r0, 1 + (gamma * d1 - l1) / r1]))
                    >= 1)  # fmt: skip
        for cap, paid, tok in ((c.cap_a, l0, c.a), (c.cap_b, l1, c.b)):
            if cap is not None:
                cons.append(paid <= cap / unit.get(tok, 1.0))
        if hops is not None:
            # Each hop's trade must pay for itself too: without this the aggregate constraint
            # lets a pool hand out at hop 1 what it is paid at hop 3 (a 4-hop route in
            # disguise). Fresh reserves per hop make this a slight relaxation of sequential
            # trades on one pool, so the reported gap is an upper bound.
            for h in range(layers):
                cons.append(cp.geo_mean(cp.hstack([
                    1 + (gamma * d[h, 0] - lam[h, 0]) / r0, 1 + (gamma * d[h, 1] - lam[h, 1]) / r1,
                ])) >= 1)  # fmt: skip
        for h in range(layers):
            for side, tok in ((0, c.a), (1, c.b)):
                tendered.setdefault((tok, h), []).append(d[h, side])
                received.setdefault((tok, h), []).append(lam[h, side])
    total = lambda xs: cp.sum(cp.hstack(xs)) if xs else 0  # noqa: E731
    if hops is None:
        for t in tokens:
            flow = total(received.get((t, 0), [])) - total(tendered.get((t, 0), []))
            if t == src:
                cons.append(flow >= -amount)
            elif t != dst:
                cons.append(flow >= 0)
        objective = total(received.get((dst, 0), [])) - total(tendered.get((dst, 0), []))
    else:
        for t in tokens:
            for h in range(layers):
                out = total(tendered.get((t, h), []))
                if t == dst:
                    cons.append(out == 0)
                elif h == 0:
                    cons.append(out <= (amount if t == src else 0))
                else:
                    cons.append(out <= total(received.get((t, h - 1), [])))
        objective = total([total(received.get((dst, h), [])) for h in range(layers)])
    problem = cp.Problem(cp.Maximize(objective), cons)
    # An inaccurate solve is dropped below (status check), so its warning is only noise.
    warnings.filterwarnings("ignore", message="Solution may be inaccurate")
    # Clarabel's equilibration sometimes stalls short of its certificates on these cones;
    # without it, or with iterative refinement, the same problem often solves to OPTIMAL.
    for settings in (
        {},
        {"equilibrate_enable": False},
        {"iterative_refinement_reltol": 1e-15, "iterative_refinement_max_iter": 50},
    ):
        try:
            problem.solve(solver=cp.CLARABEL, **settings)
        except cp.SolverError:
            continue
        if problem.status == cp.OPTIMAL:
            return float(problem.value) * unit.get(dst, 1.0)
    return None


def token_units(curves: list[Curve], src: str, amount: float) -> dict[str, float]:
    """For each token, the quantity worth `amount` of `src` at spot prices (first found;
    tokens not connected to `src` are left out: measured in their own units)."""
    unit = {src: amount}
    frontier = [src]
    while frontier:
        nxt = []
        for t in frontier:
            for c in curves:
                if c.cap_a == 0 or c.cap_b == 0:
                    continue  # a tick range away from the price: not the spot price
                for here, there, per in ((c.a, c.b, c.y / c.x), (c.b, c.a, c.x / c.y)):
                    if here == t and there not in unit:
                        unit[there] = unit[t] * per
                        nxt.append(there)
        frontier = nxt
    return unit


# --- Optimality on held-aside-style graphs ------------------------------------------------------

SCALE = 1e18  # raw units per float unit in the graphs below


def aside_graph(rng: random.Random, v3_share: float) -> tuple[list[PoolSpec], dict[str, float]]:
    """20-90 pools on 6-15 tokens (3 hubs), arbitrage-free; V2 fees 0.05-1 %, a share of V3."""
    n_tokens, n_pools = rng.randint(6, 15), rng.randint(20, 90)
    tokens = [f"A{i}" for i in range(n_tokens)]
    hubs = tokens[:3]
    price = {t: 10 ** rng.uniform(-2, 2) for t in tokens}  # USD per float unit
    specs = []
    for i in range(n_pools):
        if rng.random() < 0.3:
            a, b = rng.sample(hubs, 2)
        elif rng.random() < 0.7:
            a, b = rng.choice(tokens[3:]), rng.choice(hubs)
        else:
            a, b = rng.sample(tokens, 2)
        tvl = 10 ** rng.uniform(4.5, 7)
        if rng.random() < v3_share:
            specs.append(v3_spec(f"q{i}", a, b, price, tvl, rng))
            continue
        fee = rng.choice([500, 3000, 3000, 10000])
        r0, r1 = int(tvl / 2 / price[a] * SCALE), int(tvl / 2 / price[b] * SCALE)
        specs.append(PoolSpec(f"q{i}", a, b, fee, False, r0, r1))
    return specs, price


def gap_bps(opt: float, got: float) -> float:
    return (opt - got) / opt * 1e4


def aside_rows(rng: random.Random, name: str, v3_share: float, graphs: int, trades: int) -> list:
    """Gap to the cvxpy 3-hop optimum: ours (default), capped at 4 splits, best single path."""
    gaps: dict[str, list[float]] = {"ours": [], "ours4": [], "single": []}
    solve_ms, ours_ms, skipped, impossible = [], [], 0, 0
    worst = (-math.inf, "")
    for g_i in range(graphs):
        specs, price = aside_graph(rng, v3_share)
        engine = ExecutionEngine()
        for spec in specs:
            upsert(engine, spec)
        tokens = sorted({t for p in specs for t in (p.token0, p.token1)})
        curves = [c for p in specs for c in curves_of(p, SCALE)]
        for _ in range(trades):
            src, dst = rng.sample(tokens, 2)
            log_usd = rng.uniform(2, 7.5)  # $100 to $30M: far beyond a pool
            amount = 10**log_usd / price[src]
            raw = int(amount * SCALE)
            try:
                t = time.perf_counter()
                ours = engine.optimize_route(src, dst, raw, max_hops=MAX_HOPS).amount_out
                ours_ms.append((time.perf_counter() - t) * 1e3)
                ours4 = engine.optimize_route(src, dst, raw, max_hops=MAX_HOPS, max_splits=4)
                single = engine.optimize_route(src, dst, raw, max_hops=MAX_HOPS, max_splits=1)
            except NoRouteError:
                skipped += 1
                continue
            t = time.perf_counter()
            opt = curve_optimum(curves, tokens, src, dst, amount, MAX_HOPS)
            solve_ms.append((time.perf_counter() - t) * 1e3)
            if not opt:
                skipped += 1
                continue
            if opt * price[dst] > 10**log_usd * (1 + 1e-6):
                # More value out than in on arbitrage-free pools: a failed solve that the
                # solver still calls OPTIMAL (seen with deep V3 ranges and small trades).
                impossible += 1
                continue
            gap = gap_bps(opt, ours / SCALE)
            if gap > worst[0]:
                worst = (gap, f"worst: graph {g_i} {src}->{dst} ${10**log_usd:,.0f}")
            gaps["ours"].append(gap)
            gaps["ours4"].append(gap_bps(opt, ours4.amount_out / SCALE))
            gaps["single"].append(gap_bps(opt, single.amount_out / SCALE))
    n = len(gaps["ours"])
    if not n:
        return [(f"{name}: no trade solved", None, None, None, f"{skipped} skipped")]
    med = statistics.median
    note = (f"{n} trades $100-$30M on {graphs} graphs of 20-90 pools ({skipped} skipped: "
            f"no route or cvxpy not OPTIMAL; {impossible} 'OPTIMAL' but more value out "
            "than in)")  # fmt: skip
    return [
        (f"{name}: gap to optimum, median (bps)", med(gaps["ours"]), med(gaps["single"]), None,
         note + "; baseline = best single path"),
        (f"{name}: gap to optimum, worst (bps)", max(gaps["ours"]), max(gaps["single"]), None,
         f"cvxpy 3-hop optimum, any splits, solved in this run; {worst[1]}"),
        (f"{name}: max_splits=4, median / worst (bps)", med(gaps["ours4"]), max(gaps["ours4"]),
         None, "ours capped at 4 splits: median (ours col.), worst (baseline col.)"),
        (f"{name}: our latency p50 (ms)", med(ours_ms), med(solve_ms), None,
         "baseline = cvxpy solve time p50"),
    ]  # fmt: skip


def v3_model_rows(rng: random.Random, pools: int) -> list[tuple]:
    """The cvxpy V3 model (sum of tick-range curves) against the engine's exact quote."""
    worst = 0.0
    price = {"X": 1.0, "Y": 10 ** rng.uniform(-2, 2)}
    for i in range(pools):
        spec = v3_spec(f"m{i}", "X", "Y", price, 10 ** rng.uniform(5, 7), rng)
        engine = ExecutionEngine()
        upsert(engine, spec)
        curves = curves_of(spec, SCALE)
        for usd in (100.0, 10_000.0, 300_000.0):
            raw = int(usd / price["X"] * SCALE)
            exact = engine.quote([spec.pool_id], "X", raw) / SCALE
            model = curve_optimum(curves, ["X", "Y"], "X", "Y", raw / SCALE, 1)
            if model:
                worst = max(worst, abs(model - exact) / exact * 1e4)
    return [("V3 cvxpy model vs exact quote, worst (bps)", worst, None, None,
             f"{pools} V3 pools, $100-$300k (ticks crossed)")]  # fmt: skip


def fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:,.3f}" if abs(v) < 1000 else f"{v:,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer queries (smoke run)")
    args = parser.parse_args()
    rng = random.Random(7)
    n_ours, n_base = (100, 5) if args.quick else (500, 20)
    rows: list[tuple] = []

    specs = snapshot_specs()
    sizes = [1, 100, 10_000, 1_000_000, 10_000_000, 50_000_000]
    queries = [("USDC", "WETH", s * 10**6) for s in sizes] + [
        ("WETH", "USDC", s * 10**15) for s in sizes
    ] + [("WBTC", "LINK", s * 100) for s in sizes]  # fmt: skip
    queries = (queries * (n_ours // len(queries) + 1))[:n_ours]
    rows += latency_rows("snapshot (19 pools)", specs, queries, min(len(queries), 3 * n_base))
    rows += upsert_rows(specs, 2_000)

    for n_pools in (1_000, 10_000):
        specs, price = generated_specs(n_pools, rng)
        queries = queries_for(specs, price, n_ours, rng)
        rows += latency_rows(f"{n_pools:,} pools", specs, queries, n_base)

    rows += optimum_gap_rows(rng, 3 if args.quick else 8, args.quick)
    graphs, trades = (2, 2) if args.quick else (8, 10)
    rows += v3_model_rows(rng, 2 if args.quick else 6)
    rows += aside_rows(rng, "constant-product graphs", 0.0, graphs, trades)
    rows += aside_rows(rng, "mixed V2/V3 graphs", 0.35, graphs, trades)

    print(f"\nplatform_rust build: {build_profile()}; hops={MAX_HOPS}; ours: default max_splits "
          f"(as many as pay), the Python baseline: max_splits={MAX_SPLITS}")  # fmt: skip
    header = ("scenario", "ours", "baseline", "baseline/ours", "notes")
    widths = (44, 12, 12, 14, 0)
    print("".join(h.ljust(w) if w else h for h, w in zip(header, widths, strict=True)))
    for name, ours, base, ratio, note in rows:
        cells = (name, fmt(ours), fmt(base), f"{ratio:,.0f}x" if ratio else "-", note)
        print("".join(c.ljust(w) if w else c for c, w in zip(cells, widths, strict=True)))
    records = [dict(zip(("scenario", "ours", "baseline", "ratio", "notes"), r, strict=True))
               for r in rows]  # fmt: skip
    print(f"figures in {write_json('bench_routing', {'quick': args.quick, 'rows': records})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
