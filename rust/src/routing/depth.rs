//! Depth ladders: an AMM pool seen as an order book.
//!
//! Level k is the marginal price after selling enough `token_in` to move the pool's price
//! k steps of `max_impact / levels` away from spot, with the cumulative input that takes.
//! V3 levels come from the exact swap loop run to a price limit; V2 from the closed form.

use super::graph::{Pool, PoolModel};
use crate::pool_math::v3::{self, MAX_SQRT_RATIO, MIN_SQRT_RATIO};
use crate::pool_math::{f64_to_u256, u256_to_f64, MathError, FEE_DENOMINATOR, U256};

/// `(marginal price net of fee in raw out-units per raw in-unit, cumulative raw input)`.
pub type Level = (f64, f64);

pub fn depth_ladder(
    pool: &Pool,
    zero_for_one: bool,
    levels: u32,
    max_impact_bps: f64,
) -> Result<Vec<Level>, MathError> {
    if levels == 0 || levels > 10_000 || !(max_impact_bps > 0.0 && max_impact_bps < 10_000.0) {
        return Err(MathError::InvalidPool(
            "levels must be in 1..=10000 and max_impact_bps in (0, 10000)".into(),
        ));
    }
    let step = max_impact_bps / 10_000.0 / levels as f64;
    let mut out = Vec::with_capacity(levels as usize);
    match &pool.model {
        PoolModel::V2 { fee_pips, state } => {
            let keep = (FEE_DENOMINATOR - fee_pips) as f64 / FEE_DENOMINATOR as f64;
            let (r_in, r_out) = if zero_for_one {
                (state.reserve0, state.reserve1)
            } else {
                (state.reserve1, state.reserve0)
            };
            let (r_in, r_out) = (u256_to_f64(r_in), u256_to_f64(r_out));
            if r_in <= 0.0 || r_out <= 0.0 {
                return Err(MathError::InsufficientLiquidity);
            }
            let spot = r_out / r_in;
            for k in 1..=levels {
                let target = spot * (1.0 - step * k as f64);
                // Constant product: r_in' = sqrt(k / price); only keep * input reaches the reserve.
                let r_in_after = (r_in * r_out / target).sqrt();
                out.push((target * keep, (r_in_after - r_in) / keep));
            }
        }
        PoolModel::V3 { params, state } => {
            let keep = (FEE_DENOMINATOR - params.fee_pips) as f64 / FEE_DENOMINATOR as f64;
            let sqrt0 = u256_to_f64(state.sqrt_price_x96);
            let q96 = u256_to_f64(U256::from(1u8) << 96);
            let spot = if zero_for_one {
                (sqrt0 / q96).powi(2)
            } else {
                (q96 / sqrt0).powi(2)
            };
            let everything = U256::from(1u8) << 254;
            for k in 1..=levels {
                let factor = (1.0 - step * k as f64).sqrt();
                // Selling token0 lowers sqrtP; selling token1 raises it.
                let limit_f = if zero_for_one {
                    sqrt0 * factor
                } else {
                    sqrt0 / factor
                };
                let limit = f64_to_u256(limit_f).clamp(
                    MIN_SQRT_RATIO + U256::from(1u8),
                    MAX_SQRT_RATIO - U256::from(1u8),
                );
                let filled = if limit == state.sqrt_price_x96 {
                    U256::ZERO
                } else {
                    v3::swap_exact_in(params, *state, zero_for_one, everything, limit)?.amount_in
                };
                out.push((spot * (1.0 - step * k as f64) * keep, u256_to_f64(filled)));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::graph::Graph;

    #[test]
    fn v2_ladder_prices_fall_and_sizes_grow() {
        let mut g = Graph::new();
        g.upsert_v2(
            "p",
            "A",
            "B",
            (f64_to_u256(1e12), f64_to_u256(2e12)),
            3000,
            "v",
        )
        .unwrap();
        let ladder = depth_ladder(g.pool(0), true, 10, 100.0).unwrap();
        assert_eq!(ladder.len(), 10);
        for w in ladder.windows(2) {
            assert!(w[1].0 < w[0].0 && w[1].1 > w[0].1);
        }
        // Selling the first level's size moves the marginal price to that level.
        let (price, size) = ladder[0];
        let r_in_after = 1e12 + size * 0.997;
        let marginal = (1e12 * 2e12 / r_in_after) / r_in_after * 0.997;
        assert!((marginal / price - 1.0).abs() < 1e-9);
    }
}
