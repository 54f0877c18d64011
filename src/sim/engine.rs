//! The Monte Carlo engine: `R` replications of (draw a data set from the truth `r*` → run every
//! estimator on it), in parallel, reproducible from one seed whatever the thread count.
//!
//! Reproducibility: replication `k` draws from its own generator
//! `ChaCha8Rng::seed_from_u64(rep_seed(seed, k))`, the replications are collected in index order
//! (`into_par_iter().map().collect()` keeps order), and every reduction runs sequentially
//! afterwards. So 1 thread and 16 threads give bit-identical results (tested).

use crate::bandit::{Method, Options};
use crate::data::{BanditData, Sampler};
use crate::error::{AihfError, Result};
use crate::valid::{Check, Valid};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The data-generating process of one study cell (SPEC §4): `demos` draws from `π_{r*}`
/// restricted to `covered` (renormalised), and `k` BTL comparisons `σ(r*_i − r*_j)` for
/// each listed pair. It draws and runs only once checked ([`Check::checked`]: a
/// [`Valid`]`<Scenario>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Scenario {
    /// True reward `r*`.
    pub reward: Vec<f64>,
    /// Temperature `β` of the truth (`π* = softmax(r*/β)`; BTL on `r_i − r_j`, SPEC §1.4).
    pub beta: f64,
    /// Number of demonstrations `N`.
    pub demos: u64,
    /// Actions demonstrations may show (all when `None`).
    pub covered: Option<Vec<usize>>,
    /// Comparisons per pair `i < j` (every pair).
    pub comparisons_per_pair: u64,
}

impl Scenario {
    /// `π* = softmax(r*/β)` (uniform reference).
    pub fn true_policy(&self) -> Vec<f64> {
        let z: Vec<f64> = self.reward.iter().map(|r| r / self.beta).collect();
        crate::math::softmax(&z)
    }

    /// The demonstration distribution: `π*` restricted to the covered actions, renormalised.
    pub fn demo_policy(&self) -> Vec<f64> {
        let pi = self.true_policy();
        match &self.covered {
            None => pi,
            Some(c) => {
                let mut q = vec![0.0; pi.len()];
                for &i in c {
                    q[i] = pi[i];
                }
                let s: f64 = q.iter().sum();
                q.iter_mut().for_each(|x| *x /= s);
                q
            }
        }
    }

    /// Actions demonstrations never show.
    pub fn uncovered(&self) -> Vec<usize> {
        match &self.covered {
            None => vec![],
            Some(c) => (0..self.reward.len()).filter(|i| !c.contains(i)).collect(),
        }
    }
}

impl Check for Scenario {
    /// Checks shapes and ranges, once, when the scenario becomes a [`Valid`] (the spec layer
    /// reports field names; this guards scenarios built in code).
    fn check(&self) -> Result<()> {
        let n = self.reward.len();
        if n < 2 {
            return Err(AihfError::param("reward", "needs at least 2 actions"));
        }
        if let Some(i) = self.reward.iter().position(|r| !r.is_finite()) {
            return Err(AihfError::param(
                "reward",
                format!("entry {i} is not finite"),
            ));
        }
        crate::error::check_positive("beta", self.beta)?;
        if let Some(c) = &self.covered {
            if c.is_empty() && self.demos > 0 {
                return Err(AihfError::param(
                    "covered",
                    "is empty but demonstrations are requested",
                ));
            }
            if let Some(&i) = c.iter().find(|&&i| i >= n) {
                return Err(AihfError::param(
                    "covered",
                    format!("action {i} is out of range 0..{n}"),
                ));
            }
        }
        Ok(())
    }
}

impl Valid<Scenario> {
    /// Draws one data set.
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> Result<BanditData> {
        self.sampler().draw(rng)
    }

    /// The data-generating process set up once for many draws (the demonstration law and
    /// every pair's binomial law); its draws are [`Valid::<Scenario>::draw`](crate::valid::Valid)'s.
    pub fn sampler(&self) -> Sampler {
        Sampler::new(
            &self.reward,
            self.demo_policy(),
            self.demos,
            self.comparisons_per_pair,
        )
    }
}

/// One estimator of a study: a method, its options and a label for tables and legends.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Estimator {
    /// Label in tables, legends and failure messages (distinct within a study).
    pub label: String,
    /// The estimator (SPEC §1.1–§1.5).
    pub method: Method,
    /// Its hyper-parameters (`β` is the study's).
    pub options: Options,
}

/// Why an estimator gave no policy on one replication.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Failure {
    /// The estimator does not exist on this data (`AihfError::NoEstimator`): expected, counted.
    NoEstimator(String),
    /// Any other error (a solver that did not converge...): counted and reported separately.
    Other(String),
}

/// What one replication produced: per estimator, the policy or the reason there is none.
pub type Replication = Vec<std::result::Result<Vec<f64>, Failure>>;

/// The raw output of a Monte Carlo run, in replication order.
#[derive(Clone, Debug)]
pub struct McRun {
    /// One entry per replication, in replication index order; each lists the estimators in
    /// the order given.
    pub replications: Vec<Replication>,
    /// Seconds spent (drawing + solving).
    pub elapsed_s: f64,
    /// Estimator solves attempted.
    pub solves: usize,
}

/// How to run: replications, seed, threads, progress.
#[derive(Clone, Debug)]
pub struct McConfig {
    /// Number of replications `R` (data sets drawn).
    pub replications: usize,
    /// The run's seed: replication `k` draws from `ChaCha8Rng` seeded by [`rep_seed`]`(seed, k)`.
    pub seed: u64,
    /// Worker threads (None: rayon's default, one per core).
    pub threads: Option<usize>,
    /// A progress bar on stderr.
    pub progress: bool,
    /// A label for the progress bar.
    pub label: String,
}

/// SplitMix64 finaliser: a bijective 64-bit mixer (Steele, Lea & Flood 2014).
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of replication `k` under master seed `seed`.
pub fn rep_seed(seed: u64, k: u64) -> u64 {
    splitmix64(seed ^ splitmix64(k.wrapping_add(0x5eed)))
}

/// One replication: draw, then fit every estimator.
///
/// Shortcut (exact, not an approximation): when the list holds BTL and RLHF with the same `β`
/// and no options that change RLHF beyond `β`, RLHF is computed from BTL's reward by its closed
/// form `π_RLHF ∝ π_SFT · exp(r^P/β)` (SPEC §1.3, (33)) instead of solving BTL a second time.
/// BTL estimators are solved first whatever their place in the list (Figure 9 lists RLHF before
/// BTL), so the shortcut applies in any order; results are stored in the list's order.
/// `tests` check it against `bandit::fit(Rlhf)` to `tol::IDENTITY_TV`.
pub fn replicate(
    scn: &Valid<Scenario>,
    est: &[Estimator],
    seed: u64,
    k: u64,
) -> Result<Replication> {
    replicate_with(&scn.sampler(), est, seed, k)
}

/// [`replicate`] from a prepared [`Sampler`] (set up once per run, not per replication).
pub fn replicate_with(
    sampler: &Sampler,
    est: &[Estimator],
    seed: u64,
    k: u64,
) -> Result<Replication> {
    let mut rng = ChaCha8Rng::seed_from_u64(rep_seed(seed, k));
    let data = sampler.draw(&mut rng)?;
    Ok(fit_all(&data, est))
}

/// Every estimator of `est` on one data set (BTL first, so RLHF can reuse its reward).
pub fn fit_all(data: &BanditData, est: &[Estimator]) -> Replication {
    let mut out: Vec<Option<std::result::Result<Vec<f64>, Failure>>> = vec![None; est.len()];
    let order = (0..est.len())
        .filter(|&k| est[k].method == Method::Btl)
        .chain((0..est.len()).filter(|&k| est[k].method != Method::Btl));
    // BTL rewards by β, for the RLHF shortcut (`None`: that BTL does not exist).
    let mut btl_rewards: Vec<(f64, Option<Vec<f64>>)> = vec![];
    for k in order {
        let e = &est[k];
        if e.method == Method::Rlhf && rlhf_shortcut_ok(&e.options) {
            if let Some((beta, Some(r))) =
                btl_rewards.iter().find(|(b, _)| same(*b, e.options.beta))
            {
                out[k] = Some(rlhf_from_btl(data, r, *beta));
                continue;
            }
        }
        // AIHF starts from BTL's reward when there is one (same data, same β): a start
        // closer to its maximiser than the smoothed SFT reward, so fewer Newton steps.
        let start = if e.method == Method::Aihf {
            btl_rewards
                .iter()
                .find(|(b, _)| same(*b, e.options.beta))
                .and_then(|(_, r)| r.as_deref())
        } else {
            None
        };
        let res = fit_full(e, data, start);
        let keep = e.method == Method::Btl && rlhf_shortcut_ok(&e.options);
        out[k] = Some(match res {
            Ok((pol, reward)) => {
                if keep {
                    btl_rewards.push((e.options.beta, Some(reward)));
                }
                Ok(pol)
            }
            Err(f) => {
                // RLHF needs BTL's reward: if BTL does not exist, RLHF is solved (and fails)
                // on its own so that its failure is its own.
                if keep {
                    btl_rewards.push((e.options.beta, None));
                }
                Err(f)
            }
        });
    }
    out.into_iter().flatten().collect()
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= f64::EPSILON * a.abs().max(b.abs())
}

fn rlhf_shortcut_ok(o: &Options) -> bool {
    let d = Options::default();
    o.reference.is_none()
        && o.ridge.abs() == 0.0
        && o.ref_smoothing.is_none()
        && o.normalization == d.normalization
}

fn fit_full(
    e: &Estimator,
    data: &BanditData,
    start: Option<&[f64]>,
) -> std::result::Result<(Vec<f64>, Vec<f64>), Failure> {
    // The studies read the policy and the reward, never the objective's value.
    let start = start.filter(|_| e.method == Method::Aihf);
    match crate::bandit::fit_point(e.method, data, &e.options, start) {
        Ok((policy, reward)) => {
            if policy.iter().all(|p| p.is_finite()) {
                let r = reward
                    .iter()
                    .map(|x| x.unwrap_or(f64::NEG_INFINITY))
                    .collect();
                Ok((policy, r))
            } else {
                Err(Failure::Other(format!("{}: non-finite policy", e.label)))
            }
        }
        // Hints name the spec's keys, not command-line options a spec does not have.
        Err(AihfError::NoEstimator { reason, .. }) => {
            Err(Failure::NoEstimator(crate::error::spec_hints(&reason)))
        }
        Err(other) => Err(Failure::Other(crate::error::spec_hints(&other.to_string()))),
    }
}

/// `π_RLHF ∝ π_SFT · exp(r^P/β)` in log space; SFT's existence (`N > 0`) is RLHF's.
pub fn rlhf_from_btl(
    data: &BanditData,
    r_p: &[f64],
    beta: f64,
) -> std::result::Result<Vec<f64>, Failure> {
    let n_demo = data.n_demos();
    if n_demo == 0 {
        return Err(Failure::NoEstimator(
            "there are no demonstrations (π_SFT is undefined)".into(),
        ));
    }
    let z: Vec<f64> = data
        .demos()
        .iter()
        .zip(r_p)
        .map(|(&c, r)| {
            if c == 0 {
                f64::NEG_INFINITY
            } else {
                (c as f64).ln() + r / beta
            }
        })
        .collect();
    Ok(crate::math::softmax(&z))
}

/// Runs `cfg.replications` replications of `scn` with every estimator.
pub fn run(scn: &Valid<Scenario>, est: &[Estimator], cfg: &McConfig) -> Result<McRun> {
    run_range(scn, est, cfg, 0..cfg.replications)
}

/// Runs replications `range` (of `cfg.replications`) only: replication `k` is the same
/// whichever range it is computed in (its generator depends on `(seed, k)` alone), which is
/// what sharding rests on ([`super::shard`]).
pub fn run_range(
    scn: &Valid<Scenario>,
    est: &[Estimator],
    cfg: &McConfig,
    range: std::ops::Range<usize>,
) -> Result<McRun> {
    for e in est {
        e.options.validate(scn.reward.len())?;
    }
    let t0 = std::time::Instant::now();
    let bar = progress_bar(cfg, range.len());
    let sampler = scn.sampler();
    let work = || -> Result<Vec<Replication>> {
        (range.start as u64..range.end as u64)
            .into_par_iter()
            .map(|k| {
                let r = replicate_with(&sampler, est, cfg.seed, k);
                bar.inc(1);
                r
            })
            .collect()
    };
    let replications = match cfg.threads {
        Some(t) => rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .map_err(|e| AihfError::param("threads", e.to_string()))?
            .install(work)?,
        None => work()?,
    };
    bar.finish_and_clear();
    Ok(McRun {
        elapsed_s: t0.elapsed().as_secs_f64(),
        solves: replications.len() * est.len(),
        replications,
    })
}

fn progress_bar(cfg: &McConfig, len: usize) -> indicatif::ProgressBar {
    if !cfg.progress {
        return indicatif::ProgressBar::hidden();
    }
    let b = indicatif::ProgressBar::new(len as u64);
    if let Ok(s) = indicatif::ProgressStyle::with_template(
        "{msg:>24} [{bar:40}] {pos}/{len} replications ({elapsed}, eta {eta})",
    ) {
        b.set_style(s.progress_chars("=> "));
    }
    b.set_message(cfg.label.clone());
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bandit::Weighting;

    fn est(method: Method) -> Estimator {
        Estimator {
            label: method.name().to_uppercase(),
            method,
            options: Options::default(),
        }
    }

    fn scn() -> Valid<Scenario> {
        Scenario {
            reward: vec![0.0, -0.075, -1.0, 0.4],
            beta: 1.0,
            demos: 40,
            covered: Some(vec![0, 1, 2]),
            comparisons_per_pair: 3,
        }
        .checked()
        .unwrap()
    }

    fn all4() -> Vec<Estimator> {
        vec![
            est(Method::Sft),
            est(Method::Btl),
            est(Method::Rlhf),
            est(Method::Aihf),
        ]
    }

    fn bits(r: &[Replication]) -> Vec<Vec<Option<Vec<u64>>>> {
        r.iter()
            .map(|rep| {
                rep.iter()
                    .map(|x| {
                        x.as_ref()
                            .ok()
                            .map(|p| p.iter().map(|v| v.to_bits()).collect())
                    })
                    .collect()
            })
            .collect()
    }

    /// A scenario built in code draws and runs only once checked; the check keeps the
    /// messages `run` gave when it validated (golden: those strings in `Scenario::validate` of
    /// the main branch).
    #[test]
    fn bad_scenarios_are_refused_when_checked() {
        let raw = || Scenario::clone(&scn());
        let table: Vec<(Scenario, &str)> = vec![
            (
                Scenario {
                    reward: vec![0.5],
                    covered: None,
                    ..raw()
                },
                "invalid parameter `reward`: needs at least 2 actions",
            ),
            (
                Scenario {
                    reward: vec![0.0, f64::NAN, 1.0, 2.0],
                    ..raw()
                },
                "invalid parameter `reward`: entry 1 is not finite",
            ),
            (
                Scenario { beta: 0.0, ..raw() },
                "invalid parameter `beta`: must be finite and > 0, got 0",
            ),
            (
                Scenario {
                    covered: Some(vec![]),
                    ..raw()
                },
                "invalid parameter `covered`: is empty but demonstrations are requested",
            ),
            (
                Scenario {
                    covered: Some(vec![0, 4]),
                    ..raw()
                },
                "invalid parameter `covered`: action 4 is out of range 0..4",
            ),
        ];
        for (bad, want) in table {
            assert_eq!(bad.checked().unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn results_are_bit_identical_whatever_the_thread_count() {
        let cfg = |t| McConfig {
            replications: 64,
            seed: 17,
            threads: Some(t),
            progress: false,
            label: String::new(),
        };
        let a = run(&scn(), &all4(), &cfg(1)).unwrap();
        let b = run(&scn(), &all4(), &cfg(2)).unwrap();
        let c = run(&scn(), &all4(), &cfg(3)).unwrap();
        assert_eq!(bits(&a.replications), bits(&b.replications));
        assert_eq!(bits(&a.replications), bits(&c.replications));
        // And a different seed gives different data.
        let d = run(&scn(), &all4(), &McConfig { seed: 18, ..cfg(2) }).unwrap();
        assert_ne!(bits(&a.replications), bits(&d.replications));
    }

    #[test]
    fn rlhf_shortcut_equals_the_exact_rlhf_estimator() {
        // The shortcut (RLHF from BTL's reward) must agree with bandit::fit(Rlhf) on every data
        // set, including those where BTL (hence RLHF) does not exist.
        let s = scn();
        let mut checked = 0;
        for k in 0..200 {
            let rep = replicate(&s, &all4(), 5, k).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(rep_seed(5, k));
            let data = s.draw(&mut rng).unwrap();
            match (
                crate::bandit::fit(Method::Rlhf, &data, &Options::default()),
                &rep[2],
            ) {
                (Ok(f), Ok(p)) => {
                    let d = crate::math::tv(&f.policy, p);
                    assert!(
                        d <= crate::tol::IDENTITY_TV,
                        "rep {k}: TV {d:e} > {:e}",
                        crate::tol::IDENTITY_TV
                    );
                    checked += 1;
                }
                (Err(AihfError::NoEstimator { .. }), Err(Failure::NoEstimator(_))) => {}
                (a, b) => panic!("rep {k}: exact {a:?} vs shortcut {b:?}"),
            }
        }
        assert!(checked > 100, "only {checked} data sets with RLHF");
    }

    #[test]
    fn demonstrations_stay_on_the_covered_actions_and_sizes_are_exact() {
        let s = scn();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..50 {
            let d = s.draw(&mut rng).unwrap();
            assert_eq!(d.demos()[3], 0);
            assert_eq!(d.n_demos(), 40);
            assert_eq!(d.n_comparisons(), 3 * 6);
        }
    }

    #[test]
    fn nonexistence_is_counted_not_dropped() {
        // One comparison per pair on 3 actions: BTL exists only when the outcomes form a cycle.
        let s = Scenario {
            reward: vec![0.0, -0.075, -1.0],
            beta: 1.0,
            demos: 5,
            covered: None,
            comparisons_per_pair: 1,
        }
        .checked()
        .unwrap();
        let mut aihf_n = est(Method::Aihf);
        aihf_n.options.weighting = Weighting::Normalized;
        let cfg = McConfig {
            replications: 300,
            seed: 3,
            threads: Some(2),
            progress: false,
            label: String::new(),
        };
        let r = run(&s, &[est(Method::Btl), aihf_n], &cfg).unwrap();
        assert_eq!(r.replications.len(), 300);
        let missing = r
            .replications
            .iter()
            .filter(|x| matches!(x[0], Err(Failure::NoEstimator(_))))
            .count();
        // P(cycle) = 2·Π over the three pairs ≈ 0.22 here, so most data sets have no BTL.
        assert!(
            missing > 150 && missing < 290,
            "BTL missing on {missing} of 300"
        );
        assert!(r
            .replications
            .iter()
            .all(|x| !matches!(x[0], Err(Failure::Other(_)))));
    }
}
