//! `aihf sample`: write a data set drawn from a ground-truth reward.

use aihf::bandit::check_distribution;
use aihf::data::{all_pairs, sample_btl, sample_demos, BanditData};
use aihf::error::{check_positive, AihfError};
use clap::{Args as ClapArgs, ValueEnum};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde_json::json;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Truth {
    /// `r*_i ∼ N(mean, sd²)` i.i.d.
    Gaussian,
    /// `r*_i = slope · (i + 1)` (the paper's `i/10` for slope 0.1, 1-based i).
    Linear,
    /// An explicit vector given by `--reward`.
    Explicit,
}

impl Truth {
    /// The value's name on the command line.
    fn name(self) -> &'static str {
        match self {
            Truth::Gaussian => "gaussian",
            Truth::Linear => "linear",
            Truth::Explicit => "explicit",
        }
    }
}

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Ground-truth generator (default `gaussian`; `explicit` when `--reward` is given).
    #[arg(long, value_enum)]
    pub truth: Option<Truth>,
    /// Explicit reward vector, comma separated, e.g. `--reward -1,0.5,2` (implies `--truth
    /// explicit`; the number of actions is its length).
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        conflicts_with_all = ["n_actions", "mean", "sd", "slope"]
    )]
    pub reward: Option<Vec<f64>>,
    /// Number of actions (gaussian, linear).
    #[arg(long, default_value_t = 10)]
    pub n_actions: usize,
    /// Mean of the gaussian truth (default 0).
    #[arg(long, allow_negative_numbers = true)]
    pub mean: Option<f64>,
    /// Standard deviation of the gaussian truth (default 1).
    #[arg(long, allow_negative_numbers = true)]
    pub sd: Option<f64>,
    /// Slope of the linear truth (default 0.1).
    #[arg(long, allow_negative_numbers = true)]
    pub slope: Option<f64>,
    /// Temperature β: demonstrations from π ∝ exp(r*/β), comparisons σ(r*_i − r*_j) (SPEC §1.4).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub beta: f64,
    /// Number of demonstrations.
    #[arg(long, default_value_t = 100)]
    pub demos: u64,
    /// Restrict demonstrations to actions `0..K` (renormalised), as in Example 2.
    #[arg(long)]
    pub covered: Option<usize>,
    /// Comparisons for every pair i < j.
    #[arg(long, default_value_t = 0)]
    pub per_pair: u64,
    /// Comparisons on uniformly random pairs (in addition to --per-pair).
    #[arg(long, default_value_t = 0)]
    pub random_comparisons: u64,
    /// Seed (recorded in the file).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file (atomic write); standard output when absent or `-`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    aihf::bandit::check_temperature("beta", a.beta)?;
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let kind = match (&a.reward, a.truth) {
        (Some(_), None | Some(Truth::Explicit)) => Truth::Explicit,
        (Some(_), Some(t)) => {
            return Err(AihfError::param(
                "reward",
                format!(
                    "--reward gives an explicit truth, which conflicts with --truth {}",
                    t.name()
                ),
            )
            .into())
        }
        (None, t) => t.unwrap_or(Truth::Gaussian),
    };
    // The parameters of the other generators would be ignored silently.
    for (name, given, used_by) in [
        ("mean", a.mean.is_some(), Truth::Gaussian),
        ("sd", a.sd.is_some(), Truth::Gaussian),
        ("slope", a.slope.is_some(), Truth::Linear),
    ] {
        if given && kind != used_by {
            return Err(AihfError::param(
                name,
                format!("--{name} applies only to --truth {}", used_by.name()),
            )
            .into());
        }
    }
    let (truth, reward) = match (&a.reward, kind) {
        (Some(r), _) => ("explicit", r.clone()),
        (None, Truth::Explicit) => {
            return Err(
                AihfError::param("reward", "--truth explicit needs --reward r1,r2,...").into(),
            )
        }
        (None, Truth::Gaussian) => {
            let (mean, sd) = (a.mean.unwrap_or(0.0), a.sd.unwrap_or(1.0));
            check_positive("sd", sd)?;
            if !mean.is_finite() {
                return Err(AihfError::param("mean", "must be finite").into());
            }
            let d = Normal::new(mean, sd).map_err(|e| AihfError::param("sd", e.to_string()))?;
            (
                "gaussian",
                (0..a.n_actions).map(|_| d.sample(&mut rng)).collect(),
            )
        }
        (None, Truth::Linear) => {
            let slope = a.slope.unwrap_or(0.1);
            if !slope.is_finite() {
                return Err(AihfError::param("slope", "must be finite").into());
            }
            (
                "linear",
                (0..a.n_actions).map(|i| slope * (i + 1) as f64).collect(),
            )
        }
    };
    let n = reward.len();
    if n > aihf::data::MAX_ACTIONS {
        return Err(AihfError::param(
            "n_actions",
            format!(
                "{n} exceeds the limit {} of the data format",
                aihf::data::MAX_ACTIONS
            ),
        )
        .into());
    }
    if n == 0 {
        return Err(AihfError::param("n_actions", "must be at least 1").into());
    }
    if let Some(i) = reward.iter().position(|r| !r.is_finite()) {
        return Err(AihfError::param("reward", format!("entry {i} is {}", reward[i])).into());
    }
    let covered = a.covered.unwrap_or(n);
    if covered == 0 || covered > n {
        return Err(
            AihfError::param("covered", format!("must be in 1..={n}, got {covered}")).into(),
        );
    }
    let pairs = (n as u128) * (n as u128 - 1) / 2;
    let total =
        u128::from(a.demos) + u128::from(a.per_pair) * pairs + u128::from(a.random_comparisons);
    if total > u128::from(aihf::data::MAX_COUNT) {
        return Err(AihfError::param(
            "demos",
            format!("{total} observations exceed the supported total 2^53"),
        )
        .into());
    }
    let z: Vec<f64> = reward.iter().map(|r| r / a.beta).collect();
    let truth_policy = aihf::math::softmax(&z);
    let demo_policy = aihf::math::softmax(&z[..covered]);
    let mut demo_full = demo_policy.clone();
    demo_full.resize(n, 0.0);
    check_distribution("demonstration policy", &demo_full, n, false)?;
    let mut data = BanditData::empty(n)?;
    for (i, c) in sample_demos(&demo_full, a.demos, &mut rng)
        .into_iter()
        .enumerate()
    {
        data.add_demos(i, c);
    }
    if a.per_pair > 0 {
        sample_btl(&mut data, &reward, &all_pairs(n, a.per_pair), &mut rng);
    }
    if a.random_comparisons > 0 {
        if n < 2 {
            return Err(AihfError::param("random_comparisons", "needs at least 2 actions").into());
        }
        for _ in 0..a.random_comparisons {
            let i = rng.random_range(0..n);
            let mut j = rng.random_range(0..n - 1);
            if j >= i {
                j += 1;
            }
            sample_btl(&mut data, &reward, &[(i, j, 1)], &mut rng);
        }
    }
    data.meta = json!({
        "generator": "aihf sample",
        "version": env!("CARGO_PKG_VERSION"),
        "seed": a.seed,
        "truth": truth,
        "beta": a.beta,
        "true_reward": reward,
        "true_policy": truth_policy,
        "covered": covered,
        "per_pair": a.per_pair,
        "random_comparisons": a.random_comparisons,
    });
    let v = data.to_value();
    match &a.out {
        Some(p) => {
            aihf::io::write_json(p, &v)?;
            super::wrote(p, false);
        }
        None => println!("{}", serde_json::to_string_pretty(&v)?),
    }
    Ok(())
}
