//! Uniswap V3 exact-input swap: the `UniswapV3Pool.swap` loop over initialised ticks.
//!
//! Step boundaries follow `TickBitmap.nextInitializedTickWithinOneWord`, including the
//! word edges where the contract stops without crossing anything: splitting a step there
//! changes the integer rounding, so skipping it would drift from on-chain results.

use alloy_primitives::I256;
use uniswap_v3_math::{liquidity_math, swap_math, tick_math};

use super::{MathError, FEE_DENOMINATOR, U256};

pub use tick_math::{MAX_SQRT_RATIO, MAX_TICK, MIN_SQRT_RATIO, MIN_TICK};

/// Parameters a swap never changes: fee, spacing and the initialised ticks.
#[derive(Debug, Clone)]
pub struct V3Params {
    pub fee_pips: u32,
    pub tick_spacing: i32,
    /// Initialised ticks `(index, liquidity_net)`, sorted by index, unique.
    pub ticks: Vec<(i32, i128)>,
}

/// The part of the pool a swap moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V3State {
    pub sqrt_price_x96: U256,
    pub liquidity: u128,
    pub tick: i32,
}

/// Result of an exact-input swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V3Swap {
    /// Input actually taken (less than requested only when a price limit stops the swap).
    pub amount_in: U256,
    pub amount_out: U256,
    /// Initialised ticks crossed (each costs gas on chain).
    pub ticks_crossed: u32,
    pub state: V3State,
}

impl V3Params {
    /// Validates the static parameters as the contracts would accept them.
    pub fn new(
        fee_pips: u32,
        tick_spacing: i32,
        mut ticks: Vec<(i32, i128)>,
    ) -> Result<Self, MathError> {
        if fee_pips >= FEE_DENOMINATOR {
            return Err(MathError::InvalidPool(format!(
                "fee_pips {fee_pips} must be < 1000000"
            )));
        }
        if !(1..=16384).contains(&tick_spacing) {
            return Err(MathError::InvalidPool(format!(
                "tick_spacing {tick_spacing} must be in 1..=16384"
            )));
        }
        ticks.sort_unstable_by_key(|t| t.0);
        for w in ticks.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(MathError::InvalidPool(format!(
                    "tick {} listed twice",
                    w[0].0
                )));
            }
        }
        for &(index, net) in &ticks {
            if !(MIN_TICK..=MAX_TICK).contains(&index) || index % tick_spacing != 0 {
                return Err(MathError::InvalidPool(format!(
                    "tick {index} outside the tick range or not a multiple of tick_spacing {tick_spacing}"
                )));
            }
            if net == i128::MIN {
                return Err(MathError::InvalidPool(
                    "liquidity_net out of int128 range".into(),
                ));
            }
        }
        Ok(V3Params {
            fee_pips,
            tick_spacing,
            ticks,
        })
    }

    /// `nextInitializedTickWithinOneWord` on the sorted tick list: the next initialised tick
    /// in the current 256-tick bitmap word, or the word's edge (not initialised).
    pub fn next_tick_within_word(&self, tick: i32, lte: bool) -> (i32, bool) {
        let spacing = self.tick_spacing;
        let compressed = tick.div_euclid(spacing);
        if lte {
            let bit_pos = compressed.rem_euclid(256);
            let lowest = (compressed - bit_pos) * spacing;
            let upto = compressed * spacing;
            // Largest initialised tick in [lowest, upto].
            let idx = self.ticks.partition_point(|t| t.0 <= upto);
            match idx.checked_sub(1).map(|i| self.ticks[i].0) {
                Some(t) if t >= lowest => (t, true),
                _ => (lowest, false),
            }
        } else {
            let next = compressed + 1;
            let bit_pos = next.rem_euclid(256);
            let from = next * spacing;
            let highest = (next + (255 - bit_pos)) * spacing;
            let idx = self.ticks.partition_point(|t| t.0 < from);
            match self.ticks.get(idx).map(|t| t.0) {
                Some(t) if t <= highest => (t, true),
                _ => (highest, false),
            }
        }
    }

    fn liquidity_net(&self, tick: i32) -> i128 {
        match self.ticks.binary_search_by_key(&tick, |t| t.0) {
            Ok(i) => self.ticks[i].1,
            Err(_) => 0,
        }
    }
}

impl V3State {
    /// Validates price, tick and their agreement (`tick == getTickAtSqrtRatio(price)`, or one
    /// below when the price sits exactly on a tick just crossed downwards).
    pub fn new(sqrt_price_x96: U256, liquidity: u128, tick: i32) -> Result<Self, MathError> {
        if sqrt_price_x96 < MIN_SQRT_RATIO || sqrt_price_x96 >= MAX_SQRT_RATIO {
            return Err(MathError::InvalidPool(
                "sqrt_price_x96 outside [MIN_SQRT_RATIO, MAX_SQRT_RATIO)".into(),
            ));
        }
        let implied = tick_math::get_tick_at_sqrt_ratio(sqrt_price_x96)?;
        let on_tick_below =
            tick == implied - 1 && tick_math::get_sqrt_ratio_at_tick(implied)? == sqrt_price_x96;
        if tick != implied && !on_tick_below {
            return Err(MathError::InvalidPool(format!(
                "tick {tick} does not match sqrt_price_x96 (implies tick {implied})"
            )));
        }
        Ok(V3State {
            sqrt_price_x96,
            liquidity,
            tick,
        })
    }
}

/// The pool's default price limit for a swap direction (what routers pass as `0`).
pub fn default_price_limit(zero_for_one: bool) -> U256 {
    if zero_for_one {
        MIN_SQRT_RATIO + U256::from(1u8)
    } else {
        MAX_SQRT_RATIO - U256::from(1u8)
    }
}

/// Exact-input swap of `amount_in` (of token0 if `zero_for_one`) down to `price_limit`.
///
/// The contract returns a partial fill when the limit is reached; callers that need the
/// whole input consumed use [`swap_exact_in_full`].
pub fn swap_exact_in(
    params: &V3Params,
    state: V3State,
    zero_for_one: bool,
    amount_in: U256,
    price_limit: U256,
) -> Result<V3Swap, MathError> {
    if amount_in.is_zero() {
        return Ok(V3Swap {
            amount_in,
            amount_out: U256::ZERO,
            ticks_crossed: 0,
            state,
        });
    }
    let specified = I256::try_from(amount_in).map_err(|_| MathError::Overflow)?;
    let limit_ok = if zero_for_one {
        price_limit < state.sqrt_price_x96 && price_limit > MIN_SQRT_RATIO
    } else {
        price_limit > state.sqrt_price_x96 && price_limit < MAX_SQRT_RATIO
    };
    if !limit_ok {
        // The contract reverts with 'SPL'; for a price already at the limit nothing trades.
        return Err(MathError::InsufficientLiquidity);
    }

    let mut remaining = specified;
    let mut out = U256::ZERO;
    let mut s = state;
    let mut crossed = 0u32;
    while !remaining.is_zero() && s.sqrt_price_x96 != price_limit {
        let start = s.sqrt_price_x96;
        let (next_tick, initialized) = params.next_tick_within_word(s.tick, zero_for_one);
        let next_tick = next_tick.clamp(MIN_TICK, MAX_TICK);
        let next_price = tick_math::get_sqrt_ratio_at_tick(next_tick)?;
        let target = if (zero_for_one && next_price < price_limit)
            || (!zero_for_one && next_price > price_limit)
        {
            price_limit
        } else {
            next_price
        };
        let (price_after, step_in, step_out, fee) =
            swap_math::compute_swap_step(start, target, s.liquidity, remaining, params.fee_pips)?;
        s.sqrt_price_x96 = price_after;
        let consumed = step_in.checked_add(fee).ok_or(MathError::Overflow)?;
        let consumed = I256::try_from(consumed).map_err(|_| MathError::Overflow)?;
        remaining = remaining.checked_sub(consumed).ok_or(MathError::Overflow)?;
        out = out.checked_add(step_out).ok_or(MathError::Overflow)?;

        if price_after == next_price {
            if initialized {
                let mut net = params.liquidity_net(next_tick);
                if zero_for_one {
                    net = net.checked_neg().ok_or(MathError::Overflow)?;
                }
                s.liquidity = liquidity_math::add_delta(s.liquidity, net)?;
                crossed += 1;
            }
            s.tick = if zero_for_one {
                next_tick - 1
            } else {
                next_tick
            };
        } else if price_after != start {
            s.tick = tick_math::get_tick_at_sqrt_ratio(price_after)?;
        }
    }
    let taken = specified
        .checked_sub(remaining)
        .ok_or(MathError::Overflow)?;
    Ok(V3Swap {
        amount_in: taken.into_raw(),
        amount_out: out,
        ticks_crossed: crossed,
        state: s,
    })
}

/// Exact-input swap that must consume the whole input (as a router's exactInput does).
pub fn swap_exact_in_full(
    params: &V3Params,
    state: V3State,
    zero_for_one: bool,
    amount_in: U256,
) -> Result<V3Swap, MathError> {
    let r = swap_exact_in(
        params,
        state,
        zero_for_one,
        amount_in,
        default_price_limit(zero_for_one),
    )?;
    if r.amount_in != amount_in {
        return Err(MathError::InsufficientLiquidity);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q96() -> U256 {
        U256::from(1u8) << 96
    }

    fn pool(ticks: Vec<(i32, i128)>, spacing: i32) -> V3Params {
        V3Params::new(3000, spacing, ticks).unwrap()
    }

    #[test]
    fn word_boundaries_match_the_bitmap() {
        let p = pool(vec![(-600, 5), (60, 7), (15360 + 60, 1)], 60);
        // Inside word 0 going up from tick 0: next initialised is 60.
        assert_eq!(p.next_tick_within_word(0, false), (60, true));
        // From 60 going up: nothing else in word 0 -> edge at compressed 255.
        assert_eq!(p.next_tick_within_word(60, false), (255 * 60, false));
        // Going down from -1 (compressed -1, word -1, bit 255): -600 is in word -1.
        assert_eq!(p.next_tick_within_word(-1, true), (-600, true));
        // Going down from -601: word -1 lowest is -256*60.
        assert_eq!(p.next_tick_within_word(-601, true), (-256 * 60, false));
        // lte includes the current tick itself.
        assert_eq!(p.next_tick_within_word(60, true), (60, true));
    }

    #[test]
    fn small_swap_in_one_range_matches_closed_form() {
        let params = pool(
            vec![(-887220, 10i128.pow(20)), (887220, -(10i128.pow(20)))],
            60,
        );
        let state = V3State::new(q96(), 10u128.pow(20), 0).unwrap();
        let r = swap_exact_in_full(&params, state, true, U256::from(1_000_000u64)).unwrap();
        // price 1, deep liquidity: out ~ in * 0.997
        let out: u128 = r.amount_out.to::<u128>();
        assert!((996_990..=997_000).contains(&out), "{out}");
        assert_eq!(r.ticks_crossed, 0);
        assert!(r.state.sqrt_price_x96 < q96());
    }

    #[test]
    fn crossing_ticks_changes_liquidity_with_the_right_sign() {
        // Extra liquidity in [-60, 60]; selling token0 walks down past -60.
        let l = 10u128.pow(18);
        let params = pool(
            vec![
                (-887220, l as i128),
                (-60, l as i128),
                (60, -(l as i128)),
                (887220, -(l as i128)),
            ],
            60,
        );
        let state = V3State::new(q96(), 2 * l, 0).unwrap();
        let r = swap_exact_in_full(&params, state, true, U256::from(10u128.pow(17))).unwrap();
        assert!(r.ticks_crossed >= 1);
        assert_eq!(r.state.liquidity, l);
        assert!(r.state.tick < -60);
    }

    #[test]
    fn exhausted_liquidity_is_an_error_not_a_partial_fill() {
        let l = 10u128.pow(6);
        let params = pool(vec![(-60, l as i128), (60, -(l as i128))], 60);
        let state = V3State::new(q96(), l, 0).unwrap();
        let err = swap_exact_in_full(&params, state, true, U256::from(10u128.pow(30)));
        assert_eq!(err, Err(MathError::InsufficientLiquidity));
    }

    #[test]
    fn inconsistent_tick_is_rejected() {
        assert!(V3State::new(q96(), 1, 5).is_err());
        assert!(V3State::new(q96(), 1, 0).is_ok());
        assert!(V3State::new(q96(), 1, -1).is_ok());
        assert!(V3Params::new(3000, 60, vec![(61, 1)]).is_err());
        assert!(V3Params::new(1_000_000, 60, vec![]).is_err());
    }
}
