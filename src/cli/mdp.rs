//! `aihf mdp solve|sample|train` and `aihf rates` (SPEC §2).
use aihf::error::AihfError;
use aihf::io::{at_most_one_stdio, is_stdio, read_json, write_json, write_output};
use aihf::mdp::algorithm1::{Options, StepRule};
use aihf::mdp::bellman::Stopping;
use aihf::mdp::fit;
use aihf::mdp::rates::{self, RatesConfig, RatesResult};
use aihf::mdp::report::{self, SampleRequest};
use aihf::mdp::traj;
use aihf::mdp::Mdp;
use aihf::valid::{Check, Valid};
use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum MdpCommand {
    /// Soft-optimal Q, V, policy and occupancy (time-indexed for a finite horizon).
    Solve(SolveArgs),
    /// Sample demonstrations (soft-optimal policy) and preference pairs (BTL on the true
    /// return) as JSONL.
    Sample(SampleArgs),
    /// Algorithm 1 (AIHF) on demonstration and preference files, with the two-stage RLHF
    /// baseline and distances to the ground-truth policy (the MDP file's reward).
    Train(TrainArgs),
}

#[derive(ClapArgs, Debug)]
pub struct SolveArgs {
    /// MDP JSON file (format: `aihf::mdp` documentation, README); `-` reads standard input.
    #[arg(long)]
    pub mdp: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Certified bound on ‖V − V*‖∞ for value iteration.
    #[arg(long, default_value_t = aihf::tol::VI_TOL)]
    pub tol: f64,
    /// Certified stopping rule of value iteration: `sup` (contraction bound γ/(1−γ)‖ΔV‖∞, the
    /// default) or `span` (MacQueen); not for a finite horizon (solved by backward induction).
    #[arg(long, value_enum)]
    pub stopping: Option<StopRule>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StopRule {
    /// Stop when γ/(1−γ)‖ΔV‖∞ ≤ tol.
    Sup,
    /// MacQueen's span bounds.
    Span,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PairPolicy {
    /// Pairs drawn from π0.
    Reference,
    /// Pairs drawn from the soft-optimal policy.
    Optimal,
}

#[derive(ClapArgs, Debug)]
pub struct SampleArgs {
    /// MDP JSON file; `-` reads standard input.
    #[arg(long)]
    pub mdp: PathBuf,
    /// Number of demonstrations.
    #[arg(long, default_value_t = 100)]
    pub n: usize,
    /// Trajectory length (default: the horizon, else the first L with γ^L < 1e-3).
    #[arg(long)]
    pub length: Option<usize>,
    /// Demonstrations output (JSONL); `-` writes standard output.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of preference pairs.
    #[arg(long, default_value_t = 0)]
    pub prefs: usize,
    /// Preferences output (JSONL; required with --prefs); `-` writes standard output.
    #[arg(long, requires = "prefs")]
    pub prefs_out: Option<PathBuf>,
    /// Policy the compared trajectories are drawn from (default `reference`; needs --prefs).
    #[arg(long, value_enum, requires = "prefs")]
    pub pair_policy: Option<PairPolicy>,
    /// Seed (recorded on every line).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub use aihf::mdp::fit::RewardKind;

#[derive(ClapArgs, Debug)]
pub struct TrainArgs {
    /// MDP JSON file (its reward is the ground truth); `-` reads standard input.
    #[arg(long)]
    pub mdp: PathBuf,
    /// Demonstrations (JSONL, `{"steps": [[s, a], ...]}` per line); `-` reads standard input.
    #[arg(long)]
    pub demos: PathBuf,
    /// Preferences (JSONL, `{"winner": [...], "loser": [...]}` per line); `-` reads standard
    /// input.
    #[arg(long)]
    pub prefs: Option<PathBuf>,
    /// Output folder (theta.json, policy.json, trace.json, summary.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Iterations K.
    #[arg(long, default_value_t = 20_000)]
    pub iters: usize,
    /// α (step α/√K, or α with --constant-step).
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
    /// Constant step α instead of α/√K.
    #[arg(long)]
    pub constant_step: bool,
    /// λ, weight of the preference term.
    #[arg(long, default_value_t = 1.0)]
    pub lambda: f64,
    /// Demonstration trajectories per stochastic gradient.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Soft Bellman steps per iteration.
    #[arg(long, default_value_t = 1)]
    pub policy_steps: usize,
    /// Reward model: tabular θ ∈ R^{S·A}, or linear in the MDP file's features.
    #[arg(long, value_enum, default_value_t = RewardKind::Tabular)]
    pub reward: RewardKind,
    /// Record the Theorem 4.1 quantities per iteration (an exact solve per iteration).
    #[arg(long)]
    pub exact_metrics: bool,
    /// Ridge of the two-stage baseline's BTL fit (makes it unique when pairs do not identify θ).
    #[arg(long, default_value_t = 1e-3)]
    pub ridge: f64,
    /// Seed of the stochastic gradients.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(ClapArgs, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RatesArgs {
    #[command(subcommand)]
    pub command: Option<RatesCommand>,
    /// Published sizes: K = 2^8 … 2^16, 8 seeds (default: the quick K = 2^6 … 2^13, 5 seeds).
    #[arg(long)]
    pub full: bool,
    /// Master seed; the default is `aihf verify`'s, so both run the same experiment.
    #[arg(long, default_value_t = aihf::verify::DEFAULT_SEED)]
    pub seed: u64,
    /// Output folder (rates.json, rates.png, rates.svg); default `results/rates`, or with
    /// --redraw the folder of its JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Redraw the figure from an existing rates.json instead of computing (`-` reads standard
    /// input; then --out is required).
    #[arg(long, conflicts_with_all = [
        "full", "seed", "log2_k", "seeds", "quiet", "mdp", "gamma", "lambda", "alpha",
        "control_step", "pairs",
    ])]
    pub redraw: Option<PathBuf>,
    /// Run the experiment on this discounted MDP (JSON, the `mdp solve` format; its reward is
    /// the truth, linear in its `features` when given) instead of the built-in random one;
    /// `-` reads standard input.
    #[arg(long)]
    pub mdp: Option<PathBuf>,
    /// Discount γ ∈ [0, 1): of the built-in MDP, or replacing the --mdp file's `gamma`.
    #[arg(long)]
    pub gamma: Option<f64>,
    /// λ, weight of the preference term (default 1).
    #[arg(long)]
    pub lambda: Option<f64>,
    /// α of the step α/√K (default 1).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Constant step of the negative control (default 0.1).
    #[arg(long)]
    pub control_step: Option<f64>,
    /// Size of the fixed preference-pair set (default 200).
    #[arg(long)]
    pub pairs: Option<usize>,
    /// Override the K grid's exponents, e.g. `--log2-k 8,10,12` (at least two distinct K and
    /// three runs in all).
    #[arg(long, value_delimiter = ',')]
    pub log2_k: Option<Vec<u32>>,
    /// Override the number of seeds.
    #[arg(long)]
    pub seeds: Option<usize>,
    /// No progress bar.
    #[arg(long, alias = "no-progress")]
    pub quiet: bool,
    #[command(flatten)]
    pub sharding: super::ShardArgs,
}

#[derive(Subcommand, Debug)]
pub enum RatesCommand {
    /// Merge rates shard files into the rates.json, rates.csv and figure of the unsharded run;
    /// checks that every run is present exactly once and from the same configuration.
    Merge(RatesMergeArgs),
}

#[derive(clap::Args, Debug)]
pub struct RatesMergeArgs {
    /// Folders holding the shard files (`rates.shard-I-of-N.aihfshard`).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Output folder for rates.json, rates.csv and the figure.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(c: MdpCommand) -> anyhow::Result<()> {
    match c {
        MdpCommand::Solve(a) => solve(a),
        MdpCommand::Sample(a) => sample(a),
        MdpCommand::Train(a) => train(a),
    }
}

fn solve(a: SolveArgs) -> anyhow::Result<()> {
    let stopping = a.stopping.map(|r| match r {
        StopRule::Sup => Stopping::Sup,
        StopRule::Span => Stopping::Span,
    });
    let report = report::solve_file(&a.mdp, a.tol, stopping)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json()?)?);
    } else {
        print!("{}", report.table()?);
    }
    Ok(())
}

fn sample(a: SampleArgs) -> anyhow::Result<()> {
    at_most_one_stdio(&[
        ("--out", Some(&a.out)),
        ("--prefs-out", a.prefs_out.as_deref()),
    ])?;
    if a.prefs > 0 && a.prefs_out.is_none() {
        return Err(AihfError::param("prefs", "--prefs needs --prefs-out").into());
    }
    if a.prefs == 0 && (a.prefs_out.is_some() || a.pair_policy.is_some()) {
        return Err(AihfError::param(
            "prefs",
            "--prefs-out and --pair-policy need --prefs N with N ≥ 1 (nothing would be sampled)",
        )
        .into());
    }
    let mdp = Mdp::from_file(&a.mdp)?;
    let req = SampleRequest {
        n: a.n,
        length: a.length,
        prefs: a.prefs,
        pair_policy: match a.pair_policy.unwrap_or(PairPolicy::Reference) {
            PairPolicy::Reference => report::PairPolicy::Reference,
            PairPolicy::Optimal => report::PairPolicy::Optimal,
        },
        seed: a.seed,
    };
    let sampled = report::sample_jsonl(&mdp, &req)?;
    write_output(&a.out, sampled.demos.as_bytes())?;
    if let (Some(p), Some(text)) = (&a.prefs_out, &sampled.prefs) {
        write_output(p, text.as_bytes())?;
    }
    let what = format!(
        "{} demonstrations of length {}, seed {}",
        a.n, sampled.length, a.seed
    );
    say_written(&a.out, &what);
    if let Some(p) = &a.prefs_out {
        say_written(p, &format!("{} preference pairs", a.prefs));
    }
    Ok(())
}

/// One line per output of `mdp sample`; on standard error, since standard output may carry
/// the data.
fn say_written(p: &Path, what: &str) {
    if is_stdio(p) {
        eprintln!("{what} written to standard output");
    } else {
        eprintln!("wrote {} ({what})", p.display());
    }
}

fn train(a: TrainArgs) -> anyhow::Result<()> {
    // λ weighs the preference term: without preferences it would be ignored.
    if a.prefs.is_none() && a.lambda.to_bits() != 1.0f64.to_bits() {
        return Err(AihfError::param(
            "lambda",
            "weighs the preference term, but no --prefs are given (it would be ignored)",
        )
        .into());
    }
    at_most_one_stdio(&[
        ("--mdp", Some(&a.mdp)),
        ("--demos", Some(&a.demos)),
        ("--prefs", a.prefs.as_deref()),
    ])?;
    let mdp = Mdp::from_file(&a.mdp)?;
    let demos = traj::read_demos(&a.demos, &mdp)?;
    let prefs = match &a.prefs {
        Some(p) => traj::read_prefs(p, &mdp)?,
        None => vec![],
    };
    let opts = train_options(&a).checked()?;
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let f = fit::fit(
        &mdp, a.reward, &demos, &prefs, &opts, a.ridge, a.seed, &mut rng,
    )?;
    let written = f.write_outputs(&mdp, &a.out)?;
    print!("{}", f.summary_text());
    for p in &written {
        super::wrote(p, false);
    }
    Ok(())
}

/// Algorithm 1's options as `mdp train`'s flags set them.
fn train_options(a: &TrainArgs) -> Options {
    Options {
        iterations: a.iters,
        alpha: a.alpha,
        step: if a.constant_step {
            StepRule::Constant
        } else {
            StepRule::InvSqrtK
        },
        lambda: a.lambda,
        batch: a.batch,
        policy_steps: a.policy_steps,
        exact_metrics: a.exact_metrics,
        ..Options::default()
    }
}

pub fn run_rates(a: RatesArgs) -> anyhow::Result<()> {
    if let Some(RatesCommand::Merge(m)) = &a.command {
        return merge_rates(m);
    }
    at_most_one_stdio(&[
        ("--mdp", a.mdp.as_deref()),
        ("--redraw", a.redraw.as_deref()),
    ])?;
    match &a.redraw {
        Some(p) => redraw_rates(p, a.out.as_deref()),
        None => compute_rates(&a),
    }
}

/// `aihf rates merge`: the shards' runs assembled into the unsharded result.
fn merge_rates(m: &RatesMergeArgs) -> anyhow::Result<()> {
    let (res, files) = aihf::sim::rates_shard::merge(&m.dirs)?;
    println!("merged {} shard files", files.len());
    let json = m.out.join("rates.json");
    write_json(&json, &res)?;
    report_rates(&res, &m.out, vec![json], &m.out.join("rates.csv"))
}

/// `aihf rates --redraw FILE`: the CSV and figure of a written result, beside it unless
/// `--out` says otherwise (never over the default run's figure).
fn redraw_rates(p: &Path, out: Option<&Path>) -> anyhow::Result<()> {
    let dir = match (out, is_stdio(p)) {
        (Some(o), _) => o.to_path_buf(),
        (None, true) => {
            return Err(AihfError::param(
                "out",
                "--redraw - (standard input) needs --out: there is no folder beside it",
            )
            .into())
        }
        (None, false) => p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), PathBuf::from),
    };
    let res = RatesResult::load(p)?;
    // The tidy CSV beside the results JSON (or in --out).
    let csv = match out {
        None if !is_stdio(p) => aihf::io::csv_beside(p),
        _ => dir.join("rates.csv"),
    };
    report_rates(&res, &dir, vec![], &csv)
}

/// `aihf rates`: the experiment (or one shard of it) on the built-in MDP or `--mdp`'s.
fn compute_rates(a: &RatesArgs) -> anyhow::Result<()> {
    // Everything is checked before the MDP is read or anything is computed.
    let cfg = rates_config(a)?;
    let (problem, cfg) = match &a.mdp {
        Some(path) => rates::setup_on(&read_rates_mdp(path, a.gamma)?, &cfg)?,
        None => (rates::setup(&cfg)?, cfg),
    };
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("results/rates"));
    if let Some((sh, from)) = a.sharding.choose()? {
        eprintln!("shard {}/{} (from {from})", sh.index, sh.count);
        let file = aihf::sim::rates_shard::run_shard(&cfg, &problem, sh, &out, !a.quiet)?;
        super::wrote(&file, false);
        return Ok(());
    }
    let res = rates::run_problem(&cfg, &problem, !a.quiet)?;
    let json = out.join("rates.json");
    write_json(&json, &res)?;
    report_rates(&res, &out, vec![json], &out.join("rates.csv"))
}

/// The experiment's configuration: quick or `--full`, with the flags' overrides, checked.
fn rates_config(a: &RatesArgs) -> anyhow::Result<Valid<RatesConfig>> {
    let mut cfg = if a.full {
        RatesConfig::full(a.seed)
    } else {
        RatesConfig::quick(a.seed)
    };
    if let Some(e) = &a.log2_k {
        if let Some(x) = e.iter().find(|&&x| x > 30) {
            return Err(AihfError::param(
                "log2-k",
                format!("exponents must be at most 30, got {x}"),
            )
            .into());
        }
        cfg.ks = e.iter().map(|&x| 1usize << x).collect();
    }
    cfg.seeds = a.seeds.unwrap_or(cfg.seeds);
    cfg.gamma = a.gamma.unwrap_or(cfg.gamma);
    cfg.lambda = a.lambda.unwrap_or(cfg.lambda);
    cfg.alpha = a.alpha.unwrap_or(cfg.alpha);
    cfg.control_step = a.control_step.unwrap_or(cfg.control_step);
    cfg.n_pairs = a.pairs.unwrap_or(cfg.n_pairs);
    cfg.mdp_file = a.mdp.as_ref().map(|p| p.display().to_string());
    Ok(cfg.checked()?)
}

/// The `--mdp` file of `aihf rates`, its `gamma` replaced by `--gamma` when given.
fn read_rates_mdp(path: &Path, gamma: Option<f64>) -> anyhow::Result<Mdp> {
    let mut v: serde_json::Value = read_json(path)?;
    if let (Some(g), Some(obj)) = (gamma, v.as_object_mut()) {
        obj.insert("gamma".into(), json!(g));
    }
    Mdp::from_value(&v)
        .map_err(|e| anyhow::Error::new(e).context(format!("--mdp {}", path.display())))
}

/// Writes the CSV and the figure of `res` into `out`, prints the verdicts, then one line per
/// file written (`written`: the files already written, such as the results JSON).
fn report_rates(
    res: &RatesResult,
    out: &Path,
    mut written: Vec<PathBuf>,
    csv: &Path,
) -> anyhow::Result<()> {
    written.extend(rates::write_outputs(res, out, csv)?);
    print!("{}", res.summary_text());
    for f in &written {
        super::wrote(f, false);
    }
    Ok(())
}
