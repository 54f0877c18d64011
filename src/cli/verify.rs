//! `aihf verify`: run the registry of claims, print the table, write the report.

use aihf::registry::report::{self, VerifyOptions};
use aihf::registry::select;
use aihf::verify::Claim;
use clap::Args as ClapArgs;
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
    let claims = select(a.only.as_deref());
    if a.list {
        print_list(&claims);
        return Ok(());
    }
    if claims.is_empty() {
        anyhow::bail!("no claim matches --only {:?}", a.only.unwrap_or_default());
    }
    let quiet = a.json || a.quiet;
    let opts = VerifyOptions {
        full: a.full,
        seed: a.seed,
        only: a.only,
        strict: a.strict,
        out: a.out,
        progress: !quiet,
    };
    let run = report::run(&claims, opts)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&run.summary_json())?);
    } else {
        print!("{}", run.table());
    }
    for f in run.write_report()? {
        super::wrote(&f, a.json);
    }
    if run.failed() {
        std::process::exit(1);
    }
    Ok(())
}

/// `--list`: one claim per block (the statements are too long for aligned columns).
fn print_list(claims: &[Claim]) {
    for (k, c) in claims.iter().enumerate() {
        if k > 0 {
            println!();
        }
        println!("{}  ({})", c.id, c.paper_ref);
        println!("    {}", c.statement);
        println!("    measured: {}", aihf::verify::measured_kind(c.id));
    }
}
