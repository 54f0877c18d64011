//! The registry of claims behind `aihf verify`: each claim of the paper (or identity the
//! toolkit relies on) with its paper reference, the measured number, the threshold and a
//! verdict. Each layer contributes its claims through a `claims()` function; this module only
//! collects and runs them.

use crate::error::Result;
use serde::Serialize;
use std::path::PathBuf;

/// How the measured number is compared with the threshold.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// PASS when `measured ≤ threshold` (errors, distances, slopes).
    AtMost,
    /// PASS when `measured ≥ threshold` (accuracies, gaps).
    AtLeast,
}

impl Relation {
    /// The symbol used in tables.
    pub fn symbol(self) -> &'static str {
        match self {
            Relation::AtMost => "<=",
            Relation::AtLeast => ">=",
        }
    }
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
        }
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

    /// PASS/FAIL. A NaN measurement fails.
    pub fn pass(&self) -> bool {
        match self.relation {
            Relation::AtMost => self.measured <= self.threshold,
            Relation::AtLeast => self.measured >= self.threshold,
        }
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

/// Every registered claim, in report order.
pub fn registry() -> Vec<Claim> {
    let mut v = crate::bandit::claims::claims();
    v.extend(crate::sim::claims::claims());
    v.extend(crate::mdp::claims::claims());
    v.extend(crate::truth::klstudy::claims());
    #[cfg(feature = "neural")]
    v.extend(crate::neural::claims::claims());
    v
}

/// The result of one claim in a report.
#[derive(Clone, Debug, Serialize)]
pub struct ClaimReport {
    pub id: String,
    pub paper_ref: String,
    pub statement: String,
    /// `PASS`, `FAIL`, or `ERROR` (the check itself could not run).
    pub verdict: String,
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
    pub seconds: f64,
}

/// Runs one claim, turning an error into an `ERROR` verdict.
pub fn run_claim(claim: &Claim, ctx: &Ctx) -> ClaimReport {
    let t = std::time::Instant::now();
    let res = (claim.run)(ctx);
    let seconds = t.elapsed().as_secs_f64();
    let (verdict, outcome, error) = match res {
        Ok(o) => (if o.pass() { "PASS" } else { "FAIL" }, Some(o), None),
        Err(e) => ("ERROR", None, Some(e.to_string())),
    };
    ClaimReport {
        id: claim.id.into(),
        paper_ref: claim.paper_ref.into(),
        statement: claim.statement.into(),
        verdict: verdict.into(),
        outcome,
        error,
        seconds,
    }
}

/// A seed derived from the master seed and a claim id, so claims do not share streams.
pub fn derive_seed(master: u64, id: &str) -> u64 {
    // FNV-1a over the id, mixed with the master seed.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ master;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
