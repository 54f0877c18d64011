//! The claim types behind `aihf verify`: each claim of the paper (or identity the toolkit relies
//! on) with its paper reference, the measured number, the threshold and a verdict. Each layer
//! contributes its claims through a `claims()` function built on these types;
//! [`crate::registry`] (above the layers) collects them, and [`run_claim`] runs one.

use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The verdict of a claim.
///
/// - `Pass` / `Fail`: the measurement decides the claim (for a statistical claim: its whole
///   confidence interval lies on one side of the bound).
/// - `Inconclusive`: a statistical claim whose interval contains the bound — the data cannot
///   decide; the outcome's [`Decision`] estimates the sample size that would.
/// - `Error`: the check could not run, or its aggregation saw a NaN, an empty set or a missing
///   key. A claim never passes on nothing.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// The measurement decides the claim true.
    Pass,
    /// The measurement decides the claim false.
    Fail,
    /// A statistical claim whose interval contains the bound: the data cannot decide.
    Inconclusive,
    /// The check could not run or saw NaN, an empty set or a missing key.
    Error,
}

impl Verdict {
    /// The upper-case name used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCONCLUSIVE",
            Verdict::Error => "ERROR",
        }
    }

    /// `Pass` when `pass`, else `Fail`.
    pub fn from_pass(pass: bool) -> Self {
        if pass {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }

    /// Every verdict, in report order.
    pub const ALL: [Verdict; 4] = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Inconclusive,
        Verdict::Error,
    ];
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// So that `assert_eq!(report.verdict, "PASS")` reads naturally in tests.
impl PartialEq<&str> for Verdict {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// How the measured number is compared with the threshold.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// PASS when `measured ≤ threshold` (errors, distances, slopes).
    AtMost,
    /// PASS when `measured ≥ threshold` (accuracies, gaps).
    AtLeast,
    /// PASS when `measured > threshold` strictly (a quantity that must be positive, where the
    /// failure it guards against is exactly the threshold — e.g. zero restored mass).
    Above,
}

impl Relation {
    /// The symbol used in tables.
    pub fn symbol(self) -> &'static str {
        match self {
            Relation::AtMost => "<=",
            Relation::AtLeast => ">=",
            Relation::Above => ">",
        }
    }

    /// Whether `x` satisfies the relation with `bound` (false for NaN).
    pub fn holds(self, x: f64, bound: f64) -> bool {
        match self {
            Relation::AtMost => x <= bound,
            Relation::AtLeast => x >= bound,
            Relation::Above => x > bound,
        }
    }
}

/// A statistical decision: an estimate with a two-sided confidence interval judged against a
/// bound by [`interval_decision`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Decision {
    /// `Pass`, `Fail`, `Inconclusive` (or `Error` when the interval is not finite).
    pub verdict: Verdict,
    /// The estimate and its interval.
    pub estimate: f64,
    /// Lower end of the two-sided confidence interval of the estimate.
    pub lo: f64,
    /// Upper end of the two-sided confidence interval of the estimate.
    pub hi: f64,
    /// The bound the claim is judged against, and the comparison.
    pub bound: f64,
    /// How the estimate must compare with `bound` for the claim to hold.
    pub relation: Relation,
    /// Independent units behind the interval (runs, data sets, replications).
    pub n: usize,
    /// What one unit is (`"(K, seed) runs"`, `"data sets per cell"`).
    pub unit: String,
    /// For `Inconclusive`: the number of units that would make an interval of the same
    /// estimate exclude the bound, assuming its half-width shrinks as `1/√n`
    /// (`n · (half-width / |estimate − bound|)²`, rounded up); `None` when it sits on the bound.
    pub units_to_decide: Option<f64>,
}

/// Judges `θ R bound` (`R` = `relation`) from an estimate of `θ` and its two-sided confidence
/// interval `[lo, hi]` over `n` independent units:
/// PASS when the whole interval satisfies the relation, FAIL when the whole interval violates
/// it, INCONCLUSIVE when the interval contains the bound (then the sample size that would
/// decide is estimated), ERROR when any number is NaN or `n = 0`.
pub fn interval_decision(
    estimate: f64,
    lo: f64,
    hi: f64,
    n: usize,
    relation: Relation,
    bound: f64,
    unit: &str,
) -> Decision {
    let finite = [estimate, lo, hi, bound].iter().all(|x| x.is_finite()) && lo <= hi && n > 0;
    let verdict = if !finite {
        Verdict::Error
    } else {
        let (all_hold, none_hold) = match relation {
            Relation::AtMost => (hi <= bound, lo > bound),
            Relation::AtLeast => (lo >= bound, hi < bound),
            Relation::Above => (lo > bound, hi <= bound),
        };
        if all_hold {
            Verdict::Pass
        } else if none_hold {
            Verdict::Fail
        } else {
            Verdict::Inconclusive
        }
    };
    let units_to_decide = (verdict == Verdict::Inconclusive)
        .then(|| {
            let gap = (estimate - bound).abs();
            let half = 0.5 * (hi - lo);
            (gap > 0.0).then(|| (n as f64 * (half / gap).powi(2)).ceil())
        })
        .flatten();
    Decision {
        verdict,
        estimate,
        lo,
        hi,
        bound,
        relation,
        n,
        unit: unit.into(),
        units_to_decide,
    }
}

/// The decisive one of several decisions that must all pass (a claim over many cells or
/// comparisons): any ERROR, else any FAIL, else the INCONCLUSIVE one needing the most data,
/// else the PASS closest to its bound. `None` for an empty set (the caller reports ERROR).
pub fn worst_decision(ds: impl IntoIterator<Item = Decision>) -> Option<Decision> {
    let rank = |d: &Decision| match d.verdict {
        Verdict::Error => 3,
        Verdict::Fail => 2,
        Verdict::Inconclusive => 1,
        Verdict::Pass => 0,
    };
    // Within a class: the decision nearest to flipping (PASS), or needing the most units.
    let key = |d: &Decision| match d.verdict {
        Verdict::Inconclusive => d.units_to_decide.unwrap_or(f64::INFINITY),
        _ => -(d.estimate - d.bound).abs(),
    };
    ds.into_iter()
        .fold(None, |best: Option<Decision>, d| match best {
            None => Some(d),
            Some(b) => {
                let better = rank(&d) > rank(&b) || (rank(&d) == rank(&b) && key(&d) > key(&b));
                Some(if better { d } else { b })
            }
        })
}

/// What running a claim measured.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// The measured number.
    pub measured: f64,
    /// The threshold it is compared with.
    pub threshold: f64,
    /// The comparison.
    pub relation: Relation,
    /// Free-form numbers behind the measurement (per-instance values, CIs, fitted slopes).
    pub details: serde_json::Value,
    /// Figures written for this claim (paths relative to the report folder).
    pub figures: Vec<PathBuf>,
    /// A sentence on what was measured and how (seed, sizes).
    pub note: String,
    /// How many instances (data sets, MDPs, runs, cells) the aggregation actually used; `Some(0)`
    /// is an ERROR (a claim never passes on an empty set). `None`: not counted by this claim.
    pub instances: Option<usize>,
    /// A statistical decision (interval rule), which then gives the verdict instead of the
    /// plain threshold comparison.
    pub decision: Option<Decision>,
}

impl Outcome {
    /// An outcome with no details or figures.
    pub fn new(measured: f64, relation: Relation, threshold: f64, note: impl Into<String>) -> Self {
        Outcome {
            measured,
            threshold,
            relation,
            details: serde_json::Value::Null,
            figures: vec![],
            note: note.into(),
            instances: None,
            decision: None,
        }
    }

    /// An outcome judged by an interval rule: `measured` is the estimate, `threshold` the bound.
    pub fn from_decision(d: Decision, note: impl Into<String>) -> Self {
        let mut o = Outcome::new(d.estimate, d.relation, d.bound, note);
        o.instances = Some(d.n);
        o.decision = Some(d);
        o
    }

    /// Attaches details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// Attaches a figure.
    pub fn with_figure(mut self, path: impl Into<PathBuf>) -> Self {
        self.figures.push(path.into());
        self
    }

    /// Records how many instances the aggregation used.
    pub fn with_instances(mut self, n: usize) -> Self {
        self.instances = Some(n);
        self
    }

    /// The verdict, and why when it is ERROR: a NaN measurement or threshold, no instance used,
    /// or a decision whose interval is not finite are all ERROR, never PASS.
    pub fn verdict(&self) -> (Verdict, Option<String>) {
        if self.measured.is_nan() || self.threshold.is_nan() {
            return (
                Verdict::Error,
                Some(format!(
                    "the aggregation produced NaN (measured {}, threshold {}): a NaN, an empty set \
                     or a missing key reached the verdict",
                    self.measured, self.threshold
                )),
            );
        }
        if self.instances == Some(0) {
            return (
                Verdict::Error,
                Some("no instance was used (empty set): nothing to judge".into()),
            );
        }
        match &self.decision {
            Some(d) if d.verdict == Verdict::Error => (
                Verdict::Error,
                Some(format!(
                    "the interval [{}, {}] of the estimate {} over {} {} is not usable",
                    d.lo, d.hi, d.estimate, d.n, d.unit
                )),
            ),
            Some(d) => (d.verdict, None),
            None => (
                Verdict::from_pass(self.relation.holds(self.measured, self.threshold)),
                None,
            ),
        }
    }

    /// Whether the verdict is PASS.
    pub fn pass(&self) -> bool {
        self.verdict().0 == Verdict::Pass
    }
}

/// What a claim's runner receives.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Published sizes (`--full`) rather than the quick defaults.
    pub full: bool,
    /// Master seed; each claim derives its own stream from it.
    pub seed: u64,
    /// Report folder, where claims may write figures (None: no figures).
    pub out_dir: Option<PathBuf>,
    /// Show progress bars.
    pub progress: bool,
}

/// One registered claim.
#[derive(Clone)]
pub struct Claim {
    /// Stable identifier (`static.sft_stationarity`).
    pub id: &'static str,
    /// Where the paper states it (`§3.4, (22)–(27)`), or `toolkit` for an identity the
    /// toolkit relies on.
    pub paper_ref: &'static str,
    /// The claim in words and formula.
    pub statement: &'static str,
    /// Runs the check.
    pub run: fn(&Ctx) -> Result<Outcome>,
}

/// The result of one claim in a report.
#[derive(Clone, Debug, Serialize)]
pub struct ClaimReport {
    /// The claim's stable identifier ([`Claim::id`]).
    pub id: String,
    /// Where the paper states the claim ([`Claim::paper_ref`]).
    pub paper_ref: String,
    /// The claim in words and formula ([`Claim::statement`]).
    pub statement: String,
    /// PASS, FAIL, INCONCLUSIVE or ERROR (the check could not run, or saw NaN or nothing).
    pub verdict: Verdict,
    /// What the measured number is ([`measured_kind`]).
    pub measured_kind: String,
    /// The runner's measurement; `None` when the runner returned an error.
    pub outcome: Option<Outcome>,
    /// The runner's error, or why its outcome was judged `ERROR`; `None` otherwise.
    pub error: Option<String>,
    /// Wall-clock seconds the claim's runner took.
    pub seconds: f64,
}

/// Runs one claim, turning an error — or an outcome built on NaN or on nothing — into an
/// `ERROR` verdict.
pub fn run_claim(claim: &Claim, ctx: &Ctx) -> ClaimReport {
    let t = std::time::Instant::now();
    let res = (claim.run)(ctx);
    let seconds = t.elapsed().as_secs_f64();
    let (verdict, outcome, error) = match res {
        Ok(o) => {
            let (v, why) = o.verdict();
            (v, Some(o), why)
        }
        Err(e) => (Verdict::Error, None, Some(e.to_string())),
    };
    ClaimReport {
        id: claim.id.into(),
        paper_ref: claim.paper_ref.into(),
        statement: claim.statement.into(),
        verdict,
        measured_kind: measured_kind(claim.id).into(),
        outcome,
        error,
        seconds,
    }
}

/// What a claim's measured number is (a slope, a ratio, a distance, a count…), by claim id: the
/// `measured` column of `aihf verify`'s table, `report.md` and `report.csv` says this next to
/// the number. One place, so the report never shows a bare number; a claim missing here is
/// caught by the unit test `every_registered_claim_says_what_it_measures`.
pub fn measured_kind(id: &str) -> &'static str {
    match id {
        "static.sft_stationarity"
        | "static.btl_stationarity"
        | "static.aihf_stationarity"
        | "static.normalized_stationarity"
        | "static.lambda0_decoupling" => "relative residual, max over data sets",
        "static.aihf_fixed_point_15" => "relative fixed-point residual, max over data sets",
        "static.limit_m0"
        | "static.limit_n0"
        | "static.dpo_sft_ref_equals_rlhf"
        | "static.spin_fixed_point"
        | "static.self_play_aihf_fixed_point" => "TV distance, max over data sets",
        "static.direct_aihf_equals_aihf" => "TV distance or relative residual, max over data sets",
        "static.spin_contraction_rate" => "error of the contraction ratio, max over cases",
        "static.rlhf_limit_is_2r" | "static.aihf_consistent" => "mean TV distance, max over β",
        "static.rlhf_bias_floor" => "gap between mean TV and its floor, max over β",
        "sim.fig9_aihf_restores_uncovered_mass" => "fraction of mass restored (95% CI lower end)",
        "sim.authors_aihf_mse_below_single_source" => "paired MSE difference (mean)",
        "sim.variance_aihf_below_single_source" => "paired variance difference (mean)",
        "sim.a23_rlhf_farthest" => "paired TV margin (mean)",
        "sim.rlhf_bias_floor" => "distance of the TV interval to the floor",
        "sim.aihf_consistency_slope" | "mdp.theorem_4_1_rate_20a" | "mdp.theorem_4_1_rate_20b" => {
            "log–log slope"
        }
        "mdp.theorem_4_1_control_detected" => "log–log slope (smaller 95% CI lower end)",
        "mdp.lemma_a3_gibbs_variational" => "relative gap, max over MDPs",
        "mdp.lemma_a3_contraction" => "ratio ‖TQ − TQ'‖∞/(γ‖Q − Q'‖∞), max",
        "mdp.lemma_a3_fixed_point" => "distance between fixed points, max over MDPs",
        "mdp.lemma_a3_geometric_rate" => "ratio of successive residuals to γ, max",
        "mdp.lemma_a1_lipschitz" => "ratio (1−γ)‖ΔQ*‖∞/‖Δr‖∞, max",
        "mdp.lemma_4_1_gradient" => "relative error, max over MDPs",
        "mdp.eq42_prefix_tree" => "|Δ log π|, max",
        "truth.aihf_vs_two_stage_estimator" => "paired KL difference (95% CI lower end)",
        "truth.kl_estimators_unbiased" => "|z| of the bias, max over estimators",
        "truth.kl_gradient_estimators" => "relative bias, max",
        "neural.crossval_tabular" | "neural.crossval_transformer" | "neural.crossval_rl" => {
            "TV distance, max over methods"
        }
        "neural.ground_truth_aihf_vs_two_stage" => "KL difference over its standard error (z)",
        _ => "value (see the note)",
    }
}

/// The master seed of `aihf verify`, also the default of `aihf rates`, so that both commands run
/// the same experiment and report one verdict.
pub const DEFAULT_SEED: u64 = 20240601;

pub use crate::seed::derive_seed;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{max_of, min_of, Worst};

    fn ctx() -> Ctx {
        Ctx {
            full: false,
            seed: 1,
            out_dir: None,
            progress: false,
        }
    }

    fn claim(run: fn(&Ctx) -> Result<Outcome>) -> Claim {
        Claim {
            id: "test.claim",
            paper_ref: "toolkit",
            statement: "a synthetic claim",
            run,
        }
    }

    #[test]
    fn a_nan_measurement_is_error_never_pass() {
        // f64::max would have dropped the NaN and passed on 0.1.
        let r = run_claim(
            &claim(|_| {
                Ok(Outcome::new(
                    max_of([0.1, f64::NAN, 0.2]),
                    Relation::AtMost,
                    1.0,
                    "NaN in the set",
                ))
            }),
            &ctx(),
        );
        assert_eq!(r.verdict, Verdict::Error);
        assert!(
            r.error.as_deref().unwrap_or("").contains("NaN"),
            "{:?}",
            r.error
        );
        assert!(0.1f64.max(f64::NAN) <= 1.0, "the trap this guards against");
    }

    #[test]
    fn an_empty_set_is_error_never_pass() {
        // A minimum over nothing: the old fold started from +∞ and passed any `>=` threshold.
        let r = run_claim(
            &claim(|_| {
                Ok(Outcome::new(
                    min_of(std::iter::empty()),
                    Relation::AtLeast,
                    0.85,
                    "nothing solved",
                ))
            }),
            &ctx(),
        );
        assert_eq!(r.verdict, Verdict::Error);
        // A worst case over zero solved instances, counted: ERROR even with a finite value.
        let r = run_claim(
            &claim(|_| Ok(Outcome::new(0.0, Relation::AtMost, 1e-6, "0 solved").with_instances(0))),
            &ctx(),
        );
        assert_eq!(r.verdict, Verdict::Error);
        assert!(
            r.error.as_deref().unwrap_or("").contains("empty"),
            "{:?}",
            r.error
        );
        let w = Worst::max();
        assert!(w.value().is_nan() && w.count() == 0);
    }

    #[test]
    fn a_missing_key_is_error_never_pass() {
        let r = run_claim(
            &claim(|_| {
                let t = serde_json::json!({"rows": [{"size": 10, "tv": 0.1}]});
                let v = t["rows"][0]["tv_aihf_truth"].as_f64().unwrap_or(f64::NAN);
                Ok(Outcome::new(v, Relation::AtMost, 0.01, "missing key"))
            }),
            &ctx(),
        );
        assert_eq!(r.verdict, Verdict::Error);
    }

    #[test]
    fn a_finite_measurement_gives_pass_or_fail() {
        let o = Outcome::new(0.5, Relation::AtMost, 1.0, "").with_instances(3);
        assert_eq!(o.verdict().0, Verdict::Pass);
        let o = Outcome::new(1.5, Relation::AtMost, 1.0, "");
        assert_eq!(o.verdict().0, Verdict::Fail);
        // `Above` is strict: equality with the failure value fails.
        assert_eq!(
            Outcome::new(0.0, Relation::Above, 0.0, "").verdict().0,
            Verdict::Fail
        );
        // +∞ is a measurement (an infinite KL), not an error.
        assert_eq!(
            Outcome::new(f64::INFINITY, Relation::AtMost, 1.0, "")
                .verdict()
                .0,
            Verdict::Fail
        );
    }

    #[test]
    fn interval_rule_has_three_outcomes_and_a_sample_size() {
        // Claim θ ≤ 0.
        let p = interval_decision(-0.3, -0.4, -0.2, 100, Relation::AtMost, 0.0, "u");
        assert_eq!(p.verdict, Verdict::Pass);
        let f = interval_decision(0.3, 0.2, 0.4, 100, Relation::AtMost, 0.0, "u");
        assert_eq!(f.verdict, Verdict::Fail);
        let i = interval_decision(-0.1, -0.3, 0.1, 100, Relation::AtMost, 0.0, "u");
        assert_eq!(i.verdict, Verdict::Inconclusive);
        // Half-width 0.2 must shrink to 0.1: four times the units (1/√n scaling).
        let n = i.units_to_decide.unwrap();
        assert!((n - 400.0).abs() < 1e-9, "{n}");
        let e = interval_decision(f64::NAN, f64::NAN, f64::NAN, 10, Relation::AtMost, 0.0, "u");
        assert_eq!(e.verdict, Verdict::Error);
        let o = Outcome::from_decision(e, "");
        assert_eq!(o.verdict().0, Verdict::Error);
        let o = Outcome::from_decision(i, "");
        assert_eq!(o.verdict().0, Verdict::Inconclusive);
    }

    #[test]
    fn worst_decision_orders_error_fail_inconclusive_pass() {
        let p = interval_decision(-0.3, -0.4, -0.2, 10, Relation::AtMost, 0.0, "u");
        let i = interval_decision(-0.1, -0.3, 0.1, 10, Relation::AtMost, 0.0, "u");
        let f = interval_decision(0.3, 0.2, 0.4, 10, Relation::AtMost, 0.0, "u");
        let e = interval_decision(f64::NAN, 0.0, 0.0, 10, Relation::AtMost, 0.0, "u");
        let v = |ds: Vec<Decision>| worst_decision(ds).map(|d| d.verdict);
        assert_eq!(v(vec![p.clone(), i.clone()]), Some(Verdict::Inconclusive));
        assert_eq!(
            v(vec![p.clone(), f.clone(), i.clone()]),
            Some(Verdict::Fail)
        );
        assert_eq!(v(vec![p.clone(), f, e]), Some(Verdict::Error));
        assert_eq!(v(vec![p]), Some(Verdict::Pass));
        assert_eq!(v(vec![]), None);
    }

    #[test]
    fn every_registered_claim_says_what_it_measures() {
        for c in crate::registry::registry() {
            assert_ne!(
                measured_kind(c.id),
                "value (see the note)",
                "claim {} has no entry in measured_kind",
                c.id
            );
        }
    }

    #[test]
    fn verdicts_serialise_upper_case() {
        assert_eq!(
            serde_json::to_string(&Verdict::Inconclusive).unwrap(),
            "\"INCONCLUSIVE\""
        );
        assert_eq!(Verdict::Pass, "PASS");
    }
}
