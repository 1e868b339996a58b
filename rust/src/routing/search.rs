//! Amount-aware path search: a hop-bounded Bellman-Ford that carries simulated amounts.
//!
//! Spot-price shortest paths ignore price impact (and log-price weights can be negative),
//! so each relaxation swaps the label's actual amount through the pool (f64 model). Each
//! (hop, token) keeps a small beam of the best labels rather than one, so a path that is
//! second-best at an intermediate token can still win at the destination.

use super::graph::{Graph, PoolIdx, TokenIdx};
use super::split::ApproxOverlay;
use crate::pool_math::approx;

/// Most hops a route may take (labels store paths inline).
pub const MAX_HOPS: usize = 4;

/// One pool traversal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hop {
    pub pool: PoolIdx,
    pub zero_for_one: bool,
}

/// A path from the source with its simulated output (f64) for the searched amount.
#[derive(Debug, Clone, Copy)]
pub struct Label {
    pub amount: f64,
    len: u8,
    hops: [Hop; MAX_HOPS],
    tokens: [TokenIdx; MAX_HOPS + 1],
}

impl Label {
    pub fn hops(&self) -> &[Hop] {
        &self.hops[..self.len as usize]
    }

    fn visits(&self, t: TokenIdx) -> bool {
        self.tokens[..=self.len as usize].contains(&t)
    }
}

/// Search limits and filters.
#[derive(Clone, Copy)]
pub struct SearchSpec<'a> {
    pub token_in: TokenIdx,
    pub token_out: TokenIdx,
    pub amount_in: f64,
    pub max_hops: usize,
    /// Indexed by venue id; `None` allows every venue.
    pub venue_allowed: Option<&'a [bool]>,
    /// Labels kept per (hop, token).
    pub beam: usize,
    /// From [`hops_to_target`] for `token_out` and `max_hops`: computed once per query.
    pub hops_to_target: &'a [u8],
    /// Pool states moved by trades already planned (`None`: the graph's own states).
    pub moved: Option<&'a ApproxOverlay>,
    /// Every path stays on one venue (different paths may use different venues).
    pub single_venue: bool,
}

fn venue_ok(venue: u32, venue_allowed: Option<&[bool]>) -> bool {
    venue_allowed.is_none_or(|mask| mask.get(venue as usize).copied().unwrap_or(false))
}

/// Hop distance of every token to `target` over allowed pools, up to `max_hops - 1`
/// (`u8::MAX` beyond): lets the search drop labels that cannot arrive in time.
pub fn hops_to_target(
    graph: &Graph,
    target: TokenIdx,
    max_hops: usize,
    venue_allowed: Option<&[bool]>,
) -> Vec<u8> {
    let mut dist = vec![u8::MAX; graph.token_count()];
    dist[target as usize] = 0;
    let mut frontier = vec![target];
    for d in 1..max_hops.clamp(1, MAX_HOPS) as u8 {
        let mut next = Vec::new();
        for &t in &frontier {
            for e in graph.edges_of(t) {
                if venue_ok(e.venue, venue_allowed) && dist[e.other as usize] == u8::MAX {
                    dist[e.other as usize] = d;
                    next.push(e.other);
                }
            }
        }
        frontier = next;
    }
    dist
}

/// Inserts into a beam sorted by amount (descending), keeping at most `cap`.
fn push_beam(beam: &mut Vec<Label>, label: Label, cap: usize) {
    if beam.len() == cap && beam.last().is_some_and(|l| l.amount >= label.amount) {
        return;
    }
    let at = beam.partition_point(|l| l.amount >= label.amount);
    beam.insert(at, label);
    beam.truncate(cap);
}

/// Paths reaching `token_out` kept per search (best simulated output first).
pub const MAX_FOUND: usize = 32;

/// The best paths reaching `token_out` (at most [`MAX_FOUND`]), best simulated output first.
///
/// With `single_venue`, one search per allowed venue (each restricted to that venue), so a
/// venue's paths never compete with another venue's for beam slots.
pub fn candidate_paths(graph: &Graph, spec: &SearchSpec) -> Vec<Label> {
    if !spec.single_venue {
        return search(graph, spec);
    }
    let mut found: Vec<Label> = Vec::new();
    let mut mask = vec![false; graph.venue_count()];
    for v in 0..graph.venue_count() {
        if !venue_ok(v as u32, spec.venue_allowed) {
            continue;
        }
        mask[v] = true;
        let one = SearchSpec {
            venue_allowed: Some(&mask),
            single_venue: false,
            ..*spec
        };
        for l in search(graph, &one) {
            push_beam(&mut found, l, MAX_FOUND);
        }
        mask[v] = false;
    }
    found
}

fn search(graph: &Graph, spec: &SearchSpec) -> Vec<Label> {
    let max_hops = spec.max_hops.clamp(1, MAX_HOPS);
    let dist = spec.hops_to_target;
    let start = Label {
        amount: spec.amount_in,
        len: 0,
        hops: [Hop {
            pool: 0,
            zero_for_one: false,
        }; MAX_HOPS],
        tokens: [spec.token_in; MAX_HOPS + 1],
    };
    // Beams of the current hop, and token -> beam index for the next (u32::MAX: none).
    let mut layer: Vec<(TokenIdx, Vec<Label>)> = vec![(spec.token_in, vec![start])];
    let mut slot = vec![u32::MAX; graph.token_count()];
    let mut found: Vec<Label> = Vec::new();
    for hop in 1..=max_hops {
        let hops_left_after = (max_hops - hop) as u8;
        let mut next: Vec<(TokenIdx, Vec<Label>)> = Vec::new();
        for (token, labels) in &layer {
            for e in graph.edges_of(*token) {
                let other = e.other;
                if dist
                    .get(other as usize)
                    .is_none_or(|&d| d > hops_left_after)
                    || !venue_ok(e.venue, spec.venue_allowed)
                {
                    continue;
                }
                let pool = graph.pool(e.pool);
                let state = spec
                    .moved
                    .map_or(&pool.approx_state, |m| m.state(graph, e.pool));
                let zero_for_one = *token == pool.token0;
                for label in labels {
                    if label.visits(other) {
                        continue;
                    }
                    let Some(swap) =
                        approx::swap(&pool.approx_params, state, zero_for_one, label.amount)
                    else {
                        continue;
                    };
                    if swap.amount_out.is_nan() || swap.amount_out <= 0.0 {
                        continue;
                    }
                    let mut l = *label;
                    l.hops[l.len as usize] = Hop {
                        pool: e.pool,
                        zero_for_one,
                    };
                    l.len += 1;
                    l.tokens[l.len as usize] = other;
                    l.amount = swap.amount_out;
                    if other == spec.token_out {
                        push_beam(&mut found, l, MAX_FOUND);
                        continue;
                    }
                    let s = &mut slot[other as usize];
                    if *s == u32::MAX {
                        *s = next.len() as u32;
                        next.push((other, Vec::with_capacity(spec.beam.max(1))));
                    }
                    push_beam(&mut next[*s as usize].1, l, spec.beam.max(1));
                }
            }
        }
        for (t, _) in &next {
            slot[*t as usize] = u32::MAX;
        }
        layer = next;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool_math::U256;

    fn u(v: f64) -> U256 {
        crate::pool_math::f64_to_u256(v)
    }

    fn spec(g: &Graph, a: &str, b: &str, amount: f64, hops: usize) -> Vec<Label> {
        let token_out = g.token(b).unwrap();
        let dist = hops_to_target(g, token_out, hops, None);
        candidate_paths(
            g,
            &SearchSpec {
                token_in: g.token(a).unwrap(),
                token_out,
                amount_in: amount,
                max_hops: hops,
                venue_allowed: None,
                beam: 3,
                hops_to_target: &dist,
                moved: None,
                single_venue: false,
            },
        )
    }

    #[test]
    fn finds_the_two_hop_path_that_beats_a_thin_direct_pool() {
        let mut g = Graph::new();
        g.upsert_v2("direct", "A", "C", (u(1e6), u(1e6)), 3000, "v")
            .unwrap();
        g.upsert_v2("ab", "A", "B", (u(1e12), u(1e12)), 3000, "v")
            .unwrap();
        g.upsert_v2("bc", "B", "C", (u(1e12), u(1e12)), 3000, "v")
            .unwrap();
        let found = spec(&g, "A", "C", 1e6, 3);
        assert_eq!(found[0].hops().len(), 2);
        assert!(found.iter().any(|l| l.hops().len() == 1));
        // With one hop only the direct pool qualifies.
        let one = spec(&g, "A", "C", 1e6, 1);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].hops()[0].pool, g.pool_index("direct").unwrap());
    }

    #[test]
    fn paths_never_revisit_a_token() {
        let mut g = Graph::new();
        for (id, a, b) in [
            ("ab", "A", "B"),
            ("ba2", "B", "A"),
            ("bc", "B", "C"),
            ("ac", "A", "C"),
        ] {
            g.upsert_v2(id, a, b, (u(1e12), u(1e12)), 3000, "v")
                .unwrap();
        }
        for l in spec(&g, "A", "C", 1e3, 4) {
            let mut seen = vec![l.tokens[0]];
            for t in &l.tokens[1..=l.hops().len()] {
                assert!(!seen.contains(t));
                seen.push(*t);
            }
        }
    }
}
