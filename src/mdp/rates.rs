//! The Theorem 4.1 rate experiment (SPEC §2.5): Algorithm 1 with `η = α/√K` on a fixed random
//! MDP for `K` over at least two decades and several seeds, measuring per run
//!
//! ```text
//! E_pol(K)  = (1/K) Σ_k ‖log π_{k+1} − log π_{θ_k}‖∞      (20a)
//! E_grad(K) = (1/K) Σ_k ‖∇L(θ_k)‖²                        (20b)
//! ```
//!
//! exactly (soft-optimal policy of `θ_k` by warm-started soft policy iteration with a certified
//! bound of `exact_tol`; `∇L` by Lemma 4.1 with the expert's
//! exact occupancy plus the BTL term over the fixed pair set). Demonstrations are fresh expert
//! trajectories (the population objective, whose maximiser exists); preferences are a fixed set
//! of trajectory pairs labelled by BTL on the true return.
//!
//! Verdict rule (per quantity): fit `log E = a + b log K` by least squares over every run (each
//! `(K, seed)` an independent run), 95% CI `b ± t_{0.975, n−2} · se(b)`, then the three-valued
//! rate rule of [`crate::stats::slope_decision`] ([`SlopeFit::decision`]): the claim
//! `E = O(K^{-1/2})` PASSES when the whole CI lies at or below `−1/2 + δ`, FAILS when it lies
//! wholly above, and is INCONCLUSIVE when it contains `−1/2 + δ` (`δ = tol::SLOPE_MARGIN`, the
//! issue's ±0.05), with the number of runs that would decide. (The earlier rule, "PASS iff the
//! CI's lower end is `≤ −1/2`", judged one claim PASS or FAIL depending on the seed when the
//! slope sat near −1/2, and passed any interval wide enough.) The same rule is applied to the
//! negative control (constant step, for which neither quantity decays) and must FAIL there.
//! Fits over the upper half of the `K` grid are recorded as supplementary numbers (they show
//! pre-asymptotic drift) and do not enter the verdict. `aihf rates` and `aihf verify` run the
//! same experiment for the same seed (both default to [`crate::verify::DEFAULT_SEED`]).
//!
//! Computing (→ JSON) and drawing (← JSON) are separate: [`run`] and [`render`]. [`run_on`] runs
//! the same experiment on a user's own discounted MDP (`aihf rates --mdp FILE`).
//!
//! The `K` grid must be able to carry a slope (checked once, when the configuration becomes a
//! [`Valid`]`<`[`RatesConfig`]`>`, which every run function takes): at least two distinct `K` and
//! three runs per fit; a fit that still comes out non-finite is a typed numerical error, never a
//! verdict.

use super::algorithm1::{self, Data, Options, StepRule};
use super::bellman::{self, ViOptions};
use super::gen::{random_mdp, RandomMdp};
use super::irl::{self, RewardModel};
use super::traj::{self, Length, Sampler};
use super::Mdp;
use crate::error::{AihfError, Result};
use crate::plot::{render_line, LineChart, Series, Style};
use crate::valid::{Check, Valid};
use crate::verify::derive_seed;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The slope the theorem asserts.
pub const CLAIMED_SLOPE: f64 = -0.5;

/// The verdict rule, as recorded in `rates.json`.
pub const RULE: &str =
    "per quantity: least-squares fit of log E on log K over all (K, seed) runs, \
    95% t-interval on the slope; E = O(K^-1/2) PASSES iff the whole interval is <= -1/2 + 0.05 \
    (tol::SLOPE_MARGIN), FAILS iff it is wholly above, else INCONCLUSIVE (with the runs that \
    would decide); the constant-step control must FAIL by the same rule";

/// Sizes and constants of the experiment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RatesConfig {
    /// The `K` grid.
    pub ks: Vec<usize>,
    /// Independent runs per `K`.
    pub seeds: usize,
    /// Master seed from which the problem's seed and every run's seed are derived ([`Job::seed`]).
    pub master_seed: u64,
    /// Number of states `|S|` of the built-in random MDP.
    pub n_states: usize,
    /// Number of actions `|A|` of the built-in random MDP.
    pub n_actions: usize,
    /// Linear reward dimension.
    pub feature_dim: usize,
    /// Discount factor `γ ∈ [0, 1)`.
    pub gamma: f64,
    /// KL temperature `β > 0` of the soft (entropy-regularised) policy.
    pub beta: f64,
    /// `α` of `η = α/√K`.
    pub alpha: f64,
    /// Constant step of the negative control.
    pub control_step: f64,
    /// `λ ≥ 0`, weight of the BTL preference term in the objective `L`.
    pub lambda: f64,
    /// Mini-batch size `B` (demonstrations, agent trajectories and pairs per iteration).
    pub batch: usize,
    /// Size of the fixed preference set.
    pub n_pairs: usize,
    /// Tolerance of the exact solves behind the metrics.
    pub exact_tol: f64,
    /// The user's MDP file when the experiment ran on one (`aihf rates --mdp`); `None`: the
    /// built-in random MDP of `n_states`, `n_actions`, `feature_dim`, `gamma`, `beta`.
    #[serde(default)]
    pub mdp_file: Option<String>,
}

impl RatesConfig {
    /// The quick mode of `aihf verify` (`K = 2^6 … 2^13`, 5 seeds): seconds on one core.
    pub fn quick(master_seed: u64) -> Self {
        RatesConfig {
            ks: (6..=13).map(|e| 1usize << e).collect(),
            seeds: 5,
            master_seed,
            n_states: 20,
            n_actions: 4,
            feature_dim: 8,
            gamma: 0.9,
            beta: 1.0,
            alpha: 1.0,
            control_step: 0.1,
            lambda: 1.0,
            batch: 1,
            n_pairs: 200,
            exact_tol: 1e-10,
            mdp_file: None,
        }
    }

    /// The published sizes (`--full`): `K = 2^8 … 2^16`, 8 seeds.
    pub fn full(master_seed: u64) -> Self {
        RatesConfig {
            ks: (8..=16).map(|e| 1usize << e).collect(),
            seeds: 8,
            ..RatesConfig::quick(master_seed)
        }
    }
}

impl Check for RatesConfig {
    /// Checks the sizes and constants before any computation: a `K` grid too small to fit a
    /// slope (fewer than two distinct `K`, or fewer than three runs) is refused, since its
    /// verdict would rest on `NaN`.
    fn check(&self) -> Result<()> {
        let mut distinct = self.ks.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 2 {
            return Err(AihfError::param(
                "log2-k",
                format!(
                    "a slope needs at least two distinct K, got {} ({:?})",
                    distinct.len(),
                    self.ks
                ),
            ));
        }
        if distinct[0] == 0 {
            return Err(AihfError::param("log2-k", "K must be at least 1"));
        }
        if self.seeds == 0 {
            return Err(AihfError::param("seeds", "must be at least 1"));
        }
        if distinct.len() * self.seeds < 3 {
            return Err(AihfError::param(
                "log2-k",
                format!(
                    "{} K × {} seed(s) = {} runs per fit: the 95% interval of a slope needs at \
                     least 3 (add a K or a seed)",
                    distinct.len(),
                    self.seeds,
                    distinct.len() * self.seeds
                ),
            ));
        }
        crate::error::check_positive("alpha", self.alpha)?;
        crate::error::check_positive("control-step", self.control_step)?;
        crate::error::check_nonneg("lambda", self.lambda)?;
        if !(0.0..1.0).contains(&self.gamma) {
            return Err(AihfError::param(
                "gamma",
                format!("must be in [0, 1), got {}", self.gamma),
            ));
        }
        Ok(())
    }
}

/// One run's two averages.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunPoint {
    /// Iterations `K` of this run.
    pub k: usize,
    /// Which of the `seeds` independent runs at this `K` (0-based).
    pub seed_index: usize,
    /// The run's RNG seed, derived from the master seed and the job ([`Job::seed`]).
    pub seed: u64,
    /// Step size `η` used: `α/√K` for the main experiment, the constant `control_step` for the control.
    pub eta: f64,
    /// `E_pol(K)` of (20a): mean over iterations of `‖log π_{k+1} − log π_{θ_k}‖∞`.
    pub e_pol: f64,
    /// `E_grad(K)` of (20b): mean over iterations of the squared gradient norm `‖∇L(θ_k)‖²`.
    pub e_grad: f64,
    /// Wall-clock seconds the run took.
    pub seconds: f64,
}

/// A log–log least-squares slope with its 95% confidence interval.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SlopeFit {
    /// Least-squares slope `b` of `log E = a + b log K` (Theorem 4.1 claims `≤ −1/2`).
    pub slope: f64,
    /// Intercept `a` of the fit (natural logs).
    pub intercept: f64,
    /// Standard error of the slope `b`.
    pub se: f64,
    /// Lower end of the 95% interval `b − t_{0.975, n−2} · se` (`NaN` when `n ≤ 2`).
    pub ci_low: f64,
    /// Upper end of the 95% interval `b + t_{0.975, n−2} · se` (`NaN` when `n ≤ 2`).
    pub ci_high: f64,
    /// Number of `(K, value)` points (runs) in the fit.
    pub n: usize,
}

impl SlopeFit {
    /// The verdict rule (module documentation): PASS / FAIL / INCONCLUSIVE for
    /// `E = O(K^{-1/2})`; a quantity that does not decay FAILS.
    pub fn decision(&self) -> crate::verify::Decision {
        crate::stats::slope_decision(
            &crate::stats::SlopeFit {
                slope: self.slope,
                intercept: self.intercept,
                se: self.se,
                lo: self.ci_low,
                hi: self.ci_high,
                points: self.n,
            },
            CLAIMED_SLOPE,
            "(K, seed) runs",
        )
    }

    /// The verdict of [`SlopeFit::decision`].
    pub fn verdict(&self) -> crate::verify::Verdict {
        self.decision().verdict
    }
}

/// Fits `log y = a + b log x` with a 95% t-interval on `b`.
pub fn fit(points: &[(f64, f64)]) -> SlopeFit {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    let x: Vec<f64> = points.iter().map(|p| p.0.ln()).collect();
    let y: Vec<f64> = points.iter().map(|p| p.1.ln()).collect();
    let (slope, intercept, se) = crate::math::linear_fit(&x, &y);
    let n = points.len();
    let t = if n > 2 {
        StudentsT::new(0.0, 1.0, (n - 2) as f64)
            .map(|d| d.inverse_cdf(0.975))
            .unwrap_or(f64::NAN)
    } else {
        f64::NAN
    };
    SlopeFit {
        slope,
        intercept,
        se,
        ci_low: slope - t * se,
        ci_high: slope + t * se,
        n,
    }
}

/// The written result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RatesResult {
    /// The configuration the experiment ran with.
    pub config: RatesConfig,
    /// The verdict rule in words ([`RULE`]).
    pub rule: String,
    /// Runs with the theorem's step `η = α/√K`, sorted by `(K, seed_index)`.
    pub main: Vec<RunPoint>,
    /// Negative-control runs with the constant step, sorted by `(K, seed_index)`.
    pub control: Vec<RunPoint>,
    /// Log–log fit of `E_pol` over every main run: the verdict for (20a).
    pub fit_pol: SlopeFit,
    /// Log–log fit of `E_grad` over every main run: the verdict for (20b).
    pub fit_grad: SlopeFit,
    /// Fit of `E_pol` over the control runs (must FAIL).
    pub control_fit_pol: SlopeFit,
    /// Fit of `E_grad` over the control runs (must FAIL).
    pub control_fit_grad: SlopeFit,
    /// Supplementary (not the verdict): the same fits over the upper half of the `K` grid,
    /// which show whether the slope is still drifting (pre-asymptotic behaviour).
    #[serde(default)]
    pub upper_fit_pol: Option<SlopeFit>,
    /// Supplementary fit of `E_grad` over the upper half of the `K` grid; `None` when that half has fewer than two distinct `K` or three runs.
    #[serde(default)]
    pub upper_fit_grad: Option<SlopeFit>,
    /// Total wall-clock seconds of the experiment.
    pub seconds: f64,
}

impl RatesResult {
    /// Recomputes every fit from the stored runs (deterministic; used when redrawing a JSON
    /// written before a fit was added).
    pub fn refit(&mut self) {
        self.rule = RULE.into();
        let pts = |v: &[RunPoint], f: fn(&RunPoint) -> f64| -> Vec<(f64, f64)> {
            v.iter().map(|p| (p.k as f64, f(p))).collect()
        };
        self.fit_pol = fit(&pts(&self.main, |p| p.e_pol));
        self.fit_grad = fit(&pts(&self.main, |p| p.e_grad));
        self.control_fit_pol = fit(&pts(&self.control, |p| p.e_pol));
        self.control_fit_grad = fit(&pts(&self.control, |p| p.e_grad));
        self.upper_fit_pol = upper_fit(&pts(&self.main, |p| p.e_pol));
        self.upper_fit_grad = upper_fit(&pts(&self.main, |p| p.e_grad));
    }

    /// A typed error when a verdict would rest on a non-finite slope or interval (a grid too
    /// small, a run whose average is 0 or infinite).
    pub fn check_finite(&self) -> Result<()> {
        for (name, f) in [
            ("E_pol (20a)", &self.fit_pol),
            ("E_grad (20b)", &self.fit_grad),
            ("E_pol, constant step", &self.control_fit_pol),
            ("E_grad, constant step", &self.control_fit_grad),
        ] {
            if ![f.slope, f.ci_low, f.ci_high].iter().all(|x| x.is_finite()) {
                return Err(AihfError::Numerical(format!(
                    "the slope fit of {name} is not finite (slope {}, 95% CI [{}, {}], {} runs): \
                     the K grid cannot decide the rate",
                    f.slope, f.ci_low, f.ci_high, f.n
                )));
            }
        }
        Ok(())
    }
}

impl RatesResult {
    /// Reads a written `rates.json` (`-`: standard input) for redrawing: its configuration
    /// checked, every fit recomputed from the stored runs ([`RatesResult::refit`]) and checked
    /// finite.
    pub fn load(path: &Path) -> Result<Self> {
        let mut r: RatesResult = crate::io::read_json(path)?;
        r.config.check()?;
        r.refit();
        r.check_finite()?;
        Ok(r)
    }

    /// The printed report: the problem, then per quantity the slope, its 95% interval and the
    /// verdict (with the runs that would decide an INCONCLUSIVE one), then the supplementary
    /// fits over the upper half of the `K` grid.
    pub fn summary_text(&self) -> String {
        let c = &self.config;
        let mut s = format!(
            "Theorem 4.1 rate check on {} ({} states, {} actions, γ = {}; {} s); rule: {}\n",
            c.mdp_file.as_deref().unwrap_or("the built-in random MDP"),
            c.n_states,
            c.n_actions,
            c.gamma,
            self.seconds.round(),
            self.rule
        );
        for (name, f) in [
            ("E_pol  (20a), α/√K     ", &self.fit_pol),
            ("E_grad (20b), α/√K     ", &self.fit_grad),
            ("E_pol,  constant step  ", &self.control_fit_pol),
            ("E_grad, constant step  ", &self.control_fit_grad),
        ] {
            let d = f.decision();
            let more = d
                .units_to_decide
                .map(|n| format!(" (about {n} runs would decide)"))
                .unwrap_or_default();
            s += &format!(
                "  {name} slope {:+.3}  95% CI [{:+.3}, {:+.3}]  n = {}  → {}{more}\n",
                f.slope, f.ci_low, f.ci_high, f.n, d.verdict
            );
        }
        for (name, f) in [
            ("E_pol ", &self.upper_fit_pol),
            ("E_grad", &self.upper_fit_grad),
        ] {
            if let Some(f) = f {
                s += &format!(
                    "  supplementary, upper half of the K grid: {name} slope {:+.3}  95% CI [{:+.3}, {:+.3}]\n",
                    f.slope, f.ci_low, f.ci_high
                );
            }
        }
        s
    }
}

/// Writes the tidy CSV of `res` at `csv` and its figure at `dir/rates.{png,svg}`; returns the
/// files written, the CSV first.
pub fn write_outputs(res: &RatesResult, dir: &Path, csv: &Path) -> Result<Vec<PathBuf>> {
    crate::io::write_csv(csv, &CSV_HEADER, &res.csv_rows())?;
    let mut written = vec![csv.to_path_buf()];
    written.extend(render(res, &dir.join("rates"))?);
    Ok(written)
}

/// Columns of `rates.csv` (README, "rates CSV"), the tidy form of `rates.json`.
pub const CSV_HEADER: [&str; 10] = [
    "schedule",
    "k",
    "seed_index",
    "seed",
    "eta",
    "quantity",
    "value",
    "ci_low",
    "ci_high",
    "n",
];

impl RatesResult {
    /// The rows of `rates.csv`: per run (`schedule` `main` = step α/√K, `control` = constant
    /// step) its `e_pol` (20a), `e_grad` (20b) and `seconds`; then every log–log fit
    /// (`slope_e_pol`, `slope_e_grad`, with `schedule` `main`, `control` or `main_upper_half`)
    /// with its 95% interval and number of points.
    pub fn csv_rows(&self) -> Vec<Vec<String>> {
        use crate::io::csv_num;
        let mut rows = vec![];
        for (schedule, pts) in [("main", &self.main), ("control", &self.control)] {
            for p in pts {
                for (q, v) in [
                    ("e_pol", p.e_pol),
                    ("e_grad", p.e_grad),
                    ("seconds", p.seconds),
                ] {
                    rows.push(vec![
                        schedule.into(),
                        p.k.to_string(),
                        p.seed_index.to_string(),
                        p.seed.to_string(),
                        csv_num(p.eta),
                        q.into(),
                        csv_num(v),
                        String::new(),
                        String::new(),
                        String::new(),
                    ]);
                }
            }
        }
        let fits = [
            ("main", "slope_e_pol", Some(&self.fit_pol)),
            ("main", "slope_e_grad", Some(&self.fit_grad)),
            ("control", "slope_e_pol", Some(&self.control_fit_pol)),
            ("control", "slope_e_grad", Some(&self.control_fit_grad)),
            (
                "main_upper_half",
                "slope_e_pol",
                self.upper_fit_pol.as_ref(),
            ),
            (
                "main_upper_half",
                "slope_e_grad",
                self.upper_fit_grad.as_ref(),
            ),
        ];
        for (schedule, q, f) in fits {
            if let Some(f) = f {
                rows.push(vec![
                    schedule.into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    q.into(),
                    csv_num(f.slope),
                    csv_num(f.ci_low),
                    csv_num(f.ci_high),
                    f.n.to_string(),
                ]);
            }
        }
        rows
    }
}

/// Runs the experiment on the built-in random MDP of `cfg` (rayon over runs; a progress bar
/// when `progress`).
pub fn run(cfg: &Valid<RatesConfig>, progress: bool) -> Result<RatesResult> {
    let problem = setup(cfg)?;
    run_problem(cfg, &problem, progress)
}

/// Runs the experiment on a user's discounted MDP: its reward (tabular, or linear when the file
/// gives `features`) is the truth, its `S`, `A`, `γ`, `β` replace those of `cfg` in the result;
/// the grid, seeds, `α`, control step, `λ`, batch and pair count come from `cfg`.
///
/// ```
/// use aihf::mdp::rates::{run_on, RatesConfig};
/// use aihf::mdp::Mdp;
/// use aihf::valid::Check;
/// let mdp = Mdp::from_json_str(r#"{"transitions": [[[0.9, 0.1], [0.2, 0.8]], [[1.0, 0.0], [0.5, 0.5]]],
///   "reward": [[0.0, 1.0], [0.5, 0.0]], "initial": [1.0, 0.0], "gamma": 0.5}"#).unwrap();
/// let cfg = RatesConfig { ks: vec![4, 16], seeds: 2, n_pairs: 5, ..RatesConfig::quick(0) }
///     .checked()
///     .unwrap();
/// let res = run_on(&mdp, &cfg, false).unwrap();
/// assert_eq!((res.config.n_states, res.main.len()), (2, 4));
/// assert!(res.fit_pol.slope.is_finite());
/// ```
pub fn run_on(mdp: &Mdp, cfg: &Valid<RatesConfig>, progress: bool) -> Result<RatesResult> {
    let (problem, cfg) = setup_on(mdp, cfg)?;
    run_problem(&cfg, &problem, progress)
}

/// Every run of `cfg` on `problem` ([`setup`] or [`setup_on`]), assembled and checked (a
/// non-finite fit is an error, never a verdict).
pub fn run_problem(
    cfg: &Valid<RatesConfig>,
    problem: &Problem,
    progress: bool,
) -> Result<RatesResult> {
    let t0 = std::time::Instant::now();
    let points = run_jobs(cfg, problem, &jobs(cfg), progress)?;
    let res = assemble(cfg, points, t0.elapsed().as_secs_f64());
    res.check_finite()?;
    Ok(res)
}

/// The fixed problem every run of the experiment shares: the MDP, its reward model (linear or
/// tabular), and the data (the expert's exact occupancy and the fixed preference pairs), all
/// drawn from the master seed alone.
pub struct Problem {
    mdp: Mdp,
    model: RewardModel,
    data: Data,
}

/// Builds the experiment's [`Problem`] on the built-in random MDP of `cfg` (deterministic in
/// `cfg.master_seed`).
pub fn setup(cfg: &Valid<RatesConfig>) -> Result<Problem> {
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(cfg.master_seed, "rates/problem"));
    let mdp = random_mdp(
        &RandomMdp {
            n_states: cfg.n_states,
            n_actions: cfg.n_actions,
            branching: cfg.n_states,
            sparse: false,
            gamma: cfg.gamma,
            horizon: None,
            beta: cfg.beta,
            reward_scale: 1.0,
            feature_dim: Some(cfg.feature_dim),
            random_reference: false,
        },
        &mut rng,
    )?;
    Problem::build(mdp, cfg, &mut rng)
}

/// Builds the [`Problem`] on a user's discounted MDP and the configuration as run (its `S`,
/// `A`, `γ`, `β` and reward dimension taken from the MDP, checked again).
pub fn setup_on(mdp: &Mdp, cfg: &Valid<RatesConfig>) -> Result<(Problem, Valid<RatesConfig>)> {
    if let Some(t) = mdp.horizon() {
        return Err(AihfError::Mdp(format!(
            "the Theorem 4.1 rate experiment needs a discounted MDP; this one has horizon {t}"
        )));
    }
    let cfg = RatesConfig {
        n_states: mdp.n_states(),
        n_actions: mdp.n_actions(),
        gamma: mdp.gamma(),
        beta: mdp.beta(),
        feature_dim: mdp.features().map_or(mdp.n_sa(), |f| f.dim),
        ..RatesConfig::clone(cfg)
    }
    .checked()?;
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(cfg.master_seed, "rates/problem"));
    Ok((Problem::build(mdp.clone(), &cfg, &mut rng)?, cfg))
}

impl Problem {
    /// The reward model, the expert's exact occupancy and the fixed preference pairs on `mdp`;
    /// `rng` draws the pairs.
    fn build(mdp: Mdp, cfg: &RatesConfig, rng: &mut ChaCha8Rng) -> Result<Self> {
        let model = match mdp.features() {
            Some(_) => RewardModel::linear(&mdp)?,
            None => RewardModel::tabular(&mdp),
        };
        let expert = bellman::value_iteration(
            &mdp,
            mdp.reward(),
            None,
            &ViOptions {
                tol: crate::tol::VI_EXACT,
                ..ViOptions::default()
            },
        )?;
        // Preference pairs: trajectories of the reference policy, BTL labels on the true return.
        let sampler = Sampler::new(&mdp);
        let pi_ref: Vec<f64> = mdp.log_ref().iter().map(|l| l.exp()).collect();
        let prefs = traj::sample_preferences(
            &mdp,
            &sampler,
            &[&pi_ref],
            Length::Geometric { max: 10_000 },
            mdp.reward(),
            cfg.n_pairs,
            rng,
        );
        let diffs = irl::pref_diffs(&model, &prefs, mdp.n_actions(), mdp.gamma());
        let data = Data::from_expert(&mdp, &expert.log_pi, diffs)?;
        Ok(Problem { mdp, model, data })
    }
}

/// One run of the experiment: Algorithm 1 for `k` iterations, the `seed_index`-th seed, with
/// the `η = α/√K` step (`control = false`) or the negative control's constant step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Iterations `K` of the run.
    pub k: usize,
    /// Which of the `cfg.seeds` independent runs at this `K` (0-based).
    pub seed_index: usize,
    /// The negative control (constant step) rather than the theorem's step.
    pub control: bool,
}

impl Job {
    /// The run's seed: a function of the master seed and the job alone (so a job gives the same
    /// numbers whichever process or shard computes it).
    pub fn seed(&self, master_seed: u64) -> u64 {
        let kind = if self.control { "control" } else { "main" };
        derive_seed(
            master_seed,
            &format!("rates/{kind}/{}/{}", self.k, self.seed_index),
        )
    }
}

/// Every run of the experiment, in the canonical order (the theorem's runs then the control's,
/// each by `K` then seed index): a function of `cfg` alone, which sharding relies on.
pub fn jobs(cfg: &Valid<RatesConfig>) -> Vec<Job> {
    let mut out = vec![];
    for control in [false, true] {
        for &k in &cfg.ks {
            for seed_index in 0..cfg.seeds {
                out.push(Job {
                    k,
                    seed_index,
                    control,
                });
            }
        }
    }
    out
}

/// Runs `jobs` in parallel (largest `K` first, for load balance; the order does not change any
/// number) and returns `(control, point)` in the order of `jobs`.
pub fn run_jobs(
    cfg: &Valid<RatesConfig>,
    problem: &Problem,
    jobs: &[Job],
    progress: bool,
) -> Result<Vec<(bool, RunPoint)>> {
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&j| std::cmp::Reverse(jobs[j].k));
    let bar = if progress {
        let b = indicatif::ProgressBar::new(jobs.iter().map(|j| j.k as u64).sum());
        b.set_style(
            indicatif::ProgressStyle::with_template("rates {bar:40} {pos}/{len} iterations {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let results: Vec<Result<(usize, RunPoint)>> = order
        .par_iter()
        .map(|&j| {
            let p = run_job(cfg, problem, &jobs[j])?;
            if let Some(b) = &bar {
                b.inc(jobs[j].k as u64);
            }
            Ok((j, p))
        })
        .collect();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut out: Vec<Option<(bool, RunPoint)>> = vec![None; jobs.len()];
    for r in results {
        let (j, p) = r?;
        out[j] = Some((jobs[j].control, p));
    }
    Ok(out.into_iter().flatten().collect())
}

/// One run: Algorithm 1 with exact metrics, seeded by [`Job::seed`].
fn run_job(cfg: &RatesConfig, problem: &Problem, job: &Job) -> Result<RunPoint> {
    let seed = job.seed(cfg.master_seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let opts = Options {
        iterations: job.k,
        alpha: if job.control {
            cfg.control_step
        } else {
            cfg.alpha
        },
        step: if job.control {
            StepRule::Constant
        } else {
            StepRule::InvSqrtK
        },
        lambda: cfg.lambda,
        batch: cfg.batch,
        policy_steps: 1,
        exact_metrics: true,
        exact_tol: cfg.exact_tol,
        max_len: 100_000,
    }
    .checked()?;
    let tr = algorithm1::run(
        &problem.mdp,
        &problem.model,
        &problem.data,
        &opts,
        None,
        &mut rng,
    )?;
    Ok(RunPoint {
        k: job.k,
        seed_index: job.seed_index,
        seed,
        eta: tr.eta,
        e_pol: tr.mean_e_pol(),
        e_grad: tr.mean_grad_sq(),
        seconds: tr.seconds,
    })
}

/// The result from every run's point (`(control, point)`, any order) and the seconds spent:
/// points sorted by `(K, seed index)`, then every fit.
pub fn assemble(
    cfg: &Valid<RatesConfig>,
    points: Vec<(bool, RunPoint)>,
    seconds: f64,
) -> RatesResult {
    let (mut main, mut control) = (vec![], vec![]);
    for (c, p) in points {
        if c {
            control.push(p)
        } else {
            main.push(p)
        }
    }
    for v in [&mut main, &mut control] {
        v.sort_by_key(|p| (p.k, p.seed_index));
    }
    let pts = |v: &[RunPoint], f: fn(&RunPoint) -> f64| -> Vec<(f64, f64)> {
        v.iter().map(|p| (p.k as f64, f(p))).collect()
    };
    RatesResult {
        config: RatesConfig::clone(cfg),
        rule: RULE.into(),
        upper_fit_pol: upper_fit(&pts(&main, |p| p.e_pol)),
        upper_fit_grad: upper_fit(&pts(&main, |p| p.e_grad)),
        fit_pol: fit(&pts(&main, |p| p.e_pol)),
        fit_grad: fit(&pts(&main, |p| p.e_grad)),
        control_fit_pol: fit(&pts(&control, |p| p.e_pol)),
        control_fit_grad: fit(&pts(&control, |p| p.e_grad)),
        main,
        control,
        seconds,
    }
}

/// The points whose `K` lies in the upper half of the grid (`K ≥` the median `K`).
fn upper(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut ks: Vec<f64> = points.iter().map(|p| p.0).collect();
    ks.sort_by(f64::total_cmp);
    let med = ks.get(ks.len() / 2).copied().unwrap_or(0.0);
    points.iter().copied().filter(|p| p.0 >= med).collect()
}

/// The supplementary fit over the upper half of the grid, when that half can carry one (at
/// least two distinct `K` and three runs).
fn upper_fit(points: &[(f64, f64)]) -> Option<SlopeFit> {
    let up = upper(points);
    let mut ks: Vec<f64> = up.iter().map(|p| p.0).collect();
    ks.sort_by(f64::total_cmp);
    ks.dedup();
    (ks.len() >= 2 && up.len() >= 3).then(|| fit(&up))
}

type Points = Vec<(f64, f64)>;

/// Per-`K` mean and range (min, max) over seeds.
fn summary(v: &[RunPoint], f: fn(&RunPoint) -> f64) -> (Points, Points) {
    let mut ks: Vec<usize> = v.iter().map(|p| p.k).collect();
    ks.dedup();
    let mut pts = vec![];
    let mut err = vec![];
    for k in ks {
        let xs: Vec<f64> = v.iter().filter(|p| p.k == k).map(f).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        pts.push((k as f64, m));
        err.push((
            xs.iter().copied().fold(f64::INFINITY, f64::min),
            xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ));
    }
    (pts, err)
}

/// Draws the log–log figure from a result (PNG + SVG at `stem`): both quantities, for
/// `α/√K` and the constant-step control, with the `K^{-1/2}` reference through each main
/// series' first point.
pub fn render(res: &RatesResult, stem: &Path) -> Result<Vec<PathBuf>> {
    let mut series = vec![];
    type Case<'a> = (&'a str, &'a [RunPoint], fn(&RunPoint) -> f64, &'a SlopeFit);
    let cases: [Case; 4] = [
        (
            "E_pol (20a), step α/√K",
            &res.main,
            |p| p.e_pol,
            &res.fit_pol,
        ),
        (
            "E_grad (20b), step α/√K",
            &res.main,
            |p| p.e_grad,
            &res.fit_grad,
        ),
        (
            "E_pol, constant step (control)",
            &res.control,
            |p| p.e_pol,
            &res.control_fit_pol,
        ),
        (
            "E_grad, constant step (control)",
            &res.control,
            |p| p.e_grad,
            &res.control_fit_grad,
        ),
    ];
    for (i, (name, v, f, fit)) in cases.iter().enumerate() {
        let (pts, err) = summary(v, *f);
        if i < 2 {
            if let (Some(first), Some(last)) = (pts.first(), pts.last()) {
                let c = first.1 * first.0.sqrt();
                series.push(Series {
                    name: format!(
                        "∝ 1/√K reference ({})",
                        if i == 0 { "E_pol" } else { "E_grad" }
                    ),
                    points: vec![(first.0, c / first.0.sqrt()), (last.0, c / last.0.sqrt())],
                    err: None,
                    style: Style::Dashed,
                    key: Some("reference".into()),
                    lighten: if i == 0 { 0.0 } else { 0.45 },
                });
            }
        }
        series.push(Series {
            name: format!(
                "{name}: slope {:.3} [{:.3}, {:.3}]",
                fit.slope, fit.ci_low, fit.ci_high
            ),
            points: pts,
            err: Some(err),
            style: Style::LinePoints,
            // The decreasing step is the AIHF algorithm (AIHF's colour); the constant-step
            // control is grey; E_grad is the lighter shade of each.
            key: Some(if i < 2 { "AIHF" } else { "reference" }.into()),
            lighten: if i % 2 == 0 { 0.0 } else { 0.45 },
        });
    }
    let chart = LineChart {
        title: format!(
            "Theorem 4.1 rates: {} states, {} actions, γ = {}, {} seeds",
            res.config.n_states, res.config.n_actions, res.config.gamma, res.config.seeds
        ),
        x_label: "K (iterations)".into(),
        y_label: "average over iterations (mean over seeds, min-max bars)".into(),
        x_log: true,
        y_log: true,
        series,
        shade_x: vec![],
        shade_label: None,
        dodge: 0.0,
        wide: false,
    };
    render_line(&chart, stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bad configurations are refused when they become a [`Valid`], with the messages `aihf
    /// rates` printed before the check moved there (golden: the main branch's binary on
    /// `--log2-k 4`, `--log2-k 3,4 --seeds 1`, `--seeds 0`, `--gamma 1.5`, `--alpha 0`).
    #[test]
    fn bad_configurations_are_refused_once_with_their_messages() {
        let quick = || RatesConfig::quick(1);
        let table: Vec<(RatesConfig, &str)> = vec![
            (
                RatesConfig { ks: vec![16], ..quick() },
                "invalid parameter `log2-k`: a slope needs at least two distinct K, got 1 ([16])",
            ),
            (
                RatesConfig { ks: vec![8, 16], seeds: 1, ..quick() },
                "invalid parameter `log2-k`: 2 K × 1 seed(s) = 2 runs per fit: the 95% interval of \
                 a slope needs at least 3 (add a K or a seed)",
            ),
            (
                RatesConfig { seeds: 0, ..quick() },
                "invalid parameter `seeds`: must be at least 1",
            ),
            (
                RatesConfig { gamma: 1.5, ..quick() },
                "invalid parameter `gamma`: must be in [0, 1), got 1.5",
            ),
            (
                RatesConfig { alpha: 0.0, ..quick() },
                "invalid parameter `alpha`: must be finite and > 0, got 0",
            ),
        ];
        for (cfg, want) in table {
            let e = cfg.checked().unwrap_err().to_string();
            assert_eq!(e, want);
        }
        let ok = quick().checked().unwrap();
        assert_eq!(jobs(&ok).len(), 2 * ok.ks.len() * ok.seeds);
    }
}
