//! One data set drawn from a ground-truth reward: what `aihf sample` writes. The truth is
//! generated ([`TrueReward`]), then the studies' sampler ([`crate::data::draw`]) draws the
//! demonstrations and the comparisons of every pair, and [`crate::data::sample_random_pairs`]
//! adds comparisons on random pairs. The file's `meta` records the seed and the truth
//! (`true_reward`, `true_policy`), which `aihf bandit` reads back.
//!
//! ```
//! use aihf::sim::sample::{sample, SampleSpec, TrueReward};
//! let spec = SampleSpec {
//!     truth: TrueReward::Linear { n_actions: 3, slope: 0.1 },
//!     beta: 1.0,
//!     demos: 50,
//!     covered: None,
//!     per_pair: 2,
//!     random_comparisons: 0,
//!     seed: 1,
//! };
//! let data = sample(&spec).unwrap();
//! assert_eq!(data.n_demos(), 50);
//! assert_eq!(data.meta["truth"], "linear");
//! ```

use crate::bandit::{check_distribution, check_temperature};
use crate::data::{draw, sample_random_pairs, BanditData, MAX_ACTIONS, MAX_COUNT};
use crate::error::{check_positive, AihfError, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde_json::json;

/// The ground-truth reward `r*`.
#[derive(Clone, Debug, PartialEq)]
pub enum TrueReward {
    /// `r*_i ∼ N(mean, sd²)` i.i.d., drawn first from the run's generator.
    Gaussian {
        /// Number of actions.
        n_actions: usize,
        /// Mean (finite).
        mean: f64,
        /// Standard deviation (`> 0`).
        sd: f64,
    },
    /// `r*_i = slope · (i + 1)` (the paper's `i/10` for slope 0.1, 1-based `i`).
    Linear {
        /// Number of actions.
        n_actions: usize,
        /// Slope (finite).
        slope: f64,
    },
    /// An explicit vector (its length is the number of actions).
    Explicit(Vec<f64>),
}

impl TrueReward {
    /// The generator's name, as recorded in `meta.truth`.
    pub fn name(&self) -> &'static str {
        match self {
            TrueReward::Gaussian { .. } => "gaussian",
            TrueReward::Linear { .. } => "linear",
            TrueReward::Explicit(_) => "explicit",
        }
    }

    /// The reward vector, its parameters checked (a gaussian truth draws from `rng`).
    fn vector(&self, rng: &mut impl Rng) -> Result<Vec<f64>> {
        match self {
            TrueReward::Explicit(r) => Ok(r.clone()),
            &TrueReward::Gaussian {
                n_actions,
                mean,
                sd,
            } => {
                check_positive("sd", sd)?;
                if !mean.is_finite() {
                    return Err(AihfError::param("mean", "must be finite"));
                }
                let d = Normal::new(mean, sd).map_err(|e| AihfError::param("sd", e.to_string()))?;
                Ok((0..n_actions).map(|_| d.sample(rng)).collect())
            }
            &TrueReward::Linear { n_actions, slope } => {
                if !slope.is_finite() {
                    return Err(AihfError::param("slope", "must be finite"));
                }
                Ok((0..n_actions).map(|i| slope * (i + 1) as f64).collect())
            }
        }
    }
}

/// What to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleSpec {
    /// The truth `r*`.
    pub truth: TrueReward,
    /// Temperature `β`: demonstrations from `π ∝ exp(r*/β)`, comparisons `σ(r*_i − r*_j)`
    /// (SPEC §1.4).
    pub beta: f64,
    /// Number of demonstrations.
    pub demos: u64,
    /// Demonstrations only on actions `0..K` (renormalised), as in Example 2; all when `None`.
    pub covered: Option<usize>,
    /// Comparisons for every pair `i < j`.
    pub per_pair: u64,
    /// Comparisons on uniformly random pairs (in addition to `per_pair`).
    pub random_comparisons: u64,
    /// Seed of the one generator everything is drawn from (recorded in `meta.seed`).
    pub seed: u64,
}

/// Draws the data set of `spec`, with `meta` recording the seed, the truth and the sizes.
/// Every parameter is checked (a typed error names it) before anything but the gaussian truth
/// is drawn.
pub fn sample(spec: &SampleSpec) -> Result<BanditData> {
    check_temperature("beta", spec.beta)?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let reward = spec.truth.vector(&mut rng)?;
    let covered = check_sizes(spec, &reward)?;
    let z: Vec<f64> = reward.iter().map(|r| r / spec.beta).collect();
    let truth_policy = crate::math::softmax(&z);
    let mut demo_policy = crate::math::softmax(&z[..covered]);
    demo_policy.resize(reward.len(), 0.0);
    check_distribution("demonstration policy", &demo_policy, reward.len(), false)?;
    let mut data = draw(&reward, &demo_policy, spec.demos, spec.per_pair, &mut rng)?;
    sample_random_pairs(&mut data, &reward, spec.random_comparisons, &mut rng)?;
    data.meta = json!({
        "generator": "aihf sample",
        "version": env!("CARGO_PKG_VERSION"),
        "seed": spec.seed,
        "truth": spec.truth.name(),
        "beta": spec.beta,
        "true_reward": reward,
        "true_policy": truth_policy,
        "covered": covered,
        "per_pair": spec.per_pair,
        "random_comparisons": spec.random_comparisons,
    });
    Ok(data)
}

/// Checks the number of actions, the reward's entries, the covered count and the total number
/// of observations; returns the covered count.
fn check_sizes(spec: &SampleSpec, reward: &[f64]) -> Result<usize> {
    let n = reward.len();
    if n > MAX_ACTIONS {
        return Err(AihfError::param(
            "n_actions",
            format!("{n} exceeds the limit {MAX_ACTIONS} of the data format"),
        ));
    }
    if n == 0 {
        return Err(AihfError::param("n_actions", "must be at least 1"));
    }
    if let Some(i) = reward.iter().position(|r| !r.is_finite()) {
        return Err(AihfError::param(
            "reward",
            format!("entry {i} is {}", reward[i]),
        ));
    }
    let covered = spec.covered.unwrap_or(n);
    if covered == 0 || covered > n {
        return Err(AihfError::param(
            "covered",
            format!("must be in 1..={n}, got {covered}"),
        ));
    }
    let pairs = (n as u128) * (n as u128 - 1) / 2;
    let total = u128::from(spec.demos)
        + u128::from(spec.per_pair) * pairs
        + u128::from(spec.random_comparisons);
    if total > u128::from(MAX_COUNT) {
        return Err(AihfError::param(
            "demos",
            format!("{total} observations exceed the supported total 2^53"),
        ));
    }
    Ok(covered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(truth: TrueReward) -> SampleSpec {
        SampleSpec {
            truth,
            beta: 1.0,
            demos: 200,
            covered: None,
            per_pair: 3,
            random_comparisons: 7,
            seed: 5,
        }
    }

    #[test]
    fn sizes_and_coverage_are_exact() {
        let mut s = spec(TrueReward::Explicit(vec![0.0, 1.0, -1.0, 2.0]));
        s.covered = Some(2);
        let d = sample(&s).unwrap();
        assert_eq!(d.n_demos(), 200);
        assert_eq!(
            &d.demos()[2..],
            &[0, 0],
            "uncovered actions shown: {:?}",
            d.demos()
        );
        assert_eq!(d.wins().iter().sum::<u64>(), 3 * 6 + 7);
        assert_eq!(d.meta["covered"], 2);
    }

    #[test]
    fn the_same_seed_gives_the_same_data_and_another_seed_other_data() {
        let g = TrueReward::Gaussian {
            n_actions: 6,
            mean: 0.0,
            sd: 1.0,
        };
        let a = sample(&spec(g.clone())).unwrap();
        assert_eq!(a, sample(&spec(g.clone())).unwrap());
        let mut s = spec(g);
        s.seed = 6;
        assert_ne!(
            a.meta["true_reward"],
            sample(&s).unwrap().meta["true_reward"]
        );
    }

    #[test]
    fn bad_parameters_are_typed_errors_naming_the_parameter() {
        let lin = |slope| TrueReward::Linear {
            n_actions: 3,
            slope,
        };
        let gauss = |sd| TrueReward::Gaussian {
            n_actions: 3,
            mean: 0.0,
            sd,
        };
        let cases: Vec<(SampleSpec, &str)> = vec![
            (spec(lin(f64::NAN)), "slope"),
            (spec(gauss(0.0)), "sd"),
            (spec(TrueReward::Explicit(vec![])), "n_actions"),
            (
                spec(TrueReward::Explicit(vec![1.0, f64::INFINITY])),
                "reward",
            ),
            (
                SampleSpec {
                    covered: Some(4),
                    ..spec(lin(0.1))
                },
                "covered",
            ),
            (
                SampleSpec {
                    beta: -1.0,
                    ..spec(lin(0.1))
                },
                "beta",
            ),
            (spec(TrueReward::Explicit(vec![1.0])), "random_comparisons"),
            (
                SampleSpec {
                    demos: u64::MAX,
                    ..spec(lin(0.1))
                },
                "demos",
            ),
        ];
        for (s, name) in cases {
            let e = sample(&s).unwrap_err().to_string();
            assert!(e.contains(name), "{:?}: {e}", s.truth);
        }
    }
}
