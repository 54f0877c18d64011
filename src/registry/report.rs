//! The report of `aihf verify`: the claims run ([`run`]), their summary JSON, the text table,
//! `report.md` and `report.csv`, and the files a run wrote ([`VerifyRun::write_report`]). The
//! command line selects the claims, calls [`run`] and prints.
//!
//! ```
//! use aihf::registry::report::{run, VerifyOptions};
//! use aihf::verify::Verdict;
//! let claims = aihf::registry::select(Some("static.sft_stationarity"));
//! let opts = VerifyOptions { full: false, seed: 1, only: None, strict: false, out: None, progress: false };
//! let r = run(&claims, opts).unwrap();
//! assert_eq!(r.count(Verdict::Pass), 1);
//! assert!(r.table().contains("static.sft_stationarity"));
//! assert!(!r.failed());
//! ```

use crate::error::{AihfError, Result};
use crate::verify::{run_claim, Claim, ClaimReport, Ctx, Verdict};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How to run the claims and where the report goes.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Published sizes rather than the quick defaults.
    pub full: bool,
    /// Master seed (each claim derives its own stream from it).
    pub seed: u64,
    /// The `--only` filter the claims were selected with (recorded in the summary).
    pub only: Option<String>,
    /// Whether anything but PASS fails the run ([`VerifyRun::failed`]).
    pub strict: bool,
    /// The report folder (claims write their figures there too); `None`: no files.
    pub out: Option<PathBuf>,
    /// A progress bar on standard error, and the claims' own.
    pub progress: bool,
}

/// The claims' reports, in registry order, with how they were run.
pub struct VerifyRun {
    /// The options of the run.
    pub options: VerifyOptions,
    /// One report per claim.
    pub reports: Vec<ClaimReport>,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
    /// The report folder's files before the run, with their modification times.
    before: BTreeMap<PathBuf, SystemTime>,
}

/// Runs `claims` (creating the report folder first, so that claims can write their figures
/// there), each turned into a [`ClaimReport`] by [`run_claim`].
pub fn run(claims: &[Claim], options: VerifyOptions) -> Result<VerifyRun> {
    if let Some(dir) = &options.out {
        std::fs::create_dir_all(dir).map_err(|source| AihfError::Io {
            action: "cannot create report folder",
            path: dir.clone(),
            source,
        })?;
    }
    let before = options.out.as_deref().map(snapshot).unwrap_or_default();
    let ctx = Ctx {
        full: options.full,
        seed: options.seed,
        out_dir: options.out.clone(),
        progress: options.progress,
    };
    let bar = progress_bar(options.progress, claims.len());
    let t0 = std::time::Instant::now();
    let mut reports = vec![];
    for c in claims {
        bar.set_message(c.id);
        reports.push(run_claim(c, &ctx));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(VerifyRun {
        options,
        reports,
        seconds: t0.elapsed().as_secs_f64(),
        before,
    })
}

fn progress_bar(show: bool, len: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len as u64);
    b.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}")
            .expect("static template"),
    );
    b
}

impl VerifyRun {
    /// Claims with verdict `v`.
    pub fn count(&self, v: Verdict) -> usize {
        self.reports.iter().filter(|r| r.verdict == v).count()
    }

    /// Whether the run fails: an ERROR, or with `strict` anything but PASS.
    pub fn failed(&self) -> bool {
        self.count(Verdict::Error) > 0
            || (self.options.strict && self.count(Verdict::Pass) < self.reports.len())
    }

    fn mode(&self) -> &'static str {
        if self.options.full {
            "full"
        } else {
            "quick"
        }
    }

    /// `report.json` (and `--json`'s output): version, seed, mode, the counts per verdict, the
    /// run time and every claim's report.
    pub fn summary_json(&self) -> Value {
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "seed": self.options.seed,
            "mode": self.mode(),
            "only": self.options.only,
            "pass": self.count(Verdict::Pass), "fail": self.count(Verdict::Fail),
            "inconclusive": self.count(Verdict::Inconclusive), "error": self.count(Verdict::Error),
            "strict": self.options.strict,
            "seconds": self.seconds,
            "claims": self.reports,
        })
    }

    /// The text table and the totals line.
    pub fn table(&self) -> String {
        format!(
            "{}\n{} PASS, {} FAIL, {} INCONCLUSIVE, {} ERROR in {:.1} s (seed {}, {} mode)\n",
            table(&self.reports),
            self.count(Verdict::Pass),
            self.count(Verdict::Fail),
            self.count(Verdict::Inconclusive),
            self.count(Verdict::Error),
            self.seconds,
            self.options.seed,
            self.mode()
        )
    }

    /// Writes `report.json`, `report.md` and `report.csv` into the report folder (nothing
    /// without one) and returns every file this run created or rewrote there (the claims write
    /// figures and data files of their own), the report's three last.
    pub fn write_report(&self) -> Result<Vec<PathBuf>> {
        let Some(dir) = &self.options.out else {
            return Ok(vec![]);
        };
        let summary = self.summary_json();
        let report = [
            dir.join("report.json"),
            dir.join("report.md"),
            dir.join("report.csv"),
        ];
        crate::io::write_json(&report[0], &summary)?;
        crate::io::write_atomic(&report[1], markdown(&self.reports, &summary).as_bytes())?;
        crate::io::write_csv(&report[2], &CSV_HEADER, &csv_rows(&self.reports))?;
        let mut written: Vec<PathBuf> = snapshot(dir)
            .into_iter()
            .filter(|(f, t)| self.before.get(f) != Some(t) && !report.contains(f))
            .map(|(f, _)| f)
            .collect();
        written.extend(report);
        Ok(written)
    }
}

/// Columns of `report.csv` (README, "verify CSV"): one row per claim.
pub const CSV_HEADER: [&str; 16] = [
    "id",
    "paper_ref",
    "statement",
    "verdict",
    "measured",
    "measured_kind",
    "relation",
    "bound",
    "n",
    "ci_low",
    "ci_high",
    "ci_unit",
    "units_to_decide",
    "seconds",
    "error",
    "note",
];

/// The rows of `report.csv` under [`CSV_HEADER`], one per claim.
pub fn csv_rows(reports: &[ClaimReport]) -> Vec<Vec<String>> {
    use crate::io::csv_num;
    reports
        .iter()
        .map(|r| {
            let o = r.outcome.as_ref();
            let d = o.and_then(|o| o.decision.as_ref());
            vec![
                r.id.clone(),
                r.paper_ref.clone(),
                r.statement.clone(),
                r.verdict.to_string(),
                o.map_or(String::new(), |o| csv_num(o.measured)),
                r.measured_kind.clone(),
                o.map_or(String::new(), |o| o.relation.symbol().to_string()),
                o.map_or(String::new(), |o| csv_num(o.threshold)),
                o.and_then(|o| o.instances)
                    .map_or(String::new(), |n| n.to_string()),
                d.map_or(String::new(), |d| csv_num(d.lo)),
                d.map_or(String::new(), |d| csv_num(d.hi)),
                d.map_or(String::new(), |d| d.unit.clone()),
                d.and_then(|d| d.units_to_decide)
                    .map_or(String::new(), csv_num),
                csv_num(r.seconds),
                r.error.clone().unwrap_or_default(),
                o.map_or(String::new(), |o| o.note.clone()),
            ]
        })
        .collect()
}

/// The text table: one line per claim (id, paper reference, measured, relation, threshold,
/// verdict).
pub fn table(reports: &[ClaimReport]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<45} {:<26} {:>12} {:>3} {:>10}  verdict",
        "claim", "paper", "measured", "", "threshold"
    );
    for r in reports {
        match &r.outcome {
            Some(o) => {
                let _ = writeln!(
                    s,
                    "{:<45} {:<26} {:>12} {:>3} {:>10}  {}",
                    r.id,
                    trunc(&r.paper_ref, 26),
                    num(o.measured),
                    o.relation.symbol(),
                    num(o.threshold),
                    verdict_cell(r)
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "{:<45} {:<26} {:>12} {:>3} {:>10}  ERROR: {}",
                    r.id,
                    trunc(&r.paper_ref, 26),
                    "-",
                    "",
                    "-",
                    r.error.clone().unwrap_or_default()
                );
            }
        }
    }
    s
}

/// The verdict with what it rests on: the instances used, the runs that would decide an
/// INCONCLUSIVE claim, or why it is an ERROR.
fn verdict_cell(r: &ClaimReport) -> String {
    let mut s = r.verdict.to_string();
    if let Some(o) = &r.outcome {
        if let Some(d) = o
            .decision
            .as_ref()
            .filter(|d| d.verdict == Verdict::Inconclusive)
        {
            match d.units_to_decide {
                Some(n) => {
                    let _ = write!(s, " (about {n} {} would decide; {} now)", d.unit, d.n);
                }
                None => {
                    let _ = write!(s, " (the estimate sits on the bound)");
                }
            }
        }
        if let Some(n) = o.instances {
            let _ = write!(s, " [n = {n}]");
        }
    }
    if r.outcome.is_some() && r.verdict == Verdict::Error {
        let _ = write!(s, ": {}", r.error.clone().unwrap_or_default());
    }
    s
}

/// `report.md`: the header with the counts (from `summary`, [`VerifyRun::summary_json`]), the
/// claims table, then one section per claim with its note, figures and error.
pub fn markdown(reports: &[ClaimReport], summary: &Value) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# aihf claims report\n");
    let _ = writeln!(
        s,
        "Version {}, seed {}, {} mode: **{} PASS, {} FAIL, {} INCONCLUSIVE, {} ERROR** in {:.1} s.\n",
        summary["version"].as_str().unwrap_or("?"),
        summary["seed"],
        summary["mode"].as_str().unwrap_or("?"),
        summary["pass"],
        summary["fail"],
        summary["inconclusive"],
        summary["error"],
        summary["seconds"].as_f64().unwrap_or(0.0)
    );
    let _ = writeln!(s, "A FAIL is a finding, reported with its numbers. INCONCLUSIVE: a statistical claim whose 95% interval contains its bound — the data cannot decide; the number of units that would is estimated. ERROR: the check could not run, or its aggregation saw a NaN, an empty set or a missing key (never a PASS). `[n = …]`: instances the claim used. `--strict` fails the run unless every claim is PASS. Full numbers: `report.json`.\n");
    markdown_table(&mut s, reports);
    let _ = writeln!(s, "\n## Details\n");
    for r in reports {
        markdown_details(&mut s, r);
    }
    s
}

/// The claims table of `report.md`.
fn markdown_table(s: &mut String, reports: &[ClaimReport]) {
    let _ = writeln!(
        s,
        "| claim | paper | statement | measured | measured is | threshold | verdict |\n|---|---|---|---|---|---|---|"
    );
    for r in reports {
        let (m, t) = r.outcome.as_ref().map_or(("-".into(), "-".into()), |o| {
            (
                num(o.measured),
                format!("{} {}", o.relation.symbol(), num(o.threshold)),
            )
        });
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} | {} | **{}** |",
            r.id,
            md_cell(&r.paper_ref),
            md_cell(&r.statement),
            m,
            md_cell(&r.measured_kind),
            t,
            md_cell(&verdict_cell(r))
        );
    }
}

/// One claim's section of `report.md`.
fn markdown_details(s: &mut String, r: &ClaimReport) {
    let _ = writeln!(
        s,
        "### `{}` — {}\n\n{} ({})\n",
        r.id, r.verdict, r.statement, r.paper_ref
    );
    if let Some(o) = &r.outcome {
        let _ = writeln!(s, "Measured: {} = {}.\n", r.measured_kind, num(o.measured));
        let _ = writeln!(s, "{}\n", o.note);
        for f in &o.figures {
            if f.extension().is_some_and(|e| e == "png") {
                let _ = writeln!(s, "![{}]({})\n", r.id, f.display());
            }
        }
    }
    if let Some(e) = &r.error {
        let _ = writeln!(s, "Error: {e}\n");
    }
}

/// A Markdown table cell: `|` escaped (statements such as `|1 − 1/β|` and `KL(π‖π0(·|s))`
/// would otherwise split the row) and line breaks flattened.
fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A number for the table and `report.md`: whole numbers without decimals, very large or small
/// ones in scientific notation, others with four decimals.
fn num(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.fract() == 0.0 && x.abs() < 1e15 {
        // A count (or any whole number): no trailing zeros.
        format!("{x:.0}")
    } else if x.abs() >= 1e4 || x.abs() < 1e-3 {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

/// `s` cut to `n` characters, an ellipsis marking the cut.
fn trunc(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// Every file under `dir` with its modification time (to tell which ones a run wrote).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(p),
                Ok(m) => {
                    out.insert(p, m.modified().unwrap_or(std::time::UNIX_EPOCH));
                }
                Err(_) => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_print_as_integers_and_others_keep_their_digits() {
        for (x, s) in [
            (0.0, "0"),
            (100.0, "100"),
            (-3.0, "-3"),
            (1.0, "1"),
            (0.5, "0.5000"),
            (1.0 + 1e-9, "1.0000"),
            (2.5e-9, "2.500e-9"),
            (1e20, "1.000e20"),
        ] {
            assert_eq!(num(x), s, "{x}");
        }
    }

    #[test]
    fn markdown_cells_escape_bars_and_flatten_lines() {
        assert_eq!(
            md_cell("KL(π‖π0(·|s)) and |1 − 1/β|\nnext"),
            "KL(π‖π0(·\\|s)) and \\|1 − 1/β\\| next"
        );
    }
}
