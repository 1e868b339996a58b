//! Splitting the input across candidate paths by equalising marginal output.
//!
//! The input is cut into equal chunks; each chunk goes to the path whose next chunk
//! yields the most, simulated against pool states already moved by earlier chunks. Paths
//! that share a pool therefore see each other's price impact: a pool's liquidity is never
//! counted twice. For concave outputs this greedy is the optimum of the chunked problem.

use super::graph::{Graph, PoolIdx};
use super::search::Hop;
use crate::pool_math::approx::{self, ApproxState};

/// Gas a hop costs on chain, by pool kind, and per initialised tick crossed (V3).
pub const GAS_PER_V2_HOP: u64 = 60_000;
pub const GAS_PER_V3_HOP: u64 = 100_000;
pub const GAS_PER_TICK_CROSSED: u64 = 25_000;

/// What-if pool states on top of the graph (few pools per query: a linear scan is fastest).
#[derive(Debug, Default, Clone)]
pub struct ApproxOverlay {
    moved: Vec<(PoolIdx, ApproxState)>,
}

impl ApproxOverlay {
    pub fn state<'g>(&'g self, graph: &'g Graph, p: PoolIdx) -> &'g ApproxState {
        self.moved
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, s)| s)
            .unwrap_or(&graph.pool(p).approx_state)
    }

    fn set(&mut self, p: PoolIdx, s: ApproxState) {
        match self.moved.iter_mut().find(|(q, _)| *q == p) {
            Some(slot) => slot.1 = s,
            None => self.moved.push((p, s)),
        }
    }
}

/// Simulated path output and the states it leaves behind (not yet committed).
struct PathSim {
    out: f64,
    ticks: u32,
    states: Vec<(PoolIdx, ApproxState)>,
}

fn simulate(graph: &Graph, overlay: &ApproxOverlay, hops: &[Hop], amount: f64) -> Option<PathSim> {
    let mut a = amount;
    let mut ticks = 0;
    let mut states = Vec::with_capacity(hops.len());
    for h in hops {
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
    })
}

/// Static gas of a path (per hop), before tick crossings.
pub fn hop_gas(graph: &Graph, hops: &[Hop]) -> u64 {
    hops.iter()
        .map(|h| {
            if graph.pool(h.pool).is_v3() {
                GAS_PER_V3_HOP
            } else {
                GAS_PER_V2_HOP
            }
        })
        .sum()
}

/// A chunked allocation over some candidate paths.
#[derive(Debug, Clone)]
pub struct Allocation {
    /// Chunks given to each path (same order as the paths passed in).
    pub chunks: Vec<u32>,
    pub total_chunks: u32,
    pub out: f64,
    pub gas_units: u64,
    /// Pool states after the whole allocation has traded.
    pub overlay: ApproxOverlay,
}

impl Allocation {
    pub fn paths_used(&self) -> usize {
        self.chunks.iter().filter(|&&c| c > 0).count()
    }

    /// Output less gas priced at `out_per_gas_unit` (output-token units per gas unit).
    pub fn net(&self, out_per_gas_unit: f64) -> f64 {
        self.out - self.gas_units as f64 * out_per_gas_unit
    }
}

/// Greedy chunk allocation of `amount` across `paths`, using at most `max_splits` paths.
pub fn allocate(
    graph: &Graph,
    paths: &[&[Hop]],
    amount: f64,
    total_chunks: u32,
    max_splits: usize,
) -> Option<Allocation> {
    let chunk = amount / total_chunks as f64;
    let mut overlay = ApproxOverlay::default();
    let mut chunks = vec![0u32; paths.len()];
    let mut ticks = vec![0u32; paths.len()];
    let mut out = 0.0;
    for _ in 0..total_chunks {
        let used = chunks.iter().filter(|&&c| c > 0).count();
        let mut best: Option<(usize, PathSim)> = None;
        for (i, hops) in paths.iter().enumerate() {
            if used >= max_splits && chunks[i] == 0 {
                continue;
            }
            if let Some(sim) = simulate(graph, &overlay, hops, chunk) {
                if best.as_ref().is_none_or(|(_, b)| sim.out > b.out) {
                    best = Some((i, sim));
                }
            }
        }
        let (i, sim) = best?;
        for (p, s) in sim.states {
            overlay.set(p, s);
        }
        chunks[i] += 1;
        ticks[i] += sim.ticks;
        out += sim.out;
    }
    let gas_units = paths
        .iter()
        .zip(&chunks)
        .zip(&ticks)
        .filter(|((_, &c), _)| c > 0)
        .map(|((hops, _), &t)| hop_gas(graph, hops) + t as u64 * GAS_PER_TICK_CROSSED)
        .sum();
    Some(Allocation {
        chunks,
        total_chunks,
        out,
        gas_units,
        overlay,
    })
}

/// Output and gas of paths swapped one after another with the given amounts.
pub fn evaluate(graph: &Graph, paths: &[&[Hop]], amounts: &[f64]) -> Option<(f64, u64)> {
    let mut overlay = ApproxOverlay::default();
    let (mut out, mut gas) = (0.0, 0u64);
    for (hops, &a) in paths.iter().zip(amounts) {
        if a <= 0.0 {
            continue;
        }
        let sim = simulate(graph, &overlay, hops, a)?;
        for (p, s) in sim.states {
            overlay.set(p, s);
        }
        out += sim.out;
        gas += hop_gas(graph, hops) + sim.ticks as u64 * GAS_PER_TICK_CROSSED;
    }
    Some((out, gas))
}

/// Moves of `step` between path pairs tried per halving, and halvings.
const REBALANCE_SWEEPS: usize = 3;
const REBALANCE_LEVELS: usize = 6;

/// Local search after the greedy: move slices between paths (halving the slice) while the
/// total output grows.
///
/// The greedy commits early chunks for good; when paths share pools a later view can
/// prefer another split, which a pairwise move recovers. Paths with no amount may receive
/// one while fewer than `max_splits` are in use and `allow_new` is set.
pub fn rebalance(
    graph: &Graph,
    paths: &[&[Hop]],
    amounts: &mut [f64],
    max_splits: usize,
    allow_new: bool,
    first_step: f64,
) -> Option<f64> {
    let mut best = evaluate(graph, paths, amounts)?.0;
    let mut step = first_step;
    for _ in 0..REBALANCE_LEVELS {
        for _ in 0..REBALANCE_SWEEPS {
            let mut improved = false;
            for i in 0..paths.len() {
                for j in 0..paths.len() {
                    if i == j || amounts[i] < step {
                        continue;
                    }
                    let used = amounts.iter().filter(|&&a| a > 0.0).count();
                    let opens = amounts[j] <= 0.0;
                    let closes = amounts[i] - step <= 0.0;
                    if opens && (!allow_new || (used >= max_splits && !closes)) {
                        continue;
                    }
                    let (ai, aj) = (amounts[i], amounts[j]);
                    amounts[i] = if closes { 0.0 } else { ai - step };
                    amounts[j] = aj + (ai - amounts[i]);
                    match evaluate(graph, paths, amounts) {
                        Some((out, _)) if out > best => {
                            best = out;
                            improved = true;
                        }
                        _ => {
                            amounts[i] = ai;
                            amounts[j] = aj;
                        }
                    }
                }
            }
            if !improved {
                break;
            }
        }
        step /= 2.0;
    }
    Some(best)
}

/// Best allocation net of gas: drops the smallest split while that pays.
///
/// Each extra split costs a fixed amount of gas that a marginal-output greedy cannot see,
/// so allocations over shrinking path sets are compared on net output.
pub fn allocate_net_of_gas(
    graph: &Graph,
    paths: &[&[Hop]],
    amount: f64,
    total_chunks: u32,
    max_splits: usize,
    out_per_gas_unit: f64,
) -> Option<(Vec<usize>, Allocation)> {
    let mut subset: Vec<usize> = (0..paths.len()).collect();
    let mut best: Option<(Vec<usize>, Allocation)> = None;
    loop {
        let chosen: Vec<&[Hop]> = subset.iter().map(|&i| paths[i]).collect();
        let Some(alloc) = allocate(graph, &chosen, amount, total_chunks, max_splits) else {
            break;
        };
        // Keep only the paths actually used, in subset order.
        let used: Vec<usize> = subset
            .iter()
            .zip(&alloc.chunks)
            .filter(|(_, &c)| c > 0)
            .map(|(&i, _)| i)
            .collect();
        let better = best
            .as_ref()
            .is_none_or(|(_, b)| alloc.net(out_per_gas_unit) > b.net(out_per_gas_unit));
        let smallest = subset
            .iter()
            .zip(&alloc.chunks)
            .filter(|(_, &c)| c > 0)
            .min_by_key(|(_, &c)| c)
            .map(|(&i, _)| i);
        if better {
            best = Some((subset.clone(), alloc));
        }
        if out_per_gas_unit <= 0.0 || used.len() <= 1 {
            break;
        }
        subset = used;
        if let Some(s) = smallest {
            subset.retain(|&i| i != s);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool_math::f64_to_u256;

    #[test]
    fn two_equal_parallel_pools_share_the_input_evenly() {
        let mut g = Graph::new();
        for id in ["p1", "p2"] {
            g.upsert_v2(
                id,
                "A",
                "B",
                (f64_to_u256(1e9), f64_to_u256(1e9)),
                3000,
                "v",
            )
            .unwrap();
        }
        let h1 = [Hop {
            pool: 0,
            zero_for_one: true,
        }];
        let h2 = [Hop {
            pool: 1,
            zero_for_one: true,
        }];
        let a = allocate(&g, &[&h1, &h2], 1e8, 64, 4).unwrap();
        assert_eq!(a.chunks, vec![32, 32]);
        let single = allocate(&g, &[&h1], 1e8, 64, 4).unwrap();
        assert!(a.out > single.out);
    }

    #[test]
    fn a_shared_pool_is_not_counted_twice() {
        // A->B through two pools, then one shared B->C pool: splitting cannot beat the
        // shared bottleneck.
        let mut g = Graph::new();
        g.upsert_v2(
            "ab1",
            "A",
            "B",
            (f64_to_u256(1e15), f64_to_u256(1e15)),
            3000,
            "v",
        )
        .unwrap();
        g.upsert_v2(
            "ab2",
            "A",
            "B",
            (f64_to_u256(1e15), f64_to_u256(1e15)),
            3000,
            "v",
        )
        .unwrap();
        g.upsert_v2(
            "bc",
            "B",
            "C",
            (f64_to_u256(1e9), f64_to_u256(1e9)),
            3000,
            "v",
        )
        .unwrap();
        let p1 = [
            Hop {
                pool: 0,
                zero_for_one: true,
            },
            Hop {
                pool: 2,
                zero_for_one: true,
            },
        ];
        let p2 = [
            Hop {
                pool: 1,
                zero_for_one: true,
            },
            Hop {
                pool: 2,
                zero_for_one: true,
            },
        ];
        let split = allocate(&g, &[&p1, &p2], 1e9, 64, 4).unwrap();
        let single = allocate(&g, &[&p1], 1e9, 64, 4).unwrap();
        // Only the (deep) first hops' impact can improve; the shared pool dominates.
        assert!(split.out <= single.out * (1.0 + 1e-5));
        // Two independent copies of the shared pool would give far more.
        let half = allocate(&g, &[&p1], 5e8, 64, 4).unwrap();
        assert!(split.out < 2.0 * half.out * 0.9);
    }

    #[test]
    fn gas_makes_a_tiny_trade_use_one_path() {
        let mut g = Graph::new();
        for id in ["p1", "p2"] {
            g.upsert_v2(
                id,
                "A",
                "B",
                (f64_to_u256(1e12), f64_to_u256(1e12)),
                3000,
                "v",
            )
            .unwrap();
        }
        let h1 = [Hop {
            pool: 0,
            zero_for_one: true,
        }];
        let h2 = [Hop {
            pool: 1,
            zero_for_one: true,
        }];
        let (_, a) = allocate_net_of_gas(&g, &[&h1, &h2], 1e6, 64, 4, 1e-3).unwrap();
        assert_eq!(a.paths_used(), 1);
        let (_, free) = allocate_net_of_gas(&g, &[&h1, &h2], 1e6, 64, 4, 0.0).unwrap();
        assert_eq!(free.paths_used(), 2);
    }

    #[test]
    fn rebalance_fixes_a_lopsided_allocation() {
        let mut g = Graph::new();
        for id in ["p1", "p2", "p3"] {
            g.upsert_v2(
                id,
                "A",
                "B",
                (f64_to_u256(1e9), f64_to_u256(1e9)),
                3000,
                "v",
            )
            .unwrap();
        }
        let h: Vec<[Hop; 1]> = (0..3)
            .map(|p| {
                [Hop {
                    pool: p,
                    zero_for_one: true,
                }]
            })
            .collect();
        let paths: Vec<&[Hop]> = h.iter().map(|x| x.as_slice()).collect();
        let mut amounts = vec![9e7, 0.0, 0.0];
        let before = evaluate(&g, &paths, &amounts).unwrap().0;
        // Capped at two splits: the third pool stays unused.
        let after = rebalance(&g, &paths, &mut amounts, 2, true, 1e7).unwrap();
        assert!(after > before);
        assert_eq!(amounts.iter().filter(|&&a| a > 0.0).count(), 2);
        assert!((amounts.iter().sum::<f64>() - 9e7).abs() < 1.0);
        let mut open = vec![9e7, 0.0, 0.0];
        rebalance(&g, &paths, &mut open, 4, true, 1e7).unwrap();
        assert!(open.iter().all(|&a| (a - 3e7).abs() < 2e6), "{open:?}");
    }
}
