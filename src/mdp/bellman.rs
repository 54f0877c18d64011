//! The soft Bellman machinery of SPEC §2.1 (Lemma A.3, paper (80)–(83), (40), (41)):
//!
//! ```text
//! V_Q(s)     = β log Σ_a π0(a|s) exp(Q(s,a)/β)                 (81)
//! (T Q)(s,a) = r(s,a) + γ Σ_{s'} P(s'|s,a) V_Q(s')              (80)
//! π_Q(a|s)   = π0(a|s) exp((Q(s,a) − V_Q(s))/β)                 (40)
//! ```
//!
//! `V_Q` is a log-sum-exp per row with the maximum subtracted. Value iteration runs on `V`
//! (`V ← V_{r + γPV}`), which is the same γ-contraction as `T` on `Q` and stores `S` numbers
//! instead of `S·A`; it stops on the contraction bound
//! `‖V_{k+1} − V*‖∞ ≤ γ/(1−γ) ‖V_{k+1} − V_k‖∞ ≤ tol`.

use super::Mdp;
use crate::error::{AihfError, Result};
use rayon::prelude::*;

/// Above this many transition entries a sweep runs on the rayon pool.
const PAR_NNZ: usize = 1 << 18;

/// `V_Q(s) = β lse_a(log π0(a|s) + Q(s,a)/β)` for one state's row (81).
#[inline]
pub fn soft_value_row(q: &[f64], log_ref: &[f64], beta: f64) -> f64 {
    let inv = 1.0 / beta;
    let mut m = f64::NEG_INFINITY;
    for (&x, &l) in q.iter().zip(log_ref) {
        let z = l + x * inv;
        if z > m {
            m = z;
        }
    }
    if !m.is_finite() {
        return beta * m;
    }
    let mut s = 0.0;
    for (&x, &l) in q.iter().zip(log_ref) {
        s += (l + x * inv - m).exp();
    }
    beta * (m + s.ln())
}

/// `V_Q` for every state.
pub fn soft_values(mdp: &Mdp, q: &[f64], v: &mut [f64]) {
    let (na, beta, lr) = (mdp.n_actions(), mdp.beta(), mdp.log_ref());
    for (s, vs) in v.iter_mut().enumerate() {
        *vs = soft_value_row(&q[s * na..(s + 1) * na], &lr[s * na..(s + 1) * na], beta);
    }
}

/// `log π_Q(a|s) = log π0(a|s) + (Q(s,a) − V_Q(s))/β` (40), given `v = V_Q`.
pub fn log_policy_into(mdp: &Mdp, q: &[f64], v: &[f64], out: &mut [f64]) {
    let (na, inv) = (mdp.n_actions(), 1.0 / mdp.beta());
    for (sa, o) in out.iter_mut().enumerate() {
        *o = mdp.log_ref()[sa] + (q[sa] - v[sa / na]) * inv;
    }
}

/// `log π_Q`, allocating.
pub fn log_policy(mdp: &Mdp, q: &[f64]) -> Vec<f64> {
    let mut v = vec![0.0; mdp.n_states()];
    soft_values(mdp, q, &mut v);
    let mut out = vec![0.0; mdp.n_sa()];
    log_policy_into(mdp, q, &v, &mut out);
    out
}

/// `Q = r + γ P v` (the right-hand side of (80) for a given next-state value `v`).
pub fn q_from_v(mdp: &Mdp, r: &[f64], v: &[f64], q: &mut [f64]) {
    let g = mdp.gamma();
    mdp.expect_rows(v, 0..mdp.n_sa(), q);
    for (x, &rr) in q.iter_mut().zip(r) {
        *x = rr + g * *x;
    }
}

/// `(T Q)` of (80), into `out`.
pub fn apply(mdp: &Mdp, r: &[f64], q: &[f64], out: &mut [f64]) {
    let mut v = vec![0.0; mdp.n_states()];
    soft_values(mdp, q, &mut v);
    q_from_v(mdp, r, &v, out);
}

/// `Σ_a π(a) Q(a) − β KL(π ‖ π0)`: the objective of the Gibbs variational form (81)/(84) for
/// one state (`π` given in probabilities; `0 log 0 = 0`).
pub fn gibbs_objective(q: &[f64], pi: &[f64], log_ref: &[f64], beta: f64) -> f64 {
    let mut s = 0.0;
    for ((&x, &p), &l) in q.iter().zip(pi).zip(log_ref) {
        if p > 0.0 {
            s += p * x - beta * p * (p.ln() - l);
        }
    }
    s
}

/// One value-iteration sweep: `q = r + γ P v`, `v_new(s) = V_q(s)`; returns
/// `‖v_new − v‖∞`. Runs on the rayon pool for large MDPs.
pub fn sweep(mdp: &Mdp, r: &[f64], v: &[f64], q: &mut [f64], v_new: &mut [f64]) -> f64 {
    sweep_with(mdp, r, v, q, v_new, mdp.nnz() >= PAR_NNZ)
}

/// [`sweep`] on one thread (`parallel = false`) or on the rayon pool.
pub fn sweep_with(
    mdp: &Mdp,
    r: &[f64],
    v: &[f64],
    q: &mut [f64],
    v_new: &mut [f64],
    parallel: bool,
) -> f64 {
    let (lo, hi) = sweep_range(mdp, r, v, q, v_new, parallel);
    lo.abs().max(hi.abs())
}

/// One sweep returning `(min_s, max_s)` of the signed change `v_new(s) − v(s)` (what the
/// span bounds of [`Stopping::Span`] need).
pub fn sweep_range(
    mdp: &Mdp,
    r: &[f64],
    v: &[f64],
    q: &mut [f64],
    v_new: &mut [f64],
    parallel: bool,
) -> (f64, f64) {
    let (na, g, beta) = (mdp.n_actions(), mdp.gamma(), mdp.beta());
    let lr = mdp.log_ref();
    let one = |s: usize, qs: &mut [f64], vn: &mut f64| -> f64 {
        let rows = s * na..(s + 1) * na;
        mdp.expect_rows(v, rows.clone(), qs);
        for (x, &rr) in qs.iter_mut().zip(&r[rows.clone()]) {
            *x = rr + g * *x;
        }
        *vn = soft_value_row(qs, &lr[rows], beta);
        *vn - v[s]
    };
    let nan_min = |a: f64, b: f64| {
        if a.is_nan() || b.is_nan() {
            f64::NAN
        } else {
            a.min(b)
        }
    };
    let nan_max = |a: f64, b: f64| {
        if a.is_nan() || b.is_nan() {
            f64::NAN
        } else {
            a.max(b)
        }
    };
    if parallel {
        q.par_chunks_mut(na)
            .zip(v_new.par_iter_mut())
            .enumerate()
            .with_min_len(64)
            .map(|(s, (qs, vn))| {
                let d = one(s, qs, vn);
                (d, d)
            })
            .reduce(
                || (f64::INFINITY, f64::NEG_INFINITY),
                |a, b| (nan_min(a.0, b.0), nan_max(a.1, b.1)),
            )
    } else {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (s, (qs, vn)) in q.chunks_mut(na).zip(v_new.iter_mut()).enumerate() {
            let d = one(s, qs, vn);
            lo = nan_min(lo, d);
            hi = nan_max(hi, d);
        }
        (lo, hi)
    }
}

/// How value iteration certifies its result (both bounds hold because the soft operator is
/// monotone and satisfies `T(V + c) = T(V) + γc`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stopping {
    /// The contraction bound `‖V_{k+1} − V*‖∞ ≤ γ/(1−γ)‖V_{k+1} − V_k‖∞` (82).
    #[default]
    Sup,
    /// MacQueen's span bounds: with `δ = V_{k+1} − V_k`,
    /// `V_{k+1} + γ/(1−γ) min δ ≤ V* ≤ V_{k+1} + γ/(1−γ) max δ`; the midpoint is returned, within
    /// `γ/(1−γ)(max δ − min δ)/2` of `V*`. Much faster when `δ` becomes nearly constant.
    Span,
}

/// The soft-optimal solution of a discounted MDP.
#[derive(Clone, Debug)]
pub struct SoftSolution {
    /// `Q*(s,a)` (flat).
    pub q: Vec<f64>,
    /// `V*(s) = V_{Q*}(s)`.
    pub v: Vec<f64>,
    /// `log π*(a|s)` (40).
    pub log_pi: Vec<f64>,
    /// Sweeps done.
    pub iterations: usize,
    /// Certified bound on `‖V − V*‖∞` from the contraction (82): `γ/(1−γ)‖V_k − V_{k−1}‖∞`.
    pub error_bound: f64,
    /// `‖V_k − V_{k−1}‖∞` per sweep (geometric at rate ≤ γ by (83)).
    pub residuals: Vec<f64>,
}

/// Options of [`value_iteration`].
#[derive(Clone, Debug)]
pub struct ViOptions {
    /// Stop when the certified bound on `‖V − V*‖∞` is at most this.
    pub tol: f64,
    /// Give up (with an error) after this many sweeps.
    pub max_iter: usize,
    /// Which certified bound stops the iteration.
    pub stopping: Stopping,
}

impl Default for ViOptions {
    fn default() -> Self {
        ViOptions {
            tol: crate::tol::VI_TOL,
            max_iter: 1_000_000,
            stopping: Stopping::Sup,
        }
    }
}

/// Soft value iteration from `v0` (default `0`) with a certified stopping bound ([`Stopping`]).
/// Errors on a finite-horizon MDP, a non-finite value, or `max_iter` sweeps.
pub fn value_iteration(
    mdp: &Mdp,
    r: &[f64],
    v0: Option<&[f64]>,
    opts: &ViOptions,
) -> Result<SoftSolution> {
    if mdp.horizon().is_some() {
        return Err(AihfError::Mdp(
            "value iteration is for discounted MDPs; this one has a horizon (use backward induction)"
                .into(),
        ));
    }
    let (ns, nsa, g) = (mdp.n_states(), mdp.n_sa(), mdp.gamma());
    let mut v = match v0 {
        Some(x) if x.len() == ns => x.to_vec(),
        Some(x) => {
            return Err(AihfError::param(
                "v0",
                format!("has {} entries, expected {ns}", x.len()),
            ))
        }
        None => vec![0.0; ns],
    };
    let mut v_new = vec![0.0; ns];
    let mut q = vec![0.0; nsa];
    let factor = if g > 0.0 { g / (1.0 - g) } else { 0.0 };
    let mut residuals = vec![];
    let mut it = 0;
    // Round-off floor detection: a true contraction makes a new smallest residual at least
    // every sweep; none in `patience` sweeps (over which γ^patience ≈ e^-10) means the
    // iteration cycles at the floating-point floor.
    let patience = if g > 0.0 {
        (10.0 / -g.ln()).ceil().min(1e6) as usize
    } else {
        1
    };
    let (mut best_d, mut best_at) = (f64::INFINITY, 0usize);
    loop {
        let (lo, hi) = sweep_range(mdp, r, &v, &mut q, &mut v_new, mdp.nnz() >= PAR_NNZ);
        let d = lo.abs().max(hi.abs());
        it += 1;
        std::mem::swap(&mut v, &mut v_new);
        residuals.push(d);
        if !d.is_finite() {
            return Err(AihfError::Numerical(format!(
                "soft value iteration produced a non-finite value at sweep {it}"
            )));
        }
        let span_bound = factor * (hi - lo) / 2.0;
        let stop_span = opts.stopping == Stopping::Span && span_bound <= opts.tol;
        let bound = if stop_span {
            // The midpoint of MacQueen's bracket.
            let shift = factor * (hi + lo) / 2.0;
            v.iter_mut().for_each(|x| *x += shift);
            span_bound
        } else {
            factor * d
        };
        // Round-off floor: once a sweep moves V by a few ulps of its magnitude, or the residual
        // stops decreasing, further sweeps cannot improve it (the bound reported stays the
        // honest `γ/(1−γ)·d`, which may then exceed `tol`).
        let vmax = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        if d < best_d {
            (best_d, best_at) = (d, it);
        }
        let stalled = it - best_at > patience;
        if stop_span || bound <= opts.tol || d <= 8.0 * f64::EPSILON * vmax || stalled {
            // Q from the final V; the policy is normalised against V_Q exactly.
            q_from_v(mdp, r, &v, &mut q);
            let mut vq = vec![0.0; ns];
            soft_values(mdp, &q, &mut vq);
            let mut log_pi = vec![0.0; nsa];
            log_policy_into(mdp, &q, &vq, &mut log_pi);
            return Ok(SoftSolution {
                q,
                v: vq,
                log_pi,
                iterations: it,
                error_bound: bound,
                residuals,
            });
        }
        if it >= opts.max_iter {
            return Err(AihfError::Numerical(format!(
                "soft value iteration did not reach {:e} in {it} sweeps (bound {bound:e})",
                opts.tol
            )));
        }
    }
}

/// Soft policy iteration (Newton's method on the soft Bellman equation) from `v0`: policy
/// `π = π_{r+γPV}`, then exact evaluation `V = (I − γP_π)^{-1}(r_π − β KL(π‖π0))` by LU;
/// quadratic convergence near `V*`. Each step ends with a value-iteration sweep whose
/// contraction bound `γ/(1−γ)‖TV − V‖∞` certifies the result, as in [`value_iteration`].
/// For `S ≤` [`DENSE_SOLVE_MAX`](super::DENSE_SOLVE_MAX); larger MDPs fall
/// back to value iteration.
pub fn policy_iteration(
    mdp: &Mdp,
    r: &[f64],
    v0: Option<&[f64]>,
    opts: &ViOptions,
) -> Result<SoftSolution> {
    use nalgebra::{DMatrix, DVector};
    let (ns, na, nsa, g, beta) = (
        mdp.n_states(),
        mdp.n_actions(),
        mdp.n_sa(),
        mdp.gamma(),
        mdp.beta(),
    );
    if mdp.horizon().is_some() || ns > super::DENSE_SOLVE_MAX {
        return value_iteration(mdp, r, v0, opts);
    }
    let mut v = match v0 {
        Some(x) if x.len() == ns => x.to_vec(),
        _ => vec![0.0; ns],
    };
    let factor = if g > 0.0 { g / (1.0 - g) } else { 0.0 };
    let mut q = vec![0.0; nsa];
    let mut v_new = vec![0.0; ns];
    let mut log_pi = vec![0.0; nsa];
    let mut residuals = vec![];
    let lr = mdp.log_ref();
    for it in 1..=200 {
        // Certifying sweep: q = r + γPV, v_new = V_q.
        let d = sweep_with(mdp, r, &v, &mut q, &mut v_new, false);
        residuals.push(d);
        if !d.is_finite() {
            break;
        }
        let vmax = v_new.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        // Newton converges quadratically: a residual that stops shrinking is at the floor.
        // (Far from V* the residual need not decrease, so only near round-off.)
        let stalled = residuals.len() > 1
            && d >= residuals[residuals.len() - 2]
            && d <= 1e-10 * vmax.max(1.0);
        if factor * d <= opts.tol || d <= 8.0 * f64::EPSILON * vmax || stalled {
            q_from_v(mdp, r, &v_new, &mut q);
            let mut vq = vec![0.0; ns];
            soft_values(mdp, &q, &mut vq);
            log_policy_into(mdp, &q, &vq, &mut log_pi);
            return Ok(SoftSolution {
                q,
                v: vq,
                log_pi,
                iterations: it,
                error_bound: factor * d,
                residuals,
            });
        }
        // Newton step: evaluate π_q exactly.
        log_policy_into(mdp, &q, &v_new, &mut log_pi);
        let mut a = DMatrix::<f64>::identity(ns, ns);
        let mut b = DVector::<f64>::zeros(ns);
        for sa in 0..nsa {
            let s = sa / na;
            let p = log_pi[sa].exp();
            if p == 0.0 {
                continue;
            }
            b[s] += p * (r[sa] - beta * (log_pi[sa] - lr[sa]));
            for (j, pj) in mdp.row(sa) {
                a[(s, j)] -= g * p * pj;
            }
        }
        match a.lu().solve(&b) {
            Some(x) => v.copy_from_slice(x.as_slice()),
            None => std::mem::swap(&mut v, &mut v_new),
        }
    }
    // Not converged by Newton (should not happen): finish with value iteration.
    value_iteration(mdp, r, Some(&v), opts)
}

/// The time-indexed solution of a finite-horizon MDP (`t = 0..T`).
#[derive(Clone, Debug)]
pub struct FiniteSolution {
    /// `Q_t`, `t = 0..T`.
    pub q: Vec<Vec<f64>>,
    /// `V_t`, `t = 0..=T` (`V_T ≡ 0`).
    pub v: Vec<Vec<f64>>,
    /// `log π_t`, `t = 0..T`.
    pub log_pi: Vec<Vec<f64>>,
}

/// Backward induction: `V_T ≡ 0`, `Q_t = r + γ P V_{t+1}`, `V_t = V_{Q_t}`, `π_t = π_{Q_t}`.
pub fn backward_induction(mdp: &Mdp, r: &[f64]) -> Result<FiniteSolution> {
    let t_max = mdp
        .horizon()
        .ok_or_else(|| AihfError::Mdp("backward induction needs a horizon".into()))?;
    let (ns, nsa) = (mdp.n_states(), mdp.n_sa());
    let mut q = vec![vec![0.0; nsa]; t_max];
    let mut v = vec![vec![0.0; ns]; t_max + 1];
    let mut log_pi = vec![vec![0.0; nsa]; t_max];
    for t in (0..t_max).rev() {
        let (head, tail) = v.split_at_mut(t + 1);
        q_from_v(mdp, r, &tail[0], &mut q[t]);
        soft_values(mdp, &q[t], &mut head[t]);
        log_policy_into(mdp, &q[t], &head[t], &mut log_pi[t]);
    }
    if v[0].iter().any(|x| !x.is_finite()) {
        return Err(AihfError::Numerical(
            "backward induction produced a non-finite value".into(),
        ));
    }
    Ok(FiniteSolution { q, v, log_pi })
}

/// Either kind of solution.
#[derive(Clone, Debug)]
pub enum Solution {
    /// The stationary solution of a discounted MDP (no horizon), from [`value_iteration`].
    Discounted(SoftSolution),
    /// The time-indexed solution of a finite-horizon MDP, from [`backward_induction`].
    Finite(FiniteSolution),
}

impl Solution {
    /// `V*` at time 0.
    pub fn v0(&self) -> &[f64] {
        match self {
            Solution::Discounted(s) => &s.v,
            Solution::Finite(f) => &f.v[0],
        }
    }
    /// The policies, one per time step (one for a discounted MDP).
    pub fn log_pis(&self) -> Vec<&[f64]> {
        match self {
            Solution::Discounted(s) => vec![&s.log_pi],
            Solution::Finite(f) => f.log_pi.iter().map(Vec::as_slice).collect(),
        }
    }
}

/// Solves for reward `r`: value iteration to `tol` (discounted) or backward induction.
///
/// `r` is flat `s·A + a` (e.g. [`Mdp::reward`]); `tol` bounds `‖V − V*‖∞` for a discounted
/// MDP and is unused with a horizon.
///
/// # Example
///
/// A one-state, two-action bandit with `γ = 0` and uniform `π0`: `V* = β log Σ_a π0(a) e^{r(a)/β}`
/// and `π*(a) ∝ π0(a) e^{r(a)/β}` (40), (81).
///
/// ```
/// use aihf::mdp::{bellman, Mdp};
///
/// let mdp = Mdp::from_json_str(
///     r#"{"transitions": [[[1.0], [1.0]]], "reward": [[0.0, 1.0]],
///         "initial": [1.0], "gamma": 0.0, "beta": 0.5}"#,
/// )?;
/// let sol = bellman::solve(&mdp, mdp.reward(), 1e-12)?;
/// // β = 0.5, π0 = (½, ½), r = (0, 1): V* = 0.5 log(½e⁰ + ½e²), π*(1) = e²/(1 + e²).
/// let expected_v = 0.5 * (0.5 + 0.5 * 2.0f64.exp()).ln();
/// assert!((sol.v0()[0] - expected_v).abs() < 1e-12);
/// let p1 = sol.log_pis()[0][1].exp();
/// assert!((p1 - 2.0f64.exp() / (1.0 + 2.0f64.exp())).abs() < 1e-12);
/// # Ok::<(), aihf::error::AihfError>(())
/// ```
pub fn solve(mdp: &Mdp, r: &[f64], tol: f64) -> Result<Solution> {
    match mdp.horizon() {
        None => Ok(Solution::Discounted(value_iteration(
            mdp,
            r,
            None,
            &ViOptions {
                tol,
                ..ViOptions::default()
            },
        )?)),
        Some(_) => Ok(Solution::Finite(backward_induction(mdp, r)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mdp::gen;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn value_iteration_is_a_fixed_point_and_policy_is_normalised() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let m = gen::random_mdp(&gen::RandomMdp::small(6, 3), &mut rng).unwrap();
        let sol = value_iteration(&m, m.reward(), None, &ViOptions::default()).unwrap();
        let mut tq = vec![0.0; m.n_sa()];
        apply(&m, m.reward(), &sol.q, &mut tq);
        let res = tq
            .iter()
            .zip(&sol.q)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(res < 1e-10, "residual {res}");
        for s in 0..6 {
            let z: f64 = sol.log_pi[s * 3..s * 3 + 3].iter().map(|l| l.exp()).sum();
            approx::assert_relative_eq!(z, 1.0, epsilon = 1e-14);
        }
    }

    #[test]
    fn policy_iteration_agrees_with_value_iteration() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for i in 0..20 {
            let m = crate::mdp::claims::instance(i, &mut rng, false).unwrap();
            let o = ViOptions {
                tol: 1e-12,
                ..ViOptions::default()
            };
            let a = value_iteration(&m, m.reward(), None, &o).unwrap();
            let b = policy_iteration(&m, m.reward(), None, &o).unwrap();
            let d =
                a.v.iter()
                    .zip(&b.v)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0, f64::max);
            let allowed = a.error_bound + b.error_bound + 1e-12;
            assert!(
                d <= allowed,
                "instance {i}: |V_VI − V_PI| = {d:e} > certified bounds {:e} + {:e} (sweeps {} / {})",
                a.error_bound, b.error_bound, a.iterations, b.iterations
            );
        }
    }

    #[test]
    fn span_stopping_agrees_with_sup_stopping() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for i in 0..30 {
            let m = crate::mdp::claims::instance(i, &mut rng, false).unwrap();
            let sup = value_iteration(
                &m,
                m.reward(),
                None,
                &ViOptions {
                    tol: 1e-12,
                    ..ViOptions::default()
                },
            )
            .unwrap();
            let span = value_iteration(
                &m,
                m.reward(),
                None,
                &ViOptions {
                    tol: 1e-9,
                    stopping: Stopping::Span,
                    ..ViOptions::default()
                },
            )
            .unwrap();
            let d = sup
                .v
                .iter()
                .zip(&span.v)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            assert!(
                d <= 1e-9 + 1e-12,
                "instance {i}: |V_sup − V_span| = {d:e} above the certified 1e-9"
            );
            assert!(
                span.iterations <= sup.iterations,
                "instance {i}: span took more sweeps"
            );
        }
    }
}
