//! What `aihf mdp solve` and `aihf mdp sample` compute, ready to print or write: the
//! soft-optimal solution of an MDP file with its occupancy ([`solve_file`], as JSON or a
//! table), and demonstrations and preference pairs drawn from it as JSONL ([`sample_jsonl`]).
//! The command line only parses, calls these and prints.
//!
//! ```
//! use aihf::mdp::report::{sample_jsonl, PairPolicy, SampleRequest};
//! use aihf::mdp::Mdp;
//! let mdp = Mdp::from_json_str(r#"{"transitions": [[[0.9, 0.1], [0.2, 0.8]], [[1.0, 0.0], [0.5, 0.5]]],
//!   "reward": [[0.0, 1.0], [0.5, 0.0]], "initial": [1.0, 0.0], "gamma": 0.5}"#).unwrap();
//! let req = SampleRequest { n: 3, length: Some(4), prefs: 2, pair_policy: PairPolicy::Reference, seed: 7 };
//! let s = sample_jsonl(&mdp, &req).unwrap();
//! assert_eq!((s.length, s.demos.lines().count()), (4, 3));
//! assert_eq!(s.prefs.unwrap().lines().count(), 2);
//! ```

use super::bellman::{self, Solution, Stopping};
use super::occupancy::{self, Occupancy};
use super::traj::{self, Length, Sampler};
use super::Mdp;
use crate::error::{AihfError, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What `mdp solve`'s discounted occupancy is (printed and written as `occupancy_normalization`).
pub const OCC_NOTE_DISCOUNTED: &str = "unnormalised discounted occupancy d(s,a) = Σ_t γ^t P(s_t = s, a_t = a), which sums to 1/(1−γ); divide by 1/(1−γ) for a distribution";

/// What `mdp solve`'s finite-horizon occupancy is.
pub const OCC_NOTE_FINITE: &str = "per-step occupancy d_t(s,a) = P(s_t = s, a_t = a), each step a distribution (sums to 1), undiscounted";

/// The soft-optimal solution of an MDP file and its occupancy (time-indexed for a finite
/// horizon), as [`solve_file`] computed them.
#[derive(Clone, Debug)]
pub struct SolveReport {
    mdp: Mdp,
    path: PathBuf,
    tol: f64,
    sol: Solution,
    occ: Occupancy,
}

/// Reads the MDP at `path` (`-`: standard input) and solves it for its own reward: value
/// iteration to the certified bound `tol` with `stopping` (default [`Stopping::Sup`]) when
/// discounted, backward induction with a horizon (where a stopping rule is refused).
pub fn solve_file(path: &Path, tol: f64, stopping: Option<Stopping>) -> Result<SolveReport> {
    crate::error::check_positive("tol", tol)?;
    let mdp = Mdp::from_file(path)?;
    let sol = match (mdp.horizon(), stopping) {
        (Some(t), Some(_)) => {
            return Err(AihfError::param(
                "stopping",
                format!(
                    "the MDP has horizon {t}: it is solved exactly by backward induction, with \
                     no stopping rule"
                ),
            ))
        }
        (None, stopping) => Solution::Discounted(bellman::value_iteration(
            &mdp,
            mdp.reward(),
            None,
            &bellman::ViOptions {
                tol,
                stopping: stopping.unwrap_or_default(),
                ..Default::default()
            },
        )?),
        (Some(_), None) => bellman::solve(&mdp, mdp.reward(), tol)?,
    };
    let occ = occupancy::of_solution(&mdp, &sol)?;
    Ok(SolveReport {
        path: path.to_path_buf(),
        mdp,
        tol,
        sol,
        occ,
    })
}

fn rows(x: &[f64], na: usize) -> Vec<Vec<f64>> {
    x.chunks(na).map(<[f64]>::to_vec).collect()
}

impl SolveReport {
    fn probs(&self, lp: &[f64]) -> Vec<Vec<f64>> {
        rows(
            &lp.iter().map(|l| l.exp()).collect::<Vec<_>>(),
            self.mdp.n_actions(),
        )
    }

    /// The JSON document: `q`, `v`, `policy`, `occupancy` (`[S][A]`, or `[T][S][A]` with a
    /// horizon) with their normalisation, the solver's certificate, `tol` and `inputs.mdp`.
    pub fn to_json(&self) -> Result<Value> {
        let (mdp, na) = (&self.mdp, self.mdp.n_actions());
        let mut value = match (&self.sol, &self.occ) {
            (Solution::Discounted(s), Occupancy::Discounted(d)) => json!({
                "kind": "discounted", "gamma": mdp.gamma(), "beta": mdp.beta(),
                "q": rows(&s.q, na), "v": s.v, "policy": self.probs(&s.log_pi),
                "occupancy": rows(d, na),
                "occupancy_normalization": OCC_NOTE_DISCOUNTED,
                "occupancy_total": d.iter().sum::<f64>(),
                "iterations": s.iterations, "error_bound": s.error_bound,
            }),
            (Solution::Finite(f), Occupancy::Finite(d)) => json!({
                "kind": "finite_horizon", "horizon": mdp.horizon(), "gamma": mdp.gamma(),
                "beta": mdp.beta(),
                "q": f.q.iter().map(|q| rows(q, na)).collect::<Vec<_>>(),
                "v": f.v,
                "policy": f.log_pi.iter().map(|l| self.probs(l)).collect::<Vec<_>>(),
                "occupancy": d.iter().map(|x| rows(x, na)).collect::<Vec<_>>(),
                "occupancy_normalization": OCC_NOTE_FINITE,
            }),
            _ => return Err(mismatch()),
        };
        value["inputs"] = json!({ "mdp": crate::io::input_record(&self.path)? });
        value["tol"] = json!(self.tol);
        Ok(value)
    }

    /// The human-readable table: a header line, then per state `V(s)`, `π(·|s)` and `d(s,·)`
    /// (one block per time step with a horizon), then what the occupancy is.
    pub fn table(&self) -> Result<String> {
        let (mdp, na) = (&self.mdp, self.mdp.n_actions());
        let mut out = String::new();
        match (&self.sol, &self.occ) {
            (Solution::Discounted(s), Occupancy::Discounted(d)) => {
                let _ = writeln!(
                    out,
                    "discounted MDP: {} states, {} actions, γ = {}, β = {}; value iteration: {} sweeps, ‖V − V*‖∞ ≤ {:.2e}",
                    mdp.n_states(), na, mdp.gamma(), mdp.beta(), s.iterations, s.error_bound
                );
                self.state_rows(&mut out, "", &s.v, &s.log_pi, d);
                let _ = writeln!(
                    out,
                    "occupancy: {OCC_NOTE_DISCOUNTED}; here Σ d = {:.6}",
                    d.iter().sum::<f64>()
                );
            }
            (Solution::Finite(f), Occupancy::Finite(d)) => {
                let _ = writeln!(
                    out,
                    "finite-horizon MDP: {} states, {} actions, T = {}, γ = {}, β = {} (backward induction)",
                    mdp.n_states(), na, f.q.len(), mdp.gamma(), mdp.beta()
                );
                for (t, (lp, dt)) in f.log_pi.iter().zip(d).enumerate() {
                    self.state_rows(&mut out, &format!("t = {t}"), &f.v[t], lp, dt);
                }
                let _ = writeln!(out, "occupancy: {OCC_NOTE_FINITE}");
            }
            _ => return Err(mismatch()),
        }
        Ok(out)
    }

    /// One block of the table: `label`, the column heads, one row per state.
    fn state_rows(&self, out: &mut String, label: &str, v: &[f64], lp: &[f64], d: &[f64]) {
        let na = self.mdp.n_actions();
        let _ = writeln!(out, "{label}");
        let _ = writeln!(
            out,
            "{:>6} {:>12}  policy π(a|s)                  occupancy d(s,a)",
            "state", "V(s)"
        );
        for s in 0..self.mdp.n_states() {
            let p: Vec<String> = (0..na)
                .map(|k| format!("{:.4}", lp[s * na + k].exp()))
                .collect();
            let o: Vec<String> = (0..na).map(|k| format!("{:.4}", d[s * na + k])).collect();
            let _ = writeln!(
                out,
                "{s:>6} {:>12.6}  [{}]  [{}]",
                v[s],
                p.join(", "),
                o.join(", ")
            );
        }
    }
}

/// A solution and an occupancy of different kinds: a bug, reported rather than a panic.
fn mismatch() -> AihfError {
    AihfError::Numerical("internal: solution and occupancy kinds differ".into())
}

/// The policy compared trajectories are drawn from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PairPolicy {
    /// The reference policy `π0`.
    #[default]
    Reference,
    /// The soft-optimal policy (time-indexed with a horizon).
    Optimal,
}

/// What [`sample_jsonl`] draws.
#[derive(Clone, Debug)]
pub struct SampleRequest {
    /// Number of demonstrations.
    pub n: usize,
    /// Trajectory length ([`default_length`] when `None`).
    pub length: Option<usize>,
    /// Number of preference pairs (none when 0).
    pub prefs: usize,
    /// The policy of the compared trajectories.
    pub pair_policy: PairPolicy,
    /// The seed of the one generator (recorded on every line).
    pub seed: u64,
}

/// What [`sample_jsonl`] drew: JSONL text, one object per line.
#[derive(Clone, Debug)]
pub struct Sampled {
    /// The trajectories' length.
    pub length: usize,
    /// Demonstrations (`{"seed", "index", "steps"}` per line).
    pub demos: String,
    /// Preference pairs, when any were asked for.
    pub prefs: Option<String>,
}

/// The trajectory length: `length`, else the horizon, else the first `L` with `γ^L < 10⁻³`
/// (1 when `γ = 0`); at least 1 and at most the horizon.
pub fn default_length(mdp: &Mdp, length: Option<usize>) -> Result<usize> {
    let l = match (length, mdp.horizon()) {
        (Some(l), _) => l,
        (None, Some(t)) => t,
        (None, None) if mdp.gamma() > 0.0 => ((1e-3f64).ln() / mdp.gamma().ln()).ceil() as usize,
        (None, None) => 1,
    };
    if l == 0 {
        return Err(AihfError::param("length", "must be at least 1"));
    }
    if let Some(t) = mdp.horizon().filter(|&t| l > t) {
        return Err(AihfError::param(
            "length",
            format!(
                "{l} exceeds the MDP's horizon {t} (steps t ≥ T are outside the finite-horizon \
                 model)"
            ),
        ));
    }
    Ok(l)
}

/// Draws `req.n` demonstrations from the soft-optimal policy of the MDP's own reward, then
/// `req.prefs` trajectory pairs from `req.pair_policy` labelled by BTL on the true discounted
/// return (SPEC §2.4), all from one generator seeded with `req.seed`.
pub fn sample_jsonl(mdp: &Mdp, req: &SampleRequest) -> Result<Sampled> {
    let length = default_length(mdp, req.length)?;
    let sol = bellman::solve(mdp, mdp.reward(), crate::tol::VI_TOL)?;
    let pis: Vec<Vec<f64>> = sol
        .log_pis()
        .iter()
        .map(|lp| lp.iter().map(|l| l.exp()).collect())
        .collect();
    let optimal: Vec<&[f64]> = pis.iter().map(Vec::as_slice).collect();
    let sampler = Sampler::new(mdp);
    let mut rng = ChaCha8Rng::seed_from_u64(req.seed);
    let len = Length::Fixed(length);
    let mut demos = String::new();
    for i in 0..req.n {
        let t = traj::sample(mdp, &sampler, &optimal, len, &mut rng);
        demos.push_str(&traj::demo_line(&t, req.seed, i));
        demos.push('\n');
    }
    let prefs = (req.prefs > 0).then(|| {
        let reference: Vec<f64> = mdp.log_ref().iter().map(|l| l.exp()).collect();
        let pair_pi: Vec<&[f64]> = match req.pair_policy {
            PairPolicy::Reference => vec![&reference],
            PairPolicy::Optimal => optimal.clone(),
        };
        let pairs = traj::sample_preferences(
            mdp,
            &sampler,
            &pair_pi,
            len,
            mdp.reward(),
            req.prefs,
            &mut rng,
        );
        let mut text = String::new();
        for (i, p) in pairs.iter().enumerate() {
            text.push_str(&traj::pref_line(p, req.seed, i));
            text.push('\n');
        }
        text
    });
    Ok(Sampled {
        length,
        demos,
        prefs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAIN: &str = r#"{"transitions": [[[0.9, 0.1], [0.2, 0.8]], [[1.0, 0.0], [0.5, 0.5]]],
        "reward": [[0.0, 1.0], [0.5, 0.0]], "initial": [1.0, 0.0], "gamma": 0.5}"#;

    #[test]
    fn the_default_length_is_the_first_with_gamma_to_the_l_below_a_thousandth() {
        let mdp = Mdp::from_json_str(CHAIN).unwrap();
        // 0.5^10 ≈ 9.8e-4 < 1e-3 ≤ 0.5^9.
        assert_eq!(default_length(&mdp, None).unwrap(), 10);
        assert_eq!(default_length(&mdp, Some(3)).unwrap(), 3);
        let e = default_length(&mdp, Some(0)).unwrap_err().to_string();
        assert!(e.contains("`length`"), "{e}");
    }

    #[test]
    fn a_discounted_report_has_an_occupancy_summing_to_one_over_one_minus_gamma() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chain.json");
        std::fs::write(&path, CHAIN).unwrap();
        let r = solve_file(&path, 1e-10, None).unwrap();
        let v = r.to_json().unwrap();
        let total = v["occupancy_total"].as_f64().unwrap();
        assert!(
            (total - 2.0).abs() < 1e-8,
            "Σ d = {total}, expected 1/(1−γ) = 2"
        );
        assert!(r.table().unwrap().contains("here Σ d = 2.000000"));
        let e = solve_file(&path, 0.0, None).unwrap_err().to_string();
        assert!(e.contains("`tol`"), "{e}");
    }
}
