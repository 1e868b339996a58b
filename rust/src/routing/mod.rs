//! Route optimisation over the liquidity graph.
//!
//! Search and splitting decide in f64 (`search`, `split`); `settle` then replays the
//! chosen splits in exact integer math, sequentially on shared pool state, so every
//! reported amount is what the contracts would pay.

pub mod depth;
pub mod flow;
pub mod gradient;
pub mod graph;
pub mod newton;
pub mod pool_map;
pub mod search;
pub mod split;

use graph::{ExactState, Graph, PoolIdx, TokenIdx};
use search::{Hop, SearchSpec, MAX_HOPS};

use crate::pool_math::{f64_to_u256, u256_to_f64, MathError, U256};

/// Beam width per (hop, token) in the search.
const BEAM: usize = 3;
/// Splits allowed when the caller sets no cap: as many as the optimum needs, up to this.
pub const DEFAULT_MAX_SPLITS: usize = 256;
/// Paths offered to the splitter from each of the first searches.
const FIRST_CANDIDATES: usize = 12;
/// Input of the marginal-rate searches, relative to the order: small enough that the
/// simulated output per unit is the path's marginal output.
const PROBE: f64 = 1e-6;
/// Paths added per round of column generation, and rounds.
const COLUMNS_PER_ROUND: usize = 32;
const COLUMN_ROUNDS: usize = 16;
/// Relative gain (0.01 bps) below which a further equalising pass is not worth its time.
const REEQUALISE_GAIN: f64 = 1e-6;
/// Candidates re-simulated exactly when picking the best single path.
/// Most single-path candidates re-simulated exactly (the search keeps at most 32).
const MAX_EXACT_SINGLE_CHECKS: usize = 32;
/// Relative error allowed for the f64 model when it bounds exact outputs.
const F64_RANKING_TOLERANCE: f64 = 1e-6;

#[derive(Debug, Clone)]
pub struct RouteRequest {
    pub token_in: String,
    pub token_out: String,
    pub amount_in: U256,
    pub max_hops: usize,
    pub max_splits: usize,
    pub allowed_venues: Option<Vec<String>>,
    pub gas_price_wei: U256,
    /// Every split's hops on one venue (one router transaction per split).
    pub single_venue_paths: bool,
}

#[derive(Debug, Clone)]
pub struct SettledHop {
    pub pool: PoolIdx,
    pub token_in: TokenIdx,
    pub token_out: TokenIdx,
    pub amount_in: U256,
    pub amount_out: U256,
    /// Initialised ticks the trade crossed (V3; gas).
    pub ticks_crossed: u32,
}

/// Pool states as earlier swaps of a route left them, over the graph (which stays as is).
#[derive(Default)]
struct WhatIf {
    moved: std::collections::HashMap<PoolIdx, ExactState>,
}

impl WhatIf {
    /// Swaps `amount_in` of `token_in` through `pool` in exact math, on the state earlier
    /// swaps left, and keeps the state it leaves.
    fn swap(
        &mut self,
        graph: &Graph,
        pool: PoolIdx,
        token_in: TokenIdx,
        amount_in: U256,
    ) -> Result<SettledHop, MathError> {
        let p = graph.pool(pool);
        let state = self
            .moved
            .get(&pool)
            .copied()
            .unwrap_or_else(|| p.exact_state());
        let zero_for_one = token_in == p.token0;
        let swap = p.swap_exact(&state, zero_for_one, amount_in)?;
        self.moved.insert(pool, swap.state);
        Ok(SettledHop {
            pool,
            token_in,
            token_out: if zero_for_one { p.token1 } else { p.token0 },
            amount_in,
            amount_out: swap.amount_out,
            ticks_crossed: swap.ticks_crossed,
        })
    }
}

#[derive(Debug, Clone)]
pub struct SettledSplit {
    pub amount_in: U256,
    pub amount_out: U256,
    pub hops: Vec<SettledHop>,
    pub gas_units: u64,
}

#[derive(Debug, Clone)]
pub struct RouteResult {
    pub amount_in: U256,
    pub amount_out: U256,
    /// The paths, with their parts of the legs' amounts.
    pub splits: Vec<SettledSplit>,
    /// The transactions that carry it out, in order (see `flow`).
    pub legs: Vec<flow::SettledLeg>,
    pub gas_units: u64,
    /// Gas cost expressed in the output token (zero when no gas price was given).
    pub gas_cost_out: U256,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    Invalid(String),
    NoRoute(String),
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteError::Invalid(m) | RouteError::NoRoute(m) => f.write_str(m),
        }
    }
}

/// Replays `splits` in exact math, one after another on a shared what-if state.
fn settle(
    graph: &Graph,
    token_in: TokenIdx,
    splits: &[(&[Hop], U256)],
) -> Result<Vec<SettledSplit>, MathError> {
    let mut what_if = WhatIf::default();
    let mut settled = Vec::with_capacity(splits.len());
    for (hops, amount) in splits {
        let mut token = token_in;
        let mut a = *amount;
        let mut gas = split::hop_gas(graph, hops);
        let mut out_hops = Vec::with_capacity(hops.len());
        for h in hops.iter() {
            let hop = what_if.swap(graph, h.pool, token, a)?;
            gas += hop.ticks_crossed as u64 * split::GAS_PER_TICK_CROSSED;
            (token, a) = (hop.token_out, hop.amount_out);
            out_hops.push(hop);
        }
        settled.push(SettledSplit {
            amount_in: *amount,
            amount_out: a,
            hops: out_hops,
            gas_units: gas,
        });
    }
    Ok(settled)
}

fn sum_out(splits: &[SettledSplit]) -> Option<U256> {
    splits
        .iter()
        .try_fold(U256::ZERO, |acc, s| acc.checked_add(s.amount_out))
}

/// Output-token value of `gas_units` gas; f64 rate for decisions.
struct GasPricing {
    gas_price_wei: U256,
    /// Path converting the gas token into the output token (empty: they are the same).
    path: Vec<Hop>,
    out_per_gas_unit: f64,
}

impl GasPricing {
    fn cost_out(&self, graph: &Graph, gas_token: TokenIdx, gas_units: u64) -> U256 {
        let wei = self.gas_price_wei.saturating_mul(U256::from(gas_units));
        if self.path.is_empty() {
            return wei;
        }
        let pools: Vec<PoolIdx> = self.path.iter().map(|h| h.pool).collect();
        match graph.quote(&pools, gas_token, wei) {
            Ok(v) => v,
            // The gas amount is too large for the pricing path: fall back to the f64 rate.
            Err(_) => f64_to_u256(gas_units as f64 * self.out_per_gas_unit),
        }
    }
}

fn price_gas(
    graph: &Graph,
    gas_token: TokenIdx,
    token_out: TokenIdx,
    gas_price_wei: U256,
    max_hops: usize,
    venue_allowed: Option<&[bool]>,
) -> Result<GasPricing, RouteError> {
    let price = u256_to_f64(gas_price_wei);
    if gas_token == token_out {
        return Ok(GasPricing {
            gas_price_wei,
            path: Vec::new(),
            out_per_gas_unit: price,
        });
    }
    // Price a typical route's gas (a few hops) so the rate includes that size's impact;
    // if the pools cannot absorb that much gas token, fall back to smaller probes (rate
    // near spot) rather than failing the route.
    const TYPICAL_GAS: f64 = 300_000.0;
    let dist = search::hops_to_target(graph, token_out, max_hops, venue_allowed);
    let mut spec = SearchSpec {
        hops_to_target: &dist,
        moved: None,
        token_in: gas_token,
        token_out,
        amount_in: 0.0,
        max_hops,
        venue_allowed,
        beam: BEAM,
        single_venue: false,
    };
    let reference = price * TYPICAL_GAS;
    let best = [reference, reference * 1e-6, 1.0]
        .into_iter()
        .find_map(|probe| {
            spec.amount_in = probe;
            let found = search::candidate_paths(graph, &spec).into_iter().next()?;
            Some((found, probe))
        });
    let Some((best, probe)) = best else {
        return Err(RouteError::NoRoute(format!(
            "cannot price gas: no path from the gas token {} to {}",
            graph.token_name(gas_token),
            graph.token_name(token_out)
        )));
    };
    let out_per_gas_unit = best.amount / probe * price;
    Ok(GasPricing {
        gas_price_wei,
        path: best.hops().to_vec(),
        out_per_gas_unit,
    })
}

/// Splits `amount` into integer parts proportional to `weights`, summing exactly to it.
fn integer_parts(amount: U256, weights: &[f64]) -> Vec<U256> {
    let total: f64 = weights.iter().sum();
    let amount_f = u256_to_f64(amount);
    let largest = weights
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    let mut parts: Vec<U256> = weights
        .iter()
        .map(|w| {
            if total > 0.0 {
                f64_to_u256(amount_f * w / total).min(amount)
            } else {
                U256::ZERO
            }
        })
        .collect();
    parts[largest] = U256::ZERO;
    let assigned = parts.iter().fold(U256::ZERO, |a, p| a.saturating_add(*p));
    if assigned > amount {
        // f64 rounding overshot: give everything to the largest share.
        parts.iter_mut().for_each(|p| *p = U256::ZERO);
        parts[largest] = amount;
    } else {
        parts[largest] = amount - assigned;
    }
    parts
}

/// A settled route and its f64 output net of gas (the figure candidates are ranked by).
type Settled = (flow::Flow, f64);

fn net_of_gas(splits: &[SettledSplit], out_per_gas: f64) -> f64 {
    let gas_units: u64 = splits.iter().map(|s| s.gas_units).sum();
    sum_out(splits).map_or(f64::NEG_INFINITY, u256_to_f64) - gas_units as f64 * out_per_gas
}

/// The paths as legs: each shared run of pools traded once when that pays best (gross
/// output without a gas price, net with one), else one transaction per path and venue.
fn as_legs(graph: &Graph, paths: &[SettledSplit], out_per_gas: f64) -> Result<Settled, MathError> {
    let own = flow::per_path(graph, paths)?;
    let own_net = own.net(out_per_gas);
    if paths.len() < 2 {
        return Ok((own, own_net));
    }
    match flow::merged(graph, paths) {
        Some(Ok(shared)) if shared.net(out_per_gas) > own_net => {
            let net = shared.net(out_per_gas);
            Ok((shared, net))
        }
        _ => Ok((own, own_net)),
    }
}

/// The best of the top single-path candidates, re-simulated exactly with the full amount.
fn best_single_path(
    graph: &Graph,
    token_in: TokenIdx,
    amount: U256,
    candidates: &[search::Label],
    out_per_gas: f64,
) -> (Option<Settled>, Option<MathError>) {
    let mut best: Option<(Vec<SettledSplit>, f64)> = None;
    let mut last_err = None;
    for l in candidates.iter().take(MAX_EXACT_SINGLE_CHECKS) {
        // The f64 output bounds the exact one from above (integer flooring and the
        // contracts' rounding only take away, and gas only lowers the net), so once the best
        // exact result beats a candidate's f64 output no later candidate can win. Whale
        // trades stop after one or two exact replays; dust trades, where flooring at a hop
        // can erase the output, go on down the list.
        if best
            .as_ref()
            .is_some_and(|(_, b)| *b >= l.amount * (1.0 + F64_RANKING_TOLERANCE))
        {
            break;
        }
        match settle(graph, token_in, &[(l.hops(), amount)]) {
            Ok(s) => {
                let net = net_of_gas(&s, out_per_gas);
                if best.as_ref().is_none_or(|(_, b)| net > *b) {
                    best = Some((s, net));
                }
            }
            Err(e) => last_err = Some(e),
        }
    }
    // One path is one leg per venue it crosses: its net is the path's, legs built once.
    match best.map(|(s, net)| flow::per_path(graph, &s).map(|f| (f, net))) {
        Some(Ok(found)) => (Some(found), last_err),
        Some(Err(e)) => (None, Some(e)),
        None => (None, last_err),
    }
}

fn hops_of(labels: &[search::Label]) -> Vec<&[Hop]> {
    labels.iter().map(|l| l.hops()).collect()
}

/// Splits the input across `offered` paths at the optimum of the routing problem and
/// settles it exactly; `None` when one path is best or settling fails.
///
/// Column generation: on the pool states the optimum over the current paths leaves behind,
/// a search with a probe-sized input finds the paths of highest marginal output; any that
/// beats the used paths' common marginal joins the set (an unused path better than that
/// marginal shows the optimum over all paths is not reached yet), until none does.
fn best_split(
    graph: &Graph,
    spec: &SearchSpec,
    mut offered: Vec<search::Label>,
    req: &RouteRequest,
    out_per_gas: f64,
) -> Option<Settled> {
    let amount_f = u256_to_f64(req.amount_in);
    let mut alloc = split::optimise(
        graph,
        &hops_of(&offered),
        amount_f,
        req.max_splits,
        out_per_gas,
    )?;
    for _ in 0..COLUMN_ROUNDS {
        let probe = SearchSpec {
            amount_in: amount_f * PROBE,
            moved: Some(&alloc.overlay),
            ..*spec
        };
        let bar = alloc.common_marginal() * probe.amount_in * (1.0 + split::OPEN_GAIN);
        let before = offered.len();
        for l in search::candidate_paths(graph, &probe) {
            if l.amount <= bar || offered.len() - before == COLUMNS_PER_ROUND {
                break;
            }
            if !offered.iter().any(|o| o.hops() == l.hops()) {
                offered.push(l);
            }
        }
        if offered.len() == before {
            // No better path: done once the current ones are equalised; if they are not
            // yet, equalise further while that still gains.
            if alloc.is_equalised() {
                break;
            }
            let paths = hops_of(&offered);
            let more =
                split::optimise_from(graph, &paths, alloc.clone(), req.max_splits, out_per_gas);
            if more.out <= alloc.out * (1.0 + REEQUALISE_GAIN) {
                break;
            }
            alloc = more;
            continue;
        }
        let paths = hops_of(&offered);
        let mut amounts = alloc.amounts.clone();
        amounts.resize(offered.len(), 0.0);
        let start = split::assess(graph, &paths, amounts)?;
        alloc = split::optimise_from(graph, &paths, start, req.max_splits, out_per_gas);
    }
    if alloc.paths_used() < 2 {
        return None;
    }
    let used: Vec<(&[Hop], f64)> = offered
        .iter()
        .zip(&alloc.amounts)
        .filter(|(_, &a)| a > 0.0)
        .map(|(l, &a)| (l.hops(), a))
        .collect();
    let weights: Vec<f64> = used.iter().map(|u| u.1).collect();
    let plan: Vec<(&[Hop], U256)> = used
        .iter()
        .zip(integer_parts(req.amount_in, &weights))
        .map(|((p, _), a)| (*p, a))
        .filter(|(_, a)| !a.is_zero())
        .collect();
    // Settled in the order planned: on shared pools the order is part of the plan.
    let settled = settle(graph, spec.token_in, &plan).ok()?;
    as_legs(graph, &settled, out_per_gas).ok()
}

/// Finds the best route for `req` (output net of gas when a gas price is given).
pub fn optimize(
    graph: &Graph,
    req: &RouteRequest,
    gas_token: Option<&str>,
) -> Result<RouteResult, RouteError> {
    let token_in = graph
        .token(&req.token_in)
        .ok_or_else(|| RouteError::Invalid(format!("unknown token {:?}", req.token_in)))?;
    let token_out = graph
        .token(&req.token_out)
        .ok_or_else(|| RouteError::Invalid(format!("unknown token {:?}", req.token_out)))?;
    if token_in == token_out {
        return Err(RouteError::Invalid(
            "token_in and token_out must differ".into(),
        ));
    }
    if req.amount_in.is_zero() {
        return Err(RouteError::Invalid("amount_in must be positive".into()));
    }
    if !(1..=MAX_HOPS).contains(&req.max_hops) {
        return Err(RouteError::Invalid(format!(
            "max_hops must be in 1..={MAX_HOPS}"
        )));
    }
    if req.max_splits == 0 {
        return Err(RouteError::Invalid("max_splits must be at least 1".into()));
    }
    let mask: Option<Vec<bool>> = req.allowed_venues.as_ref().map(|names| {
        let mut m = vec![false; graph.venue_count()];
        for n in names {
            if let Some(v) = graph.venue(n) {
                m[v as usize] = true;
            }
        }
        m
    });
    let venue_allowed = mask.as_deref();

    let gas = if req.gas_price_wei.is_zero() {
        None
    } else {
        let name = gas_token.ok_or_else(|| {
            RouteError::Invalid(
                "gas_price_wei > 0 needs a gas token: pass gas_token to ExecutionEngine()".into(),
            )
        })?;
        let g = graph.token(name).ok_or_else(|| {
            RouteError::NoRoute(format!("cannot price gas: gas token {name:?} has no pool"))
        })?;
        Some((
            g,
            price_gas(
                graph,
                g,
                token_out,
                req.gas_price_wei,
                req.max_hops,
                venue_allowed,
            )?,
        ))
    };
    let out_per_gas = gas.as_ref().map_or(0.0, |(_, g)| g.out_per_gas_unit);

    // Search at the full size and at a split-sized amount: a shallow pool with a good price
    // loses at full size but can still take a slice.
    let amount_f = u256_to_f64(req.amount_in);
    let dist = search::hops_to_target(graph, token_out, req.max_hops, venue_allowed);
    let mut spec = SearchSpec {
        hops_to_target: &dist,
        moved: None,
        token_in,
        token_out,
        amount_in: amount_f,
        max_hops: req.max_hops,
        venue_allowed,
        beam: BEAM,
        single_venue: req.single_venue_paths,
    };
    let labels = search::candidate_paths(graph, &spec);
    let mut small = Vec::new();
    if req.max_splits > 1 {
        for fraction in [1.0 / 16.0, PROBE] {
            spec.amount_in = amount_f * fraction;
            small.extend(
                search::candidate_paths(graph, &spec)
                    .into_iter()
                    .take(FIRST_CANDIDATES),
            );
        }
        spec.amount_in = amount_f;
    }
    if labels.is_empty() && small.is_empty() {
        // Tell "not connected" from "connected, but no path can take this amount".
        let connected = graph.edges_of(token_in).iter().any(|e| {
            dist[e.other as usize] < req.max_hops as u8
                && venue_allowed.is_none_or(|m| m.get(e.venue as usize).copied().unwrap_or(false))
        });
        let why = if connected {
            "no path can absorb this amount"
        } else {
            "no path"
        };
        return Err(RouteError::NoRoute(format!(
            "no route from {} to {} within {} hops: {why}",
            req.token_in, req.token_out, req.max_hops
        )));
    }
    // Paths offered to the splitter: the best at full size, at slice size and at the margin.
    let mut offered: Vec<search::Label> = labels.iter().take(FIRST_CANDIDATES).copied().collect();
    for l in &small {
        if !offered.iter().any(|o| o.hops() == l.hops()) {
            offered.push(*l);
        }
    }

    let singles = if labels.is_empty() { &small } else { &labels };
    let (mut best, last_err) =
        best_single_path(graph, token_in, req.amount_in, singles, out_per_gas);
    if req.max_splits > 1 && !offered.is_empty() {
        let gas_priced = gas.is_some();
        if let Some((split, net)) = best_split(graph, &spec, offered, req, out_per_gas) {
            // Gross output decides without a gas price; net output with one.
            let take = match &best {
                None => true,
                Some((_, b)) if gas_priced => net > *b,
                Some((single, _)) => split.amount_out() > single.amount_out(),
            };
            if take {
                best = Some((split, net));
            }
        }
    }

    let Some((flow, _)) = best else {
        let why = last_err.map_or_else(|| "no feasible path".to_string(), |e| e.to_string());
        return Err(RouteError::NoRoute(format!(
            "no route from {} to {}: {why}",
            req.token_in, req.token_out
        )));
    };
    let amount_out = flow
        .amount_out()
        .ok_or_else(|| RouteError::Invalid("output overflows uint256".into()))?;
    let gas_units = flow.gas_units();
    let gas_cost_out = match &gas {
        Some((g, pricing)) => pricing.cost_out(graph, *g, gas_units),
        None => U256::ZERO,
    };
    Ok(RouteResult {
        amount_in: req.amount_in,
        amount_out,
        splits: flow.splits,
        legs: flow.legs,
        gas_units,
        gas_cost_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(v: f64) -> U256 {
        f64_to_u256(v)
    }

    fn request(a: &str, b: &str, amount: f64, splits: usize) -> RouteRequest {
        RouteRequest {
            token_in: a.into(),
            token_out: b.into(),
            amount_in: u(amount),
            max_hops: 3,
            max_splits: splits,
            allowed_venues: None,
            gas_price_wei: U256::ZERO,
            single_venue_paths: false,
        }
    }

    fn graph() -> Graph {
        let mut g = Graph::new();
        g.upsert_v2("ab_deep", "A", "B", (u(1e18), u(2e18)), 3000, "uniswap_v2")
            .unwrap();
        g.upsert_v2("ab_thin", "A", "B", (u(1e17), u(2e17)), 500, "sushiswap")
            .unwrap();
        g.upsert_v2("ac", "A", "C", (u(1e18), u(1e18)), 3000, "uniswap_v2")
            .unwrap();
        g.upsert_v2("cb", "C", "B", (u(1e18), u(2e18)), 3000, "uniswap_v2")
            .unwrap();
        g
    }

    #[test]
    fn split_route_beats_or_equals_the_best_single_path_and_sums_up() {
        let g = graph();
        let split = optimize(&g, &request("A", "B", 1e17, 4), None).unwrap();
        let single = optimize(&g, &request("A", "B", 1e17, 1), None).unwrap();
        assert!(split.splits.len() > 1);
        assert!(split.amount_out >= single.amount_out);
        assert_eq!(single.splits.len(), 1);
        let total_in = split.splits.iter().fold(U256::ZERO, |a, s| a + s.amount_in);
        assert_eq!(total_in, split.amount_in);
        let total_out = split
            .splits
            .iter()
            .fold(U256::ZERO, |a, s| a + s.amount_out);
        assert_eq!(total_out, split.amount_out);
    }

    #[test]
    fn venue_filter_and_errors() {
        let g = graph();
        let mut r = request("A", "B", 1e15, 4);
        r.allowed_venues = Some(vec!["sushiswap".into()]);
        let route = optimize(&g, &r, None).unwrap();
        assert!(route
            .splits
            .iter()
            .all(|s| s.hops.iter().all(|h| g.pool(h.pool).id == "ab_thin")));
        r.allowed_venues = Some(vec!["nowhere".into()]);
        assert!(matches!(
            optimize(&g, &r, None),
            Err(RouteError::NoRoute(_))
        ));
        assert!(matches!(
            optimize(&g, &request("A", "Z", 1.0, 4), None),
            Err(RouteError::Invalid(_))
        ));
        assert!(matches!(
            optimize(&g, &request("A", "A", 1.0, 4), None),
            Err(RouteError::Invalid(_))
        ));
        assert!(matches!(
            optimize(&g, &request("A", "B", 0.0, 4), None),
            Err(RouteError::Invalid(_))
        ));
    }

    #[test]
    fn single_venue_paths_keep_every_split_on_one_venue() {
        // The best route mixes venues (A->C on one, C->B on the other); with
        // single_venue_paths every split must stay on one venue.
        let mut g = Graph::new();
        g.upsert_v2("ac_u", "A", "C", (u(1e18), u(1e18)), 3000, "uniswap_v3")
            .unwrap();
        g.upsert_v2("cb_s", "C", "B", (u(1e18), u(1e18)), 3000, "sushiswap")
            .unwrap();
        g.upsert_v2("ac_s", "A", "C", (u(1e16), u(1e16)), 3000, "sushiswap")
            .unwrap();
        g.upsert_v2("cb_u", "C", "B", (u(1e16), u(1e16)), 3000, "uniswap_v3")
            .unwrap();
        g.upsert_v2("ab_u", "A", "B", (u(1e16), u(1e16)), 3000, "uniswap_v3")
            .unwrap();
        let mixed = optimize(&g, &request("A", "B", 1e16, 4), None).unwrap();
        let venue = |h: &SettledHop| g.pool(h.pool).venue;
        assert!(mixed
            .splits
            .iter()
            .any(|s| s.hops.iter().any(|h| venue(h) != venue(&s.hops[0]))));
        let mut r = request("A", "B", 1e16, 4);
        r.single_venue_paths = true;
        let single = optimize(&g, &r, None).unwrap();
        assert!(!single.splits.is_empty());
        for s in &single.splits {
            assert!(s.hops.iter().all(|h| venue(h) == venue(&s.hops[0])));
        }
        // Both venues are still used (different splits may use different venues).
        let venues: std::collections::HashSet<u32> =
            single.splits.iter().map(|s| venue(&s.hops[0])).collect();
        assert_eq!(venues.len(), 2);
        assert!(single.amount_out <= mixed.amount_out);
        // Restricted to one venue that only has a mixed route: no route.
        r.allowed_venues = Some(vec!["sushiswap".into()]);
        r.token_out = "C".into();
        let only = optimize(&g, &r, None).unwrap();
        assert!(only
            .splits
            .iter()
            .all(|s| s.hops.iter().all(|h| venue(h) == venue(&s.hops[0]))));
    }

    #[test]
    fn gas_is_priced_and_discourages_splitting_small_trades() {
        let g = graph();
        let mut r = request("A", "B", 1e12, 4);
        r.gas_price_wei = U256::from(30_000_000_000u64);
        let route = optimize(&g, &r, Some("A")).unwrap();
        assert_eq!(route.splits.len(), 1);
        assert!(route.gas_cost_out > U256::ZERO);
        assert!(matches!(
            optimize(&g, &r, None),
            Err(RouteError::Invalid(_))
        ));
    }

    #[test]
    fn dust_trades_are_ranked_by_exact_output_not_f64() {
        // Via T2 the f64 model promises ~992, but the first hop floors to zero; the direct
        // pool's exact output (1) must win.
        let mut g = Graph::new();
        g.upsert_v2("direct", "T0", "T1", (u(1e6), u(2000.0)), 3000, "v")
            .unwrap();
        for id in ["a", "b", "c"] {
            g.upsert_v2(id, "T0", "T2", (u(1e6), u(1000.0)), 3000, "v")
                .unwrap();
        }
        g.upsert_v2("t2t1", "T1", "T2", (u(1e6), u(1000.0)), 3000, "v")
            .unwrap();
        let route = optimize(&g, &request("T0", "T1", 1000.0, 1), None).unwrap();
        assert_eq!(route.amount_out, U256::from(1u8));
        assert_eq!(g.pool(route.splits[0].hops[0].pool).id, "direct");
    }

    #[test]
    fn a_whale_order_reaches_the_closed_form_optimum_over_more_pools_than_one_search_finds() {
        // 100 parallel A->B pools of different depths: one search returns at most
        // search::MAX_FOUND of them, yet an order far beyond any pool's depth needs them
        // all. Column generation must bring in every one, past the former 64-split cap,
        // and the exact result must match the closed form of equal marginals.
        let mut g = Graph::new();
        let pools: Vec<(f64, f64)> = (0..100)
            .map(|i| {
                let depth = 1e18 * (1.0 + (i % 7) as f64);
                (depth, depth * (1.0 + 0.001 * (i % 5) as f64))
            })
            .collect();
        for (i, r) in pools.iter().enumerate() {
            g.upsert_v2(&format!("p{i}"), "A", "B", (u(r.0), u(r.1)), 3000, "v")
                .unwrap();
        }
        let amount = 2e20;
        let route = optimize(&g, &request("A", "B", amount, DEFAULT_MAX_SPLITS), None).unwrap();
        assert_eq!(route.splits.len(), 100);
        let optimum = split::tests::parallel_optimum(&pools, amount);
        let got = u256_to_f64(route.amount_out);
        let gap_bps = (optimum - got) / optimum * 1e4;
        assert!(gap_bps < 0.05 && gap_bps > -0.05, "{gap_bps} bps");
        let single = optimize(&g, &request("A", "B", amount, 1), None).unwrap();
        assert!(route.amount_out > single.amount_out);
    }

    #[test]
    fn integer_parts_sum_exactly() {
        let parts = integer_parts(U256::from(1001u32), &[33.0, 33.0, 34.0]);
        assert_eq!(
            parts.iter().fold(U256::ZERO, |a, p| a + *p),
            U256::from(1001u32)
        );
        assert_eq!(parts[0], U256::from(330u32));
        // Near uint256::MAX the f64 shares must not overflow the exact total.
        let big = U256::MAX - U256::from(5u8);
        let parts = integer_parts(big, &[1.0, 1.0, 1e-30]);
        assert_eq!(parts.iter().fold(U256::ZERO, |a, p| a + *p), big);
    }
}
