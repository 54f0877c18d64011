//! Occupancy measures (SPEC §2.2).
//!
//! Discounted: `d^π(s,a) = Σ_t γ^t Pr_π(s_t=s, a_t=a)` from the linear system
//! `d_s = ρ + γ P_πᵀ d_s`, `d(s,a) = d_s(s) π(a|s)` (so `Σ d = 1/(1−γ)`), solved by LU for up to
//! [`DENSE_SOLVE_MAX`] states and by the (ℓ1-contracting) fixed-point iteration above that.
//! Finite horizon: the forward recursion `d_0 = ρ`, `d_{t+1}(s') = Σ_{s,a} d_t(s) π_t(a|s) P(s'|s,a)`.

use super::bellman::Solution;
use super::Mdp;
use crate::error::{AihfError, Result};
use nalgebra::{DMatrix, DVector};

pub use super::DENSE_SOLVE_MAX;

/// State–action occupancy, discounted or per time step.
#[derive(Clone, Debug)]
pub enum Occupancy {
    /// `d^π(s,a)`, summing to `1/(1−γ)`.
    Discounted(Vec<f64>),
    /// `d_t(s,a) = Pr(s_t=s, a_t=a)`, `t = 0..T`, each summing to 1.
    Finite(Vec<Vec<f64>>),
}

impl Occupancy {
    /// `Σ_t γ^t d_t` — the discounted occupancy in both cases (what Lemma 4.1 uses).
    pub fn total(&self, gamma: f64) -> Vec<f64> {
        match self {
            Occupancy::Discounted(d) => d.clone(),
            Occupancy::Finite(dt) => {
                let mut out = vec![0.0; dt.first().map_or(0, Vec::len)];
                let mut w = 1.0;
                for d in dt {
                    for (o, &x) in out.iter_mut().zip(d) {
                        *o += w * x;
                    }
                    w *= gamma;
                }
                out
            }
        }
    }
}

/// State occupancy of the policy `log_pi` in a discounted MDP.
pub fn discounted_states(mdp: &Mdp, log_pi: &[f64]) -> Result<Vec<f64>> {
    let (ns, na, g) = (mdp.n_states(), mdp.n_actions(), mdp.gamma());
    if ns <= DENSE_SOLVE_MAX {
        let mut a = DMatrix::<f64>::identity(ns, ns);
        for s in 0..ns {
            for act in 0..na {
                let sa = s * na + act;
                let w = g * log_pi[sa].exp();
                if w == 0.0 {
                    continue;
                }
                for (j, p) in mdp.row(sa) {
                    a[(j, s)] -= w * p;
                }
            }
        }
        let rho = DVector::from_column_slice(mdp.initial());
        let d = a
            .lu()
            .solve(&rho)
            .ok_or_else(|| AihfError::Numerical("occupancy system I − γP_πᵀ is singular".into()))?;
        Ok(d.iter().copied().collect())
    } else {
        discounted_states_iterative(mdp, log_pi)
    }
}

/// The fixed-point iteration `d ← ρ + γ P_πᵀ d` (an ℓ1 contraction), stopped when
/// `γ/(1−γ)‖d_{k+1} − d_k‖₁ ≤ OCCUPANCY_REL/(1−γ)`.
pub fn discounted_states_iterative(mdp: &Mdp, log_pi: &[f64]) -> Result<Vec<f64>> {
    let (ns, na, g) = (mdp.n_states(), mdp.n_actions(), mdp.gamma());
    {
        let mut d = mdp.initial().to_vec();
        let mut x = vec![0.0; mdp.n_sa()];
        let mut next = vec![0.0; ns];
        let target = crate::tol::OCCUPANCY_REL / (1.0 - g);
        for _ in 0..1_000_000 {
            for (sa, xs) in x.iter_mut().enumerate() {
                *xs = d[sa / na] * log_pi[sa].exp();
            }
            mdp.expect_transpose(&x, &mut next);
            let mut diff = 0.0;
            for ((n, &r), &old) in next.iter_mut().zip(mdp.initial()).zip(&d) {
                *n = r + g * *n;
                diff += (*n - old).abs();
            }
            std::mem::swap(&mut d, &mut next);
            if g / (1.0 - g) * diff <= target {
                return Ok(d);
            }
        }
        Err(AihfError::Numerical(
            "occupancy iteration did not converge".into(),
        ))
    }
}

/// Discounted state–action occupancy `d^π(s,a) = d_s(s) π(a|s)`.
pub fn discounted(mdp: &Mdp, log_pi: &[f64]) -> Result<Vec<f64>> {
    let ds = discounted_states(mdp, log_pi)?;
    let na = mdp.n_actions();
    Ok(log_pi
        .iter()
        .enumerate()
        .map(|(sa, l)| ds[sa / na] * l.exp())
        .collect())
}

/// Finite-horizon forward recursion: `d_t(s,a)` for `t = 0..T`.
pub fn finite(mdp: &Mdp, log_pis: &[&[f64]]) -> Vec<Vec<f64>> {
    let (ns, na) = (mdp.n_states(), mdp.n_actions());
    let mut ds = mdp.initial().to_vec();
    let mut out = Vec::with_capacity(log_pis.len());
    let mut next = vec![0.0; ns];
    for lp in log_pis {
        let d: Vec<f64> = lp
            .iter()
            .enumerate()
            .map(|(sa, l)| ds[sa / na] * l.exp())
            .collect();
        mdp.expect_transpose(&d, &mut next);
        std::mem::swap(&mut ds, &mut next);
        out.push(d);
    }
    out
}

/// The occupancy of a solution's (soft-optimal) policy.
pub fn of_solution(mdp: &Mdp, sol: &Solution) -> Result<Occupancy> {
    match sol {
        Solution::Discounted(s) => Ok(Occupancy::Discounted(discounted(mdp, &s.log_pi)?)),
        Solution::Finite(_) => Ok(Occupancy::Finite(finite(mdp, &sol.log_pis()))),
    }
}

/// The occupancy of an arbitrary policy (one `log π` per time step for finite horizons; a
/// single one is reused at every step).
pub fn of_policy(mdp: &Mdp, log_pis: &[&[f64]]) -> Result<Occupancy> {
    match mdp.horizon() {
        None => Ok(Occupancy::Discounted(discounted(mdp, log_pis[0])?)),
        Some(t) => {
            let v: Vec<&[f64]> = (0..t).map(|k| log_pis[k.min(log_pis.len() - 1)]).collect();
            Ok(Occupancy::Finite(finite(mdp, &v)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mdp::gen;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn lu_and_iteration_agree_and_mass_is_one_over_one_minus_gamma() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let m = gen::random_mdp(&gen::RandomMdp::small(7, 3), &mut rng).unwrap();
        let lp = crate::mdp::bellman::log_policy(&m, m.reward());
        let d = discounted(&m, &lp).unwrap();
        approx::assert_relative_eq!(d.iter().sum::<f64>(), 10.0, max_relative = 1e-12);
        let lu = discounted_states(&m, &lp).unwrap();
        let it = discounted_states_iterative(&m, &lp).unwrap();
        for s in 0..7 {
            approx::assert_relative_eq!(lu[s], it[s], epsilon = 1e-10);
        }
        // Flow constraint: d_s = ρ + γ P_πᵀ d_s.
        let mut nxt = vec![0.0; 7];
        m.expect_transpose(&d, &mut nxt);
        let ds: Vec<f64> = d.chunks(3).map(|c| c.iter().sum()).collect();
        for s in 0..7 {
            approx::assert_relative_eq!(ds[s], m.initial()[s] + 0.9 * nxt[s], epsilon = 1e-12);
        }
    }
}
