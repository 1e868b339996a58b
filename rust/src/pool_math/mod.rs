//! Exact AMM pool math, integer for integer as the Uniswap contracts compute it.
//!
//! `v2` and `v3` are the exact simulations that settle a route; `approx` mirrors them in
//! f64 so the route search can afford thousands of what-if swaps per query.

pub mod approx;
pub mod v2;
pub mod v3;

pub use alloy_primitives::U256;

/// Fee denominator shared by V2 (expressed in pips here) and V3: 1e6 pips = 100 %.
pub const FEE_DENOMINATOR: u32 = 1_000_000;

/// Why a pool cannot perform a requested swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MathError {
    /// The pool cannot absorb the whole input (price limit or reserves exhausted).
    InsufficientLiquidity,
    /// An intermediate value left the contract's integer domain (the contract would revert).
    Overflow,
    /// Pool parameters violate the contract's invariants.
    InvalidPool(String),
    /// A library routine of the V3 math reverted.
    V3Math(String),
}

impl std::fmt::Display for MathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MathError::InsufficientLiquidity => write!(f, "insufficient liquidity for this amount"),
            MathError::Overflow => write!(f, "arithmetic overflow (the contract would revert)"),
            MathError::InvalidPool(m) => write!(f, "invalid pool: {m}"),
            MathError::V3Math(m) => write!(f, "V3 math reverted: {m}"),
        }
    }
}

impl std::error::Error for MathError {}

impl From<uniswap_v3_math::error::UniswapV3MathError> for MathError {
    fn from(e: uniswap_v3_math::error::UniswapV3MathError) -> Self {
        MathError::V3Math(e.to_string())
    }
}

/// Lossy conversion for the f64 search layer (never used to settle amounts).
pub fn u256_to_f64(v: U256) -> f64 {
    let limbs = v.as_limbs();
    let mut out = 0.0f64;
    for limb in limbs.iter().rev() {
        out = out * 18446744073709551616.0 + *limb as f64;
    }
    out
}

/// Saturating f64 -> U256 for splitting amounts decided in f64 (negative/NaN -> 0).
pub fn f64_to_u256(v: f64) -> U256 {
    if !(v.is_finite()) || v <= 0.0 {
        return U256::ZERO;
    }
    if v >= 1.157920892373162e77 {
        return U256::MAX;
    }
    let bits = v.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1075;
    let mantissa = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    let m = U256::from(mantissa);
    if exponent >= 0 {
        m << (exponent as usize)
    } else if exponent > -64 {
        m >> ((-exponent) as usize)
    } else {
        U256::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f64_round_trip_is_close() {
        for v in [1.0, 12345.678, 1e18, 3.5e40, 2.0f64.powi(200)] {
            let u = f64_to_u256(v);
            let back = u256_to_f64(u);
            assert!((back - v.floor()).abs() <= v * 1e-15, "{v} -> {back}");
        }
        assert_eq!(f64_to_u256(-3.0), U256::ZERO);
        assert_eq!(f64_to_u256(f64::NAN), U256::ZERO);
    }
}
