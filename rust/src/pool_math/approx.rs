//! f64 mirror of the pool math for the route search.
//!
//! The search evaluates thousands of candidate swaps per query; doing each in 256-bit
//! integer math would dominate its latency. These closed forms rank paths and size
//! splits; every amount reported to callers is re-simulated exactly afterwards.

use super::v2::V2State;
use super::v3::{V3Params, V3State};
use super::{u256_to_f64, FEE_DENOMINATOR};

const Q96: f64 = 79228162514264337593543950336.0;
/// sqrt(1.0001) ^ MIN_TICK and ^ MAX_TICK: the ends of the V3 price range.
const MIN_SQRT_PRICE: f64 = 5.421_010_862_427_522e-20;
const MAX_SQRT_PRICE: f64 = 1.844_674_407_370_955e19;

/// Per-pool constants of the f64 model.
#[derive(Debug, Clone)]
pub enum ApproxParams {
    V2 {
        keep: f64,
    },
    V3 {
        keep: f64,
        /// sqrt price (real, not Q96) at each initialised tick, in tick order.
        tick_sqrt: Vec<f64>,
        tick_net: Vec<f64>,
    },
}

/// Mutable f64 pool state; `below` counts initialised ticks at or below the current tick.
#[derive(Debug, Clone, Copy)]
pub enum ApproxState {
    V2 {
        r0: f64,
        r1: f64,
    },
    V3 {
        sqrt_p: f64,
        liquidity: f64,
        below: usize,
    },
}

/// An f64 swap: output, ticks crossed and the pool state afterwards.
#[derive(Debug, Clone, Copy)]
pub struct ApproxSwap {
    pub amount_out: f64,
    pub ticks_crossed: u32,
    pub state: ApproxState,
}

fn keep_fraction(fee_pips: u32) -> f64 {
    (FEE_DENOMINATOR - fee_pips) as f64 / FEE_DENOMINATOR as f64
}

pub fn v2_params(fee_pips: u32) -> ApproxParams {
    ApproxParams::V2 {
        keep: keep_fraction(fee_pips),
    }
}

pub fn v2_state(s: &V2State) -> ApproxState {
    ApproxState::V2 {
        r0: u256_to_f64(s.reserve0),
        r1: u256_to_f64(s.reserve1),
    }
}

pub fn v3_params(p: &V3Params) -> ApproxParams {
    ApproxParams::V3 {
        keep: keep_fraction(p.fee_pips),
        tick_sqrt: p
            .ticks
            .iter()
            .map(|t| 1.0001f64.powf(t.0 as f64 / 2.0))
            .collect(),
        tick_net: p.ticks.iter().map(|t| t.1 as f64).collect(),
    }
}

pub fn v3_state(p: &V3Params, s: &V3State) -> ApproxState {
    ApproxState::V3 {
        sqrt_p: u256_to_f64(s.sqrt_price_x96) / Q96,
        liquidity: s.liquidity as f64,
        below: p.ticks.partition_point(|t| t.0 <= s.tick),
    }
}

/// Marginal price (token_out per token_in, after fee) at the current state.
pub fn spot_price(params: &ApproxParams, state: &ApproxState, zero_for_one: bool) -> f64 {
    match (params, state) {
        (ApproxParams::V2 { keep }, ApproxState::V2 { r0, r1 }) => {
            let p = if zero_for_one { r1 / r0 } else { r0 / r1 };
            if p.is_finite() {
                p * keep
            } else {
                0.0
            }
        }
        (ApproxParams::V3 { keep, .. }, ApproxState::V3 { sqrt_p, .. }) => {
            let p = sqrt_p * sqrt_p;
            if zero_for_one {
                p * keep
            } else {
                keep / p
            }
        }
        _ => 0.0,
    }
}

/// Swap `amount_in`; `None` when the pool cannot absorb it or the state is mismatched.
pub fn swap(
    params: &ApproxParams,
    state: &ApproxState,
    zero_for_one: bool,
    amount_in: f64,
) -> Option<ApproxSwap> {
    if amount_in.is_nan() || amount_in < 0.0 {
        return None;
    }
    match (params, state) {
        (ApproxParams::V2 { keep }, ApproxState::V2 { r0, r1 }) => {
            let (r_in, r_out) = if zero_for_one { (*r0, *r1) } else { (*r1, *r0) };
            if r_in <= 0.0 || r_out <= 0.0 {
                return None;
            }
            let eff = amount_in * keep;
            let out = eff * r_out / (r_in + eff);
            let (n_in, n_out) = (r_in + amount_in, r_out - out);
            let state = if zero_for_one {
                ApproxState::V2 {
                    r0: n_in,
                    r1: n_out,
                }
            } else {
                ApproxState::V2 {
                    r0: n_out,
                    r1: n_in,
                }
            };
            Some(ApproxSwap {
                amount_out: out,
                ticks_crossed: 0,
                state,
            })
        }
        (
            ApproxParams::V3 {
                keep,
                tick_sqrt,
                tick_net,
            },
            ApproxState::V3 {
                sqrt_p,
                liquidity,
                below,
            },
        ) => v3_swap(
            *keep,
            tick_sqrt,
            tick_net,
            *sqrt_p,
            *liquidity,
            *below,
            zero_for_one,
            amount_in,
        ),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn v3_swap(
    keep: f64,
    tick_sqrt: &[f64],
    tick_net: &[f64],
    mut sqrt_p: f64,
    mut liquidity: f64,
    mut below: usize,
    zero_for_one: bool,
    amount_in: f64,
) -> Option<ApproxSwap> {
    // The fee is taken from each step's input, so the effective input is scaled once.
    let mut rest = amount_in * keep;
    let mut out = 0.0;
    let mut crossed = 0u32;
    // Bounded by the tick count plus the final range.
    for _ in 0..=tick_sqrt.len() {
        if rest <= 0.0 {
            break;
        }
        if zero_for_one {
            let (target, has_tick) = match below.checked_sub(1) {
                Some(i) => (tick_sqrt[i], true),
                None => (MIN_SQRT_PRICE, false),
            };
            let need = if liquidity > 0.0 {
                liquidity * (1.0 / target - 1.0 / sqrt_p)
            } else {
                0.0
            };
            if rest < need {
                let next = 1.0 / (1.0 / sqrt_p + rest / liquidity);
                out += liquidity * (sqrt_p - next);
                sqrt_p = next;
                rest = 0.0;
                break;
            }
            out += liquidity * (sqrt_p - target).max(0.0);
            rest -= need.max(0.0);
            sqrt_p = target;
            if !has_tick {
                return None;
            }
            below -= 1;
            liquidity = (liquidity - tick_net[below]).max(0.0);
            crossed += 1;
        } else {
            let (target, has_tick) = match tick_sqrt.get(below) {
                Some(&t) => (t, true),
                None => (MAX_SQRT_PRICE, false),
            };
            let need = liquidity * (target - sqrt_p);
            if rest < need {
                let next = sqrt_p + rest / liquidity;
                out += liquidity * (1.0 / sqrt_p - 1.0 / next);
                sqrt_p = next;
                rest = 0.0;
                break;
            }
            out += liquidity * (1.0 / sqrt_p - 1.0 / target).max(0.0);
            rest -= need.max(0.0);
            sqrt_p = target;
            if !has_tick {
                return None;
            }
            liquidity = (liquidity + tick_net[below]).max(0.0);
            below += 1;
            crossed += 1;
        }
    }
    if rest > 0.0 || !out.is_finite() {
        return None;
    }
    Some(ApproxSwap {
        amount_out: out,
        ticks_crossed: crossed,
        state: ApproxState::V3 {
            sqrt_p,
            liquidity,
            below,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::v3::{swap_exact_in_full, V3Params, V3State};
    use super::super::{u256_to_f64, U256};
    use super::*;

    #[test]
    fn v2_close_to_exact() {
        let s = V2State {
            reserve0: U256::from(10u128.pow(24)),
            reserve1: U256::from(3u128 * 10u128.pow(15)),
        };
        let exact = super::super::v2::swap(s, true, U256::from(10u128.pow(21)), 3000)
            .unwrap()
            .0;
        let a = swap(&v2_params(3000), &v2_state(&s), true, 1e21).unwrap();
        assert!((a.amount_out / u256_to_f64(exact) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn v3_close_to_exact_across_ticks() {
        let l: i128 = 10i128.pow(18);
        let ticks = vec![
            (-887220, l),
            (-600, l),
            (-120, 3 * l),
            (120, -3 * l),
            (600, -l),
            (887220, -l),
        ];
        let params = V3Params::new(3000, 60, ticks).unwrap();
        let state = V3State::new(U256::from(1u8) << 96, 5 * l as u128, 0).unwrap();
        let ap = v3_params(&params);
        let ast = v3_state(&params, &state);
        for (zfo, amt) in [
            (true, 1e15),
            (true, 5e17),
            (false, 5e17),
            (false, 3e18),
            (true, 3e18),
        ] {
            let exact = swap_exact_in_full(&params, state, zfo, U256::from(amt as u128)).unwrap();
            let a = swap(&ap, &ast, zfo, amt).unwrap();
            let rel = (a.amount_out / u256_to_f64(exact.amount_out) - 1.0).abs();
            assert!(rel < 1e-6, "{zfo} {amt}: {rel}");
            assert_eq!(a.ticks_crossed, exact.ticks_crossed);
        }
    }
}
