//! `aihf sample`: write a data set drawn from a ground-truth reward.

use aihf::error::AihfError;
use aihf::sim::sample::{sample, SampleSpec, TrueReward};
use clap::{Args as ClapArgs, ValueEnum};
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
    let spec = SampleSpec {
        truth: true_reward(&a)?,
        beta: a.beta,
        demos: a.demos,
        covered: a.covered,
        per_pair: a.per_pair,
        random_comparisons: a.random_comparisons,
        seed: a.seed,
    };
    let v = sample(&spec)?.to_value();
    match &a.out {
        Some(p) => {
            aihf::io::write_json(p, &v)?;
            super::wrote(p, false);
        }
        None => println!("{}", serde_json::to_string_pretty(&v)?),
    }
    Ok(())
}

/// The truth the flags ask for: `--truth` (default gaussian, explicit with `--reward`) with
/// its own parameters; a parameter of another generator, which would be ignored silently, is
/// refused.
fn true_reward(a: &Args) -> anyhow::Result<TrueReward> {
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
    let n_actions = a.n_actions;
    Ok(match (&a.reward, kind) {
        (Some(r), _) => TrueReward::Explicit(r.clone()),
        (None, Truth::Explicit) => {
            return Err(
                AihfError::param("reward", "--truth explicit needs --reward r1,r2,...").into(),
            )
        }
        (None, Truth::Gaussian) => TrueReward::Gaussian {
            n_actions,
            mean: a.mean.unwrap_or(0.0),
            sd: a.sd.unwrap_or(1.0),
        },
        (None, Truth::Linear) => TrueReward::Linear {
            n_actions,
            slope: a.slope.unwrap_or(0.1),
        },
    })
}
