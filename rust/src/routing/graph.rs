//! The liquidity graph: tokens are nodes, pools are edges.
//!
//! Token and pool ids are interned to dense indices so the search works on integers and
//! flat vectors; an upsert of a known pool replaces its state in place, so the market
//! watcher's stream of updates never reshapes the graph unless a pool's pair changes.

use std::collections::HashMap;

use crate::pool_math::approx::{self, ApproxParams, ApproxState};
use crate::pool_math::v2::{self, V2State};
use crate::pool_math::v3::{self, V3Params, V3State};
use crate::pool_math::{MathError, FEE_DENOMINATOR, U256};

pub type TokenIdx = u32;
pub type PoolIdx = u32;

/// Exact state of one pool, as the contracts hold it.
#[derive(Debug, Clone)]
pub enum PoolModel {
    V2 { fee_pips: u32, state: V2State },
    V3 { params: V3Params, state: V3State },
}

/// The moving part of a pool, cheap to copy into a what-if overlay.
#[derive(Debug, Clone, Copy)]
pub enum ExactState {
    V2(V2State),
    V3(V3State),
}

/// Result of an exact swap on one pool.
#[derive(Debug, Clone, Copy)]
pub struct ExactSwap {
    pub amount_out: U256,
    pub ticks_crossed: u32,
    pub state: ExactState,
}

#[derive(Debug, Clone)]
pub struct Pool {
    pub id: String,
    pub token0: TokenIdx,
    pub token1: TokenIdx,
    pub venue: u32,
    pub model: PoolModel,
    pub approx_params: ApproxParams,
    pub approx_state: ApproxState,
}

impl Pool {
    pub fn is_v3(&self) -> bool {
        matches!(self.model, PoolModel::V3 { .. })
    }

    /// The token on the other side, or `None` if `token` is not in this pool.
    pub fn other(&self, token: TokenIdx) -> Option<TokenIdx> {
        if token == self.token0 {
            Some(self.token1)
        } else if token == self.token1 {
            Some(self.token0)
        } else {
            None
        }
    }

    pub fn exact_state(&self) -> ExactState {
        match &self.model {
            PoolModel::V2 { state, .. } => ExactState::V2(*state),
            PoolModel::V3 { state, .. } => ExactState::V3(*state),
        }
    }

    /// Exact swap from `state` (the pool's own or an overlay's); the whole input must fill.
    pub fn swap_exact(
        &self,
        state: &ExactState,
        zero_for_one: bool,
        amount_in: U256,
    ) -> Result<ExactSwap, MathError> {
        match (&self.model, state) {
            (PoolModel::V2 { fee_pips, .. }, ExactState::V2(s)) => {
                let (out, next) = v2::swap(*s, zero_for_one, amount_in, *fee_pips)?;
                Ok(ExactSwap {
                    amount_out: out,
                    ticks_crossed: 0,
                    state: ExactState::V2(next),
                })
            }
            (PoolModel::V3 { params, .. }, ExactState::V3(s)) => {
                let r = v3::swap_exact_in_full(params, *s, zero_for_one, amount_in)?;
                Ok(ExactSwap {
                    amount_out: r.amount_out,
                    ticks_crossed: r.ticks_crossed,
                    state: ExactState::V3(r.state),
                })
            }
            _ => Err(MathError::InvalidPool(
                "state does not match the pool kind".into(),
            )),
        }
    }
}

/// A pool seen from one of its tokens: what the search needs without touching the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub pool: PoolIdx,
    pub other: TokenIdx,
    pub venue: u32,
}

/// Interned tokens, venues and pools with per-token adjacency.
#[derive(Debug, Default)]
pub struct Graph {
    token_ids: HashMap<String, TokenIdx>,
    token_names: Vec<String>,
    /// Pools touching each token (unordered; removal is swap-remove).
    adjacency: Vec<Vec<Edge>>,
    venue_ids: HashMap<String, u32>,
    venue_names: Vec<String>,
    pool_ids: HashMap<String, PoolIdx>,
    pools: Vec<Option<Pool>>,
    free_slots: Vec<PoolIdx>,
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn pool_count(&self) -> usize {
        self.pool_ids.len()
    }

    pub fn token(&self, name: &str) -> Option<TokenIdx> {
        self.token_ids.get(name).copied()
    }

    pub fn token_name(&self, t: TokenIdx) -> &str {
        &self.token_names[t as usize]
    }

    pub fn token_count(&self) -> usize {
        self.token_names.len()
    }

    pub fn venue(&self, name: &str) -> Option<u32> {
        self.venue_ids.get(name).copied()
    }

    pub fn venue_count(&self) -> usize {
        self.venue_names.len()
    }

    pub fn pool_index(&self, id: &str) -> Option<PoolIdx> {
        self.pool_ids.get(id).copied()
    }

    /// A live pool; indices handed out by this graph are always live until removal.
    pub fn pool(&self, p: PoolIdx) -> &Pool {
        self.pools[p as usize]
            .as_ref()
            .expect("pool index refers to a removed pool")
    }

    pub fn edges_of(&self, t: TokenIdx) -> &[Edge] {
        &self.adjacency[t as usize]
    }

    fn intern_token(&mut self, name: &str) -> TokenIdx {
        if let Some(&t) = self.token_ids.get(name) {
            return t;
        }
        let t = self.token_names.len() as TokenIdx;
        self.token_ids.insert(name.to_owned(), t);
        self.token_names.push(name.to_owned());
        self.adjacency.push(Vec::new());
        t
    }

    fn intern_venue(&mut self, name: &str) -> u32 {
        if let Some(&v) = self.venue_ids.get(name) {
            return v;
        }
        let v = self.venue_names.len() as u32;
        self.venue_ids.insert(name.to_owned(), v);
        self.venue_names.push(name.to_owned());
        v
    }

    pub fn upsert_v2(
        &mut self,
        id: &str,
        token0: &str,
        token1: &str,
        reserves: (U256, U256),
        fee_pips: u32,
        venue: &str,
    ) -> Result<(), MathError> {
        if fee_pips >= FEE_DENOMINATOR {
            return Err(MathError::InvalidPool(format!(
                "fee_pips {fee_pips} must be < 1000000"
            )));
        }
        let state = V2State {
            reserve0: reserves.0,
            reserve1: reserves.1,
        };
        let model = PoolModel::V2 { fee_pips, state };
        let approx_params = approx::v2_params(fee_pips);
        let approx_state = approx::v2_state(&state);
        self.upsert(
            id,
            token0,
            token1,
            venue,
            model,
            approx_params,
            approx_state,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn upsert_v3(
        &mut self,
        id: &str,
        token0: &str,
        token1: &str,
        params: V3Params,
        state: V3State,
        venue: &str,
    ) -> Result<(), MathError> {
        let approx_params = approx::v3_params(&params);
        let approx_state = approx::v3_state(&params, &state);
        let model = PoolModel::V3 { params, state };
        self.upsert(
            id,
            token0,
            token1,
            venue,
            model,
            approx_params,
            approx_state,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn upsert(
        &mut self,
        id: &str,
        token0: &str,
        token1: &str,
        venue: &str,
        model: PoolModel,
        approx_params: ApproxParams,
        approx_state: ApproxState,
    ) -> Result<(), MathError> {
        if token0 == token1 {
            return Err(MathError::InvalidPool(
                "token0 and token1 must differ".into(),
            ));
        }
        let t0 = self.intern_token(token0);
        let t1 = self.intern_token(token1);
        let venue = self.intern_venue(venue);
        let pool = Pool {
            id: id.to_owned(),
            token0: t0,
            token1: t1,
            venue,
            model,
            approx_params,
            approx_state,
        };
        if let Some(&p) = self.pool_ids.get(id) {
            let slot = self.pools[p as usize]
                .as_mut()
                .expect("indexed pool is live");
            if slot.token0 == t0 && slot.token1 == t1 {
                *slot = pool; // same edge, new state: adjacency untouched
                return Ok(());
            }
            self.remove(id);
        }
        let p = match self.free_slots.pop() {
            Some(p) => {
                self.pools[p as usize] = Some(pool);
                p
            }
            None => {
                self.pools.push(Some(pool));
                (self.pools.len() - 1) as PoolIdx
            }
        };
        self.pool_ids.insert(id.to_owned(), p);
        self.adjacency[t0 as usize].push(Edge {
            pool: p,
            other: t1,
            venue,
        });
        self.adjacency[t1 as usize].push(Edge {
            pool: p,
            other: t0,
            venue,
        });
        Ok(())
    }

    /// Removes a pool; returns whether it existed. Tokens stay interned (ids are cheap).
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(p) = self.pool_ids.remove(id) else {
            return false;
        };
        if let Some(pool) = self.pools[p as usize].take() {
            for t in [pool.token0, pool.token1] {
                let adj = &mut self.adjacency[t as usize];
                if let Some(i) = adj.iter().position(|e| e.pool == p) {
                    adj.swap_remove(i);
                }
            }
        }
        self.free_slots.push(p);
        true
    }

    /// Exact simulation along `path` (pool indices) from `token_in`, each pool from its
    /// current state: what `quote` reports.
    pub fn quote(
        &self,
        path: &[PoolIdx],
        token_in: TokenIdx,
        amount_in: U256,
    ) -> Result<U256, QuoteError> {
        Ok(self.quote_sequential(&[(path, amount_in)], token_in)?[0])
    }

    /// Exact outputs of several paths swapped one after another: each sees the pool states
    /// the previous ones left (on a private overlay; the graph is not modified).
    pub fn quote_sequential(
        &self,
        paths: &[(&[PoolIdx], U256)],
        token_in: TokenIdx,
    ) -> Result<Vec<U256>, QuoteError> {
        let mut moved: Vec<(PoolIdx, ExactState)> = Vec::new();
        let mut outs = Vec::with_capacity(paths.len());
        for (path, amount_in) in paths {
            let mut token = token_in;
            let mut amount = *amount_in;
            for &p in path.iter() {
                let pool = self.pool(p);
                let next = pool
                    .other(token)
                    .ok_or_else(|| QuoteError::NotInPool(pool.id.clone(), token))?;
                let state = moved
                    .iter()
                    .find(|(q, _)| *q == p)
                    .map_or_else(|| pool.exact_state(), |(_, s)| *s);
                let swap = pool
                    .swap_exact(&state, token == pool.token0, amount)
                    .map_err(|e| QuoteError::Math(pool.id.clone(), e))?;
                match moved.iter_mut().find(|(q, _)| *q == p) {
                    Some(slot) => slot.1 = swap.state,
                    None => moved.push((p, swap.state)),
                }
                amount = swap.amount_out;
                token = next;
            }
            outs.push(amount);
        }
        Ok(outs)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuoteError {
    NotInPool(String, TokenIdx),
    Math(String, MathError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(v: u128) -> U256 {
        U256::from(v)
    }

    #[test]
    fn upsert_replace_and_remove_keep_adjacency_consistent() {
        let mut g = Graph::new();
        g.upsert_v2("p1", "A", "B", (u(100), u(200)), 3000, "uniswap_v2")
            .unwrap();
        g.upsert_v2("p2", "B", "C", (u(100), u(200)), 3000, "uniswap_v2")
            .unwrap();
        assert_eq!(g.pool_count(), 2);
        let b = g.token("B").unwrap();
        assert_eq!(g.edges_of(b).len(), 2);
        // Same pair: in place.
        g.upsert_v2("p1", "A", "B", (u(1000), u(2000)), 3000, "uniswap_v2")
            .unwrap();
        assert_eq!(g.edges_of(b).len(), 2);
        // Pair changed: moves edges.
        g.upsert_v2("p1", "A", "C", (u(1000), u(2000)), 3000, "uniswap_v2")
            .unwrap();
        assert_eq!(g.edges_of(b).len(), 1);
        assert!(g.remove("p2"));
        assert!(!g.remove("p2"));
        assert_eq!(g.edges_of(b).len(), 0);
        assert_eq!(g.pool_count(), 1);
        // The freed slot is reused.
        g.upsert_v2("p3", "B", "C", (u(1), u(1)), 3000, "uniswap_v2")
            .unwrap();
        assert_eq!(g.pool_index("p3"), Some(1));
    }

    #[test]
    fn quote_chains_pools_and_rejects_foreign_tokens() {
        let mut g = Graph::new();
        g.upsert_v2(
            "ab",
            "A",
            "B",
            (u(10u128.pow(20)), u(10u128.pow(20))),
            3000,
            "v",
        )
        .unwrap();
        g.upsert_v2(
            "bc",
            "B",
            "C",
            (u(10u128.pow(20)), u(2 * 10u128.pow(20))),
            3000,
            "v",
        )
        .unwrap();
        let path = [g.pool_index("ab").unwrap(), g.pool_index("bc").unwrap()];
        let a = g.token("A").unwrap();
        let out = g.quote(&path, a, u(10u128.pow(12))).unwrap();
        let first = v2::amount_out(
            u(10u128.pow(20)),
            u(10u128.pow(20)),
            u(10u128.pow(12)),
            3000,
        )
        .unwrap();
        let second = v2::amount_out(u(10u128.pow(20)), u(2 * 10u128.pow(20)), first, 3000).unwrap();
        assert_eq!(out, second);
        let c = g.token("C").unwrap();
        assert!(matches!(
            g.quote(&path, c, u(1)),
            Err(QuoteError::NotInPool(..))
        ));
    }
}
