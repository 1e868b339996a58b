//! Exact marginal outputs of a sequential split plan, by reverse-mode differentiation.
//!
//! Splits trade one after another on shared what-if pool states, so the derivative of the
//! total output with respect to one path's input runs through that path's hops and through
//! every later trade on a pool it moved. A reverse sweep over the recorded swaps carries
//! an adjoint per pool state (what one more unit of reserve or of sqrt price is worth to
//! the trades after it) and yields every path's marginal in time linear in the hops, where
//! replaying the plan once per path would be quadratic.

use super::graph::Graph;
use super::pool_map::PoolMap;
use super::search::Hop;
use crate::pool_math::approx::{ApproxParams, ApproxState};

/// One swap as the forward simulation did it.
#[derive(Debug, Clone, Copy)]
pub struct SwapRecord {
    pub hop: Hop,
    pub amount_in: f64,
    pub before: ApproxState,
    pub after: ApproxState,
}

/// Local derivatives of one swap: output and state afterwards against input and state
/// before. State coordinates: `(r0, r1)` for V2, `(sqrt_p, -)` for V3.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Jacobian {
    pub out_in: f64,
    pub out_state: [f64; 2],
    pub state_in: [f64; 2],
    /// `state_state[c][d]`: new coordinate `c` against old coordinate `d`.
    pub state_state: [[f64; 2]; 2],
}

fn v2_jacobian(keep: f64, r: [f64; 2], zero_for_one: bool, amount_in: f64) -> Jacobian {
    let (i, o) = if zero_for_one { (0, 1) } else { (1, 0) };
    let (r_in, r_out) = (r[i], r[o]);
    let eff = keep * amount_in;
    let d = r_in + eff;
    let out_in = keep * r_in * r_out / (d * d);
    let mut out_state = [0.0; 2];
    out_state[i] = -eff * r_out / (d * d);
    out_state[o] = eff / d;
    // Reserve in grows by the whole input (fee included); reserve out falls by the output.
    let mut state_in = [0.0; 2];
    state_in[i] = 1.0;
    state_in[o] = -out_in;
    let mut state_state = [[0.0; 2]; 2];
    state_state[i][i] = 1.0;
    state_state[o][i] = -out_state[i];
    state_state[o][o] = 1.0 - out_state[o];
    Jacobian {
        out_in,
        out_state,
        state_in,
        state_state,
    }
}

/// V3: only the sqrt price moves continuously (liquidity and the tick index follow it).
/// With `l0` the liquidity where the swap starts and `l1` where it ends, crossing ticks in
/// between only shifts how much input reaches the last range.
fn v3_jacobian(keep: f64, s0: f64, l0: f64, s1: f64, l1: f64, zero_for_one: bool) -> Jacobian {
    let mut j = Jacobian::default();
    if zero_for_one {
        j.out_in = keep * s1 * s1;
        j.out_state[0] = l0 * (1.0 - (s1 * s1) / (s0 * s0));
        if l1 > 0.0 {
            j.state_in[0] = -keep * s1 * s1 / l1;
            j.state_state[0][0] = (s1 * s1) * l0 / (l1 * s0 * s0);
        } else {
            j.state_state[0][0] = 1.0;
        }
    } else {
        j.out_in = keep / (s1 * s1);
        j.out_state[0] = l0 * (1.0 / (s1 * s1) - 1.0 / (s0 * s0));
        if l1 > 0.0 {
            j.state_in[0] = keep / l1;
            j.state_state[0][0] = l0 / l1;
        } else {
            j.state_state[0][0] = 1.0;
        }
    }
    j
}

/// The local derivatives of a recorded swap (zero where the model gives none).
pub fn jacobian(params: &ApproxParams, rec: &SwapRecord) -> Jacobian {
    let j = match (params, &rec.before, &rec.after) {
        (ApproxParams::V2 { keep }, ApproxState::V2 { r0, r1 }, _) => {
            v2_jacobian(*keep, [*r0, *r1], rec.hop.zero_for_one, rec.amount_in)
        }
        (
            ApproxParams::V3 { keep, .. },
            ApproxState::V3 {
                sqrt_p: s0,
                liquidity: l0,
                ..
            },
            ApproxState::V3 {
                sqrt_p: s1,
                liquidity: l1,
                ..
            },
        ) => v3_jacobian(*keep, *s0, *l0, *s1, *l1, rec.hop.zero_for_one),
        _ => Jacobian::default(),
    };
    let finite = j.out_in.is_finite()
        && j.out_state.iter().all(|v| v.is_finite())
        && j.state_in.iter().all(|v| v.is_finite())
        && j.state_state.iter().flatten().all(|v| v.is_finite());
    if finite {
        j
    } else {
        Jacobian::default()
    }
}

/// Adjoints of pool states.
type StateAdjoints = PoolMap<[f64; 2]>;

/// Derivative of the summed output of every path with respect to each path's input.
///
/// `swaps[k]` holds path `k`'s swaps in hop order, for paths in the order they traded; a
/// path with no input still records its hops (input zero, state unchanged) so that its
/// marginal is that of opening it at its place in the order.
pub fn marginals(graph: &Graph, swaps: &[Vec<SwapRecord>]) -> Vec<f64> {
    let mut adj = StateAdjoints::default();
    let mut out = vec![0.0; swaps.len()];
    for (k, path) in swaps.iter().enumerate().rev() {
        // Adjoint of the amount leaving the current hop: the path's output counts once.
        let mut carried = 1.0;
        for rec in path.iter().rev() {
            let j = jacobian(&graph.pool(rec.hop.pool).approx_params, rec);
            let s = adj.get_or_insert_with(rec.hop.pool, || [0.0; 2]);
            let after = *s;
            let into = carried * j.out_in + after[0] * j.state_in[0] + after[1] * j.state_in[1];
            for (d, v) in s.iter_mut().enumerate() {
                *v = carried * j.out_state[d]
                    + after[0] * j.state_state[0][d]
                    + after[1] * j.state_state[1][d];
            }
            carried = into;
        }
        out[k] = carried;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool_math::approx::{self, ApproxParams, ApproxState};

    fn numeric(
        params: &ApproxParams,
        state: ApproxState,
        zfo: bool,
        a: f64,
        bump: impl Fn(ApproxState, f64) -> ApproxState,
        h: f64,
        read: impl Fn(&approx::ApproxSwap) -> f64,
    ) -> f64 {
        let up = approx::swap(params, &bump(state, h), zfo, a).unwrap();
        let down = approx::swap(params, &bump(state, -h), zfo, a).unwrap();
        (read(&up) - read(&down)) / (2.0 * h)
    }

    /// The record of swapping `a` on one pool from `state`.
    fn recorded(params: &ApproxParams, state: ApproxState, zfo: bool, a: f64) -> SwapRecord {
        let sw = approx::swap(params, &state, zfo, a).unwrap();
        SwapRecord {
            hop: Hop {
                pool: 0,
                zero_for_one: zfo,
            },
            amount_in: a,
            before: state,
            after: sw.state,
        }
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-12)
    }

    #[test]
    fn v2_jacobian_matches_finite_differences() {
        let params = approx::v2_params(3000);
        let state = ApproxState::V2 { r0: 3e9, r1: 7e9 };
        for (zfo, a) in [(true, 1e8), (false, 2e9), (true, 0.0)] {
            let rec = recorded(&params, state, zfo, a);
            let j = jacobian(&params, &rec);
            let h = 1e3;
            let d_in = {
                let up = approx::swap(&params, &state, zfo, a + h)
                    .unwrap()
                    .amount_out;
                let dn = approx::swap(&params, &state, zfo, (a - h).max(0.0))
                    .unwrap()
                    .amount_out;
                (up - dn) / (a + h - (a - h).max(0.0))
            };
            assert!(close(j.out_in, d_in, 1e-4), "{zfo} {a}");
            let r = |s: &ApproxState| match s {
                ApproxState::V2 { r0, r1 } => [*r0, *r1],
                _ => unreachable!(),
            };
            for c in 0..2 {
                let bump = |s: ApproxState, e: f64| {
                    let mut v = r(&s);
                    v[c] += e;
                    ApproxState::V2 { r0: v[0], r1: v[1] }
                };
                let o = numeric(&params, state, zfo, a, bump, h, |s| s.amount_out);
                assert!(close(j.out_state[c], o, 1e-4) || o.abs() < 1e-9);
                for (n, row) in j.state_state.iter().enumerate() {
                    let v = numeric(&params, state, zfo, a, bump, h, |s| r(&s.state)[n]);
                    assert!(close(row[c], v, 1e-4), "{n} {c}");
                }
            }
        }
    }

    #[test]
    fn v3_jacobian_matches_finite_differences_across_ticks() {
        let l = 1e18;
        let params = ApproxParams::V3 {
            keep: 0.997,
            tick_sqrt: vec![0.9, 0.99, 1.01, 1.1],
            tick_net: vec![l, 2.0 * l, -2.0 * l, -l],
        };
        let state = ApproxState::V3 {
            sqrt_p: 1.0,
            liquidity: 4.0 * l,
            below: 2,
        };
        let s_of = |s: &ApproxState| match s {
            ApproxState::V3 { sqrt_p, .. } => *sqrt_p,
            _ => unreachable!(),
        };
        // Within the first range, and across one and two ticks, both ways.
        for (zfo, a) in [(true, 1e15), (true, 6e16), (false, 5e16), (false, 3e17)] {
            let rec = recorded(&params, state, zfo, a);
            let j = jacobian(&params, &rec);
            let h = a * 1e-6;
            let up = approx::swap(&params, &state, zfo, a + h).unwrap();
            let dn = approx::swap(&params, &state, zfo, a - h).unwrap();
            let d_out = (up.amount_out - dn.amount_out) / (2.0 * h);
            let d_s = (s_of(&up.state) - s_of(&dn.state)) / (2.0 * h);
            assert!(close(j.out_in, d_out, 1e-5), "{zfo} {a}");
            assert!(close(j.state_in[0], d_s, 1e-5), "{zfo} {a}");
            let bump = |s: ApproxState, e: f64| match s {
                ApproxState::V3 {
                    sqrt_p,
                    liquidity,
                    below,
                } => ApproxState::V3 {
                    sqrt_p: sqrt_p + e,
                    liquidity,
                    below,
                },
                v => v,
            };
            let o = numeric(&params, state, zfo, a, bump, 1e-7, |s| s.amount_out);
            let v = numeric(&params, state, zfo, a, bump, 1e-7, |s| s_of(&s.state));
            assert!(close(j.out_state[0], o, 1e-4), "{zfo} {a}");
            assert!(close(j.state_state[0][0], v, 1e-4), "{zfo} {a}");
        }
    }
}

#[cfg(test)]
mod plan_tests {
    use super::super::split::{assess, evaluate};
    use super::*;
    use crate::pool_math::f64_to_u256;
    use crate::pool_math::v3::{V3Params, V3State};
    use crate::pool_math::U256;

    fn hop(g: &Graph, id: &str, from: &str) -> Hop {
        let pool = g.pool_index(id).unwrap();
        Hop {
            pool,
            zero_for_one: g.pool(pool).token0 == g.token(from).unwrap(),
        }
    }

    #[test]
    fn plan_marginals_match_finite_differences_of_the_sequential_output() {
        // Four paths A->C sharing pools at both hops, one V3 pool among them, traded one
        // after another: every marginal must be the derivative of the total output.
        let mut g = Graph::new();
        let r = |v: f64| f64_to_u256(v);
        g.upsert_v2("ab1", "A", "B", (r(1e12), r(2e12)), 3000, "v")
            .unwrap();
        g.upsert_v2("ab2", "A", "B", (r(5e11), r(1.1e12)), 500, "v")
            .unwrap();
        g.upsert_v2("bc1", "B", "C", (r(3e12), r(1e12)), 3000, "v")
            .unwrap();
        let l: i128 = 4_000_000_000_000;
        let params = V3Params::new(
            3000,
            60,
            vec![(-887220, l), (-600, 2 * l), (600, -2 * l), (887220, -l)],
        )
        .unwrap();
        // Price ~ 1/3 C per B: tick -10987.
        let sqrt = U256::from((0.57735f64 * (1u128 << 96) as f64) as u128);
        let state = V3State::new(sqrt, l as u128, -10987).unwrap();
        g.upsert_v3("bc3", "B", "C", params, state, "v").unwrap();
        let p1 = [hop(&g, "ab1", "A"), hop(&g, "bc1", "B")];
        let p2 = [hop(&g, "ab2", "A"), hop(&g, "bc1", "B")];
        let p3 = [hop(&g, "ab1", "A"), hop(&g, "bc3", "B")];
        let p4 = [hop(&g, "ab2", "A"), hop(&g, "bc3", "B")];
        let paths: Vec<&[Hop]> = vec![&p1, &p2, &p3, &p4];
        for amounts in [vec![3e11, 1e11, 2e11, 0.0], vec![1e10, 4e11, 0.0, 3e11]] {
            let a = assess(&g, &paths, amounts.clone()).unwrap();
            for k in 0..paths.len() {
                let h = 1e5;
                let mut up = amounts.clone();
                up[k] += h;
                let mut down = amounts.clone();
                down[k] = (down[k] - h).max(0.0);
                let fd = (evaluate(&g, &paths, &up).unwrap()
                    - evaluate(&g, &paths, &down).unwrap())
                    / (up[k] - down[k]);
                assert!(
                    (a.marginals[k] / fd - 1.0).abs() < 1e-5,
                    "{k}: {} vs {fd}",
                    a.marginals[k]
                );
            }
        }
    }
}
