//! Splitting the input across candidate paths by equalising marginal output.
//!
//! Routing over constant-function pools is a concave maximisation (Angeris et al.,
//! "Optimal Routing for Constant Function Market Makers"): over a fixed set of paths the
//! optimum gives every used path the same marginal output and no unused path a higher one.
//! A greedy chunk allocation starts near it and Newton steps (`equalise`) close the rest:
//! per path to open new ones, coupled over all used paths (`newton`) where they share
//! pools. All paths are simulated one after another on shared what-if pool states, so a
//! pool two paths use sees the sum of their flows: its liquidity is never counted twice;
//! the marginals are the exact derivatives of that sequential output (`gradient`).

use super::gradient::{self, SwapRecord};
use super::graph::{Graph, PoolIdx};
use super::newton;
use super::pool_map::PoolMap;
use super::search::{Hop, MAX_HOPS};
use crate::pool_math::approx::{self, ApproxState};

/// Gas a hop costs on chain, by pool kind, and per initialised tick crossed (V3).
pub const GAS_PER_V2_HOP: u64 = 60_000;
pub const GAS_PER_V3_HOP: u64 = 100_000;
/// A leg's own transaction beyond its hops: the intrinsic 21,000, the router's entry and the
/// wallet's transfer in (a one-hop V2 swap uses about 120,000 gas on the devnet, its hop
/// 60,000).
pub const GAS_PER_EXTRA_LEG: u64 = 60_000;
pub const GAS_PER_TICK_CROSSED: u64 = 25_000;

/// What-if pool states on top of the graph.
#[derive(Debug, Default, Clone)]
pub struct ApproxOverlay {
    moved: PoolMap<ApproxState>,
}

impl ApproxOverlay {
    pub fn state<'g>(&'g self, graph: &'g Graph, p: PoolIdx) -> &'g ApproxState {
        self.moved.get(p).unwrap_or(&graph.pool(p).approx_state)
    }

    fn set(&mut self, p: PoolIdx, s: ApproxState) {
        self.moved.insert(p, s);
    }
}

/// Simulated path output and the states it leaves behind (not yet committed).
struct PathSim {
    out: f64,
    ticks: u32,
    states: Vec<(PoolIdx, ApproxState)>,
    /// Input each hop received.
    hop_in: [f64; MAX_HOPS],
}

fn simulate(graph: &Graph, overlay: &ApproxOverlay, hops: &[Hop], amount: f64) -> Option<PathSim> {
    let mut a = amount;
    let mut ticks = 0;
    let mut states = Vec::with_capacity(hops.len());
    let mut hop_in = [0.0; MAX_HOPS];
    for (k, h) in hops.iter().enumerate() {
        hop_in[k] = a;
        let pool = graph.pool(h.pool);
        let s = approx::swap(
            &pool.approx_params,
            overlay.state(graph, h.pool),
            h.zero_for_one,
            a,
        )?;
        a = s.amount_out;
        ticks += s.ticks_crossed;
        states.push((h.pool, s.state));
    }
    Some(PathSim {
        out: a,
        ticks,
        states,
        hop_in,
    })
}

/// Static gas of a swap through `pool`, before tick crossings.
pub fn pool_gas(graph: &Graph, pool: PoolIdx) -> u64 {
    if graph.pool(pool).is_v3() {
        GAS_PER_V3_HOP
    } else {
        GAS_PER_V2_HOP
    }
}

/// Static gas of a path (per hop, and per extra leg), before tick crossings.
pub fn hop_gas(graph: &Graph, hops: &[Hop]) -> u64 {
    let per_hop: u64 = hops.iter().map(|h| pool_gas(graph, h.pool)).sum();
    // A path hopping to another venue runs as one transaction per venue run (its legs).
    let extra_legs = hops
        .windows(2)
        .filter(|w| graph.pool(w[0].pool).venue != graph.pool(w[1].pool).venue)
        .count() as u64;
    per_hop + extra_legs * GAS_PER_EXTRA_LEG
}

/// Input each pool received from an allocation, by side: `[token0 in, token1 in]`.
type Inflows = PoolMap<[f64; 2]>;

fn add_inflow(inflows: &mut Inflows, hop: &Hop, amount: f64) {
    let side = usize::from(!hop.zero_for_one);
    inflows.get_or_insert_with(hop.pool, || [0.0; 2])[side] += amount;
}

/// Marginal output of one more unit through pool `hop` once it has traded `inflows`, and
/// the derivative of its log with respect to that pool's input.
///
/// A V2 pool keeps its fee in the reserves, so the spot price after a trade understates
/// the marginal of that same trade: extending a trade of `a` pays
/// `keep * r_out' / (r_in' - (1 - keep) * a)`. V3 fees stay outside the liquidity, so there
/// the spot price after the trade is the marginal.
fn hop_marginal(
    graph: &Graph,
    overlay: &ApproxOverlay,
    inflows: &Inflows,
    hop: &Hop,
) -> (f64, f64) {
    let pool = graph.pool(hop.pool);
    let state = overlay.state(graph, hop.pool);
    let (m, dlog) = match (&pool.approx_params, state) {
        (approx::ApproxParams::V2 { keep }, ApproxState::V2 { r0, r1 }) => {
            let [i0, i1] = inflows.get(hop.pool).copied().unwrap_or([0.0; 2]);
            let e0 = r0 - (1.0 - keep) * i0;
            let e1 = r1 - (1.0 - keep) * i1;
            let (e_in, e_out) = if hop.zero_for_one { (e0, e1) } else { (e1, e0) };
            (keep * e_out / e_in, -2.0 * keep / e_in)
        }
        (
            approx::ApproxParams::V3 { keep, .. },
            ApproxState::V3 {
                sqrt_p, liquidity, ..
            },
        ) => {
            let m = approx::spot_price(&pool.approx_params, state, hop.zero_for_one);
            let dlog = if hop.zero_for_one {
                -2.0 * keep * sqrt_p / liquidity
            } else {
                -2.0 * keep / (liquidity * sqrt_p)
            };
            (m, dlog)
        }
        _ => (0.0, f64::NEG_INFINITY),
    };
    if m.is_finite() && m > 0.0 {
        (
            m,
            if dlog.is_nan() {
                f64::NEG_INFINITY
            } else {
                dlog
            },
        )
    } else {
        (0.0, f64::NEG_INFINITY)
    }
}

/// A path's marginal output and that marginal's derivative with respect to its input.
fn path_marginal(
    graph: &Graph,
    overlay: &ApproxOverlay,
    inflows: &Inflows,
    hops: &[Hop],
) -> (f64, f64) {
    let (mut m, mut dlog) = (1.0, 0.0);
    for h in hops {
        let (mk, dk) = hop_marginal(graph, overlay, inflows, h);
        // One more unit of path input brings `m` (so far) more units into this hop.
        dlog += dk * m;
        m *= mk;
    }
    (m, m * dlog)
}

/// An allocation of the input over candidate paths, as simulated (f64, sequential).
#[derive(Debug, Clone)]
pub struct Allocation {
    /// Input given to each path (same order as the paths passed in).
    pub amounts: Vec<f64>,
    pub out: f64,
    pub gas_units: u64,
    /// Pool states after the whole allocation has traded.
    pub overlay: ApproxOverlay,
    /// Marginal output of each path at those states.
    pub marginals: Vec<f64>,
    /// Derivative of each path's marginal with respect to its own amount (negative).
    pub slopes: Vec<f64>,
    /// Output of each path (in the order simulated).
    pub outs: Vec<f64>,
}

impl Allocation {
    pub fn paths_used(&self) -> usize {
        self.amounts.iter().filter(|&&a| a > 0.0).count()
    }

    /// Output less gas priced at `out_per_gas_unit` (output-token units per gas unit).
    pub fn net(&self, out_per_gas_unit: f64) -> f64 {
        self.out - self.gas_units as f64 * out_per_gas_unit
    }

    /// The marginal output the used paths share at the optimum (their largest).
    pub fn lambda(&self) -> f64 {
        self.amounts
            .iter()
            .zip(&self.marginals)
            .filter(|(&a, _)| a > 0.0)
            .map(|(_, &m)| m)
            .fold(0.0, f64::max)
    }

    /// The used paths' marginals weighted by their input: their common marginal at the
    /// optimum, and a fair stand-in for it on the way there.
    pub fn common_marginal(&self) -> f64 {
        let total: f64 = self.amounts.iter().filter(|&&a| a > 0.0).sum();
        let weighted: f64 = self
            .amounts
            .iter()
            .zip(&self.marginals)
            .filter(|(&a, _)| a > 0.0)
            .map(|(a, m)| a * m)
            .sum();
        weighted / total
    }

    /// Whether the used paths' marginals agree (the optimum over these paths).
    pub fn is_equalised(&self) -> bool {
        let used = || {
            self.amounts
                .iter()
                .zip(&self.marginals)
                .filter(|(&a, _)| a > 0.0)
                .map(|(_, &m)| m)
        };
        let lowest = used().fold(f64::INFINITY, f64::min);
        let highest = used().fold(f64::NEG_INFINITY, f64::max);
        highest - lowest <= EQUAL_MARGINALS * highest.abs()
    }
}

/// A sequential simulation of an allocation with every swap recorded.
struct Recorded {
    overlay: ApproxOverlay,
    inflows: Inflows,
    out: f64,
    gas_units: u64,
    outs: Vec<f64>,
    swaps: Vec<Vec<SwapRecord>>,
}

fn record(graph: &Graph, paths: &[&[Hop]], amounts: &[f64]) -> Option<Recorded> {
    let mut overlay = ApproxOverlay::default();
    let mut inflows = Inflows::default();
    let (mut out, mut gas_units) = (0.0, 0u64);
    let mut outs = Vec::with_capacity(paths.len());
    let mut swaps: Vec<Vec<SwapRecord>> = Vec::with_capacity(paths.len());
    for (hops, &a) in paths.iter().zip(amounts) {
        if a <= 0.0 {
            // Recorded at the states it would meet: its marginal is that of opening it here.
            let idle = |h: &Hop| {
                let s = *overlay.state(graph, h.pool);
                SwapRecord {
                    hop: *h,
                    amount_in: 0.0,
                    before: s,
                    after: s,
                }
            };
            swaps.push(hops.iter().map(idle).collect());
            outs.push(0.0);
            continue;
        }
        let sim = simulate(graph, &overlay, hops, a)?;
        let mut recs = Vec::with_capacity(hops.len());
        for ((h, (p, s)), into) in hops.iter().zip(&sim.states).zip(sim.hop_in) {
            recs.push(SwapRecord {
                hop: *h,
                amount_in: into,
                before: *overlay.state(graph, *p),
                after: *s,
            });
            add_inflow(&mut inflows, h, into);
            overlay.set(*p, *s);
        }
        swaps.push(recs);
        outs.push(sim.out);
        out += sim.out;
        gas_units += hop_gas(graph, hops) + sim.ticks as u64 * GAS_PER_TICK_CROSSED;
    }
    Some(Recorded {
        overlay,
        inflows,
        out,
        gas_units,
        outs,
        swaps,
    })
}

/// The exact marginal output of every path at `amounts` (see [`gradient::marginals`]).
pub fn marginals_at(graph: &Graph, paths: &[&[Hop]], amounts: &[f64]) -> Option<Vec<f64>> {
    record(graph, paths, amounts).map(|r| gradient::marginals(graph, &r.swaps))
}

/// Simulates `amounts` over `paths` one after another and reads the marginals afterwards.
pub fn assess(graph: &Graph, paths: &[&[Hop]], amounts: Vec<f64>) -> Option<Allocation> {
    let Recorded {
        overlay,
        inflows,
        out,
        gas_units,
        outs,
        swaps,
    } = record(graph, paths, &amounts)?;
    // Marginal output of each path: the exact derivative of the total (sequential) output.
    // Splits trade one after another, so a path's output through a pool it shares depends
    // on its place in the order as well as on the pool's total flow.
    let marginals = gradient::marginals(graph, &swaps);
    // Curvature for the Newton steps, from the one-trade-per-pool (convex) model.
    let slopes = paths
        .iter()
        .map(|hops| path_marginal(graph, &overlay, &inflows, hops).1)
        .collect();
    Some(Allocation {
        amounts,
        out,
        gas_units,
        overlay,
        marginals,
        slopes,
        outs,
    })
}

/// Total simulated output (paths one after another), without marginals.
pub fn evaluate(graph: &Graph, paths: &[&[Hop]], amounts: &[f64]) -> Option<f64> {
    let mut overlay = ApproxOverlay::default();
    let mut out = 0.0;
    for (hops, &a) in paths.iter().zip(amounts) {
        if a <= 0.0 {
            continue;
        }
        let sim = simulate(graph, &overlay, hops, a)?;
        for (p, s) in sim.states {
            overlay.set(p, s);
        }
        out += sim.out;
    }
    Some(out)
}

fn shares_pool(a: &[Hop], b: &[Hop]) -> bool {
    a.iter().any(|x| b.iter().any(|y| x.pool == y.pool))
}

/// Greedy chunk allocation: each chunk goes to the path whose next chunk yields the most on
/// the states earlier chunks left, using at most `max_splits` paths. A path's next-chunk
/// output is re-simulated only when a pool it uses moved. Gives the starting point that
/// [`equalise`] then makes exact.
pub fn greedy(
    graph: &Graph,
    paths: &[&[Hop]],
    amount: f64,
    chunks: u32,
    max_splits: usize,
) -> Option<Vec<f64>> {
    let chunk = amount / chunks as f64;
    let mut overlay = ApproxOverlay::default();
    let mut amounts = vec![0.0; paths.len()];
    let mut cache: Vec<Option<Option<PathSim>>> = (0..paths.len()).map(|_| None).collect();
    let mut used = 0;
    for _ in 0..chunks {
        let mut best: Option<(usize, f64)> = None;
        for (i, hops) in paths.iter().enumerate() {
            if used >= max_splits && amounts[i] == 0.0 {
                continue;
            }
            let sim = cache[i].get_or_insert_with(|| simulate(graph, &overlay, hops, chunk));
            if let Some(sim) = sim {
                if best.is_none_or(|(_, b)| sim.out > b) {
                    best = Some((i, sim.out));
                }
            }
        }
        let (k, _) = best?;
        let Some(Some(sim)) = cache[k].take() else {
            return None;
        };
        for (p, s) in sim.states {
            overlay.set(p, s);
        }
        if amounts[k] == 0.0 {
            used += 1;
        }
        amounts[k] += chunk;
        for (i, hops) in paths.iter().enumerate() {
            if shares_pool(hops, paths[k]) {
                cache[i] = None;
            }
        }
    }
    Some(amounts)
}

/// Relative spread of marginal outputs at which the allocation counts as optimal.
const EQUAL_MARGINALS: f64 = 2e-6;
/// Relative output gain below which another Newton step is not worth its time (1e-5 bps).
const NEGLIGIBLE_GAIN: f64 = 1e-9;
/// An unused path opens when its marginal beats the used ones' by this (relative): opening
/// one with a smaller edge gains less than ~0.05 bps.
pub const OPEN_GAIN: f64 = 1e-5;
/// Newton steps [`equalise`] takes, and halvings of one step it tries.
const NEWTON_STEPS: usize = 40;
const LINE_SEARCH: usize = 30;

/// The amount changes that equalise the marginals to first order: path `i`'s marginal
/// moves by `slope_i * d_i`, so `d_i = (λ - m_i) / slope_i`, with `λ` bisected so the
/// changes sum to zero (the input is conserved) and no amount goes negative. Only paths
/// in `open` may grow from zero.
fn newton_direction(a: &Allocation, open: &[bool]) -> Vec<f64> {
    let n = a.amounts.len();
    let change = |lam: f64, i: usize| -> f64 {
        let (x, m, s) = (a.amounts[i], a.marginals[i], a.slopes[i]);
        if x <= 0.0 && !open[i] {
            return 0.0;
        }
        if s >= 0.0 || !s.is_finite() {
            return if m > lam { 0.0 } else { -x };
        }
        ((lam - m) / s).max(-x)
    };
    let total = |lam: f64| (0..n).map(|i| change(lam, i)).sum::<f64>();
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for ((&x, &m), &o) in a.amounts.iter().zip(&a.marginals).zip(open) {
        if x > 0.0 || o {
            lo = lo.min(m);
            hi = hi.max(m);
        }
    }
    if lo.partial_cmp(&hi).is_none_or(|o| o.is_gt()) {
        return vec![0.0; n];
    }
    // total() falls as λ rises: positive at the lowest marginal, negative at the highest.
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if total(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let mut d: Vec<f64> = (0..n).map(|i| change(lo, i)).collect();
    // Rounding: make the changes sum to exactly zero on the largest amount after the move.
    let sum: f64 = d.iter().sum();
    if let Some(k) = (0..n).max_by(|&x, &y| (a.amounts[x] + d[x]).total_cmp(&(a.amounts[y] + d[y])))
    {
        d[k] -= sum;
    }
    d
}

/// The allocation a step along `d` reaches, halving it until the simulated output grows;
/// `None` when the step's first-order gain is negligible or no halving improves.
/// `projected`: the step is projected onto non-negative amounts of the same total (the
/// coupled step); otherwise `d` already keeps them so, and amounts reaching ~0 close.
fn line_search(
    graph: &Graph,
    paths: &[&[Hop]],
    cur: &Allocation,
    d: &[f64],
    projected: bool,
) -> Option<Allocation> {
    // First-order gain of the full step: stop once what is left is negligible.
    let gain: f64 = d.iter().zip(&cur.marginals).map(|(dx, m)| dx * m).sum();
    if gain.is_nan() || gain <= cur.out * NEGLIGIBLE_GAIN {
        return None;
    }
    let mut t = 1.0;
    for _ in 0..LINE_SEARCH {
        let amounts: Vec<f64> = if projected {
            newton::step(&cur.amounts, d, t)
        } else {
            cur.amounts
                .iter()
                .zip(d)
                .map(|(&x, &dx)| {
                    let v = x + t * dx;
                    if v <= x * 1e-12 {
                        0.0
                    } else {
                        v
                    }
                })
                .collect()
        };
        if evaluate(graph, paths, &amounts).is_some_and(|o| o > cur.out) {
            return assess(graph, paths, amounts);
        }
        t *= 0.5;
    }
    None
}

/// Equalises the marginal outputs of the used paths (and lifts any unused path whose
/// marginal beats them, while fewer than `max_splits` are used): the optimality condition
/// of the concave routing problem over these paths. Newton steps on the marginals with a
/// halving line search on the simulated output (the true, sequential one).
pub fn equalise(
    graph: &Graph,
    paths: &[&[Hop]],
    start: Allocation,
    max_splits: usize,
) -> Allocation {
    let mut cur = start;
    for _ in 0..NEWTON_STEPS {
        let used = cur.paths_used();
        // Unused paths that may open: the best ones, within the split cap.
        let mut open = vec![false; paths.len()];
        let lam = cur.lambda();
        let mut better: Vec<usize> = (0..paths.len())
            .filter(|&i| cur.amounts[i] <= 0.0 && cur.marginals[i] > lam * (1.0 + OPEN_GAIN))
            .collect();
        better.sort_by(|&x, &y| cur.marginals[y].total_cmp(&cur.marginals[x]));
        for &i in better.iter().take(max_splits.saturating_sub(used)) {
            open[i] = true;
        }
        let lowest = (0..paths.len())
            .filter(|&i| cur.amounts[i] > 0.0)
            .map(|i| cur.marginals[i])
            .fold(f64::INFINITY, f64::min);
        let highest = (0..paths.len())
            .filter(|&i| cur.amounts[i] > 0.0 || open[i])
            .map(|i| cur.marginals[i])
            .fold(0.0, f64::max);
        if highest - lowest <= EQUAL_MARGINALS * highest {
            break;
        }
        // Coupled Newton over the used paths; the per-path step opens new ones, and is the
        // fallback when the coupled one does not improve.
        let coupled = if open.iter().any(|&o| o) {
            None
        } else {
            newton::direction(graph, paths, &cur)
                .and_then(|d| line_search(graph, paths, &cur, &d, true))
        };
        let n = match coupled {
            Some(n) => n,
            None => {
                let d = newton_direction(&cur, &open);
                let Some(mut n) = line_search(graph, paths, &cur, &d, false) else {
                    break;
                };
                // Secant curvature where a path's amount moved (shared pools included).
                for j in 0..paths.len() {
                    let dx = n.amounts[j] - cur.amounts[j];
                    let s = (n.marginals[j] - cur.marginals[j]) / dx;
                    if dx != 0.0 && s < 0.0 && s.is_finite() {
                        n.slopes[j] = s;
                    }
                }
                n
            }
        };
        cur = n;
    }
    cur
}

/// Removes path `k` from the allocation, handing its input to the best other used path.
fn drop_path(graph: &Graph, paths: &[&[Hop]], a: &Allocation, k: usize) -> Option<Allocation> {
    let to = (0..paths.len())
        .filter(|&i| i != k && a.amounts[i] > 0.0)
        .max_by(|&x, &y| a.marginals[x].total_cmp(&a.marginals[y]))?;
    let mut amounts = a.amounts.clone();
    amounts[to] += amounts[k];
    amounts[k] = 0.0;
    assess(graph, paths, amounts)
}

/// The allocation without the splits whose surplus does not pay their gas (their input goes
/// to the best kept path); `None` when there is none to drop.
fn drop_unpaid(
    graph: &Graph,
    paths: &[&[Hop]],
    a: &Allocation,
    out_per_gas_unit: f64,
) -> Option<Allocation> {
    let lam = a.lambda();
    let pays = |i: usize| {
        a.outs[i] - lam * a.amounts[i] - hop_gas(graph, paths[i]) as f64 * out_per_gas_unit
    };
    let used: Vec<usize> = (0..paths.len()).filter(|&i| a.amounts[i] > 0.0).collect();
    let keep = *used.iter().max_by(|&&x, &&y| pays(x).total_cmp(&pays(y)))?;
    let dropped: Vec<usize> = used
        .iter()
        .copied()
        .filter(|&i| i != keep && pays(i) <= 0.0)
        .collect();
    if dropped.len() < 2 {
        return None;
    }
    let mut amounts = a.amounts.clone();
    for &i in &dropped {
        amounts[keep] += amounts[i];
        amounts[i] = 0.0;
    }
    assess(graph, paths, amounts)
}

/// The allocation maximising output over `paths` (net of gas when `out_per_gas_unit` > 0).
pub fn optimise(
    graph: &Graph,
    paths: &[&[Hop]],
    amount: f64,
    max_splits: usize,
    out_per_gas_unit: f64,
) -> Option<Allocation> {
    let start = greedy(graph, paths, amount, GREEDY_CHUNKS, max_splits)?;
    let start = assess(graph, paths, start)?;
    let best = optimise_from(graph, paths, start, max_splits, out_per_gas_unit);
    // Splits through a shared V2 pool trade one after another, and each trade leaves its
    // fee in the reserves the next one meets: never return less than one path alone.
    let single = (0..paths.len())
        .filter_map(|i| {
            let mut amounts = vec![0.0; paths.len()];
            amounts[i] = amount;
            let out = evaluate(graph, paths, &amounts)?;
            Some((
                amounts,
                out - hop_gas(graph, paths[i]) as f64 * out_per_gas_unit,
            ))
        })
        .max_by(|x, y| x.1.total_cmp(&y.1));
    match single {
        Some((amounts, net)) if net > best.net(out_per_gas_unit) => assess(graph, paths, amounts),
        _ => Some(best),
    }
}

/// [`optimise`] from a given allocation (e.g. the previous optimum plus new paths at zero).
///
/// Gross output is concave in the path amounts, so equal marginals give its optimum. Each
/// used path also costs a fixed amount of gas, which no marginal condition sees: with gas
/// priced, the smallest split is dropped (and the rest re-equalised) while that pays.
pub fn optimise_from(
    graph: &Graph,
    paths: &[&[Hop]],
    start: Allocation,
    max_splits: usize,
    out_per_gas_unit: f64,
) -> Allocation {
    let mut best = equalise(graph, paths, start, max_splits);
    if out_per_gas_unit <= 0.0 {
        return best;
    }
    // First every split whose surplus over the common marginal (what its input would earn
    // on the other paths) does not pay its gas, in one go; then the smallest, one by one.
    if let Some(fewer) = drop_unpaid(graph, paths, &best, out_per_gas_unit) {
        let kept = fewer.paths_used();
        let fewer = equalise(graph, paths, fewer, kept);
        if fewer.net(out_per_gas_unit) > best.net(out_per_gas_unit) {
            best = fewer;
        }
    }
    while best.paths_used() > 1 {
        let Some(smallest) = (0..paths.len())
            .filter(|&i| best.amounts[i] > 0.0)
            .min_by(|&x, &y| best.amounts[x].total_cmp(&best.amounts[y]))
        else {
            break;
        };
        let Some(fewer) = drop_path(graph, paths, &best, smallest) else {
            break;
        };
        let fewer = equalise(graph, paths, fewer, best.paths_used() - 1);
        if fewer.net(out_per_gas_unit) <= best.net(out_per_gas_unit) {
            break;
        }
        best = fewer;
    }
    best
}

/// Chunks of the greedy start (the equalisation makes the amounts exact afterwards).
const GREEDY_CHUNKS: u32 = 64;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pool_math::f64_to_u256;

    fn v2(g: &mut Graph, id: &str, a: &str, b: &str, r: (f64, f64)) {
        g.upsert_v2(id, a, b, (f64_to_u256(r.0), f64_to_u256(r.1)), 3000, "v")
            .unwrap();
    }

    #[test]
    fn a_path_across_venues_pays_a_transaction_per_extra_leg() {
        let mut g = Graph::new();
        let r = (f64_to_u256(1e21), f64_to_u256(1e21));
        g.upsert_v2("ab", "A", "B", r, 3000, "sushi").unwrap();
        g.upsert_v2("bc", "B", "C", r, 3000, "sushi").unwrap();
        g.upsert_v2("cd", "C", "D", r, 3000, "other").unwrap();
        let one_venue = [hop(&g, "ab", "A"), hop(&g, "bc", "B")];
        assert_eq!(hop_gas(&g, &one_venue), 2 * GAS_PER_V2_HOP);
        let across = [hop(&g, "ab", "A"), hop(&g, "bc", "B"), hop(&g, "cd", "C")];
        assert_eq!(hop_gas(&g, &across), 3 * GAS_PER_V2_HOP + GAS_PER_EXTRA_LEG);
    }

    fn hop(g: &Graph, id: &str, from: &str) -> Hop {
        let pool = g.pool_index(id).unwrap();
        Hop {
            pool,
            zero_for_one: g.pool(pool).token0 == g.token(from).unwrap(),
        }
    }

    /// Closed-form optimum over parallel constant-product pools (one hop, same fee):
    /// equal marginals γ r_out r_in / (r_in + γ x)^2 = λ, bisected on λ.
    pub(crate) fn parallel_optimum(pools: &[(f64, f64)], amount: f64) -> f64 {
        let k = 0.997;
        let alloc = |lam: f64| -> Vec<f64> {
            pools
                .iter()
                .map(|&(ri, ro)| (((k * ri * ro / lam).sqrt() - ri) / k).max(0.0))
                .collect()
        };
        let (mut lo, mut hi) = (1e-12f64, 10.0f64);
        for _ in 0..200 {
            let mid = (lo * hi).sqrt();
            if alloc(mid).iter().sum::<f64>() > amount {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        pools
            .iter()
            .zip(alloc(lo))
            .map(|(&(ri, ro), x)| k * x * ro / (ri + k * x))
            .sum()
    }

    #[test]
    fn parallel_pools_reach_the_closed_form_optimum_with_equal_marginals() {
        let mut g = Graph::new();
        let pools = [
            (1e9, 1e9),
            (3e9, 2.9e9),
            (5e8, 5.2e8),
            (2e7, 2e7),
            (8e9, 7e9),
        ];
        let mut hops = Vec::new();
        for (i, r) in pools.iter().enumerate() {
            let id = format!("p{i}");
            v2(&mut g, &id, "A", "B", *r);
            hops.push([hop(&g, &id, "A")]);
        }
        let paths: Vec<&[Hop]> = hops.iter().map(|h| h.as_slice()).collect();
        for amount in [1e6, 1e8, 3e9, 5e10] {
            let a = optimise(&g, &paths, amount, 16, 0.0).unwrap();
            let opt = parallel_optimum(&pools, amount);
            assert!(
                a.out <= opt * (1.0 + 1e-9) && a.out >= opt * (1.0 - 1e-7),
                "{amount}"
            );
            assert!((a.amounts.iter().sum::<f64>() / amount - 1.0).abs() < 1e-12);
            // Optimality: used paths share one marginal, unused ones are no better.
            let lam = a.lambda();
            for (x, m) in a.amounts.iter().zip(&a.marginals) {
                if *x > 0.0 {
                    // Equal to the precision that matters: a spread of 5e-4 costs < 1e-7.
                    assert!((m / lam - 1.0).abs() < 5e-4, "{amount}: {m} vs {lam}");
                } else {
                    assert!(*m <= lam * (1.0 + OPEN_GAIN));
                }
            }
        }
        // A small order stays off the thin pool, whose marginal is then lower than λ.
        let a = optimise(&g, &paths, 1e6, 16, 0.0).unwrap();
        assert_eq!(a.amounts[3], 0.0);
    }

    #[test]
    fn a_shared_pool_is_not_counted_twice() {
        // A->B through two deep pools, then one shared shallow B->C pool: the optimum is the
        // shared pool's single-trade output, never two independent copies of it.
        let mut g = Graph::new();
        v2(&mut g, "ab1", "A", "B", (1e15, 1e15));
        v2(&mut g, "ab2", "A", "B", (1e15, 1e15));
        v2(&mut g, "bc", "B", "C", (1e9, 1e9));
        let p1 = [hop(&g, "ab1", "A"), hop(&g, "bc", "B")];
        let p2 = [hop(&g, "ab2", "A"), hop(&g, "bc", "B")];
        let split = optimise(&g, &[&p1, &p2], 1e9, 16, 0.0).unwrap();
        let single = optimise(&g, &[&p1], 1e9, 16, 0.0).unwrap();
        assert!(split.out >= single.out);
        assert!(split.out <= single.out * (1.0 + 1e-5));
        let half = optimise(&g, &[&p1], 5e8, 16, 0.0).unwrap();
        assert!(split.out < 2.0 * half.out * 0.9);
        // Both legs meet in "bc": its state is moved by the sum of both flows, and its
        // marginal is that of one trade of that sum (what the convex model prices), up to
        // the fee the first leg left in the reserves before the second traded (< 0.3 % of
        // the price impact).
        let both = assess(&g, &[&p1, &p2], vec![4e8, 6e8]).unwrap();
        let r = |id: &str| match both.overlay.state(&g, g.pool_index(id).unwrap()) {
            ApproxState::V2 { r0, r1 } => (*r0, *r1),
            ApproxState::V3 { .. } => unreachable!("v2 pools"),
        };
        let into_bc = (1e15 - r("ab1").1) + (1e15 - r("ab2").1);
        assert!(((r("bc").0 - 1e9) / into_bc - 1.0).abs() < 1e-8);
        let k = 0.997;
        let bc_marginal = k * 1e9 * 1e9 / (1e9 + k * into_bc).powi(2);
        let ab1_marginal = k * 1e15 * 1e15 / (1e15 + k * 4e8).powi(2);
        assert!((both.marginals[0] / (ab1_marginal * bc_marginal) - 1.0).abs() < 1e-3);
    }

    #[test]
    fn two_swaps_through_one_v2_pool_yield_less_than_one_swap_of_their_sum() {
        // Each split is its own swap: the first leaves its fee in the reserves the second
        // meets, so two trades yield less than one of their sum (the convex model's single
        // trade per pool), the more so the more even the trades.
        let mut g = Graph::new();
        v2(&mut g, "ab", "A", "B", (1e12, 1e12));
        let p = [hop(&g, "ab", "A")];
        let one = evaluate(&g, &[&p], &[1e12]).unwrap();
        let even = evaluate(&g, &[&p, &p], &[5e11, 5e11]).unwrap();
        let big_first = evaluate(&g, &[&p, &p], &[9e11, 1e11]).unwrap();
        let loss = |x: f64| (one - x) / one * 1e4;
        assert!((loss(even) - 2.5).abs() < 0.01, "{} bps", loss(even));
        assert!(loss(big_first) > 0.0 && loss(big_first) < loss(even));
    }

    #[test]
    fn gas_makes_a_tiny_trade_use_one_path() {
        let mut g = Graph::new();
        v2(&mut g, "p1", "A", "B", (1e12, 1e12));
        v2(&mut g, "p2", "A", "B", (1e12, 1e12));
        let h1 = [hop(&g, "p1", "A")];
        let h2 = [hop(&g, "p2", "A")];
        let a = optimise(&g, &[&h1, &h2], 1e6, 16, 1e-3).unwrap();
        assert_eq!(a.paths_used(), 1);
        let free = optimise(&g, &[&h1, &h2], 1e6, 16, 0.0).unwrap();
        assert_eq!(free.paths_used(), 2);
        // A large one still splits when the gas is worth it.
        let big = optimise(&g, &[&h1, &h2], 1e11, 16, 1e-3).unwrap();
        assert_eq!(big.paths_used(), 2);
    }

    #[test]
    fn gas_picks_the_number_of_splits_that_pays_best() {
        // Ten equal pools: k even splits are the best k-path allocations, so the net-of-gas
        // optimum is the best k; the allocation must match it.
        let mut g = Graph::new();
        let mut hops = Vec::new();
        for i in 0..10 {
            let id = format!("p{i}");
            v2(&mut g, &id, "A", "B", (1e12, 1e12));
            hops.push([hop(&g, &id, "A")]);
        }
        let paths: Vec<&[Hop]> = hops.iter().map(|h| h.as_slice()).collect();
        let (amount, per_gas) = (3e11, 1e5);
        let a = optimise(&g, &paths, amount, 32, per_gas).unwrap();
        let even = |k: usize| {
            let mut amounts = vec![0.0; 10];
            amounts[..k].iter_mut().for_each(|x| *x = amount / k as f64);
            assess(&g, &paths, amounts).unwrap().net(per_gas)
        };
        let best_k = (1..=10)
            .max_by(|&x, &y| even(x).total_cmp(&even(y)))
            .unwrap();
        assert!(best_k > 1 && best_k < 10, "{best_k}");
        assert!(a.net(per_gas) >= even(best_k) * (1.0 - 1e-9));
        assert_eq!(a.paths_used(), best_k);
    }

    #[test]
    fn max_splits_caps_the_paths_used() {
        let mut g = Graph::new();
        let mut hops = Vec::new();
        for i in 0..5 {
            let id = format!("p{i}");
            v2(&mut g, &id, "A", "B", (1e9, 1e9));
            hops.push([hop(&g, &id, "A")]);
        }
        let paths: Vec<&[Hop]> = hops.iter().map(|h| h.as_slice()).collect();
        let capped = optimise(&g, &paths, 1e9, 2, 0.0).unwrap();
        assert_eq!(capped.paths_used(), 2);
        let open = optimise(&g, &paths, 1e9, 16, 0.0).unwrap();
        assert_eq!(open.paths_used(), 5);
        assert!(open.amounts.iter().all(|&a| (a / 2e8 - 1.0).abs() < 1e-4));
        assert!(open.out > capped.out);
    }
}
