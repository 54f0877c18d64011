//! `aihf verify`: run the registry of claims, print the table, write the report.

use aihf::registry::registry;
use aihf::verify::{run_claim, ClaimReport, Ctx, Verdict};
use clap::Args as ClapArgs;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Published sizes (replications, data sizes, K ranges) instead of the quick defaults.
    #[arg(long)]
    pub full: bool,
    /// Print the results as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write the report (report.md, report.json, figures) into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Master seed (each claim derives its own stream from it).
    #[arg(long, default_value_t = aihf::verify::DEFAULT_SEED)]
    pub seed: u64,
    /// Run only the claims whose id contains this text.
    #[arg(long)]
    pub only: Option<String>,
    /// List the claims and exit.
    #[arg(long, conflicts_with_all = ["full", "json", "out", "seed", "strict", "quiet"])]
    pub list: bool,
    /// Exit with status 1 unless every claim is PASS: FAIL, INCONCLUSIVE and ERROR all fail the
    /// run (default: only ERROR — a check that could not run or saw NaN or nothing — does).
    #[arg(long)]
    pub strict: bool,
    /// No progress bar (`--json` implies it).
    #[arg(long, alias = "no-progress")]
    pub quiet: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let claims: Vec<_> = registry()
        .into_iter()
        .filter(|c| a.only.as_ref().is_none_or(|s| c.id.contains(s.as_str())))
        .collect();
    if a.list {
        // One claim per block: the statements are too long for aligned columns.
        for (k, c) in claims.iter().enumerate() {
            if k > 0 {
                println!();
            }
            println!("{}  ({})", c.id, c.paper_ref);
            println!("    {}", c.statement);
            println!("    measured: {}", aihf::verify::measured_kind(c.id));
        }
        return Ok(());
    }
    if claims.is_empty() {
        anyhow::bail!("no claim matches --only {:?}", a.only.unwrap_or_default());
    }
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create report folder {}: {e}", dir.display()))?;
    }
    let before = a.out.as_deref().map(snapshot).unwrap_or_default();
    let ctx = Ctx {
        full: a.full,
        seed: a.seed,
        out_dir: a.out.clone(),
        progress: !(a.json || a.quiet),
    };
    let bar = if a.json || a.quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(claims.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}")
                .expect("static template"),
        );
        b
    };
    let t0 = std::time::Instant::now();
    let mut reports: Vec<ClaimReport> = vec![];
    for c in &claims {
        bar.set_message(c.id);
        reports.push(run_claim(c, &ctx));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let count = |v: Verdict| reports.iter().filter(|r| r.verdict == v).count();
    let (pass, fail, inconclusive, error) = (
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Inconclusive),
        count(Verdict::Error),
    );
    let summary = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "seed": a.seed,
        "mode": if a.full { "full" } else { "quick" },
        "only": a.only,
        "pass": pass, "fail": fail, "inconclusive": inconclusive, "error": error,
        "strict": a.strict,
        "seconds": t0.elapsed().as_secs_f64(),
        "claims": reports,
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", table(&reports));
        println!(
            "\n{pass} PASS, {fail} FAIL, {inconclusive} INCONCLUSIVE, {error} ERROR in {:.1} s (seed {}, {} mode)",
            t0.elapsed().as_secs_f64(),
            a.seed,
            if a.full { "full" } else { "quick" }
        );
    }
    if let Some(dir) = &a.out {
        aihf::io::write_json(&dir.join("report.json"), &summary)?;
        aihf::io::write_atomic(
            &dir.join("report.md"),
            markdown(&reports, &summary).as_bytes(),
        )?;
        aihf::io::write_csv(&dir.join("report.csv"), &CSV_HEADER, &csv_rows(&reports))?;
        // Every file this run created or rewrote in the folder (the claims write figures and
        // data files of their own), then the report's three.
        let after = snapshot(dir);
        let report = [
            dir.join("report.json"),
            dir.join("report.md"),
            dir.join("report.csv"),
        ];
        for (f, t) in &after {
            if before.get(f) != Some(t) && !report.contains(f) {
                super::wrote(f, a.json);
            }
        }
        for f in &report {
            super::wrote(f, a.json);
        }
    }
    if error > 0 || (a.strict && pass < reports.len()) {
        std::process::exit(1);
    }
    Ok(())
}

/// Columns of `report.csv` (README, "verify CSV"): one row per claim.
const CSV_HEADER: [&str; 16] = [
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

fn csv_rows(reports: &[ClaimReport]) -> Vec<Vec<String>> {
    use aihf::io::csv_num;
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

/// A Markdown table cell: `|` escaped (statements such as `|1 − 1/β|` and `KL(π‖π0(·|s))`
/// would otherwise split the row) and line breaks flattened.
fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Every file under `dir` with its modification time (to tell which ones a run wrote).
fn snapshot(dir: &std::path::Path) -> std::collections::BTreeMap<PathBuf, std::time::SystemTime> {
    let mut out = std::collections::BTreeMap::new();
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

fn table(reports: &[ClaimReport]) -> String {
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

fn trunc(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

fn markdown(reports: &[ClaimReport], summary: &serde_json::Value) -> String {
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
    let _ = writeln!(s, "\n## Details\n");
    for r in reports {
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
    s
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
