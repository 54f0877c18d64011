//! `aihf mdp solve|sample|train` and `aihf rates` (SPEC §2).
use aihf::error::AihfError;
use aihf::io::{at_most_one_stdio, is_stdio, read_json, write_json, write_output};
use aihf::mdp::algorithm1::{Options, StepRule};
use aihf::mdp::bellman::{self, Solution};
use aihf::mdp::fit;
use aihf::mdp::occupancy::{self, Occupancy};
use aihf::mdp::rates::{self, RatesConfig, RatesResult};
use aihf::mdp::traj::{self, Length, Sampler};
use aihf::mdp::Mdp;
use aihf::sim::shard::Shard;
use aihf::valid::Check;
use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::path::PathBuf;

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
    /// Compute only shard I of N (0-based) of the experiment's runs and write
    /// `OUT/rates.shard-I-of-N.aihfshard`; merge with `aihf rates merge`. Default: AIHF_SHARD=I/N,
    /// or Slurm's SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, or Kubernetes'
    /// JOB_COMPLETION_INDEX with AIHF_SHARD_COUNT, when set.
    #[arg(long, value_name = "I/N", conflicts_with = "redraw")]
    pub shard: Option<String>,
    /// Ignore the shard variables of the environment (run the whole experiment).
    #[arg(long, conflicts_with = "shard")]
    pub no_shard: bool,
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

fn rows(x: &[f64], na: usize) -> Vec<Vec<f64>> {
    x.chunks(na).map(<[f64]>::to_vec).collect()
}

/// What `mdp solve`'s discounted occupancy is (printed and written as `occupancy_normalization`).
const OCC_NOTE_DISCOUNTED: &str = "unnormalised discounted occupancy d(s,a) = Σ_t γ^t P(s_t = s, a_t = a), which sums to 1/(1−γ); divide by 1/(1−γ) for a distribution";

/// What `mdp solve`'s finite-horizon occupancy is.
const OCC_NOTE_FINITE: &str = "per-step occupancy d_t(s,a) = P(s_t = s, a_t = a), each step a distribution (sums to 1), undiscounted";

fn solve(a: SolveArgs) -> anyhow::Result<()> {
    aihf::error::check_positive("tol", a.tol)?;
    let mdp = Mdp::from_file(&a.mdp)?;
    if let (Some(t), Some(_)) = (mdp.horizon(), a.stopping) {
        return Err(AihfError::param(
            "stopping",
            format!(
                "the MDP has horizon {t}: it is solved exactly by backward induction, with no \
                 stopping rule"
            ),
        )
        .into());
    }
    let na = mdp.n_actions();
    let sol = match mdp.horizon() {
        None => Solution::Discounted(bellman::value_iteration(
            &mdp,
            mdp.reward(),
            None,
            &bellman::ViOptions {
                tol: a.tol,
                stopping: match a.stopping.unwrap_or(StopRule::Sup) {
                    StopRule::Sup => bellman::Stopping::Sup,
                    StopRule::Span => bellman::Stopping::Span,
                },
                ..Default::default()
            },
        )?),
        Some(_) => bellman::solve(&mdp, mdp.reward(), a.tol)?,
    };
    let occ = occupancy::of_solution(&mdp, &sol)?;
    let probs = |lp: &[f64]| rows(&lp.iter().map(|l| l.exp()).collect::<Vec<_>>(), na);
    let value = match (&sol, &occ) {
        (Solution::Discounted(s), Occupancy::Discounted(d)) => json!({
            "kind": "discounted", "gamma": mdp.gamma(), "beta": mdp.beta(),
            "q": rows(&s.q, na), "v": s.v, "policy": probs(&s.log_pi),
            "occupancy": rows(d, na),
            "occupancy_normalization": OCC_NOTE_DISCOUNTED,
            "occupancy_total": d.iter().sum::<f64>(),
            "iterations": s.iterations, "error_bound": s.error_bound,
        }),
        (Solution::Finite(f), Occupancy::Finite(d)) => json!({
            "kind": "finite_horizon", "horizon": mdp.horizon(), "gamma": mdp.gamma(), "beta": mdp.beta(),
            "q": f.q.iter().map(|q| rows(q, na)).collect::<Vec<_>>(),
            "v": f.v,
            "policy": f.log_pi.iter().map(|l| probs(l)).collect::<Vec<_>>(),
            "occupancy": d.iter().map(|x| rows(x, na)).collect::<Vec<_>>(),
            "occupancy_normalization": OCC_NOTE_FINITE,
        }),
        _ => anyhow::bail!("internal: solution and occupancy kinds differ"),
    };
    let mut value = value;
    value["inputs"] = json!({ "mdp": aihf::io::input_record(&a.mdp)? });
    value["tol"] = json!(a.tol);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let print_table = |label: &str, v: &[f64], lp: &[f64], d: &[f64]| {
        println!("{label}");
        println!(
            "{:>6} {:>12}  policy π(a|s)                  occupancy d(s,a)",
            "state", "V(s)"
        );
        for s in 0..mdp.n_states() {
            let p: Vec<String> = (0..na)
                .map(|k| format!("{:.4}", lp[s * na + k].exp()))
                .collect();
            let o: Vec<String> = (0..na).map(|k| format!("{:.4}", d[s * na + k])).collect();
            println!(
                "{s:>6} {:>12.6}  [{}]  [{}]",
                v[s],
                p.join(", "),
                o.join(", ")
            );
        }
    };
    match (&sol, &occ) {
        (Solution::Discounted(s), Occupancy::Discounted(d)) => {
            println!(
                "discounted MDP: {} states, {} actions, γ = {}, β = {}; value iteration: {} sweeps, ‖V − V*‖∞ ≤ {:.2e}",
                mdp.n_states(), na, mdp.gamma(), mdp.beta(), s.iterations, s.error_bound
            );
            print_table("", &s.v, &s.log_pi, d);
            println!(
                "occupancy: {OCC_NOTE_DISCOUNTED}; here Σ d = {:.6}",
                d.iter().sum::<f64>()
            );
        }
        (Solution::Finite(f), Occupancy::Finite(d)) => {
            println!(
                "finite-horizon MDP: {} states, {} actions, T = {}, γ = {}, β = {} (backward induction)",
                mdp.n_states(), na, f.q.len(), mdp.gamma(), mdp.beta()
            );
            for (t, (lp, dt)) in f.log_pi.iter().zip(d).enumerate() {
                print_table(&format!("t = {t}"), &f.v[t], lp, dt);
            }
            println!("occupancy: {OCC_NOTE_FINITE}");
        }
        _ => {}
    }
    Ok(())
}

fn default_length(mdp: &Mdp, length: Option<usize>) -> anyhow::Result<usize> {
    let l = match (length, mdp.horizon()) {
        (Some(l), _) => l,
        (None, Some(t)) => t,
        (None, None) if mdp.gamma() > 0.0 => ((1e-3f64).ln() / mdp.gamma().ln()).ceil() as usize,
        (None, None) => 1,
    };
    if l == 0 {
        anyhow::bail!("invalid parameter `length`: must be at least 1");
    }
    if let Some(t) = mdp.horizon() {
        if l > t {
            anyhow::bail!(
                "invalid parameter `length`: {l} exceeds the MDP's horizon {t} (steps t ≥ T are \
                 outside the finite-horizon model)"
            );
        }
    }
    Ok(l.max(1))
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
    let len = default_length(&mdp, a.length)?;
    let sol = bellman::solve(&mdp, mdp.reward(), aihf::tol::VI_TOL)?;
    let pis: Vec<Vec<f64>> = sol
        .log_pis()
        .iter()
        .map(|lp| lp.iter().map(|l| l.exp()).collect())
        .collect();
    let pi_refs: Vec<&[f64]> = pis.iter().map(Vec::as_slice).collect();
    let sampler = Sampler::new(&mdp);
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let mut text = String::new();
    for i in 0..a.n {
        let t = traj::sample(&mdp, &sampler, &pi_refs, Length::Fixed(len), &mut rng);
        text.push_str(&traj::demo_line(&t, a.seed, i));
        text.push('\n');
    }
    write_output(&a.out, text.as_bytes())?;
    if let Some(po) = &a.prefs_out {
        let ref_pi: Vec<f64> = mdp.log_ref().iter().map(|l| l.exp()).collect();
        let pp: Vec<&[f64]> = match a.pair_policy.unwrap_or(PairPolicy::Reference) {
            PairPolicy::Reference => vec![&ref_pi],
            PairPolicy::Optimal => pi_refs.clone(),
        };
        let prefs = traj::sample_preferences(
            &mdp,
            &sampler,
            &pp,
            Length::Fixed(len),
            mdp.reward(),
            a.prefs,
            &mut rng,
        );
        let mut text = String::new();
        for (i, p) in prefs.iter().enumerate() {
            text.push_str(&traj::pref_line(p, a.seed, i));
            text.push('\n');
        }
        write_output(po, text.as_bytes())?;
    }
    // One line per output; on standard error, since standard output may carry the data.
    let say = |p: &std::path::Path, what: String| {
        if is_stdio(p) {
            eprintln!("{what} written to standard output");
        } else {
            eprintln!("wrote {} ({what})", p.display());
        }
    };
    say(
        &a.out,
        format!("{} demonstrations of length {len}, seed {}", a.n, a.seed),
    );
    if let Some(p) = &a.prefs_out {
        say(p, format!("{} preference pairs", a.prefs));
    }
    Ok(())
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
    let opts = Options {
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
    };
    let opts = opts.checked()?;
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let f = fit::fit(
        &mdp, a.reward, &demos, &prefs, &opts, a.ridge, a.seed, &mut rng,
    )?;
    let mut written = vec![];
    for (name, v) in [
        ("theta.json", f.theta_json()),
        ("policy.json", f.policy_json(&mdp)),
        ("trace.json", f.trace_json()),
        ("summary.json", f.summary_json()),
    ] {
        write_json(&a.out.join(name), &v)?;
        written.push(a.out.join(name));
    }
    let tr = &f.trace;
    println!(
        "Algorithm 1: K = {}, η = {:.4e}, {:.3} s ({:.0} iterations/s)",
        a.iters,
        tr.eta,
        tr.seconds,
        a.iters as f64 / tr.seconds
    );
    if a.exact_metrics && !tr.e_pol.is_empty() {
        println!(
            "Theorem 4.1 averages over the K iterations: E_pol (20a) = {:.4e}, E_grad (20b) = {:.4e}",
            tr.mean_e_pol(),
            tr.mean_grad_sq()
        );
    }
    println!(
        "distance to the true soft-optimal policy (TV; max over states / occupancy-weighted):"
    );
    let (m, v) = f.aihf_distance;
    println!("  AIHF (Algorithm 1)   {m:.4} / {v:.4}");
    if let Some((m, v)) = f.rlhf_distance {
        println!("  two-stage RLHF       {m:.4} / {v:.4}");
    }
    for p in &written {
        super::wrote(p, false);
    }
    Ok(())
}

pub fn run_rates(a: RatesArgs) -> anyhow::Result<()> {
    if let Some(RatesCommand::Merge(m)) = &a.command {
        let (res, files) = aihf::sim::rates_shard::merge(&m.dirs)?;
        println!("merged {} shard files", files.len());
        let json = m.out.join("rates.json");
        write_json(&json, &res)?;
        return report_rates(&res, &m.out, vec![json], &m.out.join("rates.csv"));
    }
    at_most_one_stdio(&[
        ("--mdp", a.mdp.as_deref()),
        ("--redraw", a.redraw.as_deref()),
    ])?;
    let mut written = vec![];
    let (res, out): (RatesResult, PathBuf) = match &a.redraw {
        Some(p) => {
            // Beside the JSON unless --out says otherwise (never over the default run's figure).
            let out = match (&a.out, is_stdio(p)) {
                (Some(o), _) => o.clone(),
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
            let mut r: RatesResult = read_json(p)?;
            r.config.check()?;
            r.refit();
            r.check_finite()?;
            (r, out)
        }
        None => {
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
            if let Some(s) = a.seeds {
                cfg.seeds = s;
            }
            if let Some(g) = a.gamma {
                cfg.gamma = g;
            }
            if let Some(l) = a.lambda {
                cfg.lambda = l;
            }
            if let Some(x) = a.alpha {
                cfg.alpha = x;
            }
            if let Some(x) = a.control_step {
                cfg.control_step = x;
            }
            if let Some(n) = a.pairs {
                cfg.n_pairs = n;
            }
            cfg.mdp_file = a.mdp.as_ref().map(|p| p.display().to_string());
            // Everything is checked before the MDP is read or anything is computed.
            let cfg = cfg.checked()?;
            let (problem, cfg) = match &a.mdp {
                Some(path) => {
                    let mut v: serde_json::Value = read_json(path)?;
                    if let (Some(g), Some(obj)) = (a.gamma, v.as_object_mut()) {
                        obj.insert("gamma".into(), json!(g));
                    }
                    let mdp = Mdp::from_value(&v).map_err(|e| {
                        anyhow::Error::new(e).context(format!("--mdp {}", path.display()))
                    })?;
                    rates::setup_on(&mdp, &cfg)?
                }
                None => (rates::setup(&cfg)?, cfg),
            };
            let out = a
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("results/rates"));
            let shard = match (&a.shard, a.no_shard) {
                (Some(s), _) => Some((Shard::parse(s)?, "--shard".to_string())),
                (None, true) => None,
                (None, false) => Shard::from_env()?,
            };
            if let Some((sh, from)) = shard {
                eprintln!("shard {}/{} (from {from})", sh.index, sh.count);
                let file = aihf::sim::rates_shard::run_shard(&cfg, &problem, sh, &out, !a.quiet)?;
                super::wrote(&file, false);
                return Ok(());
            }
            let res = rates::run_problem(&cfg, &problem, !a.quiet)?;
            write_json(&out.join("rates.json"), &res)?;
            written.push(out.join("rates.json"));
            (res, out)
        }
    };
    // The tidy CSV beside the results JSON (computed, or the one redrawn).
    let csv = match (&a.redraw, &a.out) {
        (Some(p), None) if !is_stdio(p) => aihf::io::csv_beside(p),
        _ => out.join("rates.csv"),
    };
    report_rates(&res, &out, written, &csv)
}

/// Writes the CSV and the figure of `res` into `out`, prints the verdicts, then one line per
/// file written (`written`: the files already written, such as the results JSON).
fn report_rates(
    res: &RatesResult,
    out: &std::path::Path,
    mut written: Vec<PathBuf>,
    csv: &std::path::Path,
) -> anyhow::Result<()> {
    aihf::io::write_csv(csv, &rates::CSV_HEADER, &res.csv_rows())?;
    written.push(csv.to_path_buf());
    written.extend(rates::render(res, &out.join("rates"))?);
    println!(
        "Theorem 4.1 rate check on {} ({} states, {} actions, γ = {}; {} s); rule: {}",
        res.config
            .mdp_file
            .as_deref()
            .unwrap_or("the built-in random MDP"),
        res.config.n_states,
        res.config.n_actions,
        res.config.gamma,
        res.seconds.round(),
        res.rule
    );
    for (name, f) in [
        ("E_pol  (20a), α/√K     ", &res.fit_pol),
        ("E_grad (20b), α/√K     ", &res.fit_grad),
        ("E_pol,  constant step  ", &res.control_fit_pol),
        ("E_grad, constant step  ", &res.control_fit_grad),
    ] {
        let d = f.decision();
        let more = d
            .units_to_decide
            .map(|n| format!(" (about {n} runs would decide)"))
            .unwrap_or_default();
        println!(
            "  {name} slope {:+.3}  95% CI [{:+.3}, {:+.3}]  n = {}  → {}{more}",
            f.slope, f.ci_low, f.ci_high, f.n, d.verdict
        );
    }
    for (name, f) in [
        ("E_pol ", &res.upper_fit_pol),
        ("E_grad", &res.upper_fit_grad),
    ] {
        if let Some(f) = f {
            println!(
                "  supplementary, upper half of the K grid: {name} slope {:+.3}  95% CI [{:+.3}, {:+.3}]",
                f.slope, f.ci_low, f.ci_high
            );
        }
    }
    for f in &written {
        super::wrote(f, false);
    }
    Ok(())
}
