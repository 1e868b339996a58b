//! Legs: how a settled route is carried out, one transaction per leg.
//!
//! The splitter decides paths and how the input divides among them, and `settle` replays
//! them path by path. Swapped that way, a pool that several paths share trades once per
//! path, and each trade leaves its fee in the reserves the next one meets: together they
//! get less than one trade of their sum (on a whale order routed through one deep pool by
//! thirty paths, tens of bps). `merged` trades each run of pools that the same paths share
//! once, with the sum of what those paths bring, and hands its output on to the next legs
//! in the proportions the paths' own settlement gave them. `per_path` keeps one
//! transaction per run of one path's hops on one venue (no leg shared).
//!
//! A leg's input comes either from the route's input or from earlier legs' outputs
//! (`inputs`); legs are ordered so that sending them in order reproduces the replay here.
//! A leg left with nothing to spend (dust floored away) fails the replay: no transaction
//! can carry it.

use std::collections::HashMap;

use alloy_primitives::U512;

use super::graph::{Graph, PoolIdx, TokenIdx};
use super::split::{pool_gas, GAS_PER_EXTRA_LEG, GAS_PER_TICK_CROSSED};
use super::{sum_out, SettledHop, SettledSplit, WhatIf};
use crate::pool_math::{u256_to_f64, MathError, U256};

#[derive(Debug, Clone)]
pub struct SettledLeg {
    /// The pools it trades, with the leg's whole amounts.
    pub hops: Vec<SettledHop>,
    pub amount_in: U256,
    pub amount_out: U256,
    /// What pays for it: `(None, a)` is `a` of the route's input, `(Some(j), a)` is `a` of
    /// leg `j`'s output (planned; the last leg spending leg `j` takes what is left of it).
    pub inputs: Vec<(Option<usize>, U256)>,
    /// Per hop (V2 60k, V3 100k), per tick crossed, and a transaction's more when it
    /// spends another leg's output.
    pub gas_units: u64,
}

/// A route as legs, and each path's part in them (`splits`: the paths' attributed amounts,
/// which add up to the legs' input and output).
#[derive(Debug, Clone)]
pub struct Flow {
    pub legs: Vec<SettledLeg>,
    pub splits: Vec<SettledSplit>,
}

impl Flow {
    /// The route's output (`None`: beyond uint256).
    pub fn amount_out(&self) -> Option<U256> {
        sum_out(&self.splits)
    }

    pub fn gas_units(&self) -> u64 {
        self.legs.iter().map(|l| l.gas_units).sum()
    }

    /// Output less gas valued at `out_per_gas` (f64: for decisions).
    pub fn net(&self, out_per_gas: f64) -> f64 {
        self.amount_out().map_or(f64::NEG_INFINITY, u256_to_f64)
            - self.gas_units() as f64 * out_per_gas
    }
}

/// Gas of a leg: per hop and tick crossed, and a transaction's more when it spends
/// another leg's output.
fn leg_gas(graph: &Graph, hops: &[SettledHop], spends_a_leg: bool) -> u64 {
    let swaps: u64 = hops
        .iter()
        .map(|h| pool_gas(graph, h.pool) + h.ticks_crossed as u64 * GAS_PER_TICK_CROSSED)
        .sum();
    swaps + if spends_a_leg { GAS_PER_EXTRA_LEG } else { 0 }
}

type Node = (PoolIdx, TokenIdx);

/// A run of consecutive hops taken by the same paths on one venue.
struct Run {
    nodes: Vec<Node>,
    /// For each path on it: (path, index of the run's first hop in that path).
    users: Vec<(usize, usize)>,
}

/// The runs, and for each path and hop the run holding it.
struct Runs {
    runs: Vec<Run>,
    at: Vec<Vec<usize>>,
}

/// One transaction per run of each path's hops on one venue: the settled paths as they
/// are, each later leg spending the whole output of the one before.
pub fn per_path(graph: &Graph, paths: &[SettledSplit]) -> Result<Flow, MathError> {
    let mut legs: Vec<SettledLeg> = Vec::new();
    for p in paths {
        let mut from = None;
        for run in p
            .hops
            .chunk_by(|a, b| graph.pool(a.pool).venue == graph.pool(b.pool).venue)
        {
            let amount_in = run[0].amount_in;
            if amount_in.is_zero() {
                return Err(dust());
            }
            legs.push(SettledLeg {
                hops: run.to_vec(),
                amount_in,
                amount_out: run[run.len() - 1].amount_out,
                inputs: vec![(from, amount_in)],
                gas_units: leg_gas(graph, run, from.is_some()),
            });
            from = Some(legs.len() - 1);
        }
    }
    Ok(Flow {
        legs,
        splits: paths.to_vec(),
    })
}

/// A leg left with nothing to spend: an earlier leg paid nothing on, or this leg's part of
/// it floored to nothing. No transaction can carry it.
fn dust() -> MathError {
    MathError::InsufficientLiquidity
}

/// Each run of pools that the same paths share traded once; `None` when the runs cannot be
/// ordered (only paths of four hops can cross that way).
pub fn merged(graph: &Graph, paths: &[SettledSplit]) -> Option<Result<Flow, MathError>> {
    let runs = runs_of(graph, paths);
    let order = topological(&runs)?;
    Some(execute(graph, paths, &runs, &order))
}

fn node_of(h: &SettledHop) -> Node {
    (h.pool, h.token_in)
}

fn runs_of(graph: &Graph, paths: &[SettledSplit]) -> Runs {
    let mut users: HashMap<Node, Vec<usize>> = HashMap::new();
    for (k, p) in paths.iter().enumerate() {
        for h in &p.hops {
            users.entry(node_of(h)).or_default().push(k);
        }
    }
    let mut runs: Vec<Run> = Vec::new();
    let mut at: Vec<Vec<usize>> = paths.iter().map(|p| vec![0; p.hops.len()]).collect();
    let mut found: HashMap<(Node, Vec<usize>), usize> = HashMap::new();
    for (k, p) in paths.iter().enumerate() {
        let mut start = 0;
        while start < p.hops.len() {
            let first = node_of(&p.hops[start]);
            let who = &users[&first];
            let venue = graph.pool(first.0).venue;
            let mut end = start + 1;
            while end < p.hops.len() {
                let n = node_of(&p.hops[end]);
                if graph.pool(n.0).venue != venue || &users[&n] != who {
                    break;
                }
                end += 1;
            }
            let key = (first, who.clone());
            let r = match found.get(&key) {
                Some(&r) => {
                    runs[r].users.push((k, start));
                    r
                }
                None => {
                    found.insert(key, runs.len());
                    let nodes = p.hops[start..end].iter().map(node_of).collect();
                    runs.push(Run {
                        nodes,
                        users: vec![(k, start)],
                    });
                    runs.len() - 1
                }
            };
            at[k][start..end].fill(r);
            start = end;
        }
    }
    Runs { runs, at }
}

/// The runs in an order where each comes after those feeding it, earliest found first.
fn topological(runs: &Runs) -> Option<Vec<usize>> {
    let n = runs.runs.len();
    let feeds: Vec<Vec<usize>> = runs.runs.iter().map(|r| feeders(runs, r)).collect();
    let mut placed = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let next = (0..n).find(|&r| !placed[r] && feeds[r].iter().all(|&f| placed[f]))?;
        placed[next] = true;
        order.push(next);
    }
    Some(order)
}

fn feeders(runs: &Runs, r: &Run) -> Vec<usize> {
    let mut f: Vec<usize> = r
        .users
        .iter()
        .filter(|&&(_, s)| s > 0)
        .map(|&(k, s)| runs.at[k][s - 1])
        .collect();
    f.sort_unstable();
    f.dedup();
    f
}

/// `total` divided in proportion to `weights`, the last taking the remainder.
fn shares(total: U256, weights: &[U256]) -> Vec<U256> {
    let sum = weights.iter().fold(U256::ZERO, |a, w| a.saturating_add(*w));
    let mut out = Vec::with_capacity(weights.len());
    let mut given = U256::ZERO;
    for (i, w) in weights.iter().enumerate() {
        let part = if i + 1 == weights.len() {
            total - given
        } else if sum.is_zero() {
            U256::ZERO
        } else {
            let wide: U512 = total.widening_mul(*w) / U512::from(sum);
            let l = wide.as_limbs();
            U256::from_limbs([l[0], l[1], l[2], l[3]]) // <= total: fits
        };
        given += part;
        out.push(part);
    }
    out
}

/// Replays the runs in `order` in exact math on a shared what-if state.
fn execute(
    graph: &Graph,
    paths: &[SettledSplit],
    runs: &Runs,
    order: &[usize],
) -> Result<Flow, MathError> {
    let mut position = vec![0; runs.runs.len()];
    for (i, &r) in order.iter().enumerate() {
        position[r] = i;
    }
    let mut what_if = WhatIf::default();
    // What each path holds on its way, and its hops as attributed so far.
    let mut holding: Vec<U256> = paths.iter().map(|p| p.amount_in).collect();
    let mut hops: Vec<Vec<SettledHop>> = vec![Vec::new(); paths.len()];
    let mut legs = Vec::with_capacity(order.len());
    for &r in order {
        let run = &runs.runs[r];
        let mut inputs: Vec<(Option<usize>, U256)> = Vec::new();
        for &(k, s) in &run.users {
            let from = (s > 0).then(|| position[runs.at[k][s - 1]]);
            match inputs.iter_mut().find(|(f, _)| *f == from) {
                Some(slot) => slot.1 += holding[k],
                None => inputs.push((from, holding[k])),
            }
        }
        inputs.sort_by_key(|(f, _)| *f);
        let amount_in = inputs.iter().fold(U256::ZERO, |a, (_, v)| a + *v);
        if amount_in.is_zero() {
            return Err(dust());
        }
        let mut a = amount_in;
        let mut leg_hops = Vec::with_capacity(run.nodes.len());
        for (j, &(pool, token_in)) in run.nodes.iter().enumerate() {
            let hop = what_if.swap(graph, pool, token_in, a)?;
            // Each path's part of this hop, in proportion to what its own replay received.
            let planned: Vec<U256> = run
                .users
                .iter()
                .map(|&(k, s)| paths[k].hops[s + j].amount_out)
                .collect();
            for (&(k, _), part) in run.users.iter().zip(shares(hop.amount_out, &planned)) {
                hops[k].push(SettledHop {
                    amount_in: holding[k],
                    amount_out: part,
                    ..hop.clone()
                });
                holding[k] = part;
            }
            a = hop.amount_out;
            leg_hops.push(hop);
        }
        let spends_a_leg = inputs.iter().any(|(f, _)| f.is_some());
        legs.push(SettledLeg {
            gas_units: leg_gas(graph, &leg_hops, spends_a_leg),
            hops: leg_hops,
            amount_in,
            amount_out: a,
            inputs,
        });
    }
    let splits = paths
        .iter()
        .zip(hops)
        .zip(&holding)
        .map(|((p, hops), out)| SettledSplit {
            amount_in: p.amount_in,
            amount_out: *out,
            hops,
            gas_units: p.gas_units,
        })
        .collect();
    Ok(Flow { legs, splits })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool_math::f64_to_u256;
    use crate::routing::search::Hop;
    use crate::routing::split::GAS_PER_V2_HOP;

    fn graph() -> Graph {
        let mut g = Graph::new();
        let deep = (f64_to_u256(1e21), f64_to_u256(1e21));
        g.upsert_v2("ab", "A", "B", deep, 3000, "x").unwrap();
        g.upsert_v2("bc1", "B", "C", deep, 3000, "x").unwrap();
        g.upsert_v2("bc2", "B", "C", deep, 3000, "y").unwrap();
        g
    }

    fn hop(g: &Graph, id: &str, from: &str) -> Hop {
        let pool = g.pool_index(id).unwrap();
        Hop {
            pool,
            zero_for_one: g.pool(pool).token0 == g.token(from).unwrap(),
        }
    }

    /// Two paths through pool `ab`, then one through each B/C pool, settled path by path.
    fn two_paths(g: &Graph) -> Vec<SettledSplit> {
        let p1 = [hop(g, "ab", "A"), hop(g, "bc1", "B")];
        let p2 = [hop(g, "ab", "A"), hop(g, "bc2", "B")];
        let a = f64_to_u256(3e20);
        let plan: [(&[Hop], U256); 2] = [(&p1, a), (&p2, a)];
        super::super::settle(g, g.token("A").unwrap(), &plan).unwrap()
    }

    #[test]
    fn a_pool_two_paths_share_trades_once_and_its_output_is_spent_whole() {
        let g = graph();
        let paths = two_paths(&g);
        let own = per_path(&g, &paths).unwrap();
        let shared = merged(&g, &paths).unwrap().unwrap();
        // Path by path: one leg per path and venue, as settled.
        // ab and bc1 are both on venue x: one leg; the other path hops onto venue y: two.
        assert_eq!(own.legs.len(), 3);
        assert_eq!(own.legs[2].inputs, vec![(Some(1), own.legs[1].amount_out)]);
        let sequential = paths[0].amount_out + paths[1].amount_out;
        assert_eq!(own.amount_out(), Some(sequential));
        // Shared: `ab` once with both paths' input, then one leg per B/C pool.
        assert_eq!(shared.legs.len(), 3);
        let first = &shared.legs[0];
        assert_eq!(first.inputs, vec![(None, f64_to_u256(6e20))]);
        let whole = g
            .quote(
                &[g.pool_index("ab").unwrap()],
                g.token("A").unwrap(),
                f64_to_u256(6e20),
            )
            .unwrap();
        assert_eq!(first.amount_out, whole);
        let spent: U256 = shared.legs[1..]
            .iter()
            .flat_map(|l| l.inputs.iter())
            .map(|(from, a)| {
                assert_eq!(*from, Some(0));
                *a
            })
            .sum();
        assert_eq!(spent, first.amount_out);
        // One trade of the sum leaves no fee in the reserves a second trade would meet.
        assert!(shared.amount_out() > Some(sequential));
        let parts: U256 = shared.splits.iter().map(|s| s.amount_out).sum();
        assert_eq!(Some(parts), shared.amount_out());
        // A leg spending another's output pays a transaction more.
        assert_eq!(first.gas_units, GAS_PER_V2_HOP);
        assert_eq!(shared.legs[1].gas_units, GAS_PER_V2_HOP + GAS_PER_EXTRA_LEG);
    }

    #[test]
    fn shares_follow_the_weights_and_add_up_exactly() {
        let w = [U256::from(1u8), U256::from(2u8), U256::from(4u8)];
        let parts = shares(U256::from(100u8), &w);
        assert_eq!(
            parts,
            vec![U256::from(14u8), U256::from(28u8), U256::from(58u8)]
        );
        let big = U256::MAX / U256::from(3u8);
        let parts = shares(big, &[big, big]);
        assert_eq!(parts[0] + parts[1], big);
        assert_eq!(
            shares(U256::from(5u8), &[U256::ZERO, U256::ZERO])[1],
            U256::from(5u8)
        );
    }
}
