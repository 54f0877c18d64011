//! Exact one-step ("bandit") estimators of SPEC §1: SFT, BTL, RLHF, AIHF and the DPO family.
//!
//! Every estimator returns a [`Fit`]: the policy (and its log), the reward normalised as
//! [`Normalization`] says, the objective value, the final gradient norm and the iteration
//! count. Existence is checked before solving ([`existence`]); a solver that does not reach
//! its tolerance is an error, never a silent answer.

pub mod claims;
mod dense;
pub mod estimators;
pub mod existence;
pub mod problem;
pub mod report;

pub use estimators::*;

use crate::error::{check_nonneg, check_positive, AihfError, Result};
use serde::{Deserialize, Serialize};

pub use crate::method::Method;

/// The methods this layer solves, in table order: what `all` means here (IRL is the
/// sequence-level layer's, [`crate::truth::estimate::METHODS`]).
pub const METHODS: &[Method] = &[
    Method::Sft,
    Method::Btl,
    Method::Rlhf,
    Method::Aihf,
    Method::Dpo,
    Method::Ipo,
    Method::DirectAihf,
    Method::Spin,
    Method::SelfPlayAihf,
];

/// AIHF's weighting of the two data sources (SPEC §1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Weighting {
    /// Each observation weighs one (the paper's static analysis).
    #[default]
    Counts,
    /// Each source's mean log-likelihood, demonstrations weighted by `w` (the authors' public
    /// example).
    Normalized,
}

/// How reward vectors are normalised (rewards are identified up to a constant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    /// Mean zero over actions with finite reward.
    #[default]
    MeanZero,
    /// `r_ref = 0` for the named action.
    Reference(usize),
}

/// Hyper-parameters shared by the estimators. Build with [`Options::default`] and the setters,
/// then [`Options::validate`] (every estimator validates again).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Temperature `β > 0` (default 1).
    pub beta: f64,
    /// AIHF's preference weight `λ ≥ 0` (default 1); Self-Play AIHF's too.
    pub lambda: f64,
    /// AIHF weighting mode.
    pub weighting: Weighting,
    /// Demonstration weight `w` of the `normalized` mode (default 1).
    pub demo_weight: f64,
    /// Ridge `α ≥ 0` on the reward (BTL, AIHF) or on `log π_θ/π_ref` (DPO family).
    pub ridge: f64,
    /// Temperature `β'` of AIHF's preference term `σ((r_i − r_j)/β')`. Default `None`, i.e.
    /// `β' = 1`: SPEC §1.4's one convention for every `β` — preferences follow BTL on the reward
    /// itself, `σ(r_i − r_j)`, as in BTL (§1.2), RLHF and every sampler. Setting it departs from
    /// that convention (a sensitivity option).
    pub beta_pref: Option<f64>,
    /// Reference policy `π0` of SFT/AIHF (default uniform). Must be a distribution.
    pub reference: Option<Vec<f64>>,
    /// Reward normalisation.
    pub normalization: Normalization,
    /// DPO-family reference `π_ref` (default: `π_SFT`, smoothed by `ref_smoothing` if set).
    pub dpo_reference: Option<Vec<f64>>,
    /// DPO-family reference: smoothing `ε` of `π_SFT` (`(N_i + ε)/(N + nε)`); None: no smoothing.
    pub ref_smoothing: Option<f64>,
    /// IPO's `τ > 0` (default 0.1... see SPEC §1.5).
    pub ipo_tau: f64,
    /// Direct AIHF's demonstration weight `α ≥ 0` (default 1).
    pub direct_alpha: f64,
    /// SPIN / Self-Play AIHF iterations (maximum).
    pub spin_iters: usize,
}

impl Options {
    /// The options set away from their defaults that none of `methods` reads (command-line
    /// names), so a caller can refuse them instead of ignoring them silently: `lambda` (AIHF,
    /// Self-Play AIHF), `weighting`, `demo-weight`, `beta-pref` (AIHF), `ref-smoothing` (the
    /// DPO family: DPO, IPO, Direct AIHF, SPIN, Self-Play AIHF), `ipo-tau` (IPO), `alpha`
    /// (Direct AIHF), `spin-iters` (SPIN, Self-Play AIHF). `beta`, `ridge` and the
    /// normalisation apply to every method.
    pub fn unused_by(&self, methods: &[Method]) -> Vec<&'static str> {
        use Method::*;
        let d = Options::default();
        let uses = |ms: &[Method]| methods.iter().any(|m| ms.contains(m));
        // Set away from the default: compared bit for bit (any other value was given).
        let moved = |a: f64, b: f64| a.to_bits() != b.to_bits();
        let mut out = vec![];
        let mut check = |set: bool, name: &'static str, ms: &[Method]| {
            if set && !uses(ms) {
                out.push(name);
            }
        };
        check(
            moved(self.lambda, d.lambda),
            "lambda",
            &[Aihf, SelfPlayAihf],
        );
        check(self.weighting != d.weighting, "weighting", &[Aihf]);
        check(
            moved(self.demo_weight, d.demo_weight),
            "demo-weight",
            &[Aihf],
        );
        check(self.beta_pref.is_some(), "beta-pref", &[Aihf]);
        check(
            self.ref_smoothing.is_some(),
            "ref-smoothing",
            &[Dpo, Ipo, DirectAihf, Spin, SelfPlayAihf],
        );
        check(moved(self.ipo_tau, d.ipo_tau), "ipo-tau", &[Ipo]);
        check(
            moved(self.direct_alpha, d.direct_alpha),
            "alpha",
            &[DirectAihf],
        );
        check(
            self.spin_iters != d.spin_iters,
            "spin-iters",
            &[Spin, SelfPlayAihf],
        );
        out
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            beta: 1.0,
            lambda: 1.0,
            weighting: Weighting::Counts,
            demo_weight: 1.0,
            ridge: 0.0,
            beta_pref: None,
            reference: None,
            normalization: Normalization::MeanZero,
            dpo_reference: None,
            ref_smoothing: None,
            ipo_tau: 0.1,
            direct_alpha: 1.0,
            spin_iters: 500,
        }
    }
}

impl Options {
    /// Checks every field's domain against `n` actions.
    pub fn validate(&self, n: usize) -> Result<()> {
        check_temperature("beta", self.beta)?;
        check_nonneg("lambda", self.lambda)?;
        check_positive("demo_weight", self.demo_weight)?;
        check_nonneg("ridge", self.ridge)?;
        if let Some(b) = self.beta_pref {
            check_temperature("beta_pref", b)?;
        }
        check_positive("ipo_tau", self.ipo_tau)?;
        check_nonneg("direct_alpha", self.direct_alpha)?;
        if let Some(e) = self.ref_smoothing {
            check_positive("ref_smoothing", e)?;
        }
        if let Some(r) = &self.reference {
            check_distribution("reference", r, n, true)?;
        }
        if let Some(r) = &self.dpo_reference {
            check_distribution("dpo_reference", r, n, true)?;
        }
        if let Normalization::Reference(k) = self.normalization {
            if k >= n {
                return Err(AihfError::param(
                    "normalization",
                    format!("reference action {k} is out of range 0..{n}"),
                ));
            }
        }
        if self.spin_iters == 0 {
            return Err(AihfError::param("spin_iters", "must be at least 1"));
        }
        Ok(())
    }

    /// `log π0` (uniform by default).
    pub fn log_pi0(&self, n: usize) -> Vec<f64> {
        match &self.reference {
            Some(r) => r.iter().map(|p| p.ln()).collect(),
            None => vec![-(n as f64).ln(); n],
        }
    }
}

/// Temperatures are positive and within `[1e-8, 1e8]`: beyond that, rewards divided by `β`
/// (or multiplied by it in the DPO family) overflow or vanish in f64 long before any count does.
pub fn check_temperature(name: &str, b: f64) -> Result<()> {
    check_positive(name, b)?;
    if !(1e-8..=1e8).contains(&b) {
        return Err(AihfError::param(
            name,
            format!("{b:e} is outside the supported range [1e-8, 1e8] (f64 overflows beyond it)"),
        ));
    }
    Ok(())
}

/// Checks that `r` is a distribution over `n` actions (strictly positive if `positive`).
pub fn check_distribution(name: &str, r: &[f64], n: usize, positive: bool) -> Result<()> {
    if r.len() != n {
        return Err(AihfError::param(
            name,
            format!("has {} entries but there are {n} actions", r.len()),
        ));
    }
    if let Some(i) = r
        .iter()
        .position(|p| !p.is_finite() || *p < 0.0 || (positive && *p <= 0.0))
    {
        return Err(AihfError::param(
            name,
            format!(
                "entry {i} is {}; it must be finite and {}",
                r[i],
                if positive { "> 0" } else { ">= 0" }
            ),
        ));
    }
    let s: f64 = r.iter().sum();
    if (s - 1.0).abs() > crate::tol::STOCHASTIC {
        return Err(AihfError::param(
            name,
            format!("sums to {s}, not 1 (tolerance {})", crate::tol::STOCHASTIC),
        ));
    }
    Ok(())
}

/// What an estimator returns.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fit {
    /// The estimator that produced this fit.
    pub method: Method,
    /// `π̂`.
    pub policy: Vec<f64>,
    /// `log π̂` (`-∞` where `π̂ = 0`; serialised as `null`).
    #[serde(skip)]
    pub log_policy: Vec<f64>,
    /// The estimated (or implied) reward, normalised; `-∞` (JSON `null`) for actions the
    /// estimator gives zero probability.
    pub reward: Vec<Option<f64>>,
    /// The estimator's objective at the solution, in its own sense: maximised log-likelihood
    /// (SFT, BTL, AIHF), `E_π[r^P] − β KL(π‖π_SFT)` (RLHF), minimised loss (DPO family).
    pub objective: f64,
    /// Norm of the objective's gradient at the solution (stationarity residual).
    pub grad_norm: f64,
    /// Solver iterations (0 for closed forms).
    pub iterations: usize,
}
