//! Exact sequence-level estimators on the Markov task (SPEC §3.2): `sft`, `irl`, `btl`, `rlhf`
//! (against `π_SFT` or `π_ref`), `dpo` (reference `π_SFT` or `π_ref`) and `aihf`, each a Markov
//! policy of the bigram reward class `R_w(y) = ⟨w, φ(y)⟩` on a support `B` (the task's: oracle
//! sparsity; or all `V²` bigrams).
//!
//! Every likelihood estimator maximises one concave objective over `w ∈ R^{|B|}`,
//!
//! ```text
//! J(w) = L_D(w) + λ L_P(w) − (α/2)‖w‖²,
//! L_D(w) = Σ_d log π_w(y_d) = ⟨w, Φ_D⟩/β − N a_0(y_0) + Σ_d log π_ref(y_d),
//! L_P(w) = Σ_k log σ(z_k(w)),   z_k = ⟨w, φ(c_k) − φ(r_k)⟩,
//! ```
//!
//! (`irl`: `L_D` only; `btl`: `L_P` only; `aihf`: both, counts weighting; `dpo`: `L_P` with
//! `z_k = β(h(c_k) − h(r_k))`, `h = log π − log π_ref_dpo`, evaluated from the policy of the class
//! `π_ref_dpo e^{R_w/β}`). Gradients and curvature come from forward–backward passes over the
//! chain, never from enumerating sequences: `∇L_D = (Φ_D − N E_w[φ])/β`,
//! `−∇²L_D = N Cov_w[φ]/β²` (a tangent pass, [`MarkovPolicy::cov_times`]),
//! `∇L_P = Σ_k σ(−z_k) Δ_k`, `−∇²L_P = Σ_k σ(z_k)σ(−z_k) Δ_k Δ_kᵀ`.
//!
//! # Solver
//! Newton's method with a backtracking line search, as a custom argmin `Solver` run by
//! argmin's `Executor` (the static layer's choice and reasons, `bandit::problem`): the Newton
//! system `C p = ∇J` (`C = −∇²J`, never formed) is solved by Jacobi-preconditioned conjugate
//! gradients on the operator, to a relative residual `min(0.5, √(‖∇J‖/scale))` (inexact Newton:
//! superlinear). Stop: `‖∇J‖ ≤ tol::GRAD_REL · scale`, `scale = N + λM + 1`; non-convergence is
//! an error.
//!
//! # Existence
//! Without a ridge the maximiser may not exist (separable preferences, a bigram never seen in
//! the demonstrations) or may not be unique (a bigram that no datum involves). Both are refused
//! with [`AihfError::NoEstimator`] naming the bigram and `--ridge`: coordinate witnesses are
//! checked before solving, and the solver stops with the same error if `|w|/β` exceeds
//! [`W_BOUND`] (a recession direction that is not a single coordinate).

use super::data::Records;
use super::policy::{Bigrams, MarkovPolicy};
use super::tol;
use crate::error::{check_nonneg, AihfError, Result};
use crate::markov::{MarkovTask, Reference};
use crate::math::{log_sigmoid, sigmoid};
use argmin::core::{
    Error as ArgminError, Executor, IterState, Problem, Solver, State, TerminationReason,
    TerminationStatus, KV,
};
use std::sync::Arc;
use std::time::Instant;

/// Largest `|w|/β` a solution may have: a log-odds of 200 between two continuations is a
/// probability ratio of `e^{200}`, which no finite data set supports; an iterate beyond it is
/// following a recession direction (no finite maximiser).
pub const W_BOUND: f64 = 200.0;

pub use crate::method::Method;

/// The estimators of this layer (SPEC §3.2), in report order: what `all` means here.
///
/// - `sft`: the policy-class MLE, time-indexed empirical conditionals `count_t(u,v)/count_t(u)`,
///   `π_ref` on rows without data;
/// - `irl`: `argmax L_D`, maximum-likelihood IRL from the demonstrations (AIHF with `λ = 0`);
/// - `btl`: `w_P = argmax L_P` (BTL reward model on the pairs); policy `π_{w_P}`;
/// - `rlhf`: `π ∝ ref · exp(R_{w_P}/β)` with `ref = π_SFT` (the paper's pipeline) or `π_ref`;
/// - `dpo`: DPO over the class `π_ref_dpo · exp(R_w/β)`, `π_ref_dpo = π_SFT` or `π_ref`;
/// - `aihf`: `argmax L_D + λ L_P` (counts weighting; needs demonstrations).
pub const METHODS: &[Method] = &[
    Method::Sft,
    Method::Irl,
    Method::Btl,
    Method::Rlhf,
    Method::Dpo,
    Method::Aihf,
];

/// The reference of RLHF's KL term and of DPO's ratio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefKind {
    /// `π_SFT` (the paper's pipeline).
    Sft,
    /// `π_ref`.
    Ref,
}

impl RefKind {
    /// `"sft"` or `"ref"`.
    pub fn name(self) -> &'static str {
        match self {
            RefKind::Sft => "sft",
            RefKind::Ref => "ref",
        }
    }
}

/// The bigram set of the reward class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// The task's reward support (oracle sparsity).
    Task,
    /// All `V²` bigrams.
    Full,
}

/// Estimator options (validated by [`Estimator::new`]).
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Weight `λ ≥ 0` of the preference likelihood in AIHF.
    pub lambda: f64,
    /// Ridge `α ≥ 0` on `w` (every likelihood estimator).
    pub ridge: f64,
    /// The bigram set `B` the reward `w` lives on (default: the task's own support).
    pub support: Support,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            lambda: 1.0,
            ridge: 0.0,
            support: Support::Task,
        }
    }
}

/// One solved estimator.
#[derive(Clone, Debug)]
pub struct Fit {
    /// `sft`, `irl`, `btl`, `rlhf_sft`, `rlhf_ref`, `dpo_sft`, `dpo_ref` or `aihf`.
    pub name: String,
    /// The estimated time-indexed Markov policy `π̂_t(v|u)` from `y_0`.
    pub policy: MarkovPolicy,
    /// The reward `w` on the support (likelihood estimators and RLHF: `w_P`).
    pub reward: Option<Vec<f64>>,
    /// The maximised objective (`sft`: `Σ_d log π_SFT(y_d)`; `rlhf`: `E_π[R_{w_P}] − β KL(π‖ref)`).
    pub objective: f64,
    /// `‖∇J‖₂` at the solution (at most `tol::GRAD_REL · (N + λM + 1)`); 0 for the closed forms
    /// (`sft`, `rlhf`).
    pub grad_norm: f64,
    /// Newton iterations (0 for the closed forms `sft` and `rlhf`).
    pub iterations: usize,
    /// Conjugate-gradient iterations (operator products) over all Newton steps.
    pub cg_iterations: usize,
    /// Wall-clock seconds of this fit (`rlhf` includes its BTL solve).
    pub seconds: f64,
    /// A remark for the output (rows that fell back to `π_ref`).
    pub note: Option<String>,
}

/// The data of one task, prepared for every estimator.
pub struct Estimator<'a> {
    task: &'a MarkovTask,
    records: &'a Records,
    opts: Options,
    pattern: Arc<Bigrams>,
    reference: Arc<Reference>,
    ref_policy: MarkovPolicy,
    /// `Φ_D = Σ_d φ(y_d)`.
    demo_phi: Vec<f64>,
    /// `Σ_d log π_ref(y_d)`.
    demo_ref_lp: f64,
    /// `Δ_k = φ(c_k) − φ(r_k)`, sparse.
    diffs: Vec<Vec<(usize, f64)>>,
}

fn sparse_diff(a: &[(usize, f64)], b: &[(usize, f64)]) -> Vec<(usize, f64)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let ka = a.get(i).map_or(usize::MAX, |x| x.0);
        let kb = b.get(j).map_or(usize::MAX, |x| x.0);
        let (k, v) = if ka == kb {
            i += 1;
            j += 1;
            (ka, a[i - 1].1 - b[j - 1].1)
        } else if ka < kb {
            i += 1;
            (ka, a[i - 1].1)
        } else {
            j += 1;
            (kb, -b[j - 1].1)
        };
        if v != 0.0 {
            out.push((k, v));
        }
    }
    out
}

impl<'a> Estimator<'a> {
    /// Prepares the data (features on the support) and validates the options.
    pub fn new(task: &'a MarkovTask, records: &'a Records, opts: Options) -> Result<Self> {
        check_nonneg("lambda", opts.lambda)?;
        check_nonneg("ridge", opts.ridge)?;
        let (v, h, y0) = (task.vocab(), task.horizon(), task.y0());
        for (i, y) in records.demos.iter().enumerate() {
            super::policy::check_response(v, h, y)
                .map_err(|e| AihfError::data(format!("demonstration {i}"), e.to_string()))?;
        }
        for (i, (c, r)) in records.prefs.iter().enumerate() {
            for y in [c, r] {
                super::policy::check_response(v, h, y)
                    .map_err(|e| AihfError::data(format!("preference {i}"), e.to_string()))?;
            }
        }
        let pattern = Arc::new(match opts.support {
            Support::Task => Bigrams::of_task(task),
            Support::Full => {
                if v.checked_mul(v).is_none_or(|c| c > 1 << 24) {
                    return Err(AihfError::param(
                        "support",
                        format!("full support has V² = {v}² bigrams (more than 2^24); use --support task"),
                    ));
                }
                Bigrams::full(v)
            }
        });
        let reference = Arc::new(task.reference().clone());
        let ref_policy = MarkovPolicy::reference_policy(v, h, y0, reference.clone())?;
        let mut demo_phi = vec![0.0; pattern.len()];
        let mut demo_ref_lp = 0.0;
        for y in &records.demos {
            pattern.add_features(y0, y, 1.0, &mut demo_phi);
            demo_ref_lp += task.log_prob_ref(y)?;
        }
        let diffs = records
            .prefs
            .iter()
            .map(|(c, r)| sparse_diff(&pattern.features(y0, c), &pattern.features(y0, r)))
            .collect();
        Ok(Estimator {
            task,
            records,
            opts,
            pattern,
            reference,
            ref_policy,
            demo_phi,
            demo_ref_lp,
            diffs,
        })
    }

    /// The reward-class support.
    pub fn pattern(&self) -> &Arc<Bigrams> {
        &self.pattern
    }
    /// The reference chain `π_ref`.
    pub fn ref_policy(&self) -> &MarkovPolicy {
        &self.ref_policy
    }

    fn need_demos(&self, who: &str) -> Result<()> {
        if self.records.demos.is_empty() {
            return Err(AihfError::NoEstimator {
                estimator: who.into(),
                reason: "needs demonstrations (N = 0)".into(),
                witness: vec![],
            });
        }
        Ok(())
    }

    fn need_prefs(&self, who: &str) -> Result<()> {
        if self.records.prefs.is_empty() {
            return Err(AihfError::NoEstimator {
                estimator: who.into(),
                reason: "needs preference pairs (M = 0)".into(),
                witness: vec![],
            });
        }
        Ok(())
    }

    /// `sft`: the time-indexed empirical conditionals (rows without data: `π_ref`).
    pub fn sft(&self) -> Result<Fit> {
        let t0 = Instant::now();
        self.need_demos("sft")?;
        let (v, h, y0) = (self.task.vocab(), self.task.horizon(), self.task.y0());
        let (p, with_data) =
            MarkovPolicy::empirical(v, h, y0, self.reference.clone(), &self.records.demos)?;
        let objective = self
            .records
            .demos
            .iter()
            .map(|y| p.log_prob(y))
            .sum::<Result<f64>>()?;
        let rows = h * v;
        Ok(Fit {
            name: "sft".into(),
            policy: p,
            reward: None,
            objective,
            grad_norm: 0.0,
            iterations: 0,
            cg_iterations: 0,
            seconds: t0.elapsed().as_secs_f64(),
            note: Some(format!(
                "{} of {rows} rows (t, u) fell back to π_ref (no demonstration visits them); {with_data} have data",
                rows - with_data
            )),
        })
    }

    /// `irl`: `argmax L_D` (AIHF with `λ = 0`).
    pub fn irl(&self) -> Result<Fit> {
        self.need_demos("irl")?;
        self.solve("irl", &self.ref_policy, true, 0.0, false)
    }

    /// `btl`: `w_P = argmax L_P`; policy `π_{w_P}`.
    pub fn btl(&self) -> Result<Fit> {
        self.need_prefs("btl")?;
        self.solve("btl", &self.ref_policy, false, 1.0, false)
    }

    /// `aihf`: `argmax L_D + λ L_P` (counts weighting).
    pub fn aihf(&self) -> Result<Fit> {
        self.need_demos("aihf")?;
        self.solve("aihf", &self.ref_policy, true, self.opts.lambda, false)
    }

    /// `dpo` over the class `π_ref_dpo e^{R_w/β}` (its own objective, evaluated through the
    /// policies' ratios to their reference).
    pub fn dpo(&self, reference: RefKind) -> Result<Fit> {
        let name = format!("dpo_{}", reference.name());
        self.need_prefs(&name)?;
        match reference {
            RefKind::Ref => self.solve(&name, &self.ref_policy, false, 1.0, true),
            RefKind::Sft => {
                let sft = self.sft()?;
                let mut f = self.solve(&name, &sft.policy, false, 1.0, true)?;
                f.note = sft.note;
                Ok(f)
            }
        }
    }

    /// `rlhf`: `π ∝ ref · e^{R_{w_P}/β}` with `ref = π_SFT` or `π_ref`, from a solved `btl`.
    pub fn rlhf(&self, reference: RefKind, btl: &Fit) -> Result<Fit> {
        let t0 = Instant::now();
        let name = format!("rlhf_{}", reference.name());
        let w = btl
            .reward
            .clone()
            .ok_or_else(|| AihfError::param("btl", "the BTL fit carries no reward vector"))?;
        let beta = self.task.beta();
        let theta: Vec<f64> = w.iter().map(|x| x / beta).collect();
        let (base, note) = match reference {
            RefKind::Ref => (self.ref_policy.clone(), None),
            RefKind::Sft => {
                let s = self.sft()?;
                (s.policy, s.note)
            }
        };
        let p = base.retilt(self.pattern.clone(), theta)?;
        let mu = p.marginals();
        let objective = p.expected_reward(&mu, &self.pattern, &w) - beta * p.kl_to(&mu, &base)?;
        Ok(Fit {
            name,
            policy: p,
            reward: Some(w),
            objective,
            grad_norm: 0.0,
            iterations: 0,
            cg_iterations: 0,
            seconds: btl.seconds + t0.elapsed().as_secs_f64(),
            note,
        })
    }

    /// Every estimator (`rlhf` and `dpo` with both references), each `Ok` or its error.
    pub fn all(&self) -> Vec<(String, Result<Fit>)> {
        // Independent solves run in parallel (rayon); the results do not depend on it.
        let two_stage = || {
            let btl = self.btl();
            let rl = [RefKind::Sft, RefKind::Ref].map(|r| {
                let f = match &btl {
                    Ok(b) => self.rlhf(r, b),
                    Err(e) => Err(AihfError::NoEstimator {
                        estimator: format!("rlhf_{}", r.name()),
                        reason: format!("its reward model does not exist: {e}"),
                        witness: vec![],
                    }),
                };
                (format!("rlhf_{}", r.name()), f)
            });
            (btl, rl)
        };
        let dpos =
            || [RefKind::Sft, RefKind::Ref].map(|r| (format!("dpo_{}", r.name()), self.dpo(r)));
        let ((aihf, irl), ((btl, rl), (dpo, sft))) = rayon::join(
            || rayon::join(|| self.aihf(), || self.irl()),
            || rayon::join(two_stage, || rayon::join(dpos, || self.sft())),
        );
        let mut out: Vec<(String, Result<Fit>)> = vec![
            ("sft".into(), sft),
            ("irl".into(), irl),
            ("btl".into(), btl),
        ];
        out.extend(rl);
        out.extend(dpo);
        out.push(("aihf".into(), aihf));
        out
    }

    /// One method (`rlhf`/`dpo` with the given reference); a method this layer does not solve
    /// ([`METHODS`]) is an [`AihfError::Param`].
    pub fn fit(&self, m: Method, reference: RefKind) -> Result<Fit> {
        match m {
            Method::Sft => self.sft(),
            Method::Irl => self.irl(),
            Method::Btl => self.btl(),
            Method::Rlhf => self.rlhf(reference, &self.btl()?),
            Method::Dpo => self.dpo(reference),
            Method::Aihf => self.aihf(),
            other => Err(other.unsupported(METHODS)),
        }
    }

    /// `J(w)` and `∇J(w)` of a likelihood estimator (`irl`, `btl`, `aihf`, `dpo`), for checks
    /// against finite differences and enumeration.
    pub fn objective_at(
        &self,
        m: Method,
        reference: RefKind,
        w: &[f64],
    ) -> Result<(f64, Vec<f64>)> {
        self.with_objective(m, reference, |o| {
            let pt = o.eval(w.to_vec())?;
            Ok((pt.value, pt.grad))
        })
    }

    /// `−∇²J(w) d` (the Newton system's operator) of a likelihood estimator.
    pub fn curvature_at(
        &self,
        m: Method,
        reference: RefKind,
        w: &[f64],
        d: &[f64],
    ) -> Result<Vec<f64>> {
        self.with_objective(m, reference, |o| {
            let pt = o.eval(w.to_vec())?;
            Ok(o.curv(&pt, d))
        })
    }

    fn with_objective<T>(
        &self,
        m: Method,
        reference: RefKind,
        f: impl FnOnce(&Objective) -> Result<T>,
    ) -> Result<T> {
        if self.pattern.is_empty() {
            return Err(AihfError::param("support", "empty reward support"));
        }
        let sft;
        let (base, demos, lambda, dpo) = match m {
            Method::Irl => (&self.ref_policy, true, 0.0, false),
            Method::Btl => (&self.ref_policy, false, 1.0, false),
            Method::Aihf => (&self.ref_policy, true, self.opts.lambda, false),
            Method::Dpo => match reference {
                RefKind::Ref => (&self.ref_policy, false, 1.0, true),
                RefKind::Sft => {
                    sft = self.sft()?.policy;
                    (&sft, false, 1.0, true)
                }
            },
            Method::Sft | Method::Rlhf => {
                return Err(AihfError::param(
                    "method",
                    format!("{} is a closed form, not a likelihood", m.name()),
                ))
            }
            other => return Err(other.unsupported(METHODS)),
        };
        f(&Objective {
            est: self,
            base,
            demos,
            lambda,
            dpo,
            beta: self.task.beta(),
        })
    }

    /// Coordinate witnesses of non-existence / non-uniqueness (see the module documentation).
    fn check_existence(
        &self,
        name: &str,
        base: &MarkovPolicy,
        demos: bool,
        lambda: f64,
    ) -> Result<()> {
        if self.opts.ridge > 0.0 {
            return Ok(());
        }
        let prefs = lambda > 0.0;
        let n = self.pattern.len();
        let mut pos = vec![false; n];
        let mut neg = vec![false; n];
        if prefs {
            for d in &self.diffs {
                for &(k, x) in d {
                    if x > 0.0 {
                        pos[k] = true;
                    } else {
                        neg[k] = true;
                    }
                }
            }
        }
        // Bigrams the class can produce (E_base[φ] > 0); the others are null coordinates.
        let mu = base.marginals();
        let reach = base.expected_features(&mu, &self.pattern);
        for (k, u, v) in self.pattern.iter() {
            if reach[k] <= 0.0 {
                continue;
            }
            let seen = demos && self.demo_phi[k] > 0.0;
            let why = if !seen && !pos[k] && (demos || neg[k]) {
                Some(if demos {
                    "never appears in a demonstration and never on the winning side of a \
                     preference, so the likelihood keeps increasing as w → −∞ there: no finite \
                     maximiser"
                } else {
                    "never on the winning side of a preference (the pairs are separable): no \
                     finite maximiser"
                })
            } else if !demos && pos[k] && !neg[k] {
                Some("never on the losing side of a preference (the pairs are separable): no finite maximiser")
            } else if !demos && !pos[k] && !neg[k] {
                Some("appears in no preference difference, so w there is not identified by the data (the policy is not unique)")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(AihfError::NoEstimator {
                    estimator: name.into(),
                    reason: format!("bigram ({u}, {v}) {why}; use --ridge to regularise"),
                    witness: vec![u, v],
                });
            }
        }
        Ok(())
    }

    fn solve(
        &self,
        name: &str,
        base: &MarkovPolicy,
        demos: bool,
        lambda: f64,
        dpo: bool,
    ) -> Result<Fit> {
        let t0 = Instant::now();
        self.check_existence(name, base, demos, lambda)?;
        let obj = Objective {
            est: self,
            base,
            demos,
            lambda,
            dpo,
            beta: self.task.beta(),
        };
        let scale = if demos {
            self.records.demos.len() as f64
        } else {
            0.0
        } + lambda * self.records.prefs.len() as f64
            + 1.0;
        let tol = tol::GRAD_REL * scale;
        let solver = NewtonCg {
            tol,
            scale,
            max_step: 5.0 * self.task.beta().max(1.0),
            point: None,
            diverged: None,
            stalled: false,
            cg_total: 0,
        };
        let w0 = vec![0.0; self.pattern.len()];
        let res = Executor::new(obj, solver)
            .configure(|s| s.param(w0).max_iters(tol::MAX_NEWTON_ITERS as u64))
            .run()
            .map_err(|e| AihfError::Numerical(format!("{name}: {e}")))?;
        let solver = res.solver;
        if let Some((u, v, x)) = solver.diverged {
            return Err(AihfError::NoEstimator {
                estimator: name.into(),
                reason: format!(
                    "|w({u}, {v})|/β reached {x:.0} > {W_BOUND}: the objective keeps increasing \
                     along a direction (no finite maximiser, e.g. separable preferences); use \
                     --ridge to regularise"
                ),
                witness: vec![u, v],
            });
        }
        let iterations = res.state.get_iter() as usize;
        let pt = solver
            .point
            .ok_or_else(|| AihfError::Numerical(format!("{name}: no iterate")))?;
        let grad_norm = norm(&pt.grad);
        if !grad_norm.is_finite() || grad_norm > tol {
            return Err(AihfError::NotConverged {
                solver: format!("{name} (Newton-CG)"),
                grad_norm,
                tol,
                iterations,
            });
        }
        let policy = match pt.policy {
            Some(p) => p,
            None => base.retilt(
                self.pattern.clone(),
                pt.w.iter().map(|x| x / self.task.beta()).collect(),
            )?,
        };
        Ok(Fit {
            name: name.into(),
            policy,
            reward: Some(pt.w),
            objective: pt.value,
            grad_norm,
            iterations,
            cg_iterations: solver.cg_total,
            seconds: t0.elapsed().as_secs_f64(),
            note: None,
        })
    }
}

/// `J` of the module documentation for one estimator.
struct Objective<'e, 'a> {
    est: &'e Estimator<'a>,
    /// The class's base chain (`π_ref`, or `π_SFT` for DPO against it).
    base: &'e MarkovPolicy,
    demos: bool,
    lambda: f64,
    dpo: bool,
    beta: f64,
}

/// `J`, `∇J` and what the curvature needs, at one `w`.
struct Point {
    w: Vec<f64>,
    value: f64,
    grad: Vec<f64>,
    policy: Option<MarkovPolicy>,
    mu: Vec<f64>,
    /// `π_t(v|u)` on the support (demonstration term only).
    probs: Vec<f64>,
    /// `E_w[φ]` (demonstration term only).
    ef: Vec<f64>,
    /// `λ σ(z_k) σ(−z_k)` per pair.
    pair_curv: Vec<f64>,
}

fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Objective<'_, '_> {
    fn eval(&self, w: Vec<f64>) -> Result<Point> {
        let e = self.est;
        let beta = self.beta;
        let need_policy = self.demos || self.dpo;
        let mut value = 0.0;
        let mut grad = vec![0.0; w.len()];
        let policy = if need_policy {
            Some(
                self.base
                    .retilt(e.pattern.clone(), w.iter().map(|x| x / beta).collect())?,
            )
        } else {
            None
        };
        let (mut mu, mut probs, mut ef) = (Vec::new(), Vec::new(), Vec::new());
        if self.demos {
            let p = policy.as_ref().expect("policy computed when demos");
            let n = e.records.demos.len() as f64;
            value += dot(&w, &e.demo_phi) / beta - n * p.log_norm(0, p.y0()) + e.demo_ref_lp;
            mu = p.marginals();
            probs = p.step_probs();
            ef = p.features_from(&mu, &probs);
            for ((g, phi), f) in grad.iter_mut().zip(&e.demo_phi).zip(&ef) {
                *g += (phi - n * f) / beta;
            }
        }
        let mut pair_curv = Vec::new();
        if self.lambda > 0.0 {
            pair_curv.reserve(e.diffs.len());
            for (k, d) in e.diffs.iter().enumerate() {
                let z = if self.dpo {
                    // DPO's own margin from the policy: β(h(c) − h(r)), h = log π/π_ref_dpo.
                    let p = policy.as_ref().expect("policy computed for DPO");
                    let (c, r) = &e.records.prefs[k];
                    beta * (p.log_ratio_to_base(c)? - p.log_ratio_to_base(r)?)
                } else {
                    d.iter().map(|&(j, x)| w[j] * x).sum()
                };
                value += self.lambda * log_sigmoid(z);
                let s = sigmoid(-z);
                for &(j, x) in d {
                    grad[j] += self.lambda * s * x;
                }
                pair_curv.push(self.lambda * s * (1.0 - s));
            }
        }
        let ridge = e.opts.ridge;
        if ridge > 0.0 {
            value -= 0.5 * ridge * dot(&w, &w);
            for (g, x) in grad.iter_mut().zip(&w) {
                *g -= ridge * x;
            }
        }
        if !value.is_finite() {
            return Err(AihfError::Numerical(format!(
                "objective is not finite ({value})"
            )));
        }
        Ok(Point {
            w,
            value,
            grad,
            policy,
            mu,
            probs,
            ef,
            pair_curv,
        })
    }

    /// `C d` with `C = −∇²J`.
    fn curv(&self, pt: &Point, d: &[f64]) -> Vec<f64> {
        let e = self.est;
        let beta = self.beta;
        let mut out = vec![0.0; d.len()];
        if self.demos {
            let p = pt.policy.as_ref().expect("policy computed when demos");
            let n = e.records.demos.len() as f64;
            let dt: Vec<f64> = d.iter().map(|x| x / beta).collect();
            let c = p.cov_times_with(&pt.mu, &pt.probs, &dt);
            for (o, x) in out.iter_mut().zip(&c) {
                *o += n * x / beta;
            }
        }
        for (diff, &s) in e.diffs.iter().zip(&pt.pair_curv) {
            let z: f64 = diff.iter().map(|&(j, x)| d[j] * x).sum();
            if z != 0.0 {
                for &(j, x) in diff {
                    out[j] += s * z * x;
                }
            }
        }
        if e.opts.ridge > 0.0 {
            for (o, x) in out.iter_mut().zip(d) {
                *o += e.opts.ridge * x;
            }
        }
        out
    }

    /// An approximate diagonal of `C` (Jacobi preconditioner): `N E[φ_j]/β²` (the variance of a
    /// rare count is close to its mean) plus the exact preference and ridge diagonals.
    fn diag(&self, pt: &Point) -> Vec<f64> {
        let e = self.est;
        let mut out = vec![e.opts.ridge; e.pattern.len()];
        if self.demos {
            let n = e.records.demos.len() as f64;
            for (o, f) in out.iter_mut().zip(&pt.ef) {
                *o += n * f / (self.beta * self.beta);
            }
        }
        for (diff, &s) in e.diffs.iter().zip(&pt.pair_curv) {
            for &(j, x) in diff {
                out[j] += s * x * x;
            }
        }
        out
    }
}

/// Newton-CG with a backtracking line search (module documentation).
struct NewtonCg {
    tol: f64,
    scale: f64,
    max_step: f64,
    point: Option<Point>,
    /// `(u, v, |w|/β)` when an iterate left the bound.
    diverged: Option<(usize, usize, f64)>,
    stalled: bool,
    cg_total: usize,
}

type St = IterState<Vec<f64>, (), (), (), (), f64>;

fn obj<'p, 'e, 'a>(
    p: &'p Problem<Objective<'e, 'a>>,
) -> std::result::Result<&'p Objective<'e, 'a>, ArgminError> {
    p.problem
        .as_ref()
        .ok_or_else(|| ArgminError::msg("no problem"))
}

impl<'e, 'a> Solver<Objective<'e, 'a>, St> for NewtonCg {
    fn name(&self) -> &str {
        "Newton-CG"
    }

    fn init(
        &mut self,
        problem: &mut Problem<Objective<'e, 'a>>,
        state: St,
    ) -> std::result::Result<(St, Option<KV>), ArgminError> {
        let w = state
            .get_param()
            .cloned()
            .ok_or_else(|| ArgminError::msg("Newton-CG needs an initial parameter"))?;
        let pt = obj(problem)?
            .eval(w)
            .map_err(|e| ArgminError::msg(e.to_string()))?;
        let cost = -pt.value;
        self.point = Some(pt);
        Ok((state.cost(cost), None))
    }

    fn next_iter(
        &mut self,
        problem: &mut Problem<Objective<'e, 'a>>,
        state: St,
    ) -> std::result::Result<(St, Option<KV>), ArgminError> {
        let o = obj(problem)?;
        let pt = self
            .point
            .take()
            .ok_or_else(|| ArgminError::msg("no iterate"))?;
        let g = &pt.grad;
        let gn = norm(g);
        // Preconditioned CG on C p = g.
        let rtol = (gn / self.scale).sqrt().clamp(tol::CG_FLOOR, 0.5);
        let diag = o.diag(&pt);
        let dmax = diag.iter().copied().fold(0.0, f64::max).max(1e-300);
        let minv: Vec<f64> = diag.iter().map(|&x| 1.0 / x.max(1e-12 * dmax)).collect();
        let n = g.len();
        let mut p = vec![0.0; n];
        let mut r = g.clone();
        let mut z: Vec<f64> = r.iter().zip(&minv).map(|(a, b)| a * b).collect();
        let mut d = z.clone();
        let mut rz = dot(&r, &z);
        for it in 0..n.clamp(1, 500) {
            self.cg_total += 1;
            let cd = o.curv(&pt, &d);
            let dcd = dot(&d, &cd);
            // Non-positive (or NaN) curvature: stop CG here (null or singular direction).
            if dcd.is_nan() || dcd <= 0.0 {
                if it == 0 {
                    p = d.clone();
                }
                break;
            }
            let alpha = rz / dcd;
            for i in 0..n {
                p[i] += alpha * d[i];
                r[i] -= alpha * cd[i];
            }
            if norm(&r) <= rtol * gn {
                break;
            }
            for i in 0..n {
                z[i] = r[i] * minv[i];
            }
            let rz_new = dot(&r, &z);
            let b = rz_new / rz;
            rz = rz_new;
            for i in 0..n {
                d[i] = z[i] + b * d[i];
            }
        }
        let big = p.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        if big > self.max_step {
            p.iter_mut().for_each(|x| *x *= self.max_step / big);
        }
        let slope = dot(g, &p);
        let f = pt.value;
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..60 {
            let cand: Vec<f64> = pt.w.iter().zip(&p).map(|(a, b)| a + step * b).collect();
            if let Ok(c) = o.eval(cand) {
                let armijo = c.value >= f + 1e-4 * step * slope;
                let roundoff = (c.value - f).abs() <= 1e-12 * f.abs().max(1.0);
                if armijo || (roundoff && norm(&c.grad) < gn) {
                    accepted = Some(c);
                    break;
                }
            }
            step *= 0.5;
        }
        let Some(c) = accepted else {
            self.stalled = true;
            let cost = -pt.value;
            self.point = Some(pt);
            return Ok((state.cost(cost), None));
        };
        let beta = o.beta;
        if let Some((k, x)) =
            c.w.iter()
                .enumerate()
                .map(|(k, x)| (k, x.abs() / beta))
                .find(|&(_, x)| x > W_BOUND)
        {
            let (_, u, v) = o.est.pattern.iter().nth(k).unwrap_or((k, 0, 0));
            self.diverged = Some((u, v, x));
        }
        let cost = -c.value;
        self.point = Some(c);
        Ok((state.cost(cost), None))
    }

    fn terminate(&mut self, _state: &St) -> TerminationStatus {
        if self.diverged.is_some() {
            return TerminationStatus::Terminated(TerminationReason::SolverExit("diverged".into()));
        }
        if self.stalled {
            return TerminationStatus::Terminated(TerminationReason::SolverExit(
                "line search stalled".into(),
            ));
        }
        match &self.point {
            Some(pt) if norm(&pt.grad) <= self.tol => {
                TerminationStatus::Terminated(TerminationReason::SolverConverged)
            }
            _ => TerminationStatus::NotTerminated,
        }
    }
}
