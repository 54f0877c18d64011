//! `aihf bandit --data FILE`: solve the one-step estimators.

use aihf::bandit::report::{self, Report};
use aihf::bandit::{Normalization, Options, Weighting, METHODS};
use aihf::method::MethodSet;
use clap::Args as ClapArgs;
use std::path::PathBuf;
use std::time::Instant;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Data set (JSON; see `aihf::data` or the README for the format); `-` reads standard
    /// input.
    #[arg(long)]
    pub data: PathBuf,
    /// Estimator, a comma-separated list of them, or `all`.
    #[arg(long, default_value = "all", value_parser = MethodSet::parser(METHODS))]
    pub method: MethodSet,
    /// Temperature β > 0.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub beta: f64,
    /// AIHF's preference weight λ ≥ 0 (also Self-Play AIHF's).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub lambda: f64,
    /// AIHF weighting of the two sources.
    #[arg(long, value_enum, default_value = "counts")]
    pub weighting: Weighting,
    /// Demonstration weight w of the `normalized` weighting (default 1; only with `--weighting
    /// normalized`).
    #[arg(long, allow_negative_numbers = true)]
    pub demo_weight: Option<f64>,
    /// Ridge α ≥ 0 (makes BTL/AIHF/DPO exist on any data).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub ridge: f64,
    /// Temperature β' of AIHF's preference term σ((r_i − r_j)/β') (default 1: SPEC §1.4's σ(r_i − r_j) at every β).
    #[arg(long, allow_negative_numbers = true)]
    pub beta_pref: Option<f64>,
    /// Normalise rewards so that this action's reward is 0 (default: mean zero).
    #[arg(long)]
    pub ref_action: Option<usize>,
    /// Smooth π_ref = π_SFT of the DPO family: (N_i + ε)/(N + nε).
    #[arg(long, allow_negative_numbers = true)]
    pub ref_smoothing: Option<f64>,
    /// IPO's τ > 0.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub ipo_tau: f64,
    /// Direct AIHF's demonstration weight α ≥ 0.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub alpha: f64,
    /// Maximum SPIN / Self-Play AIHF iterations.
    #[arg(long, default_value_t = 500)]
    pub spin_iters: usize,
    /// Print one JSON object per method instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON to this file (atomically); `-` writes it to standard output and the
    /// table to standard error.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the results as a tidy CSV (one row per estimator × action; columns in the
    /// README) to this file (atomically).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Print where the time goes to stderr: reading and parsing the file, the existence
    /// checks (timed on their own; each estimator runs them again inside its fit), each
    /// estimator's fit (checks + solve), and writing the output.
    #[arg(long)]
    pub timing: bool,
}

/// Refuses `--json` with `--out -` (both would write the JSON to standard output); returns
/// whether the JSON goes to standard output.
fn json_to_stdout(a: &Args) -> anyhow::Result<bool> {
    let to_stdout = a.out.as_deref().is_some_and(aihf::io::is_stdio);
    if a.json && to_stdout {
        anyhow::bail!(
            "invalid options `--json` and `--out -`: both write the JSON to standard output; use one"
        );
    }
    Ok(to_stdout)
}

/// The estimators' options from the command line (`--demo-weight` only with `--weighting
/// normalized`).
fn options(a: &Args) -> anyhow::Result<Options> {
    if a.demo_weight.is_some() && a.weighting != Weighting::Normalized {
        return Err(aihf::error::AihfError::param(
            "demo-weight",
            "applies only to --weighting normalized (it would be ignored)",
        )
        .into());
    }
    Ok(Options {
        beta: a.beta,
        lambda: a.lambda,
        weighting: a.weighting,
        demo_weight: a.demo_weight.unwrap_or(1.0),
        ridge: a.ridge,
        beta_pref: a.beta_pref,
        normalization: a
            .ref_action
            .map_or(Normalization::MeanZero, Normalization::Reference),
        ref_smoothing: a.ref_smoothing,
        ipo_tau: a.ipo_tau,
        direct_alpha: a.alpha,
        spin_iters: a.spin_iters,
        ..Options::default()
    })
}

/// Runs `aihf bandit`: fits the requested estimators ([`Report::from_file`]), writes `--out`
/// and `--csv`, prints the JSON or the table (on standard error when the JSON goes to standard
/// output) and, with `--timing`, where the time went.
pub fn run(a: Args) -> anyhow::Result<()> {
    let json_to_stdout = json_to_stdout(&a)?;
    let opts = options(&a)?;
    let rep = Report::from_file(&a.data, &opts, &a.method, a.timing)?
        .failed_alone()
        .map_err(|(m, e)| anyhow::Error::new(e).context(format!("method {m}")))?;
    let t_out = Instant::now();
    let value = rep.json();
    if let Some(path) = &a.out {
        aihf::io::write_json(path, &value)?;
    }
    if let Some(path) = &a.csv {
        aihf::io::write_csv(path, &report::CSV_HEADER, &rep.csv_rows())?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        for line in rep.table_lines() {
            if json_to_stdout {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        }
    }
    for path in a.out.iter().chain(&a.csv) {
        super::wrote(path, a.json || json_to_stdout);
    }
    if let Some(line) = rep.timing_line(t_out.elapsed().as_secs_f64()) {
        eprintln!("{line}");
    }
    Ok(())
}
