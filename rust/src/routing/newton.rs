//! Newton steps over many coupled paths.
//!
//! When paths share pools (dense graphs, whale orders), moving input onto one path lowers
//! the marginal of every path through the same pools, and a step that treats each path on
//! its own (diagonal curvature) overshoots and stalls. Here the Newton system over the used
//! paths is solved by conjugate gradients restricted to input-conserving changes, with
//! Hessian-vector products from differences of the exact marginals and the diagonal
//! curvature as preconditioner; the step is then projected back onto non-negative amounts.

use super::graph::Graph;
use super::search::Hop;
use super::split::{marginals_at, Allocation};

/// Conjugate-gradient iterations per Newton step, at most: a truncated Newton step. Each
/// iteration replays the whole plan; past a few the step gains little the next Newton
/// step would not (measured against 15: the same optima, the whale orders' tail faster).
const CG_ITERATIONS: usize = 8;
/// CG stops once the preconditioned residual has shrunk by this factor (squared norm).
const CG_TOLERANCE: f64 = 1e-14;
/// Difference step of the Hessian-vector products: the largest amount change, relative to
/// the whole input.
const HV_STEP: f64 = 1e-6;

/// Diagonal preconditioner: minus each used path's own marginal slope (positive).
fn preconditioner(a: &Allocation, used: &[usize]) -> Vec<f64> {
    let fallback = used
        .iter()
        .map(|&i| -a.slopes[i])
        .filter(|s| s.is_finite() && *s > 0.0)
        .fold(0.0, f64::max);
    let total: f64 = used.iter().map(|&i| a.amounts[i]).sum();
    let fallback = if fallback > 0.0 {
        fallback
    } else {
        a.lambda().max(f64::MIN_POSITIVE) / total
    };
    used.iter()
        .map(|&i| {
            let s = -a.slopes[i];
            if s.is_finite() && s > 0.0 {
                s
            } else {
                fallback
            }
        })
        .collect()
}

/// Preconditioned residual with the input-conservation constraint (sum of changes zero).
fn project(r: &[f64], m: &[f64]) -> Vec<f64> {
    let inv: f64 = m.iter().map(|x| 1.0 / x).sum();
    let c = r.iter().zip(m).map(|(r, m)| r / m).sum::<f64>() / inv;
    r.iter().zip(m).map(|(r, m)| (r - c) / m).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minus the Hessian of the total output times `p` (over the used paths, which are all
/// `used` holds, with their amounts `x` and marginals `g`), by a forward difference of the
/// exact marginals. Unused paths do not trade, so they are left out of the simulation.
fn curvature_times(
    graph: &Graph,
    used: &[&[Hop]],
    x: &[f64],
    g: &[f64],
    p: &[f64],
) -> Option<Vec<f64>> {
    let total: f64 = x.iter().sum();
    let norm = p.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if norm <= 0.0 {
        return None;
    }
    let eps = HV_STEP * total / norm;
    let moved: Vec<f64> = x
        .iter()
        .zip(p)
        .map(|(x, p)| (x + eps * p).max(0.0))
        .collect();
    let g2 = marginals_at(graph, used, &moved)?;
    Some(g2.iter().zip(g).map(|(b, a)| -(b - a) / eps).collect())
}

/// The Newton step over the used paths: amount changes summing to zero that, to second
/// order, bring every used path's marginal to one common value. `None` with fewer than two
/// used paths or when the products cannot be evaluated.
pub fn direction(graph: &Graph, paths: &[&[Hop]], a: &Allocation) -> Option<Vec<f64>> {
    let used: Vec<usize> = (0..paths.len()).filter(|&i| a.amounts[i] > 0.0).collect();
    if used.len() < 2 {
        return None;
    }
    let m = preconditioner(a, &used);
    let sub: Vec<&[Hop]> = used.iter().map(|&i| paths[i]).collect();
    let x: Vec<f64> = used.iter().map(|&i| a.amounts[i]).collect();
    let g: Vec<f64> = used.iter().map(|&i| a.marginals[i]).collect();
    let mut r = g.clone();
    let mut d = vec![0.0; used.len()];
    let mut z = project(&r, &m);
    let mut p = z.clone();
    let mut rz = dot(&r, &z);
    let first = rz;
    for _ in 0..CG_ITERATIONS.min(2 * used.len()) {
        if rz <= first * CG_TOLERANCE || rz <= 0.0 {
            break;
        }
        let ap = curvature_times(graph, &sub, &x, &g, &p)?;
        let pap = dot(&p, &ap);
        if pap.is_nan() || pap <= 0.0 {
            // No curvature along p (noise or a kink): take the preconditioned gradient.
            if d.iter().all(|x| *x == 0.0) {
                d = z;
            }
            break;
        }
        let alpha = rz / pap;
        d.iter_mut().zip(&p).for_each(|(d, p)| *d += alpha * p);
        r.iter_mut().zip(&ap).for_each(|(r, ap)| *r -= alpha * ap);
        z = project(&r, &m);
        let next = dot(&r, &z);
        let beta = next / rz;
        rz = next;
        p.iter_mut().zip(&z).for_each(|(p, z)| *p = z + beta * *p);
    }
    let mut full = vec![0.0; paths.len()];
    for (&i, di) in used.iter().zip(d) {
        full[i] = di;
    }
    Some(full)
}

/// `x + t * d` projected onto the amounts `x`'s used paths can take: non-negative and summing
/// to the same input (Euclidean projection onto that simplex); unused paths stay at zero.
pub fn step(x: &[f64], d: &[f64], t: f64) -> Vec<f64> {
    let used: Vec<usize> = (0..x.len()).filter(|&i| x[i] > 0.0).collect();
    let total: f64 = used.iter().map(|&i| x[i]).sum();
    let v: Vec<f64> = used.iter().map(|&i| x[i] + t * d[i]).collect();
    let mut sorted = v.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    // The largest k values stay positive, shifted down by theta so they sum to the total.
    let (mut acc, mut theta) = (0.0, 0.0);
    for (k, s) in sorted.iter().enumerate() {
        acc += s;
        let th = (acc - total) / (k + 1) as f64;
        if s - th > 0.0 {
            theta = th;
        }
    }
    let mut out = vec![0.0; x.len()];
    for (&i, vi) in used.iter().zip(v) {
        out[i] = (vi - theta).max(0.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_projects_onto_the_simplex_of_the_used_paths() {
        let x = [3.0, 0.0, 1.0, 6.0];
        // A zero-sum change that would drive path 2 negative: the rest absorbs it.
        let y = step(&x, &[4.0, 0.0, -3.0, -1.0], 1.0);
        assert_eq!(y[1], 0.0);
        assert_eq!(y[2], 0.0);
        assert!((y.iter().sum::<f64>() - 10.0).abs() < 1e-12);
        assert!((y[0] - 6.0).abs() < 1e-12 && (y[3] - 4.0).abs() < 1e-12);
        // Inside the simplex the step is taken as is.
        let y = step(&x, &[1.0, 0.0, 0.5, -1.5], 0.5);
        assert_eq!(y, vec![3.5, 0.0, 1.25, 5.25]);
    }
}
