//! `aihf truth ...`: sequence-level ground truth on the Markov task (SPEC §3.1–§3.2), in the
//! default build: `gen` writes a task and exact data; `estimate` solves the exact estimators;
//! `study` runs the replicated estimator study.

use aihf::truth::data;
use clap::{Args, Subcommand};
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
        "wrote {} (V = {}, H = {}, {} demonstrations from π*, {} BTL-labelled pairs; V0 = {:.6}; \
         train with --vocab {} --context {} --truth task.json)",
        a.out_dir.display(),
        a.vocab,
        a.horizon,
        g.records.demos.len(),
        g.records.prefs.len(),
        g.task.optimal_objective(),
        a.vocab,
        a.horizon + 1
    );
    Ok(())
}

pub fn run(c: TruthCommand) -> anyhow::Result<()> {
    match c {
        TruthCommand::Gen(a) => run_gen(&a),
        TruthCommand::Score(a) => super::truth_score::run_score(&a),
        TruthCommand::Export(a) => super::truth_score::run_export(&a),
        TruthCommand::KlStudy(a) => super::truth_score::run_kl_study(&a),
    }
}
