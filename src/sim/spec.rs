//! Experiment spec files (`sims/*.toml` or `.json`): one study each, selected by `study = ...`.
//! A file parses into a [`SpecFile`] (unknown fields are rejected by serde,
//! `deny_unknown_fields`); its sizes and ranges are checked once, before any computation, by
//! `Spec::try_from`, with errors naming the field. The runners, the shards and the claims take
//! the checked [`Spec`] (each study's spec a [`Valid`]), so an unchecked spec cannot reach them.

use crate::bandit::{Method, Options, Weighting};
use crate::error::{AihfError, Result};
use crate::valid::{Check, Valid};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Upper bounds that keep a study within memory and reason (each error message quotes them).
pub mod limits {
    /// Largest `replications` of a study (every study also needs at least 2, for variances).
    pub const MAX_REPLICATIONS: usize = 1_000_000;
    /// Largest number of actions `n` of a study's truth (studies need at least 2).
    pub const MAX_ACTIONS: usize = 500;
    /// Largest demonstration count `N` or per-pair comparison count of any cell (including
    /// `base_* × scales` of a consistency study).
    pub const MAX_COUNT: u64 = 1_000_000_000;
    /// Largest `|r*_i|` of an explicit reward vector, and largest `|slope| · n` of a linear
    /// truth (a Gaussian truth is not bounded).
    pub const MAX_ABS_REWARD: f64 = 30.0;
    /// Largest number of entries of a grid (sweep sizes, `w_sweep`, `size_sweep`, situations,
    /// `scales`).
    pub const MAX_GRID: usize = 40;
}

/// The ground-truth reward of a study (SPEC §4).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Truth {
    /// `r*_i ∼ N(0, 1)` i.i.d., drawn with ChaCha8 from `seed`.
    Gaussian {
        /// Seed of the ChaCha8 generator of `r*` (independent of the study's data seed).
        seed: u64,
    },
    /// `r*_i = slope · (i + 1)` for the 0-based action `i` (the paper's `i/10` with 1-based `i`).
    Linear {
        /// The increment between consecutive actions' rewards (default 0.1, the paper's
        /// `i/10`); `|slope| · n_actions` must stay within [`limits::MAX_ABS_REWARD`].
        #[serde(default = "default_slope")]
        slope: f64,
    },
    /// Explicit values (their count must equal `n_actions`).
    Explicit {
        /// `r*_i` for action `i` (0-based), each finite with `|r*_i| ≤`
        /// [`limits::MAX_ABS_REWARD`].
        values: Vec<f64>,
    },
}

fn default_slope() -> f64 {
    0.1
}

impl Truth {
    /// The reward vector over `n` actions.
    pub fn reward(&self, n: usize) -> Vec<f64> {
        match self {
            Truth::Gaussian { seed } => {
                use rand::SeedableRng;
                use rand_distr::{Distribution, StandardNormal};
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(*seed);
                (0..n).map(|_| StandardNormal.sample(&mut rng)).collect()
            }
            Truth::Linear { slope } => (0..n).map(|i| slope * (i + 1) as f64).collect(),
            Truth::Explicit { values } => values.clone(),
        }
    }

    fn validate(&self, n: usize, field: &str) -> Result<()> {
        match self {
            Truth::Gaussian { .. } => Ok(()),
            Truth::Linear { slope } => {
                if !slope.is_finite() || (slope.abs() * n as f64) > limits::MAX_ABS_REWARD {
                    return Err(AihfError::spec(
                        format!("{field}.slope"),
                        format!(
                            "{slope} gives rewards beyond ±{} over {n} actions",
                            limits::MAX_ABS_REWARD
                        ),
                    ));
                }
                Ok(())
            }
            Truth::Explicit { values } => {
                if values.len() != n {
                    return Err(AihfError::spec(
                        format!("{field}.values"),
                        format!("has {} entries but n_actions = {n}", values.len()),
                    ));
                }
                check_rewards(values, &format!("{field}.values"))
            }
        }
    }
}

fn check_rewards(values: &[f64], field: &str) -> Result<()> {
    if let Some((i, v)) = values
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite() || v.abs() > limits::MAX_ABS_REWARD)
    {
        return Err(AihfError::spec(
            format!("{field}[{i}]"),
            format!(
                "{v} is not a finite reward within ±{}",
                limits::MAX_ABS_REWARD
            ),
        ));
    }
    Ok(())
}

/// One estimator of a study. Unset options take the estimator's defaults.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EstimatorSpec {
    /// The estimator (SPEC §1.1–§1.5), run with the study's temperature `β`.
    pub method: Method,
    /// Legend/table label (default: the method's name in upper case).
    #[serde(default)]
    pub label: Option<String>,
    /// AIHF's (and Self-Play AIHF's) preference weight `λ ≥ 0` (SPEC §1.4); `None`: the
    /// default 1.
    #[serde(default)]
    pub lambda: Option<f64>,
    /// AIHF's weighting of the two sources, `counts` or `normalized` (SPEC §1.4); `None`:
    /// `counts`.
    #[serde(default)]
    pub weighting: Option<Weighting>,
    /// Demonstration weight `w > 0` of the `normalized` weighting (SPEC §1.4); `None`: 1.
    #[serde(default)]
    pub demo_weight: Option<f64>,
    /// Ridge `α ≥ 0` (the term `−(α/2)‖r‖²` of BTL/AIHF, SPEC §1.2; on `log π_θ/π_ref` in the
    /// DPO family); `None`: 0, no ridge.
    #[serde(default)]
    pub ridge: Option<f64>,
    /// Smoothing ε > 0 of the DPO family's `π_ref = π_SFT`: `(N_i + ε)/(N + nε)` (the
    /// `--ref-smoothing` of `aihf bandit`).
    #[serde(default)]
    pub ref_smoothing: Option<f64>,
}

impl EstimatorSpec {
    /// The estimator with its options (temperature `beta` of the study).
    pub fn build(&self, beta: f64) -> super::engine::Estimator {
        let mut o = Options {
            beta,
            ..Options::default()
        };
        if let Some(l) = self.lambda {
            o.lambda = l;
        }
        if let Some(w) = self.weighting {
            o.weighting = w;
        }
        if let Some(w) = self.demo_weight {
            o.demo_weight = w;
        }
        if let Some(r) = self.ridge {
            o.ridge = r;
        }
        o.ref_smoothing = self.ref_smoothing;
        super::engine::Estimator {
            label: self.label(),
            method: self.method,
            options: o,
        }
    }

    /// The label used in tables, legends and notes: the spec's `label`, else the method's name
    /// in upper case followed by every setting that departs from the estimator's defaults, so
    /// two estimators of one method are told apart everywhere they are shown:
    /// `AIHF (λ=2)`, `AIHF (normalized, w=0.5)`, `BTL (ridge=0.1)`.
    ///
    /// ```
    /// use aihf::sim::spec::EstimatorSpec;
    /// let e: EstimatorSpec = toml::from_str("method = \"aihf\"\nlambda = 2.0").unwrap();
    /// assert_eq!(e.label(), "AIHF (λ=2)");
    /// let e: EstimatorSpec = toml::from_str("method = \"aihf\"").unwrap();
    /// assert_eq!(e.label(), "AIHF");
    /// ```
    // Exact comparison intended: a setting equal to the default is the default.
    #[allow(clippy::float_cmp)]
    pub fn label(&self) -> String {
        if let Some(l) = &self.label {
            return l.clone();
        }
        let d = Options::default();
        let mut parts: Vec<String> = vec![];
        if let Some(l) = self.lambda.filter(|&l| l != d.lambda) {
            parts.push(format!("λ={l}"));
        }
        let normalized = self.weighting == Some(Weighting::Normalized);
        if normalized {
            parts.push(format!(
                "normalized, w={}",
                self.demo_weight.unwrap_or(d.demo_weight)
            ));
        } else if let Some(w) = self.demo_weight.filter(|&w| w != d.demo_weight) {
            parts.push(format!("w={w}"));
        }
        if let Some(r) = self.ridge.filter(|&r| r != d.ridge) {
            parts.push(format!("ridge={r}"));
        }
        let name = self.method.name().to_uppercase();
        if parts.is_empty() {
            name
        } else {
            format!("{name} ({})", parts.join(", "))
        }
    }

    fn validate(&self, field: &str) -> Result<()> {
        let chk = |name: &str, v: Option<f64>, positive: bool| -> Result<()> {
            if let Some(x) = v {
                let bad = !x.is_finite() || x < 0.0 || (positive && x == 0.0);
                if bad {
                    return Err(AihfError::spec(
                        format!("{field}.{name}"),
                        format!(
                            "{x} must be finite and {}",
                            if positive { "> 0" } else { ">= 0" }
                        ),
                    ));
                }
            }
            Ok(())
        };
        // The studies run the one-step layer: a method it does not solve (IRL) is refused here,
        // not when the first replication fails.
        if !crate::bandit::METHODS.contains(&self.method) {
            return Err(AihfError::spec(
                format!("{field}.method"),
                self.method.unsupported(crate::bandit::METHODS).to_string(),
            ));
        }
        chk("lambda", self.lambda, false)?;
        chk("demo_weight", self.demo_weight, true)?;
        chk("ridge", self.ridge, false)?;
        chk("ref_smoothing", self.ref_smoothing, true)?;
        if let Some(l) = &self.label {
            if l.trim().is_empty() {
                return Err(AihfError::spec(
                    format!("{field}.label"),
                    "must not be empty",
                ));
            }
        }
        Ok(())
    }
}

fn default_level() -> f64 {
    0.95
}
fn default_beta() -> f64 {
    1.0
}

/// Example 2 / Figure 9 (A.2.3): partial demonstration coverage.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fig9Spec {
    /// The study's name: letters, digits, `_` and `-` only; the results file is `<name>.json`.
    pub name: String,
    /// Master seed of the data draws: replication `k` of a Monte Carlo cell draws from a
    /// generator seeded by `(cell seed, k)`, the cell seed being this one or derived from it
    /// and the cell's label.
    pub seed: u64,
    /// Monte Carlo replications (data sets drawn) per cell, in
    /// `2..=`[`limits::MAX_REPLICATIONS`].
    pub replications: usize,
    /// Confidence level of the reported intervals, in `(0.5, 1)` (default 0.95).
    #[serde(default = "default_level")]
    pub level: f64,
    /// Temperature `β > 0` of the truth `π* ∝ exp(r*/β)` and of every estimator (SPEC §1;
    /// default 1).
    #[serde(default = "default_beta")]
    pub beta: f64,
    /// Number of actions `n` of the truth, in `2..=`[`limits::MAX_ACTIONS`].
    pub n_actions: usize,
    /// Demonstrations cover actions `0..covered` (the paper's 1–45).
    pub covered: usize,
    /// Demonstrations `N` per data set, drawn from `π*` restricted to the covered actions and
    /// renormalised (the paper's 2000).
    pub demos: u64,
    /// BTL comparisons drawn for every pair `i < j`, `P(i ≻ j) = σ(r*_i − r*_j)` (the
    /// paper's 200).
    pub comparisons_per_pair: u64,
    /// The ground-truth reward `r*` over the `n_actions` actions.
    pub truth: Truth,
    /// The estimators run on every data set (1 to 12, with distinct labels).
    pub estimators: Vec<EstimatorSpec>,
}

/// The authors' public 3-action example, then many repetitions and sweeps of `w` and sizes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthorsSpec {
    /// The study's name: letters, digits, `_` and `-` only; the results file is `<name>.json`.
    pub name: String,
    /// Master seed of the data draws: replication `k` of a Monte Carlo cell draws from a
    /// generator seeded by `(cell seed, k)`, the cell seed being this one or derived from it
    /// and the cell's label.
    pub seed: u64,
    /// Repetitions of the extended study (the first `first_repetitions` are the authors' run).
    pub replications: usize,
    /// Confidence level of the reported intervals, in `(0.5, 1)` (default 0.95).
    #[serde(default = "default_level")]
    pub level: f64,
    /// Temperature `β > 0` of the truth `π* ∝ exp(r*/β)` and of every estimator (SPEC §1;
    /// default 1).
    #[serde(default = "default_beta")]
    pub beta: f64,
    /// The authors' number of repetitions (10).
    pub first_repetitions: usize,
    /// The true reward `r*` (2 to [`limits::MAX_ACTIONS`] actions; the authors' `(0, −0.075, −1)`).
    pub reward: Vec<f64>,
    /// Demonstrations `N` per data set, drawn from `π* ∝ exp(r*/β)` (the authors' 30).
    pub demos: u64,
    /// BTL comparisons per pair `i < j`, `P(i ≻ j) = σ(r*_i − r*_j)` (the authors' 10).
    pub comparisons_per_pair: u64,
    /// The estimators run on every data set (1 to 12, with distinct labels).
    pub estimators: Vec<EstimatorSpec>,
    /// Values of `w` for the normalized-AIHF sweep.
    #[serde(default)]
    pub w_sweep: Vec<f64>,
    /// `[demos, comparisons_per_pair]` cells for the size sweep.
    #[serde(default)]
    pub size_sweep: Vec<[u64; 2]>,
}

/// The A.2.3 variance claim: a grid of demonstration / preference sizes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// The study's name: letters, digits, `_` and `-` only; the results file is `<name>.json`.
    pub name: String,
    /// Master seed of the data draws: replication `k` of a Monte Carlo cell draws from a
    /// generator seeded by `(cell seed, k)`, the cell seed being this one or derived from it
    /// and the cell's label.
    pub seed: u64,
    /// Monte Carlo replications (data sets drawn) per cell, in
    /// `2..=`[`limits::MAX_REPLICATIONS`].
    pub replications: usize,
    /// Confidence level of the reported intervals, in `(0.5, 1)` (default 0.95).
    #[serde(default = "default_level")]
    pub level: f64,
    /// Temperature `β > 0` of the truth `π* ∝ exp(r*/β)` and of every estimator (SPEC §1;
    /// default 1).
    #[serde(default = "default_beta")]
    pub beta: f64,
    /// Number of actions `n` of the truth, in `2..=`[`limits::MAX_ACTIONS`].
    pub n_actions: usize,
    /// The ground-truth reward `r*` over the `n_actions` actions.
    pub truth: Truth,
    /// Grid of demonstration counts `N` (1 to [`limits::MAX_GRID`] values); every `N` is
    /// crossed with every `comparisons_per_pair`, skipping the cell with no data.
    pub demos: Vec<u64>,
    /// Grid of BTL comparisons per pair `i < j` (1 to [`limits::MAX_GRID`] values).
    pub comparisons_per_pair: Vec<u64>,
    /// The estimators run on every data set (1 to 12, with distinct labels).
    pub estimators: Vec<EstimatorSpec>,
}

/// One named situation of A.2.3.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Situation {
    /// The situation's label in tables (it also derives the cell's seed).
    pub name: String,
    /// Its true reward `r*` (2 to [`limits::MAX_ACTIONS`] actions).
    pub reward: Vec<f64>,
    /// Demonstrations `N` per data set, drawn from `π* ∝ exp(r*/β)`.
    pub demos: u64,
    /// BTL comparisons per pair `i < j`, `P(i ≻ j) = σ(r*_i − r*_j)`.
    pub comparisons_per_pair: u64,
}

/// The two A.2.3 situations (more demonstrations than preferences, and the reverse).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SituationsSpec {
    /// The study's name: letters, digits, `_` and `-` only; the results file is `<name>.json`.
    pub name: String,
    /// Master seed of the data draws: replication `k` of a Monte Carlo cell draws from a
    /// generator seeded by `(cell seed, k)`, the cell seed being this one or derived from it
    /// and the cell's label.
    pub seed: u64,
    /// Monte Carlo replications (data sets drawn) per cell, in
    /// `2..=`[`limits::MAX_REPLICATIONS`].
    pub replications: usize,
    /// Confidence level of the reported intervals, in `(0.5, 1)` (default 0.95).
    #[serde(default = "default_level")]
    pub level: f64,
    /// Temperature `β > 0` of the truth `π* ∝ exp(r*/β)` and of every estimator (SPEC §1;
    /// default 1).
    #[serde(default = "default_beta")]
    pub beta: f64,
    /// The situations, one Monte Carlo cell each (1 to [`limits::MAX_GRID`]).
    pub situations: Vec<Situation>,
    /// The estimators run on every data set (1 to 12, with distinct labels).
    pub estimators: Vec<EstimatorSpec>,
}

/// Consistency: TV to the truth against data size.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsistencySpec {
    /// The study's name: letters, digits, `_` and `-` only; the results file is `<name>.json`.
    pub name: String,
    /// Master seed of the data draws: replication `k` of a Monte Carlo cell draws from a
    /// generator seeded by `(cell seed, k)`, the cell seed being this one or derived from it
    /// and the cell's label.
    pub seed: u64,
    /// Monte Carlo replications (data sets drawn) per cell, in
    /// `2..=`[`limits::MAX_REPLICATIONS`].
    pub replications: usize,
    /// Confidence level of the reported intervals, in `(0.5, 1)` (default 0.95).
    #[serde(default = "default_level")]
    pub level: f64,
    /// Temperature `β > 0` of the truth `π* ∝ exp(r*/β)` and of every estimator (SPEC §1;
    /// default 1).
    #[serde(default = "default_beta")]
    pub beta: f64,
    /// Number of actions `n` of the truth, in `2..=`[`limits::MAX_ACTIONS`].
    pub n_actions: usize,
    /// The ground-truth reward `r*` over the `n_actions` actions.
    pub truth: Truth,
    /// Demonstrations at scale 1.
    pub base_demos: u64,
    /// Comparisons per pair at scale 1.
    pub base_comparisons_per_pair: u64,
    /// Multipliers of both sizes (increasing, at least 3).
    pub scales: Vec<u64>,
    /// The estimators run on every data set (1 to 12, with distinct labels).
    pub estimators: Vec<EstimatorSpec>,
}

/// A study spec file as parsed: `study = "fig9" | "authors" | "sweep" | "situations" |
/// "consistency"`, unknown fields refused by serde, nothing else checked. No study runs one:
/// `Spec::try_from` checks every size and range once and gives the [`Spec`] the runners take.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "study", rename_all = "snake_case")]
pub enum SpecFile {
    /// `study = "fig9"`: Example 2 / Figure 9, partial demonstration coverage (A.2.3).
    Fig9(Fig9Spec),
    /// `study = "authors"`: the authors' public 3-action example and its extensions.
    Authors(AuthorsSpec),
    /// `study = "sweep"`: the A.2.3 variance claim over a grid of data sizes.
    Sweep(SweepSpec),
    /// `study = "situations"`: A.2.3's two 3-action situations (own instances).
    Situations(SituationsSpec),
    /// `study = "consistency"`: TV to the truth as both data sizes grow (SPEC §1.3's
    /// RLHF-inconsistency point).
    Consistency(ConsistencySpec),
}

/// A checked study spec: what the study runners, the shards and the claims take, so an
/// unchecked spec cannot reach them. Made from a [`SpecFile`] by `TryFrom` (or read and checked
/// by [`Spec::from_file`]); it serialises exactly as that file (the results' `spec`), and
/// deserialising one checks it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "study", rename_all = "snake_case", try_from = "SpecFile")]
pub enum Spec {
    /// `study = "fig9"`: Example 2 / Figure 9, partial demonstration coverage (A.2.3).
    Fig9(Valid<Fig9Spec>),
    /// `study = "authors"`: the authors' public 3-action example and its extensions.
    Authors(Valid<AuthorsSpec>),
    /// `study = "sweep"`: the A.2.3 variance claim over a grid of data sizes.
    Sweep(Valid<SweepSpec>),
    /// `study = "situations"`: A.2.3's two 3-action situations (own instances).
    Situations(Valid<SituationsSpec>),
    /// `study = "consistency"`: TV to the truth as both data sizes grow (SPEC §1.3's
    /// RLHF-inconsistency point).
    Consistency(Valid<ConsistencySpec>),
}

/// `$body` with `$s` bound to the study's own spec, whichever variant of `Self` `$spec` is
/// (the five studies share `name`, `seed` and `replications`).
macro_rules! each_study {
    ($spec:expr, $s:ident => $body:expr) => {
        match $spec {
            Self::Fig9($s) => $body,
            Self::Authors($s) => $body,
            Self::Sweep($s) => $body,
            Self::Situations($s) => $body,
            Self::Consistency($s) => $body,
        }
    };
}

impl SpecFile {
    /// Parses TOML (no check: that is `Spec::try_from`).
    pub fn from_toml_str(text: &str) -> Result<SpecFile> {
        toml::from_str(text).map_err(|e| AihfError::Spec {
            field: None,
            reason: e.to_string().trim().to_string(),
        })
    }

    /// Parses JSON (no check: that is `Spec::try_from`).
    pub fn from_json_str(text: &str) -> Result<SpecFile> {
        serde_json::from_str(text).map_err(|e| AihfError::Spec {
            field: None,
            reason: e.to_string(),
        })
    }

    /// Overrides the replication count (`--replications`).
    pub fn set_replications(&mut self, r: usize) {
        each_study!(self, s => s.replications = r)
    }

    /// Overrides the seed (`--seed`).
    pub fn set_seed(&mut self, seed: u64) {
        each_study!(self, s => s.seed = seed)
    }
}

impl TryFrom<SpecFile> for Spec {
    type Error = AihfError;

    /// Checks every size and range of the study; errors name the field.
    fn try_from(file: SpecFile) -> Result<Spec> {
        Ok(match file {
            SpecFile::Fig9(s) => Spec::Fig9(s.checked()?),
            SpecFile::Authors(s) => Spec::Authors(s.checked()?),
            SpecFile::Sweep(s) => Spec::Sweep(s.checked()?),
            SpecFile::Situations(s) => Spec::Situations(s.checked()?),
            SpecFile::Consistency(s) => Spec::Consistency(s.checked()?),
        })
    }
}

impl From<Spec> for SpecFile {
    fn from(spec: Spec) -> SpecFile {
        match spec {
            Spec::Fig9(s) => SpecFile::Fig9(s.into_inner()),
            Spec::Authors(s) => SpecFile::Authors(s.into_inner()),
            Spec::Sweep(s) => SpecFile::Sweep(s.into_inner()),
            Spec::Situations(s) => SpecFile::Situations(s.into_inner()),
            Spec::Consistency(s) => SpecFile::Consistency(s.into_inner()),
        }
    }
}

impl Spec {
    /// Reads a `.toml` or `.json` file (by extension; standard input when `path` is `-`, JSON
    /// when it starts with `{`) and checks it.
    pub fn from_file(path: &Path) -> Result<Spec> {
        let text = crate::io::read_input(path)?;
        // Standard input (`-`) has no extension: a JSON object starts with `{`, which no TOML
        // document does.
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            || (crate::io::is_stdio(path) && text.trim_start().starts_with('{'));
        if is_json {
            Spec::from_json_str(&text)
        } else {
            Spec::from_toml_str(&text)
        }
    }

    /// Parses TOML ([`SpecFile::from_toml_str`]) and checks it.
    pub fn from_toml_str(text: &str) -> Result<Spec> {
        Spec::try_from(SpecFile::from_toml_str(text)?)
    }

    /// Parses JSON ([`SpecFile::from_json_str`]) and checks it.
    pub fn from_json_str(text: &str) -> Result<Spec> {
        Spec::try_from(SpecFile::from_json_str(text)?)
    }

    /// The spec with the command line's `--replications` and `--seed` applied, checked again
    /// when either is given.
    pub fn with_overrides(self, replications: Option<usize>, seed: Option<u64>) -> Result<Spec> {
        if replications.is_none() && seed.is_none() {
            return Ok(self);
        }
        let mut file = SpecFile::from(self);
        if let Some(r) = replications {
            file.set_replications(r);
        }
        if let Some(s) = seed {
            file.set_seed(s);
        }
        Spec::try_from(file)
    }

    /// The study kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Spec::Fig9(_) => "fig9",
            Spec::Authors(_) => "authors",
            Spec::Sweep(_) => "sweep",
            Spec::Situations(_) => "situations",
            Spec::Consistency(_) => "consistency",
        }
    }

    /// The study's name (the results file is `<name>.json`).
    pub fn name(&self) -> &str {
        each_study!(self, s => &s.name)
    }

    /// Master seed.
    pub fn seed(&self) -> u64 {
        each_study!(self, s => s.seed)
    }
}

impl Check for Fig9Spec {
    /// Checks every size and range; errors name the field.
    fn check(&self) -> Result<()> {
        let s = self;
        common(&s.name, s.replications, s.level, s.beta)?;
        actions(s.n_actions)?;
        if s.covered == 0 || s.covered > s.n_actions {
            return Err(AihfError::spec(
                "covered",
                format!("{} must be in 1..={} (n_actions)", s.covered, s.n_actions),
            ));
        }
        count("demos", s.demos)?;
        count("comparisons_per_pair", s.comparisons_per_pair)?;
        no_data(s.demos, s.comparisons_per_pair, "demos")?;
        s.truth.validate(s.n_actions, "truth")?;
        estimators(&s.estimators)
    }
}

impl Check for AuthorsSpec {
    /// Checks every size and range; errors name the field.
    fn check(&self) -> Result<()> {
        let s = self;
        common(&s.name, s.replications, s.level, s.beta)?;
        if s.first_repetitions == 0 || s.first_repetitions > s.replications {
            return Err(AihfError::spec(
                "first_repetitions",
                format!(
                    "{} must be in 1..={} (replications)",
                    s.first_repetitions, s.replications
                ),
            ));
        }
        reward_len(&s.reward, "reward")?;
        check_rewards(&s.reward, "reward")?;
        count("demos", s.demos)?;
        count("comparisons_per_pair", s.comparisons_per_pair)?;
        no_data(s.demos, s.comparisons_per_pair, "demos")?;
        grid_len("w_sweep", s.w_sweep.len(), true)?;
        for (k, w) in s.w_sweep.iter().enumerate() {
            if !(w.is_finite() && *w > 0.0) {
                return Err(AihfError::spec(
                    format!("w_sweep[{k}]"),
                    format!("{w} must be finite and > 0"),
                ));
            }
        }
        grid_len("size_sweep", s.size_sweep.len(), true)?;
        for (k, [d, c]) in s.size_sweep.iter().enumerate() {
            count(&format!("size_sweep[{k}][0]"), *d)?;
            count(&format!("size_sweep[{k}][1]"), *c)?;
            no_data(*d, *c, &format!("size_sweep[{k}]"))?;
        }
        estimators(&s.estimators)
    }
}

impl Check for SweepSpec {
    /// Checks every size and range; errors name the field.
    fn check(&self) -> Result<()> {
        let s = self;
        common(&s.name, s.replications, s.level, s.beta)?;
        actions(s.n_actions)?;
        s.truth.validate(s.n_actions, "truth")?;
        grid_len("demos", s.demos.len(), false)?;
        grid_len("comparisons_per_pair", s.comparisons_per_pair.len(), false)?;
        for (k, &d) in s.demos.iter().enumerate() {
            count(&format!("demos[{k}]"), d)?;
        }
        for (k, &c) in s.comparisons_per_pair.iter().enumerate() {
            count(&format!("comparisons_per_pair[{k}]"), c)?;
        }
        estimators(&s.estimators)
    }
}

impl Check for SituationsSpec {
    /// Checks every size and range; errors name the field.
    fn check(&self) -> Result<()> {
        let s = self;
        common(&s.name, s.replications, s.level, s.beta)?;
        grid_len("situations", s.situations.len(), false)?;
        for (k, x) in s.situations.iter().enumerate() {
            let f = format!("situations[{k}]");
            reward_len(&x.reward, &format!("{f}.reward"))?;
            check_rewards(&x.reward, &format!("{f}.reward"))?;
            count(&format!("{f}.demos"), x.demos)?;
            count(&format!("{f}.comparisons_per_pair"), x.comparisons_per_pair)?;
            no_data(x.demos, x.comparisons_per_pair, &f)?;
        }
        estimators(&s.estimators)
    }
}

impl Check for ConsistencySpec {
    /// Checks every size and range; errors name the field.
    fn check(&self) -> Result<()> {
        let s = self;
        common(&s.name, s.replications, s.level, s.beta)?;
        actions(s.n_actions)?;
        s.truth.validate(s.n_actions, "truth")?;
        if s.base_demos == 0 || s.base_comparisons_per_pair == 0 {
            return Err(AihfError::spec(
                if s.base_demos == 0 {
                    "base_demos"
                } else {
                    "base_comparisons_per_pair"
                },
                "must be >= 1 (every estimator needs both sources to grow)",
            ));
        }
        scales(&s.scales)?;
        let top = *s.scales.last().unwrap_or(&1);
        count("base_demos × scales", s.base_demos.saturating_mul(top))?;
        count(
            "base_comparisons_per_pair × scales",
            s.base_comparisons_per_pair.saturating_mul(top),
        )?;
        estimators(&s.estimators)
    }
}

/// A reward vector of `2..=`[`limits::MAX_ACTIONS`] actions.
fn reward_len(reward: &[f64], field: &str) -> Result<()> {
    if reward.len() < 2 || reward.len() > limits::MAX_ACTIONS {
        return Err(AihfError::spec(
            field,
            format!(
                "needs 2..={} actions, has {}",
                limits::MAX_ACTIONS,
                reward.len()
            ),
        ));
    }
    Ok(())
}

/// The consistency study's multipliers: `3..=`[`limits::MAX_GRID`] values, increasing, from 1.
fn scales(scales: &[u64]) -> Result<()> {
    if scales.len() < 3 || scales.len() > limits::MAX_GRID {
        return Err(AihfError::spec(
            "scales",
            format!(
                "needs 3..={} values to fit a slope, has {}",
                limits::MAX_GRID,
                scales.len()
            ),
        ));
    }
    for (k, w) in scales.windows(2).enumerate() {
        if w[1] <= w[0] {
            return Err(AihfError::spec(
                format!("scales[{}]", k + 1),
                format!("{} must be greater than the previous {}", w[1], w[0]),
            ));
        }
    }
    if scales[0] == 0 {
        return Err(AihfError::spec("scales[0]", "must be >= 1"));
    }
    Ok(())
}

fn common(name: &str, replications: usize, level: f64, beta: f64) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(AihfError::spec(
            "name",
            format!("{name:?} must be non-empty and use only letters, digits, '_' and '-' (it names the results file)"),
        ));
    }
    if !(2..=limits::MAX_REPLICATIONS).contains(&replications) {
        return Err(AihfError::spec(
            "replications",
            format!(
                "{replications} must be in 2..={} (variances need two replications)",
                limits::MAX_REPLICATIONS
            ),
        ));
    }
    if !(level > 0.5 && level < 1.0) {
        return Err(AihfError::spec(
            "level",
            format!("{level} must be in (0.5, 1)"),
        ));
    }
    if !(beta.is_finite() && beta > 0.0) {
        return Err(AihfError::spec(
            "beta",
            format!("{beta} must be finite and > 0"),
        ));
    }
    Ok(())
}

fn actions(n: usize) -> Result<()> {
    if !(2..=limits::MAX_ACTIONS).contains(&n) {
        return Err(AihfError::spec(
            "n_actions",
            format!("{n} must be in 2..={}", limits::MAX_ACTIONS),
        ));
    }
    Ok(())
}

fn count(field: &str, c: u64) -> Result<()> {
    if c > limits::MAX_COUNT {
        return Err(AihfError::spec(
            field,
            format!("{c} exceeds the limit {}", limits::MAX_COUNT),
        ));
    }
    Ok(())
}

fn no_data(d: u64, c: u64, field: &str) -> Result<()> {
    if d == 0 && c == 0 {
        return Err(AihfError::spec(
            field,
            "no demonstrations and no comparisons: there is no data to estimate from",
        ));
    }
    Ok(())
}

fn grid_len(field: &str, len: usize, may_be_empty: bool) -> Result<()> {
    if (!may_be_empty && len == 0) || len > limits::MAX_GRID {
        return Err(AihfError::spec(
            field,
            format!(
                "has {len} entries; allowed {}..={}",
                if may_be_empty { 0 } else { 1 },
                limits::MAX_GRID
            ),
        ));
    }
    Ok(())
}

fn estimators(e: &[EstimatorSpec]) -> Result<()> {
    if e.is_empty() || e.len() > 12 {
        return Err(AihfError::spec(
            "estimators",
            format!("has {} entries; allowed 1..=12", e.len()),
        ));
    }
    let mut seen: Vec<String> = vec![];
    for (k, x) in e.iter().enumerate() {
        x.validate(&format!("estimators[{k}]"))?;
        let l = x.label();
        if seen.contains(&l) {
            return Err(AihfError::spec(
                format!("estimators[{k}].label"),
                format!("{l:?} is used twice; give each estimator a distinct label"),
            ));
        }
        seen.push(l);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
study = "fig9"
name = "t"
seed = 1
replications = 10
n_actions = 5
covered = 4
demos = 100
comparisons_per_pair = 3
truth = { kind = "gaussian", seed = 7 }
estimators = [{ method = "sft" }, { method = "aihf", lambda = 0.5 }]
"#;

    fn with(line_from: &str, line_to: &str) -> String {
        assert!(GOOD.contains(line_from), "{line_from}");
        GOOD.replace(line_from, line_to)
    }

    #[test]
    fn the_shipped_spec_files_parse_and_validate() {
        for f in [
            "fig9_gaussian",
            "fig9_linear",
            "authors_3action",
            "variance_sweep",
            "a23_situations",
            "consistency",
        ] {
            let p =
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("sims/{f}.toml"));
            let s = Spec::from_file(&p).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(s.name(), f);
        }
        Spec::from_toml_str(GOOD).unwrap();
    }

    /// (input, the field the error must name).
    #[test]
    fn bad_specs_name_the_field() {
        let table: Vec<(String, &str)> = vec![
            (with("seed = 1", "seed = 1\nsede = 2"), "sede"),
            (
                with("{ method = \"sft\" }", "{ method = \"sft\", lamda = 1 }"),
                "lamda",
            ),
            (
                with(
                    "kind = \"gaussian\", seed = 7",
                    "kind = \"gaussian\", seed = 7, sigma = 2",
                ),
                "sigma",
            ),
            (with("method = \"sft\"", "method = \"sftt\""), "sftt"),
            // A method of the sequence-level layer only.
            (
                with("method = \"sft\"", "method = \"irl\""),
                "estimators[0].method",
            ),
            (with("covered = 4", "covered = 6"), "covered"),
            (with("covered = 4", "covered = 0"), "covered"),
            (
                with("replications = 10", "replications = 1"),
                "replications",
            ),
            (
                with("replications = 10", "replications = 100000000"),
                "replications",
            ),
            (with("n_actions = 5", "n_actions = 1"), "n_actions"),
            (with("n_actions = 5", "n_actions = 100000"), "n_actions"),
            (
                with("demos = 100", "demos = 0\ncomparisons_per_pair = 0")
                    .replace("comparisons_per_pair = 3\n", ""),
                "demos",
            ),
            (with("demos = 100", "demos = 10000000000"), "demos"),
            (with("lambda = 0.5", "lambda = -1"), "estimators[1].lambda"),
            (
                with("lambda = 0.5", "demo_weight = 0"),
                "estimators[1].demo_weight",
            ),
            (with("seed = 1", "seed = 1\nlevel = 1.5"), "level"),
            (with("seed = 1", "seed = 1\nbeta = -1"), "beta"),
            (with("name = \"t\"", "name = \"../x\""), "name"),
            (
                with(
                    "kind = \"gaussian\", seed = 7",
                    "kind = \"explicit\", values = [1, 2]",
                ),
                "truth.values",
            ),
            (
                with(
                    "kind = \"gaussian\", seed = 7",
                    "kind = \"explicit\", values = [1, 2, 3, 4, 1e9]",
                ),
                "truth.values[4]",
            ),
            (
                with(
                    "kind = \"gaussian\", seed = 7",
                    "kind = \"linear\", slope = 100",
                ),
                "truth.slope",
            ),
            (
                // Same method and settings: both are `AIHF (λ=0.5)`.
                with(
                    "{ method = \"sft\" }, ",
                    "{ method = \"aihf\", lambda = 0.5 }, ",
                ),
                "estimators[1].label",
            ),
        ];
        for (text, field) in table {
            let e = Spec::from_toml_str(&text).map(|_| ());
            let msg = match e {
                Ok(()) => panic!("accepted a bad spec (expected an error naming {field}):\n{text}"),
                Err(e) => e.to_string(),
            };
            assert!(msg.contains(field), "error {msg:?} does not name {field:?}");
        }
    }

    /// Two estimators of one method with different settings get distinct default labels that
    /// name the settings (issue 14: λ = 2 is not just "AIHF"); defaults add nothing.
    #[test]
    fn default_labels_name_non_default_settings() {
        let cases = [
            ("method = \"aihf\"", "AIHF"),
            ("method = \"aihf\"\nlambda = 1.0", "AIHF"),
            ("method = \"aihf\"\nlambda = 2.0", "AIHF (λ=2)"),
            (
                "method = \"aihf\"\nweighting = \"normalized\"",
                "AIHF (normalized, w=1)",
            ),
            (
                "method = \"aihf\"\nlambda = 0.5\nweighting = \"normalized\"\ndemo_weight = 0.25",
                "AIHF (λ=0.5, normalized, w=0.25)",
            ),
            ("method = \"btl\"\nridge = 0.1", "BTL (ridge=0.1)"),
            ("method = \"dpo\"", "DPO"),
            ("method = \"aihf\"\nlambda = 2.0\nlabel = \"mine\"", "mine"),
        ];
        for (text, label) in cases {
            let e: EstimatorSpec = toml::from_str(text).unwrap();
            assert_eq!(e.label(), label, "{text}");
        }
        let spec = with(
            "{ method = \"sft\" }, ",
            "{ method = \"aihf\", lambda = 2.0 }, ",
        );
        Spec::from_toml_str(&spec).unwrap();
    }

    /// The checked [`Spec`] is the only way in: a file, a JSON results' `spec`, and an override
    /// all go through one check with today's message (golden: `aihf sim` of the main branch
    /// before the `SpecFile`/`Spec` split, on `replications = 1`).
    #[test]
    fn every_way_in_checks_with_the_same_message() {
        let want = "invalid spec field `replications`: 1 must be in 2..=1000000 (variances need \
                    two replications)";
        let bad = with("replications = 10", "replications = 1");
        assert_eq!(Spec::from_toml_str(&bad).unwrap_err().to_string(), want);
        let raw = SpecFile::from_toml_str(&bad).expect("it parses: only the check refuses it");
        assert_eq!(Spec::try_from(raw.clone()).unwrap_err().to_string(), want);
        // A `Spec` deserialised from JSON (a results file's `spec`) is checked too.
        let json = serde_json::to_string(&raw).unwrap();
        let e = serde_json::from_str::<Spec>(&json).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e}");
        // An override is checked again, and applied when valid.
        let good = Spec::from_toml_str(GOOD).unwrap();
        let e = good.clone().with_overrides(Some(1), None).unwrap_err();
        assert_eq!(e.to_string(), want);
        let o = good.clone().with_overrides(Some(20), Some(5)).unwrap();
        let Spec::Fig9(f) = &o else {
            panic!("a fig9 spec became {}", o.kind())
        };
        assert_eq!((f.replications, o.seed()), (20, 5));
        assert_eq!(good.clone().with_overrides(None, None).unwrap(), good);
    }

    /// A checked spec serialises byte for byte as the file it came from (the results JSON embeds
    /// it, and shard manifests hash it), and reads back equal through JSON and TOML.
    #[test]
    fn checked_specs_round_trip_as_their_files() {
        for text in [
            GOOD,
            crate::sim::claims::files::FIG9_GAUSSIAN,
            crate::sim::claims::files::FIG9_LINEAR,
            crate::sim::claims::files::AUTHORS,
            crate::sim::claims::files::SWEEP,
            crate::sim::claims::files::SITUATIONS,
            crate::sim::claims::files::CONSISTENCY,
        ] {
            let file = SpecFile::from_toml_str(text).unwrap();
            let spec = Spec::try_from(file.clone()).unwrap();
            let json = serde_json::to_string_pretty(&spec).unwrap();
            assert_eq!(json, serde_json::to_string_pretty(&file).unwrap());
            assert_eq!(serde_json::from_str::<Spec>(&json).unwrap(), spec);
            assert_eq!(Spec::from_json_str(&json).unwrap(), spec);
            let toml_text = toml::to_string(&spec).unwrap();
            assert_eq!(toml_text, toml::to_string(&file).unwrap());
            assert_eq!(Spec::from_toml_str(&toml_text).unwrap(), spec);
            assert_eq!(SpecFile::from(spec), file);
        }
    }

    #[test]
    fn json_specs_are_accepted_too() {
        let v: toml::Value = toml::from_str(GOOD).unwrap();
        let j = serde_json::to_string(&v).unwrap();
        let s = Spec::from_json_str(&j).unwrap();
        assert_eq!(s, Spec::from_toml_str(GOOD).unwrap());
        let bad = j.replacen("\"seed\":1", "\"seed\":1,\"extra\":true", 1);
        assert!(Spec::from_json_str(&bad)
            .unwrap_err()
            .to_string()
            .contains("extra"));
    }
}
