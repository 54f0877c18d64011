//! `aihf truth ...`: sequence-level ground truth on the Markov task (SPEC §3.1–§3.2), in the
//! default build: `gen` writes a task and exact data; `estimate` solves the exact estimators;
//! `study` (`truth_study.rs`) runs the replicated estimator study, whole or sharded.

use aihf::method::MethodSet;
use aihf::truth::data;
use aihf::truth::estimate::{Options, RefKind, Support, METHODS};
use aihf::truth::report;
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum TruthCommand {
    /// Write a Markov task (SPEC §3.1) and exact data from it: task.json, demos.jsonl (responses
    /// of π*), prefs.jsonl (pairs of π_ref responses labelled by BTL on r*,
    /// P(c ≻ r) = σ(r*(c) − r*(r))). Same files and draws as `neural gen-markov`.
    Gen(GenArgs),
    /// Score a policy from its samples and log-probabilities against the exact π* (k1/k3 KL to
    /// π* and π_ref, true reward, regularised suboptimality, win rate, sanity, frontier figure).
    Score(super::truth_score::ScoreArgs),
    /// Export the task's data for an outside trainer (TRL conventions + a HF tokenizer.json).
    Export(super::truth_score::ExportArgs),
    /// Bias and variance of the k1/k2/k3 KL estimators and of their gradients (SPEC §3.2).
    KlStudy(super::truth_score::KlStudyArgs),
    /// Solve the exact sequence-level estimators (sft irl btl rlhf dpo aihf) on a task's data
    /// and score each against π* exactly (KL both ways, true reward, KL to π_ref).
    Estimate(EstimateArgs),
    /// Replicated estimator study from a spec file (sims/truth_*.toml): R data sets per size,
    /// every estimator solved exactly, mean KL(π̂‖π*) with intervals, paired differences against
    /// AIHF; writes <out>/<name>.json and the figures drawn from it.
    Study(super::truth_study::StudyArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum SupportArg {
    /// The task's reward support (oracle sparsity).
    Task,
    /// All V² bigrams.
    Full,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum RefArg {
    /// The SFT policy.
    Sft,
    /// The task's reference policy π_ref.
    Ref,
}

#[derive(Args, Debug)]
pub struct EstimateArgs {
    /// task.json (from `truth gen`); `-` reads standard input.
    #[arg(long)]
    pub task: PathBuf,
    /// demos.jsonl; `-` reads standard input.
    #[arg(long)]
    pub demos: Option<PathBuf>,
    /// prefs.jsonl; `-` reads standard input.
    #[arg(long)]
    pub prefs: Option<PathBuf>,
    /// Estimator, a comma-separated list of them, or `all`.
    #[arg(long, default_value = "all", value_parser = MethodSet::parser(METHODS))]
    pub method: MethodSet,
    /// Weight λ of the preference likelihood in AIHF.
    #[arg(long, default_value_t = 1.0)]
    pub lambda: f64,
    /// Ridge α on w (needed where the likelihood has no finite maximiser).
    #[arg(long, default_value_t = 0.0)]
    pub ridge: f64,
    /// Reward support of the sequence-level fits.
    #[arg(long, value_enum, default_value = "task")]
    pub support: SupportArg,
    /// Reference of RLHF's KL term and DPO's ratio (default `sft`; only with --method rlhf or
    /// dpo: `all` reports both).
    #[arg(long, value_enum)]
    pub rlhf_reference: Option<RefArg>,
    /// Print the JSON report.
    #[arg(long)]
    pub json: bool,
    /// Write every solved policy as [H][V][V] JSON here; `-` writes standard output (and the
    /// table to standard error).
    #[arg(long)]
    pub policy_out: Option<PathBuf>,
    /// Also write the table as CSV (one row per method; columns in the README) to this file.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

/// The task and data sizes of `truth gen` (shared with `neural gen-markov`).
#[derive(Args, Debug)]
pub struct GenArgs {
    /// Folder for task.json, demos.jsonl, prefs.jsonl.
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Vocabulary size V.
    #[arg(long, default_value_t = 4096)]
    pub vocab: usize,
    /// Response length H.
    #[arg(long, default_value_t = 256)]
    pub horizon: usize,
    /// Nonzero rewards per row of w.
    #[arg(long, default_value_t = 8)]
    pub nnz_per_row: usize,
    /// Each nonzero reward is reward_scale · N(0, 1).
    #[arg(long, default_value_t = 1.0)]
    pub reward_scale: f64,
    /// KL temperature β of π* ∝ π_ref exp(r*/β).
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// Demonstrations (responses of π*).
    #[arg(long, default_value_t = 1000)]
    pub demos: usize,
    /// Preference pairs.
    #[arg(long, default_value_t = 1000)]
    pub comparisons: usize,
    /// Seed of the task (the data use seed + 1).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs `truth gen`/`neural gen-markov`: generates and writes, then prints one summary line.
pub fn run_gen(a: &GenArgs) -> anyhow::Result<()> {
    use std::io::Write as _;
    let g = data::generate(
        &a.out_dir,
        a.vocab,
        a.horizon,
        a.nnz_per_row,
        a.reward_scale,
        a.beta,
        a.demos,
        a.comparisons,
        a.seed,
    )?;
    println!(
        "generated {}: V = {}, H = {}, {} demonstrations from π*, {} BTL-labelled pairs; V0 = {:.6}; \
         train with --vocab {} --context {} --truth task.json",
        a.out_dir.display(),
        a.vocab,
        a.horizon,
        g.records.demos.len(),
        g.records.prefs.len(),
        g.task.optimal_objective(),
        a.vocab,
        a.horizon + 1
    );
    for name in ["task.json", "demos.jsonl", "prefs.jsonl"] {
        super::wrote(&a.out_dir.join(name), false);
    }
    let _ = std::io::stdout().flush();
    Ok(())
}

pub fn run(c: TruthCommand) -> anyhow::Result<()> {
    match c {
        TruthCommand::Gen(a) => run_gen(&a),
        TruthCommand::Score(a) => super::truth_score::run_score(&a),
        TruthCommand::Export(a) => super::truth_score::run_export(&a),
        TruthCommand::KlStudy(a) => super::truth_score::run_kl_study(&a),
        TruthCommand::Estimate(a) => run_estimate(a),
        TruthCommand::Study(a) => super::truth_study::run(a),
    }
}

/// Refuses two `-` inputs and `--json` with `--policy-out -`; returns whether the policies go
/// to standard output.
fn policy_to_stdout(a: &EstimateArgs) -> anyhow::Result<bool> {
    aihf::io::at_most_one_stdio(&[
        ("--task", Some(&a.task)),
        ("--demos", a.demos.as_deref()),
        ("--prefs", a.prefs.as_deref()),
    ])?;
    let to_stdout = a.policy_out.as_deref().is_some_and(aihf::io::is_stdio);
    if a.json && to_stdout {
        anyhow::bail!(
            "invalid options `--json` and `--policy-out -`: both write to standard output; use one"
        );
    }
    Ok(to_stdout)
}

/// Runs `truth estimate`: solves and scores ([`report::estimate_files`]), writes the CSV, prints
/// the JSON or the table (on standard error when standard output carries the policies).
fn run_estimate(a: EstimateArgs) -> anyhow::Result<()> {
    let policy_to_stdout = policy_to_stdout(&a)?;
    let rep = report::estimate_files(&report::EstimateRequest {
        task: &a.task,
        demos: a.demos.as_deref(),
        prefs: a.prefs.as_deref(),
        options: Options {
            lambda: a.lambda,
            ridge: a.ridge,
            support: match a.support {
                SupportArg::Task => Support::Task,
                SupportArg::Full => Support::Full,
            },
        },
        methods: &a.method,
        reference: a.rlhf_reference.map(|r| match r {
            RefArg::Sft => RefKind::Sft,
            RefArg::Ref => RefKind::Ref,
        }),
        policy_out: a.policy_out.as_deref(),
    })?;
    if let Some(f) = &a.policy_out {
        super::wrote(f, a.json);
    }
    if let Some(p) = &a.csv {
        let rows = report::csv::estimate_rows(&rep.json);
        aihf::io::write_csv(p, &report::csv::ESTIMATE_HEADER, &rows)?;
        super::wrote(p, a.json || policy_to_stdout);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rep.json)?);
    } else {
        for line in report::estimate_table(&rep.json) {
            if policy_to_stdout {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        }
    }
    Ok(())
}
