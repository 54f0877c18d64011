//! Algorithm 1 on a user's MDP and data, with the two-stage baseline and the distance of both to
//! the true soft-optimal policy: what `aihf mdp train` reports (the command line only reads the
//! files, calls [`fit`] and writes [`FitOutcome`]'s documents).

use super::algorithm1::{self, Data, Options, Trace};
use super::bellman::{self, Solution};
use super::irl::{self, RewardModel};
use super::occupancy::{self, Occupancy};
use super::traj::{Preference, Trajectory};
use super::Mdp;
use crate::error::{AihfError, Result};
use crate::valid::Valid;
use rand::Rng;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The reward class θ parametrises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
pub enum RewardKind {
    /// One parameter per state–action pair.
    Tabular,
    /// `r = φ(s,a)ᵀθ` with the MDP file's features.
    Linear,
}

/// What [`fit`] computed.
pub struct FitOutcome {
    /// The reward class.
    pub reward_kind: RewardKind,
    /// Algorithm 1's run.
    pub trace: Trace,
    /// The options it ran with.
    pub options: Options,
    /// `r_θ` of the last iterate, `[S·A]`.
    pub reward: Vec<f64>,
    /// The soft-optimal policy for the last `θ` (time-indexed for a finite horizon).
    pub aihf: Solution,
    /// The two-stage baseline (a BTL fit with `ridge`, then soft-optimal), when there are pairs.
    pub rlhf: Option<(Vec<f64>, Solution)>,
    /// The truth: soft-optimal for the MDP file's reward.
    pub truth: Solution,
    /// AIHF's TV distance to the truth: (max over states, average under the truth's occupancy).
    pub aihf_distance: (f64, f64),
    /// The baseline's, when there is one.
    pub rlhf_distance: Option<(f64, f64)>,
    /// The baseline's ridge.
    pub ridge: f64,
    /// Data sizes: demonstrations, preference pairs.
    pub sizes: (usize, usize),
    /// The run's seed.
    pub seed: u64,
    /// Actions per state (to shape the documents).
    n_actions: usize,
}

/// Runs Algorithm 1 (`opts`, checked) on the trajectories, the two-stage baseline with `ridge`, and
/// measures both against the truth in total variation per state (per time step with a horizon):
/// the maximum, and the average weighted by the truth's state occupancy.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    mdp: &Mdp,
    reward_kind: RewardKind,
    demos: &[Trajectory],
    prefs: &[Preference],
    opts: &Valid<Options>,
    ridge: f64,
    seed: u64,
    rng: &mut impl Rng,
) -> Result<FitOutcome> {
    let model = match reward_kind {
        RewardKind::Tabular => RewardModel::tabular(mdp),
        RewardKind::Linear => RewardModel::linear(mdp)?,
    };
    let data = Data::from_trajectories(mdp, &model, demos, prefs)?;
    let trace = algorithm1::run(mdp, &model, &data, opts, None, rng)?;
    let tol = crate::tol::VI_TOL;
    let aihf = bellman::solve(mdp, &model.reward(&trace.theta), tol)?;
    let truth = bellman::solve(mdp, mdp.reward(), tol)?;
    let rlhf = if data.prefs.is_empty() {
        None
    } else {
        let th = irl::fit_btl(&data.prefs, model.dim(), ridge).map_err(|e| match e {
            AihfError::NoEstimator {
                estimator,
                reason,
                witness,
            } => AihfError::NoEstimator {
                estimator: format!("the two-stage baseline's {estimator}"),
                reason,
                witness,
            },
            e => e,
        })?;
        let sol = bellman::solve(mdp, &model.reward(&th), tol)?;
        Some((th, sol))
    };
    let na = mdp.n_actions();
    // State weights per layer: the truth's state occupancy (discounted, or per time step).
    let weights: Vec<Vec<f64>> = match occupancy::of_solution(mdp, &truth)? {
        Occupancy::Discounted(d) => vec![d.chunks(na).map(|c| c.iter().sum()).collect()],
        Occupancy::Finite(dt) => dt
            .iter()
            .map(|d| d.chunks(na).map(|c| c.iter().sum()).collect())
            .collect(),
    };
    let distance = |sol: &Solution| -> (f64, f64) {
        let (mut mx, mut avg, mut tot) = (0.0f64, 0.0, 0.0);
        for ((a, b), w) in sol.log_pis().iter().zip(truth.log_pis()).zip(&weights) {
            let (m, v) = algorithm1::policy_distance(mdp, a, b, w);
            let wt: f64 = w.iter().sum();
            mx = mx.max(m);
            avg += wt * v;
            tot += wt;
        }
        (mx, avg / tot)
    };
    let aihf_distance = distance(&aihf);
    let rlhf_distance = rlhf.as_ref().map(|(_, s)| distance(s));
    Ok(FitOutcome {
        reward_kind,
        reward: model.reward(&trace.theta),
        trace,
        options: Options::clone(opts),
        aihf,
        rlhf,
        truth,
        aihf_distance,
        rlhf_distance,
        ridge,
        sizes: (demos.len(), prefs.len()),
        seed,
        n_actions: na,
    })
}

fn rows(x: &[f64], n: usize) -> Vec<Vec<f64>> {
    x.chunks(n).map(|c| c.to_vec()).collect()
}

impl FitOutcome {
    fn probs(&self, lp: &[f64]) -> Vec<Vec<f64>> {
        rows(
            &lp.iter().map(|l| l.exp()).collect::<Vec<_>>(),
            self.n_actions,
        )
    }

    fn layers(&self, sol: &Solution) -> Value {
        match sol {
            Solution::Discounted(s) => json!(self.probs(&s.log_pi)),
            Solution::Finite(f) => {
                json!(f.log_pi.iter().map(|l| self.probs(l)).collect::<Vec<_>>())
            }
        }
    }

    /// `theta.json`: the last θ, its reward `[S][A]`, the baseline's θ.
    pub fn theta_json(&self) -> Value {
        json!({"seed": self.seed, "reward_model": format!("{:?}", self.reward_kind),
               "theta": self.trace.theta, "reward": rows(&self.reward, self.n_actions),
               "rlhf_theta": self.rlhf.as_ref().map(|r| r.0.clone())})
    }

    /// `policy.json`: the policies `[S][A]` (`[T][S][A]` with a horizon) of AIHF, of the last
    /// iterate's `Q` (at `t = 0`), of the baseline and of the truth.
    pub fn policy_json(&self, mdp: &Mdp) -> Value {
        json!({"seed": self.seed, "aihf": self.layers(&self.aihf),
               "algorithm_last_iterate_t0": self.probs(&bellman::log_policy(mdp, &self.trace.q)),
               "rlhf": self.rlhf.as_ref().map(|r| self.layers(&r.1)),
               "truth": self.layers(&self.truth)})
    }

    /// `trace.json`: the per-iteration Theorem 4.1 quantities (with exact metrics) and their
    /// averages, the (20a) and (20b) values of this run.
    pub fn trace_json(&self) -> Value {
        let tr = &self.trace;
        json!({"seed": self.seed, "options": self.options, "eta": tr.eta, "seconds": tr.seconds,
               "e_pol": tr.e_pol, "grad_sq": tr.grad_sq,
               "mean_e_pol": if tr.e_pol.is_empty() { None } else { Some(tr.mean_e_pol()) },
               "mean_grad_sq": if tr.grad_sq.is_empty() { None } else { Some(tr.mean_grad_sq()) }})
    }

    /// Writes `theta.json`, `policy.json`, `trace.json` and `summary.json` into `dir`
    /// (atomically) and returns their paths in that order.
    pub fn write_outputs(&self, mdp: &Mdp, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut written = vec![];
        for (name, v) in [
            ("theta.json", self.theta_json()),
            ("policy.json", self.policy_json(mdp)),
            ("trace.json", self.trace_json()),
            ("summary.json", self.summary_json()),
        ] {
            crate::io::write_json(&dir.join(name), &v)?;
            written.push(dir.join(name));
        }
        Ok(written)
    }

    /// The printed summary: the run (K, step, time), the Theorem 4.1 averages when exact
    /// metrics were recorded, and both distances to the true soft-optimal policy.
    pub fn summary_text(&self) -> String {
        let (tr, k) = (&self.trace, self.options.iterations);
        let mut s = format!(
            "Algorithm 1: K = {k}, η = {:.4e}, {:.3} s ({:.0} iterations/s)\n",
            tr.eta,
            tr.seconds,
            k as f64 / tr.seconds
        );
        if self.options.exact_metrics && !tr.e_pol.is_empty() {
            s += &format!(
                "Theorem 4.1 averages over the K iterations: E_pol (20a) = {:.4e}, E_grad (20b) = {:.4e}\n",
                tr.mean_e_pol(),
                tr.mean_grad_sq()
            );
        }
        s += "distance to the true soft-optimal policy (TV; max over states / occupancy-weighted):\n";
        let (m, v) = self.aihf_distance;
        s += &format!("  AIHF (Algorithm 1)   {m:.4} / {v:.4}\n");
        if let Some((m, v)) = self.rlhf_distance {
            s += &format!("  two-stage RLHF       {m:.4} / {v:.4}\n");
        }
        s
    }

    /// `summary.json`: sizes, timing and the distances to the truth.
    pub fn summary_json(&self) -> Value {
        let (am, aa) = self.aihf_distance;
        json!({
            "seed": self.seed, "iterations": self.options.iterations, "eta": self.trace.eta,
            "seconds": self.trace.seconds,
            "demonstrations": self.sizes.0, "preferences": self.sizes.1,
            "distance_to_truth": {
                "weighting": "TV per state (and time step for a finite horizon); max, and average under the true policy's state occupancy",
                "aihf": {"max_tv": am, "avg_tv": aa},
                "rlhf_two_stage": self.rlhf_distance.map(|(m, v)| json!({"max_tv": m, "avg_tv": v, "ridge": self.ridge})),
            }
        })
    }
}
