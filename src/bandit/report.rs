//! What `aihf bandit` reports: each requested estimator fitted on one data set, with its
//! distances to the truth the file carries (when it carries one), as the results JSON, the tidy
//! CSV rows (README, "bandit CSV") and the table's lines.
//!
//! ```
//! use aihf::bandit::{report::Report, Options};
//! use aihf::method::MethodSet;
//! let dir = std::env::temp_dir().join(format!("aihf-bandit-report-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let file = dir.join("data.json");
//! // Preferences are the win counts `[i][j]`: how often action i beat action j.
//! std::fs::write(&file, r#"{"n_actions": 2, "demonstrations": [3, 1],
//!     "preferences": [[0, 2], [1, 0]]}"#).unwrap();
//! let rep = Report::from_file(&file, &Options::default(), &"sft".parse()?, false)?;
//! let p0 = rep.json()["sft"]["policy"][0].as_f64().unwrap();
//! assert!((p0 - 0.75).abs() < 1e-12); // N_0 / N (SPEC §1.1)
//! assert_eq!(rep.csv_rows().len(), 2); // one row per estimator × action
//! let all = Report::from_file(&file, &Options::default(), &MethodSet::All, false)?;
//! assert_eq!(all.entries.len(), aihf::bandit::METHODS.len());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), aihf::AihfError>(())
//! ```

use super::{existence, fit, Fit, Method, Normalization, Options, Weighting, METHODS};
use crate::data::{meta_truth, BanditData, MetaTruth};
use crate::error::{AihfError, Result};
use crate::io::csv_num;
use crate::math::{kl, tv};
use crate::method::MethodSet;
use serde_json::{json, Map, Value};
use std::path::Path;
use std::time::Instant;

/// Columns of `aihf bandit --csv` (README, "bandit CSV"): one row per estimator × action.
pub const CSV_HEADER: [&str; 17] = [
    "estimator",
    "action",
    "beta",
    "lambda",
    "weighting",
    "demo_weight",
    "ridge",
    "policy",
    "reward",
    "true_policy",
    "true_reward",
    "kl_truth",
    "l1_truth",
    "objective",
    "grad_norm",
    "iterations",
    "error",
];

/// The weighting's command-line name.
fn weighting_name(w: Weighting) -> &'static str {
    match w {
        Weighting::Counts => "counts",
        Weighting::Normalized => "normalized",
    }
}

/// Distances of an estimate to the truth the data file carries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Distance {
    /// `KL(π_truth‖π̂)` (`+∞` when π̂ is zero where π_truth is not).
    pub kl: f64,
    /// `‖π̂ − π_truth‖₁` (twice the total variation).
    pub l1: f64,
}

impl Distance {
    /// The distances of `est` to `truth`.
    pub fn of(truth: &[f64], est: &[f64]) -> Self {
        Distance {
            kl: kl(truth, est),
            l1: 2.0 * tv(truth, est),
        }
    }

    fn json(&self) -> Value {
        json!({
            // JSON has no ∞: an infinite KL is null with `kl_infinite` true.
            "kl_truth_to_estimate": self.kl.is_finite().then_some(self.kl),
            "kl_infinite": self.kl.is_infinite(),
            "l1": self.l1,
            "tv": self.l1 / 2.0,
        })
    }

    fn table_line(&self) -> String {
        let kl = if self.kl.is_finite() {
            format!("{:.4e}", self.kl)
        } else {
            "∞ (π̂ is 0 where π_truth is not)".into()
        };
        format!(
            "{:<15} truth   KL(π_truth‖π̂) {kl}  ‖π̂ − π_truth‖₁ {:.4e}",
            "", self.l1
        )
    }
}

/// One requested estimator's outcome.
#[derive(Debug)]
pub struct Entry {
    /// The estimator.
    pub method: Method,
    /// Its fit, or why it does not exist on the data.
    pub fit: std::result::Result<Fit, AihfError>,
    /// Wall time of the fit (existence checks + solve).
    pub seconds: f64,
    /// The fit's distances to the file's truth (when both exist).
    pub distance: Option<Distance>,
}

impl Entry {
    fn new(method: Method, data: &BanditData, opts: &Options, truth: Option<&MetaTruth>) -> Self {
        let t = Instant::now();
        let fit = fit(method, data, opts);
        let seconds = t.elapsed().as_secs_f64();
        let distance = match (&fit, truth) {
            (Ok(f), Some(t)) => Some(Distance::of(&t.policy, &f.policy)),
            _ => None,
        };
        Entry {
            method,
            fit,
            seconds,
            distance,
        }
    }

    fn json(&self) -> Value {
        let f = match &self.fit {
            Ok(f) => f,
            Err(e) => return json!({ "error": e.to_string() }),
        };
        let mut o = json!({
            "policy": f.policy,
            "reward": f.reward,
            "objective": f.objective,
            "grad_norm": f.grad_norm,
            "iterations": f.iterations,
            "seconds": self.seconds,
        });
        if let Some(d) = &self.distance {
            o["truth_distance"] = d.json();
        }
        o
    }

    /// The table's lines of this entry (a fit's are one string of three lines).
    fn table_lines(&self) -> Vec<String> {
        let name = self.method.name();
        let f = match &self.fit {
            Ok(f) => f,
            Err(e) => return vec![format!("{name:<15} does not exist: {e}")],
        };
        let rewards: Vec<String> = f
            .reward
            .iter()
            .take(10)
            .map(|r| r.map_or("-inf".to_string(), |x| format!("{x:.4}")))
            .collect();
        let mut lines = vec![format!(
            "{name:<15} objective {:>14.6e}  |grad| {:>9.2e}  iters {:>4}  {:.2e} s\n{:<15} policy  {}\n{:<15} reward  {}",
            f.objective,
            f.grad_norm,
            f.iterations,
            self.seconds,
            "",
            fmt_vec(&f.policy),
            "",
            rewards.join(" ")
        )];
        lines.extend(self.distance.as_ref().map(Distance::table_line));
        lines
    }

    /// The entry's columns after the settings, for action `i` (`truth` is the file's).
    fn csv_cells(&self, i: usize, truth: Option<&MetaTruth>) -> Vec<String> {
        let cell = |x: Option<f64>| x.map_or(String::new(), csv_num);
        let true_policy = cell(truth.map(|t| t.policy[i]));
        let true_reward = cell(truth.and_then(|t| t.reward.as_ref()).map(|r| r[i]));
        let f = match &self.fit {
            Ok(f) => f,
            Err(e) => {
                let mut r = vec![String::new(), String::new(), true_policy, true_reward];
                r.extend(std::iter::repeat_n(String::new(), 5));
                r.push(e.to_string());
                return r;
            }
        };
        vec![
            csv_num(f.policy[i]),
            f.reward[i].map_or_else(|| "-Inf".to_string(), csv_num),
            true_policy,
            true_reward,
            cell(self.distance.map(|d| d.kl)),
            cell(self.distance.map(|d| d.l1)),
            csv_num(f.objective),
            csv_num(f.grad_norm),
            f.iterations.to_string(),
            String::new(),
        ]
    }
}

/// At most ten numbers to four decimals, then how many there are in all.
fn fmt_vec(v: &[f64]) -> String {
    const MAX: usize = 10;
    let mut s: Vec<String> = v.iter().take(MAX).map(|x| format!("{x:.4}")).collect();
    if v.len() > MAX {
        s.push(format!("… ({} in all)", v.len()));
    }
    s.join(" ")
}

/// Refuses an option that none of `methods` (asked for as `asked`) reads: it would be ignored.
fn refuse_unused(opts: &Options, methods: &[Method], asked: &MethodSet) -> Result<()> {
    match opts.unused_by(methods).first() {
        Some(name) => Err(AihfError::param(
            *name,
            format!("is not used by --method {asked} (it would be ignored)"),
        )),
        None => Ok(()),
    }
}

/// Times the BTL and AIHF existence checks alone (each fit runs them again inside).
fn time_existence_checks(data: &BanditData, lambda: f64) -> f64 {
    let t = Instant::now();
    // The results are ignored: each fit runs and reports the checks itself.
    let _ = existence::check_btl(data, "BTL");
    let _ = existence::check_aihf(data, lambda, "AIHF");
    t.elapsed().as_secs_f64()
}

/// Everything `aihf bandit` reports on one data file.
#[derive(Debug)]
pub struct Report {
    /// The data set.
    pub data: BanditData,
    /// The options every estimator ran with (validated against the data).
    pub options: Options,
    /// The truth the file carries (`meta.true_reward`/`true_policy`), if any.
    pub truth: Option<MetaTruth>,
    /// One entry per requested method, in table order.
    pub entries: Vec<Entry>,
    /// The data file's record ([`crate::io::input_record`]).
    pub input: Value,
    /// Seconds spent reading and parsing the data file.
    pub parse_seconds: f64,
    /// Seconds of the BTL + AIHF existence checks timed alone, when asked for.
    pub check_seconds: Option<f64>,
}

impl Report {
    /// Reads the data at `path` (`-`: standard input) and fits every method of `methods`
    /// ([`METHODS`] for `all`) with `opts`. The scalar options are checked before the data are
    /// read, the action-dependent ones after; an option none of the methods reads is refused.
    /// A method that does not exist on the data is an entry with its error (see
    /// [`Report::failed_alone`]). `time_checks` also times the existence checks alone.
    pub fn from_file(
        path: &Path,
        opts: &Options,
        methods: &MethodSet,
        time_checks: bool,
    ) -> Result<Report> {
        let min_actions = match opts.normalization {
            Normalization::Reference(k) => k.saturating_add(1),
            Normalization::MeanZero => 1,
        };
        opts.validate(min_actions)?;
        let t = Instant::now();
        let text = crate::io::read_input_bytes(path)?;
        // The file's hash for the results (FNV-1a: one byte at a time, milliseconds on a large
        // file) on a second thread while this one parses and solves.
        std::thread::scope(|s| {
            let record = s.spawn(|| crate::io::record_of(path, &text));
            let data = BanditData::from_bytes(&text, path)?;
            let parse_seconds = t.elapsed().as_secs_f64();
            opts.validate(data.n_actions())?;
            let list = methods.resolve(METHODS)?;
            refuse_unused(opts, &list, methods)?;
            let truth = meta_truth(&data.meta, opts.beta, data.n_actions())?;
            let check_seconds = time_checks.then(|| time_existence_checks(&data, opts.lambda));
            let entries = list
                .iter()
                .map(|&m| Entry::new(m, &data, opts, truth.as_ref()))
                .collect();
            Ok(Report {
                // The hash cannot fail; a panic there is re-raised here as it was.
                input: record
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
                data,
                options: opts.clone(),
                truth,
                entries,
                parse_seconds,
                check_seconds,
            })
        })
    }

    /// The report, or — when one method was asked for and it does not exist on the data — that
    /// method and its error (a single method's failure is the command's error, not a row).
    pub fn failed_alone(mut self) -> std::result::Result<Self, (Method, AihfError)> {
        if self.entries.len() == 1 && self.entries[0].fit.is_err() {
            let e = self.entries.remove(0);
            if let Err(err) = e.fit {
                return Err((e.method, err));
            }
        }
        Ok(self)
    }

    /// The results JSON: one object per method (its fit, or `{"error"}`) and `parameters`,
    /// every setting that produced the numbers with the input file's hash.
    pub fn json(&self) -> Value {
        let mut out = Map::new();
        for e in &self.entries {
            out.insert(e.method.name().into(), e.json());
        }
        out.insert("parameters".into(), self.parameters());
        Value::Object(out)
    }

    fn parameters(&self) -> Value {
        let (o, d) = (&self.options, &self.data);
        let ref_action = match o.normalization {
            Normalization::Reference(k) => Some(k),
            Normalization::MeanZero => None,
        };
        json!({
            "generator": "aihf bandit",
            "version": env!("CARGO_PKG_VERSION"),
            "data": self.input,
            "n_actions": d.n_actions(),
            "n_demos": d.n_demos(),
            "n_comparisons": d.n_comparisons(),
            "beta": o.beta,
            "lambda": o.lambda,
            "weighting": weighting_name(o.weighting),
            "demo_weight": o.demo_weight,
            "ridge": o.ridge,
            "beta_pref": o.beta_pref,
            "ref_action": ref_action,
            "ref_smoothing": o.ref_smoothing,
            "ipo_tau": o.ipo_tau,
            "alpha": o.direct_alpha,
            "spin_iters": o.spin_iters,
            "data_seed": d.meta.get("seed"),
            "truth": self.truth.as_ref().map(|t| json!({
                "source": t.source,
                "policy": t.policy,
                "reward": t.reward,
            })),
        })
    }

    /// The rows of [`CSV_HEADER`]: one per estimator × action.
    pub fn csv_rows(&self) -> Vec<Vec<String>> {
        let o = &self.options;
        let settings = [
            o.beta.to_string(),
            o.lambda.to_string(),
            weighting_name(o.weighting).to_string(),
            o.demo_weight.to_string(),
            o.ridge.to_string(),
        ];
        let mut rows = vec![];
        for e in &self.entries {
            for i in 0..self.data.n_actions() {
                let mut r = vec![e.method.name().to_string(), i.to_string()];
                r.extend(settings.iter().cloned());
                r.extend(e.csv_cells(i, self.truth.as_ref()));
                rows.push(r);
            }
        }
        rows
    }

    /// The table: the data and settings, the truth's source, then each estimator.
    pub fn table_lines(&self) -> Vec<String> {
        let (o, d) = (&self.options, &self.data);
        let mut lines = vec![format!(
            "{} actions, N = {} demonstrations, M = {} comparisons; β = {}, λ = {}, weighting = {:?}",
            d.n_actions(),
            d.n_demos(),
            d.n_comparisons(),
            o.beta,
            o.lambda,
            o.weighting
        )];
        if let Some(t) = &self.truth {
            lines.push(format!(
                "truth: {} (distances KL(π_truth‖π̂) and ‖π̂ − π_truth‖₁)",
                t.source
            ));
        }
        lines.extend(self.entries.iter().flat_map(Entry::table_lines));
        lines
    }

    /// Where the time went (parse, checks alone, each fit, and `output_seconds` spent writing),
    /// when the checks were timed ([`Report::from_file`]'s `time_checks`).
    pub fn timing_line(&self, output_seconds: f64) -> Option<String> {
        let checks = self.check_seconds?;
        let fits: Vec<String> = self
            .entries
            .iter()
            .map(|e| format!("{} {:.4} s", e.method.name(), e.seconds))
            .collect();
        Some(format!(
            "timing: {} actions, {} compared pairs; parse {:.4} s, checks {checks:.4} s \
             (BTL + AIHF existence, timed alone), fit (checks + solve) {}, output {output_seconds:.4} s",
            self.data.n_actions(),
            self.data.n_pairs(),
            self.parse_seconds,
            fits.join(", "),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = r#"{"n_actions": 3, "demonstrations": [6, 3, 0],
        "preferences": [[0, 2, 1], [3, 0, 2], [4, 3, 0]],
        "meta": {"true_policy": [0.5, 0.3, 0.2]}}"#;

    fn report(methods: &str, opts: &Options) -> Result<Report> {
        report_on(DATA, methods, opts)
    }

    fn report_on(data: &str, methods: &str, opts: &Options) -> Result<Report> {
        let tag = crate::seed::fnv1a(data.as_bytes(), crate::seed::FNV_OFFSET);
        let dir = std::env::temp_dir().join(format!(
            "aihf-bandit-report-test-{}-{methods}-{tag:x}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("data.json");
        std::fs::write(&file, data).unwrap();
        let r = Report::from_file(&file, opts, &methods.parse()?, true);
        std::fs::remove_dir_all(&dir).unwrap();
        r
    }

    #[test]
    fn all_fits_the_layer_methods_with_distances_to_the_file_truth() {
        let rep = report("all", &Options::default()).unwrap();
        let names: Vec<&str> = rep.entries.iter().map(|e| e.method.name()).collect();
        let want: Vec<&str> = METHODS.iter().map(|m| m.name()).collect();
        assert_eq!(names, want);
        let sft = &rep.entries[0];
        let d = sft.distance.unwrap();
        // SFT puts no mass on action 2, which the truth gives 0.2: KL is infinite.
        assert!(d.kl.is_infinite());
        let l1 = (0.5f64 - 6.0 / 9.0).abs() + (0.3f64 - 3.0 / 9.0).abs() + 0.2;
        assert!((d.l1 - l1).abs() < 1e-12, "{} vs {l1}", d.l1);
        let j = rep.json();
        assert_eq!(j["sft"]["truth_distance"]["kl_infinite"], true);
        assert_eq!(j["parameters"]["truth"]["source"], "meta.true_policy");
        assert_eq!(rep.csv_rows().len(), 3 * METHODS.len());
        assert!(rep.timing_line(0.0).unwrap().contains("sft "));
    }

    #[test]
    fn an_unsupported_method_or_an_unused_option_is_a_param_error() {
        let e = report("irl", &Options::default()).unwrap_err();
        assert!(e.to_string().contains("`irl` is not supported here"), "{e}");
        let opts = Options {
            ipo_tau: 0.5,
            ..Options::default()
        };
        let e = report("sft,dpo", &opts).unwrap_err();
        assert!(
            e.to_string().contains("is not used by --method sft,dpo"),
            "{e}"
        );
        assert!(report("sft,ipo", &opts).is_ok());
    }

    #[test]
    fn a_single_method_that_does_not_exist_fails_alone() {
        // Action 2 never loses a comparison: the BTL MLE does not exist (SPEC §1.2).
        let data = DATA.replace("[[0, 2, 1], [3, 0, 2]", "[[0, 2, 0], [3, 0, 0]");
        let (m, e) = report_on(&data, "btl", &Options::default())
            .unwrap()
            .failed_alone()
            .expect_err("a single missing estimator is the error");
        assert_eq!(m, Method::Btl);
        assert!(matches!(e, AihfError::NoEstimator { .. }), "{e}");
        let rows = report_on(&data, "sft,btl", &Options::default())
            .unwrap()
            .failed_alone()
            .expect("with two methods an error is a row");
        assert_eq!(rows.json()["btl"]["error"], e.to_string());
        assert!(rows
            .table_lines()
            .iter()
            .any(|l| l.starts_with("btl             does not exist")));
        let csv = rows.csv_rows();
        assert_eq!(csv[3][CSV_HEADER.len() - 1], e.to_string());
        assert_eq!(
            csv[3][9], "0.5",
            "the truth's columns are kept on an error row"
        );
    }
}
