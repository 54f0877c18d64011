//! ML-IRL (SPEC §2.3, paper (6), (18), (45)–(47)) and trajectory preferences (SPEC §2.4, (8)).
//!
//! - Likelihood `L_D(θ) = E_{τ∼π_E}[Σ_t γ^t log π_θ(a_t|s_t)] = Σ_t γ^t Σ_{s,a} d_{E,t}(s,a) log π_{θ,t}(a|s)`,
//!   `π_θ` the soft-optimal policy of `r_θ`.
//! - Lemma 4.1: `∇_θ L_D = (1/β) Φᵀ (d_E − d^{π_θ})` with `d = Σ_t γ^t d_t`
//!   (tabular: `Φ = I`).
//! - Telescoped objective (45): `L̃_D(θ) = (1/β)(d̂_E·r_θ − ρ·V*_θ)`; it differs from `L_D` by the
//!   constant `Σ d_E log π0` whenever `d̂_E` satisfies the flow constraint of an occupancy.
//! - Trajectory BTL: `log σ(R_θ(τ_w) − R_θ(τ_l))`, `R_θ(τ) = Φ(τ)·θ` with `Φ(τ)` the discounted
//!   feature counts; gradient `(1 − σ(·))(Φ(τ_w) − Φ(τ_l))`.
//! - Upper-level objective `L(θ) = L̃_D(θ) + λ · mean_pairs log σ(R_θ(τ_w) − R_θ(τ_l))`.

use super::bellman::{self, Solution};
use super::occupancy::{self, Occupancy};
use super::traj::{merge_sparse, Preference};
use super::{dot, Features, Mdp};
use crate::error::{AihfError, Result};
use crate::math::{log_sigmoid, sigmoid};

/// How `θ` maps to a reward.
#[derive(Clone, Debug)]
pub enum RewardModel {
    /// `r = θ`, `θ ∈ R^{S·A}`.
    Tabular {
        /// `S·A`, the dimension of `θ`.
        n_sa: usize,
    },
    /// `r = Φθ`.
    Linear(Features),
}

/// A sparse vector as sorted `(index, value)` pairs.
pub type Sparse = Vec<(usize, f64)>;

impl RewardModel {
    /// The tabular model of `mdp`.
    pub fn tabular(mdp: &Mdp) -> Self {
        RewardModel::Tabular { n_sa: mdp.n_sa() }
    }

    /// The linear model of `mdp`'s features (error if its reward is tabular).
    pub fn linear(mdp: &Mdp) -> Result<Self> {
        mdp.features()
            .cloned()
            .map(RewardModel::Linear)
            .ok_or_else(|| AihfError::Mdp("a linear reward needs `features` in the MDP".into()))
    }

    /// Dimension of `θ`.
    pub fn dim(&self) -> usize {
        match self {
            RewardModel::Tabular { n_sa } => *n_sa,
            RewardModel::Linear(f) => f.dim,
        }
    }

    /// `r_θ` into `out`.
    pub fn reward_into(&self, theta: &[f64], out: &mut [f64]) {
        match self {
            RewardModel::Tabular { .. } => out.copy_from_slice(theta),
            RewardModel::Linear(f) => {
                for (o, row) in out.iter_mut().zip(f.phi.chunks(f.dim)) {
                    *o = dot(row, theta);
                }
            }
        }
    }

    /// `r_θ`.
    pub fn reward(&self, theta: &[f64]) -> Vec<f64> {
        let n = match self {
            RewardModel::Tabular { n_sa } => *n_sa,
            RewardModel::Linear(f) => f.phi.len() / f.dim,
        };
        let mut r = vec![0.0; n];
        self.reward_into(theta, &mut r);
        r
    }

    /// `out += w · ∇_θ r_θ(sa)` (`e_sa` or `φ(sa)`).
    #[inline]
    pub fn add_grad(&self, sa: usize, w: f64, out: &mut [f64]) {
        match self {
            RewardModel::Tabular { .. } => out[sa] += w,
            RewardModel::Linear(f) => {
                for (o, &p) in out.iter_mut().zip(&f.phi[sa * f.dim..(sa + 1) * f.dim]) {
                    *o += w * p;
                }
            }
        }
    }

    /// `Φᵀ g` for a dense `(s,a)` vector `g`.
    pub fn pullback(&self, g: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.dim()];
        for (sa, &w) in g.iter().enumerate() {
            if w != 0.0 {
                self.add_grad(sa, w, &mut out);
            }
        }
        out
    }

    /// `Φᵀ x` for a sparse `(s,a)` vector, as a sparse `θ`-space vector.
    pub fn pullback_sparse(&self, x: &[(usize, f64)]) -> Sparse {
        match self {
            RewardModel::Tabular { .. } => merge_sparse(x.to_vec()),
            RewardModel::Linear(f) => {
                let mut out = vec![0.0; f.dim];
                for &(sa, w) in x {
                    self.add_grad(sa, w, &mut out);
                }
                out.into_iter().enumerate().collect()
            }
        }
    }
}

/// `Σ x_i θ_i` for a sparse `x`.
#[inline]
pub fn sparse_dot(x: &[(usize, f64)], theta: &[f64]) -> f64 {
    x.iter().map(|&(i, w)| w * theta[i]).sum()
}

/// `L_D(θ)` through `Q*_θ` (value iteration to `tol`, or backward induction), given the expert's
/// occupancy (per time step for a finite horizon).
pub fn likelihood(
    mdp: &Mdp,
    model: &RewardModel,
    theta: &[f64],
    d_e: &Occupancy,
    tol: f64,
) -> Result<f64> {
    let sol = bellman::solve(mdp, &model.reward(theta), tol)?;
    let pis = sol.log_pis();
    let value = match d_e {
        Occupancy::Discounted(d) => weighted(d, pis[0]),
        Occupancy::Finite(dt) => {
            if dt.len() != pis.len() {
                return Err(AihfError::param(
                    "d_e",
                    format!("{} time steps, the MDP has {}", dt.len(), pis.len()),
                ));
            }
            let mut w = 1.0;
            let mut total = 0.0;
            for (d, p) in dt.iter().zip(&pis) {
                total += w * weighted(d, p);
                w *= mdp.gamma();
            }
            total
        }
    };
    Ok(value)
}

/// `Σ_{sa : d > 0} d(sa) log π(sa)`.
fn weighted(d: &[f64], log_pi: &[f64]) -> f64 {
    d.iter()
        .zip(log_pi)
        .filter(|(&x, _)| x > 0.0)
        .map(|(&x, &l)| x * l)
        .sum()
}

/// The telescoped objective (45) `L̃_D(θ) = (1/β)(d̂_E·r_θ − ρ·V*_θ)`, with its gradient
/// (Lemma 4.1) `(1/β) Φᵀ(d̂_E − d^{π_θ})` and the solution it used.
pub fn telescoped_with_gradient(
    mdp: &Mdp,
    model: &RewardModel,
    theta: &[f64],
    d_e_total: &[f64],
    tol: f64,
) -> Result<(f64, Vec<f64>, Solution)> {
    let r = model.reward(theta);
    let sol = bellman::solve(mdp, &r, tol)?;
    let value = (dot(d_e_total, &r) - dot(mdp.initial(), sol.v0())) / mdp.beta();
    let d_pi = occupancy::of_solution(mdp, &sol)?.total(mdp.gamma());
    let diff: Vec<f64> = d_e_total
        .iter()
        .zip(&d_pi)
        .map(|(a, b)| (a - b) / mdp.beta())
        .collect();
    Ok((value, model.pullback(&diff), sol))
}

/// Lemma 4.1: `∇_θ L_D(θ) = (1/β) Φᵀ (d_E − d^{π_θ})`.
pub fn gradient(
    mdp: &Mdp,
    model: &RewardModel,
    theta: &[f64],
    d_e_total: &[f64],
    tol: f64,
) -> Result<Vec<f64>> {
    Ok(telescoped_with_gradient(mdp, model, theta, d_e_total, tol)?.1)
}

/// `Φ(τ_w) − Φ(τ_l)` in `θ`-space for each preference (discounted feature counts).
pub fn pref_diffs(
    model: &RewardModel,
    prefs: &[Preference],
    n_actions: usize,
    gamma: f64,
) -> Vec<Sparse> {
    prefs
        .iter()
        .map(|p| {
            let mut x = p.winner.discounted_counts(n_actions, gamma);
            x.extend(
                p.loser
                    .discounted_counts(n_actions, gamma)
                    .into_iter()
                    .map(|(i, w)| (i, -w)),
            );
            model.pullback_sparse(&merge_sparse(x))
        })
        .collect()
}

/// Mean trajectory-BTL log-likelihood `mean log σ(R_θ(τ_w) − R_θ(τ_l))` and its gradient
/// `mean (1 − σ(·)) (Φ(τ_w) − Φ(τ_l))` (SPEC §2.4). Zero for no pairs.
pub fn btl(diffs: &[Sparse], theta: &[f64]) -> (f64, Vec<f64>) {
    let mut g = vec![0.0; theta.len()];
    if diffs.is_empty() {
        return (0.0, g);
    }
    let n = diffs.len() as f64;
    let mut ll = 0.0;
    for d in diffs {
        let z = sparse_dot(d, theta);
        ll += log_sigmoid(z);
        let w = (1.0 - sigmoid(z)) / n;
        for &(i, x) in d {
            g[i] += w * x;
        }
    }
    (ll / n, g)
}

/// The upper-level objective `L(θ) = L̃_D(θ) + λ · mean log σ(...)` and its exact gradient, with
/// the soft-optimal solution for `θ`.
pub fn upper_objective(
    mdp: &Mdp,
    model: &RewardModel,
    theta: &[f64],
    d_e_total: &[f64],
    diffs: &[Sparse],
    lambda: f64,
    tol: f64,
) -> Result<(f64, Vec<f64>, Solution)> {
    let (v, mut g, sol) = telescoped_with_gradient(mdp, model, theta, d_e_total, tol)?;
    let (lb, gb) = btl(diffs, theta);
    for (x, y) in g.iter_mut().zip(gb) {
        *x += lambda * y;
    }
    Ok((v + lambda * lb, g, sol))
}

/// The two-stage baseline's reward: `argmax_θ mean log σ(R_θ(τ_w) − R_θ(τ_l)) − (ridge/2)‖θ‖²`
/// by Newton's method with backtracking (the objective is concave; `ridge > 0` makes the
/// maximiser unique even when the pairs do not identify `θ`).
pub fn fit_btl(diffs: &[Sparse], dim: usize, ridge: f64) -> Result<Vec<f64>> {
    use nalgebra::{DMatrix, DVector};
    crate::error::check_nonneg("ridge", ridge)?;
    if diffs.is_empty() {
        return Err(AihfError::data("preferences", "no preference pairs to fit"));
    }
    let n = diffs.len() as f64;
    let obj = |th: &[f64]| -> f64 {
        diffs
            .iter()
            .map(|d| log_sigmoid(sparse_dot(d, th)))
            .sum::<f64>()
            / n
            - 0.5 * ridge * th.iter().map(|x| x * x).sum::<f64>()
    };
    let mut theta = vec![0.0; dim];
    for _ in 0..crate::tol::MAX_NEWTON_ITERS {
        let (_, mut g) = btl(diffs, &theta);
        for (x, t) in g.iter_mut().zip(&theta) {
            *x -= ridge * t;
        }
        let gn = g.iter().map(|x| x * x).sum::<f64>().sqrt();
        if gn <= crate::tol::GRAD_REL {
            return Ok(theta);
        }
        // Negative Hessian: mean σ(1−σ) d dᵀ + ridge I (+ a tiny floor so it is invertible
        // along directions the data do not reach; the floor only changes the step there).
        let mut h = DMatrix::<f64>::identity(dim, dim) * (ridge + 1e-12);
        for d in diffs {
            let z = sparse_dot(d, &theta);
            let w = sigmoid(z) * (1.0 - sigmoid(z)) / n;
            for &(i, x) in d {
                for &(j, y) in d {
                    h[(i, j)] += w * x * y;
                }
            }
        }
        let step = h
            .cholesky()
            .map(|c| c.solve(&DVector::from_column_slice(&g)))
            .ok_or_else(|| AihfError::Numerical("BTL Hessian is not positive definite".into()))?;
        let f0 = obj(&theta);
        let slope: f64 = g.iter().zip(step.iter()).map(|(a, b)| a * b).sum();
        let mut t = 1.0;
        loop {
            let cand: Vec<f64> = theta
                .iter()
                .zip(step.iter())
                .map(|(a, b)| a + t * b)
                .collect();
            if obj(&cand) >= f0 + 1e-4 * t * slope || t < 1e-12 {
                theta = cand;
                break;
            }
            t *= 0.5;
        }
    }
    let (_, g) = btl(diffs, &theta);
    Err(AihfError::NotConverged {
        solver: "trajectory BTL (Newton)".into(),
        grad_norm: g.iter().map(|x| x * x).sum::<f64>().sqrt(),
        tol: crate::tol::GRAD_REL,
        iterations: crate::tol::MAX_NEWTON_ITERS,
    })
}
