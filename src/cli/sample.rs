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

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Ground-truth generator.
    #[arg(long, value_enum, default_value = "gaussian")]
    pub truth: Truth,
    /// Explicit reward vector, comma separated (implies `--truth explicit`).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub reward: Option<Vec<f64>>,
    /// Number of actions (gaussian, linear).
    #[arg(long, default_value_t = 10)]
    pub n_actions: usize,
    /// Mean of the gaussian truth.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub mean: f64,
    /// Standard deviation of the gaussian truth.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub sd: f64,
    /// Slope of the linear truth.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub slope: f64,
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
    /// Output file (atomic write); stdout when absent.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    aihf::bandit::check_temperature("beta", a.beta)?;
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let (truth, reward) = match (&a.reward, a.truth) {
        (Some(r), _) => ("explicit", r.clone()),
        (None, Truth::Explicit) => {
            return Err(
                AihfError::param("reward", "--truth explicit needs --reward r1,r2,...").into(),
            )
        }
        (None, Truth::Gaussian) => {
            check_positive("sd", a.sd)?;
            if !a.mean.is_finite() {
                return Err(AihfError::param("mean", "must be finite").into());
            }
            let d = Normal::new(a.mean, a.sd).map_err(|e| AihfError::param("sd", e.to_string()))?;
            (
                "gaussian",
                (0..a.n_actions).map(|_| d.sample(&mut rng)).collect(),
            )
        }
        (None, Truth::Linear) => {
            if !a.slope.is_finite() {
                return Err(AihfError::param("slope", "must be finite").into());
            }
            (
                "linear",
                (0..a.n_actions).map(|i| a.slope * (i + 1) as f64).collect(),
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
        Some(p) => aihf::io::write_json(p, &v)?,
        None => println!("{}", serde_json::to_string_pretty(&v)?),
    }
    Ok(())
}
