//! Values kept per pool for the pools one plan touches.
//!
//! A plan usually touches a handful of pools, where a linear scan is fastest; a whale order
//! split over a hundred paths touches hundreds, and every simulated hop looks its pool up,
//! so past a few entries the map also keeps a hashed index.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::graph::PoolIdx;

/// Entries up to which a linear scan beats hashing.
const LINEAR_MAX: usize = 16;

/// Multiplicative (Fibonacci) hash of a pool index: pool indices are dense small integers,
/// so one multiply spreads them well enough, far cheaper than the default SipHash.
#[derive(Default)]
pub struct PoolHasher(u64);

impl Hasher for PoolHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0 ^ u64::from(i)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Index = HashMap<PoolIdx, usize, BuildHasherDefault<PoolHasher>>;

/// An insertion-ordered map from pool to `T`.
#[derive(Debug, Clone)]
pub struct PoolMap<T> {
    entries: Vec<(PoolIdx, T)>,
    /// Position of each entry in `entries`, kept once there are more than [`LINEAR_MAX`].
    index: Index,
}

impl<T> Default for PoolMap<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            index: Index::default(),
        }
    }
}

impl<T> PoolMap<T> {
    fn position(&self, p: PoolIdx) -> Option<usize> {
        if self.entries.len() <= LINEAR_MAX {
            self.entries.iter().position(|(q, _)| *q == p)
        } else {
            self.index.get(&p).copied()
        }
    }

    pub fn get(&self, p: PoolIdx) -> Option<&T> {
        self.position(p).map(|i| &self.entries[i].1)
    }

    /// The value for `p`, inserted by `make` when there is none yet.
    pub fn get_or_insert_with(&mut self, p: PoolIdx, make: impl FnOnce() -> T) -> &mut T {
        let i = match self.position(p) {
            Some(i) => i,
            None => {
                self.entries.push((p, make()));
                let n = self.entries.len();
                if n == LINEAR_MAX + 1 {
                    self.index = Index::with_capacity_and_hasher(8 * n, Default::default());
                    self.index
                        .extend(self.entries.iter().enumerate().map(|(i, e)| (e.0, i)));
                } else if n > LINEAR_MAX + 1 {
                    self.index.insert(p, n - 1);
                }
                n - 1
            }
        };
        &mut self.entries[i].1
    }

    pub fn insert(&mut self, p: PoolIdx, value: T) {
        let mut value = Some(value);
        let slot = self.get_or_insert_with(p, || value.take().expect("set once"));
        if let Some(v) = value {
            *slot = v;
        }
    }

    /// Entries in the order they were first inserted.
    pub fn iter(&self) -> impl Iterator<Item = &(PoolIdx, T)> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_agree_before_and_after_the_index_is_built() {
        let mut m: PoolMap<u32> = PoolMap::default();
        for p in (0..100u32).map(|i| i * 7919 % 1009) {
            m.insert(p, p + 1);
            // Updating an existing entry keeps one entry per pool.
            *m.get_or_insert_with(p, || 0) += 1;
        }
        assert_eq!(m.iter().count(), 100);
        for p in (0..100u32).map(|i| i * 7919 % 1009) {
            assert_eq!(m.get(p), Some(&(p + 2)));
        }
        assert_eq!(m.get(5000), None);
        let order: Vec<PoolIdx> = m.iter().map(|e| e.0).collect();
        assert_eq!(order[..3], [0, 7919 % 1009, 2 * 7919 % 1009]);
    }
}
