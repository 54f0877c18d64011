//! `aihf truth kl-study` (issue 13, part 4; SPEC §3.2): bias and variance of the k1, k2 and k3
//! estimators of `KL(π‖π*)` and `KL(π‖π_ref)`, at sequence level and summed per token, and the
//! bias of the gradients trainers take from them — on a Markov task and a known time-indexed
//! Markov policy, where every target is exact.
//!
//! With `c_t = log π_t(y_t|y_{t−1}) − log q_t(y_t|y_{t−1})`, `ρ_t = e^{−c_t}`, `ρ = Π_t ρ_t`:
//! sequence `k1 = Σ_t c_t`, `k2 = (Σ_t c_t)²/2`, `k3 = ρ − 1 + Σ_t c_t`; per-token sums
//! `Σ_t c_t` (= k1), `Σ_t c_t²/2`, `Σ_t (ρ_t − 1 + c_t)`. k1, k3 and `Σ_t k3_t` are unbiased
//! (the last by the chain rule), k2 and `Σ_t k2_t` are not (SPEC §3.2).
//!
//! Gradients, for the tabular softmax parameterisation `π_t(·|u) = softmax(θ_{t,u})` and
//! `q = π_ref`, with `s(y) = ∇_θ log π(y) = Σ_t (e_{y_t} − π_t(·|y_{t−1}))` at block
//! `(t, y_{t−1})`: REINFORCE with `k1` in the reward, `k1(y) s(y)`; a loss `k` differentiated
//! through the sample's log-probabilities (samples held fixed): `∇k1 = s`, `∇k2 = k1 s`,
//! `∇k3 = (1 − ρ) s`, and per token `Σ_t c_t s_t`, `Σ_t (1 − ρ_t) s_t`. Their exact
//! expectations (by enumerating `V^H` responses) are compared with the exact
//! `∇_θ KL(π_θ‖π_ref)` from the backward recursion
//! `W_t(u) = Σ_v π_t(v|u) (c_t(u,v) + W_{t+1}(v))`,
//! `∂KL/∂θ_{t,u,v} = μ_t(u) π_t(v|u) (Q_t(u,v) − W_t(u))`, `Q_t = c_t + W_{t+1}`.

use crate::error::{AihfError, Result};
use crate::markov::MarkovTask;
use crate::plot::{render_bars, render_line, BarChart, LineChart, Series, Style};
use crate::stats::summarize;
use crate::verify::{derive_seed, Claim, Ctx, Outcome, Relation};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};

/// A time-indexed Markov policy over `V` tokens and `H` steps from `y_0` in the *softmax
/// parameterisation* the gradient study differentiates (`π_t(·|u) = softmax(θ_{t,u})`), stored
/// densely as `log π_t(v|u)` at `(t·V + u)·V + v`. Small `V` only (`H·V²` cells). For every
/// other use, [`crate::truth::policy::MarkovPolicy`] is the toolkit's Markov policy (the tests
/// check that both give the same chain-rule KL).
#[derive(Clone, Debug)]
pub struct TabularMarkov {
    /// Vocabulary size `V` (tokens `0..V`).
    pub vocab: usize,
    /// Number of steps `H` (response length).
    pub horizon: usize,
    /// Start token `y_0 < V` that conditions the first step.
    pub y0: usize,
    /// `log π_t(v|u)` at index `(t·V + u)·V + v`; each row `(t, u)` is log-normalised.
    pub logp: Vec<f64>,
}

/// Largest `H·V²` table this study builds.
pub const MAX_TABLE: usize = 1 << 22;

impl TabularMarkov {
    /// From per-row logits `θ[(t·V + u)·V + v]` (each row softmax-normalised in log space).
    pub fn from_logits(vocab: usize, horizon: usize, y0: usize, theta: &[f64]) -> Result<Self> {
        let cells = horizon
            .checked_mul(vocab)
            .and_then(|x| x.checked_mul(vocab))
            .filter(|&c| c <= MAX_TABLE && c == theta.len())
            .ok_or_else(|| {
                AihfError::param(
                    "policy",
                    format!(
                        "need H·V² = {horizon}·{vocab}² ≤ {MAX_TABLE} logits, got {}",
                        theta.len()
                    ),
                )
            })?;
        let mut logp = vec![0.0; cells];
        for (row, out) in theta.chunks(vocab).zip(logp.chunks_mut(vocab)) {
            let ls = crate::math::log_softmax(row);
            out.copy_from_slice(&ls);
        }
        Ok(TabularMarkov {
            vocab,
            horizon,
            y0,
            logp,
        })
    }

    /// The task's `π*` (`which = true`) or `π_ref` as a table.
    pub fn of_task(task: &MarkovTask, star: bool) -> Result<Self> {
        let (v, h) = (task.vocab(), task.horizon());
        let mut theta = Vec::with_capacity(h * v * v);
        for t in 0..h {
            for u in 0..v {
                for w in 0..v {
                    theta.push(if star {
                        task.log_star(t, u, w)
                    } else {
                        task.log_ref(u, w)
                    });
                }
            }
        }
        Self::from_logits(v, h, task.y0(), &theta)
    }

    /// `log π_t(v|u)`.
    pub fn lp(&self, t: usize, u: usize, v: usize) -> f64 {
        self.logp[(t * self.vocab + u) * self.vocab + v]
    }

    /// `log π(y)`.
    pub fn log_prob(&self, y: &[usize]) -> f64 {
        let mut u = self.y0;
        let mut s = 0.0;
        for (t, &v) in y.iter().enumerate() {
            s += self.lp(t, u, v);
            u = v;
        }
        s
    }

    /// A draw from the policy.
    pub fn sample(&self, rng: &mut impl Rng) -> Vec<usize> {
        let mut u = self.y0;
        (0..self.horizon)
            .map(|t| {
                let mut x: f64 = rng.random();
                let mut pick = self.vocab - 1;
                for v in 0..self.vocab {
                    let p = self.lp(t, u, v).exp();
                    if x < p {
                        pick = v;
                        break;
                    }
                    x -= p;
                }
                u = pick;
                pick
            })
            .collect()
    }

    /// Forward marginals `μ_t(u)`, `t = 0..=H`.
    pub fn marginals(&self) -> Vec<Vec<f64>> {
        let n = self.vocab;
        let mut mu = vec![vec![0.0; n]];
        mu[0][self.y0] = 1.0;
        for t in 0..self.horizon {
            let mut next = vec![0.0; n];
            for (u, &m) in mu[t].iter().enumerate() {
                if m > 0.0 {
                    for (v, x) in next.iter_mut().enumerate() {
                        *x += m * self.lp(t, u, v).exp();
                    }
                }
            }
            mu.push(next);
        }
        mu
    }

    /// Exact `KL(self‖other)` by the chain rule (SPEC §3.2).
    pub fn kl_to(&self, other: &TabularMarkov) -> f64 {
        let mu = self.marginals();
        let n = self.vocab;
        let mut kl = 0.0;
        for (t, m) in mu.iter().take(self.horizon).enumerate() {
            for (u, &mu_u) in m.iter().enumerate() {
                if mu_u > 0.0 {
                    for v in 0..n {
                        let l = self.lp(t, u, v);
                        kl += mu_u * l.exp() * (l - other.lp(t, u, v));
                    }
                }
            }
        }
        kl
    }

    /// Exact `E_π[r*]` of the task's reward, `Σ_t Σ_u μ_t(u) Σ_v π_t(v|u) w(u, v)`.
    pub fn expected_reward(&self, task: &MarkovTask) -> f64 {
        let mu = self.marginals();
        let mut r = 0.0;
        for (t, m) in mu.iter().take(self.horizon).enumerate() {
            for (u, v, w) in task.reward_entries() {
                r += m[u] * self.lp(t, u, v).exp() * w;
            }
        }
        r
    }

    /// Exact `∇_θ KL(π_θ‖q)` for the softmax logits of `self` (module docs).
    pub fn grad_kl_to(&self, q: &TabularMarkov) -> Vec<f64> {
        let (n, h) = (self.vocab, self.horizon);
        let mu = self.marginals();
        let mut w_next = vec![0.0; n];
        let mut g = vec![0.0; h * n * n];
        for t in (0..h).rev() {
            let mut w = vec![0.0; n];
            for u in 0..n {
                let q_row: Vec<f64> = (0..n)
                    .map(|v| self.lp(t, u, v) - q.lp(t, u, v) + w_next[v])
                    .collect();
                let wu: f64 = (0..n).map(|v| self.lp(t, u, v).exp() * q_row[v]).sum();
                w[u] = wu;
                for v in 0..n {
                    g[(t * n + u) * n + v] = mu[t][u] * self.lp(t, u, v).exp() * (q_row[v] - wu);
                }
            }
            w_next = w;
        }
        g
    }
}

/// Names of the KL estimators, in the order of [`estimator_values`].
pub const ESTIMATORS: [&str; 6] = ["k1", "k2", "k3", "tok_k1", "tok_k2", "tok_k3"];

/// Which estimators SPEC §3.2 says are unbiased (k1, k3 and their per-token sums).
pub const UNBIASED: [bool; 6] = [true, false, true, true, false, true];

/// The six estimators' values on one response `y ∼ π` against `q`.
pub fn estimator_values(pi: &TabularMarkov, q: &TabularMarkov, y: &[usize]) -> [f64; 6] {
    let mut u = pi.y0;
    let (mut c, mut k2t, mut k3t) = (0.0, 0.0, 0.0);
    for (t, &v) in y.iter().enumerate() {
        let ct = pi.lp(t, u, v) - q.lp(t, u, v);
        c += ct;
        k2t += 0.5 * ct * ct;
        k3t += (-ct).exp_m1() + ct;
        u = v;
    }
    [c, 0.5 * c * c, (-c).exp_m1() + c, c, k2t, k3t]
}

/// Settings of the study.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KlStudyConfig {
    /// Vocabulary size `V` of the estimator study's Markov task.
    pub vocab: usize,
    /// Horizon `H` of the estimator study's Markov task.
    pub horizon: usize,
    /// Nonzero reward entries `w(u, ·)` per row of the task's random reward.
    pub nnz_per_row: usize,
    /// Scale `σ_r` of the reward entries, each `σ_r · N(0, 1)`.
    pub reward_scale: f64,
    /// KL temperature `β > 0` of the task, defining `π* ∝ π_ref e^{r*/β}`.
    pub beta: f64,
    /// The policy: `log π ∝ log π_ref + α (log π* − log π_ref) + σ ε`, `ε ∼ N(0, 1)` per logit.
    pub alpha: f64,
    /// Noise scale `σ` of the per-logit Gaussian perturbation in that policy.
    pub noise: f64,
    /// Sample sizes `n` at which every estimator is averaged and assessed.
    pub sizes: Vec<usize>,
    /// Independent replications of each size-`n` average (for bias, its SE and the RMSE).
    pub replications: usize,
    /// `V^H` of the gradient study's (smaller) task, enumerated exactly.
    pub grad_vocab: usize,
    /// Horizon `H` of the gradient study's task (see `grad_vocab`).
    pub grad_horizon: usize,
    /// RNG seed for the task, the policy and every draw.
    pub seed: u64,
}

impl KlStudyConfig {
    /// The quick sizes (`aihf verify`): V = 8, H = 8, 400 replications of n = 4 … 256.
    pub fn quick(seed: u64) -> Self {
        KlStudyConfig {
            vocab: 8,
            horizon: 8,
            nnz_per_row: 3,
            reward_scale: 1.0,
            beta: 1.0,
            alpha: 0.5,
            noise: 0.3,
            sizes: vec![4, 16, 64, 256],
            replications: 400,
            grad_vocab: 4,
            grad_horizon: 4,
            seed,
        }
    }
    /// The published sizes (`--full`): 4,000 replications of n = 4 … 1,024.
    pub fn full(seed: u64) -> Self {
        KlStudyConfig {
            sizes: vec![4, 16, 64, 256, 1024],
            replications: 4000,
            ..Self::quick(seed)
        }
    }
}

/// Bias and spread of one estimator at one sample size.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct EstimatorRow {
    /// Sample size `n` of each replicated average.
    pub n: usize,
    /// Mean over replications minus the exact KL, and its standard error.
    pub bias: f64,
    /// Standard error of `bias` (sample SD of the replicated means over `√replications`).
    pub bias_se: f64,
    /// Standard deviation of the estimate over replications, and root mean square error.
    pub sd: f64,
    /// Root mean square error of the averages against the exact KL.
    pub rmse: f64,
}

/// One estimator of one target.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EstimatorResult {
    /// Estimator name, one of [`ESTIMATORS`] (`k1`, `k2`, `k3`, `tok_k1`, `tok_k2`, `tok_k3`).
    pub name: String,
    /// Whether SPEC §3.2 says the estimator is unbiased ([`UNBIASED`]).
    pub unbiased_by_theory: bool,
    /// Single-sample variance (from every draw of the study).
    pub per_sample_variance: f64,
    /// Bias and spread at each size of `config.sizes`, in order.
    pub rows: Vec<EstimatorRow>,
    /// Largest `|bias| / se` over the sizes.
    pub max_abs_z: f64,
}

/// All estimators of one target KL.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetResult {
    /// Which KL: `"KL(π‖π*)"` or `"KL(π‖π_ref)"`.
    pub target: String,
    /// The exact value of the target KL, by the chain rule (nats).
    pub exact: f64,
    /// The six estimators of [`ESTIMATORS`], in that order.
    pub estimators: Vec<EstimatorResult>,
}

/// One gradient estimator's exact expectation against the exact gradient.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GradientRow {
    /// Gradient estimator name, one of [`GRADIENTS`].
    pub name: String,
    /// `‖E[g] − ∇KL(π‖π_ref)‖ / ‖∇KL‖`.
    pub relative_bias: f64,
    /// Cosine between `E[g]` and `∇KL`.
    pub cosine: f64,
    /// `E‖g − E g‖²` (total per-sample variance).
    pub variance: f64,
}

/// The study's results (written as `kl_study.json`; figures are redrawn from it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KlStudy {
    /// The settings the study ran with.
    pub config: KlStudyConfig,
    /// Estimator results for the two targets, `KL(π‖π*)` then `KL(π‖π_ref)`.
    pub targets: Vec<TargetResult>,
    /// Exact bias of each gradient estimator of [`GRADIENTS`] on the small enumerated task.
    pub gradients: Vec<GradientRow>,
    /// `‖E[∇k3 loss] − ∇KL(π_ref‖π)‖ / ‖∇KL(π_ref‖π)‖`: the k3 loss's gradient is that of the
    /// reverse KL.
    pub k3_loss_vs_reverse_kl: f64,
    /// `‖∇_θ KL(π‖π_ref)‖` on the gradient study's task (the denominator of the relative biases).
    pub grad_norm: f64,
    /// Human-readable findings, one sentence each (the first two head the report).
    pub summary: Vec<String>,
    /// Wall-clock seconds of the study.
    pub seconds: f64,
}

fn random_policy(
    task: &MarkovTask,
    alpha: f64,
    noise: f64,
    rng: &mut impl Rng,
) -> Result<TabularMarkov> {
    let (v, h) = (task.vocab(), task.horizon());
    let mut theta = Vec::with_capacity(h * v * v);
    for t in 0..h {
        for u in 0..v {
            for w in 0..v {
                let (ls, lr) = (task.log_star(t, u, w), task.log_ref(u, w));
                theta.push(lr + alpha * (ls - lr) + noise * rng.sample::<f64, _>(StandardNormal));
            }
        }
    }
    TabularMarkov::from_logits(v, h, task.y0(), &theta)
}

fn progress(show: bool, len: u64, msg: &'static str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(s) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})") {
        pb.set_style(s);
    }
    pb.set_message(msg);
    pb
}

fn check_config(c: &KlStudyConfig) -> Result<()> {
    if c.sizes.is_empty() || c.sizes.contains(&0) {
        return Err(AihfError::param("sizes", "need non-empty sample sizes ≥ 1"));
    }
    if c.replications < 2 {
        return Err(AihfError::param("replications", "need at least 2"));
    }
    let cnt = (0..c.grad_horizon).try_fold(1usize, |a, _| a.checked_mul(c.grad_vocab));
    if !matches!(cnt, Some(k) if (1..=100_000).contains(&k)) {
        return Err(AihfError::param(
            "grad_vocab/grad_horizon",
            "the gradient study enumerates V^H responses: need 1 ≤ V^H ≤ 100000",
        ));
    }
    for (name, x) in [("alpha", c.alpha), ("noise", c.noise)] {
        if !x.is_finite() {
            return Err(AihfError::param(name, format!("must be finite, got {x}")));
        }
    }
    Ok(())
}

/// Runs the study (module docs).
pub fn run(cfg: &KlStudyConfig, show_progress: bool) -> Result<KlStudy> {
    check_config(cfg)?;
    let clock = std::time::Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let task = MarkovTask::random_with(
        cfg.vocab,
        cfg.horizon,
        cfg.nnz_per_row,
        cfg.reward_scale,
        cfg.beta,
        crate::markov::Reference::Uniform,
        &mut rng,
    )?;
    let star = TabularMarkov::of_task(&task, true)?;
    let reference = TabularMarkov::of_task(&task, false)?;
    let pi = random_policy(&task, cfg.alpha, cfg.noise, &mut rng)?;
    let qs = [("KL(π‖π*)", &star), ("KL(π‖π_ref)", &reference)];
    let exact: Vec<f64> = qs.iter().map(|(_, q)| pi.kl_to(q)).collect();
    // estimates[target][estimator][size] = replicated means; pool for per-sample variance.
    let mut est = vec![vec![vec![Vec::with_capacity(cfg.replications); cfg.sizes.len()]; 6]; 2];
    let mut pool = vec![vec![Vec::new(); 6]; 2];
    let pb = progress(show_progress, cfg.replications as u64, "kl-study");
    for _ in 0..cfg.replications {
        for (si, &n) in cfg.sizes.iter().enumerate() {
            let mut sums = [[0.0; 6]; 2];
            for _ in 0..n {
                let y = pi.sample(&mut rng);
                for (qi, (_, q)) in qs.iter().enumerate() {
                    let vals = estimator_values(&pi, q, &y);
                    for e in 0..6 {
                        sums[qi][e] += vals[e];
                        if pool[qi][e].len() < 200_000 {
                            pool[qi][e].push(vals[e]);
                        }
                    }
                }
            }
            for qi in 0..2 {
                for e in 0..6 {
                    est[qi][e][si].push(sums[qi][e] / n as f64);
                }
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let targets: Vec<TargetResult> = (0..2)
        .map(|qi| TargetResult {
            target: qs[qi].0.into(),
            exact: exact[qi],
            estimators: (0..6)
                .map(|e| {
                    let rows: Vec<EstimatorRow> = cfg
                        .sizes
                        .iter()
                        .enumerate()
                        .map(|(si, &n)| {
                            let xs = &est[qi][e][si];
                            let s = summarize(xs, 0.95);
                            let mse = xs.iter().map(|x| (x - exact[qi]).powi(2)).sum::<f64>()
                                / xs.len() as f64;
                            EstimatorRow {
                                n,
                                bias: s.mean - exact[qi],
                                bias_se: s.se,
                                sd: s.sd,
                                rmse: mse.sqrt(),
                            }
                        })
                        .collect();
                    let max_abs_z = rows
                        .iter()
                        .map(|r| (r.bias / r.bias_se).abs())
                        .fold(0.0, f64::max);
                    EstimatorResult {
                        name: ESTIMATORS[e].into(),
                        unbiased_by_theory: UNBIASED[e],
                        per_sample_variance: summarize(&pool[qi][e], 0.95).sd.powi(2),
                        rows,
                        max_abs_z,
                    }
                })
                .collect(),
        })
        .collect();
    let (gradients, rev, gnorm) = gradient_study(cfg, &mut rng)?;
    let mut summary = Vec::new();
    for t in &targets {
        let var = |name: &str| {
            t.estimators
                .iter()
                .find(|e| e.name == name)
                .map_or(f64::NAN, |e| e.per_sample_variance)
        };
        let z = |name: &str| {
            t.estimators
                .iter()
                .find(|e| e.name == name)
                .map_or(f64::NAN, |e| e.max_abs_z)
        };
        let bias_k2 = t.estimators[1].rows.last().map_or(f64::NAN, |r| r.bias);
        summary.push(format!(
            "{} = {:.4}: k1, k3, Σk3_t unbiased (max |bias|/se {:.1}, {:.1}, {:.1}); k2 biased by \
             {:+.4}, Σk2_t by {:+.4}; per-sample variance k1 {:.4}, k3 {:.4}, Σk3_t {:.4}",
            t.target,
            t.exact,
            z("k1"),
            z("k3"),
            z("tok_k3"),
            bias_k2,
            t.estimators[4].rows.last().map_or(f64::NAN, |r| r.bias),
            var("k1"),
            var("k3"),
            var("tok_k3"),
        ));
    }
    for g in &gradients {
        summary.push(format!(
            "gradient {}: relative bias {:.3e}, cosine {:.4}, variance {:.4}",
            g.name, g.relative_bias, g.cosine, g.variance
        ));
    }
    Ok(KlStudy {
        config: cfg.clone(),
        targets,
        gradients,
        k3_loss_vs_reverse_kl: rev,
        grad_norm: gnorm,
        summary,
        seconds: clock.elapsed().as_secs_f64(),
    })
}

/// Names of the gradient estimators.
pub const GRADIENTS: [&str; 6] = [
    "reinforce_k1",
    "loss_k1",
    "loss_k2",
    "loss_k3",
    "loss_tok_k2",
    "loss_tok_k3",
];

/// The six gradient estimators on one response (module docs), each `H·V²` long.
fn gradient_values(pi: &TabularMarkov, q: &TabularMarkov, y: &[usize]) -> Vec<Vec<f64>> {
    let (n, h) = (pi.vocab, pi.horizon);
    let mut out = vec![vec![0.0; h * n * n]; 6];
    let mut c = 0.0;
    let mut cs = Vec::with_capacity(h);
    let mut u = pi.y0;
    for (t, &v) in y.iter().enumerate() {
        let ct = pi.lp(t, u, v) - q.lp(t, u, v);
        c += ct;
        cs.push((t, u, v, ct));
        u = v;
    }
    let rho = (-c).exp();
    // Coefficient of each step's score s_t per estimator.
    for &(t, u, v, ct) in &cs {
        let coef = [c, 1.0, c, 1.0 - rho, ct, 1.0 - (-ct).exp()];
        for w in 0..n {
            let s = f64::from(u8::from(w == v)) - pi.lp(t, u, w).exp();
            let idx = (t * n + u) * n + w;
            for (g, k) in out.iter_mut().zip(coef) {
                g[idx] += k * s;
            }
        }
    }
    out
}

fn norm(x: &[f64]) -> f64 {
    x.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// Exact expectations of the gradient estimators by enumeration on a small task.
fn gradient_study(cfg: &KlStudyConfig, rng: &mut impl Rng) -> Result<(Vec<GradientRow>, f64, f64)> {
    let task = MarkovTask::random_with(
        cfg.grad_vocab,
        cfg.grad_horizon,
        cfg.nnz_per_row.min(cfg.grad_vocab),
        cfg.reward_scale,
        cfg.beta,
        crate::markov::Reference::Uniform,
        rng,
    )?;
    let reference = TabularMarkov::of_task(&task, false)?;
    let pi = random_policy(&task, cfg.alpha, cfg.noise.max(0.3), rng)?;
    let exact = pi.grad_kl_to(&reference);
    let dim = exact.len();
    let count = task.enumeration_size()?;
    let mut mean = vec![vec![0.0; dim]; 6];
    let mut sq = [0.0; 6];
    let mut reverse = vec![0.0; dim];
    for i in 0..count {
        let y = task.decode(i);
        let p = pi.log_prob(&y).exp();
        let pr = reference.log_prob(&y).exp();
        let g = gradient_values(&pi, &reference, &y);
        for (k, gk) in g.iter().enumerate() {
            for (m, x) in mean[k].iter_mut().zip(gk) {
                *m += p * x;
            }
            sq[k] += p * gk.iter().map(|x| x * x).sum::<f64>();
        }
        // ∇KL(π_ref‖π) = −Σ_y π_ref(y) ∇log π(y) (the score is g[1]).
        for (r, x) in reverse.iter_mut().zip(&g[1]) {
            *r -= pr * x;
        }
    }
    let en = norm(&exact);
    let rows = (0..6)
        .map(|k| {
            let diff: Vec<f64> = mean[k].iter().zip(&exact).map(|(a, b)| a - b).collect();
            let mn = norm(&mean[k]);
            let dot: f64 = mean[k].iter().zip(&exact).map(|(a, b)| a * b).sum();
            GradientRow {
                name: GRADIENTS[k].into(),
                relative_bias: norm(&diff) / en,
                // E[∇k1 loss] = E[s] = 0 exactly; its round-off has no direction.
                cosine: if mn > 1e-9 * en { dot / (mn * en) } else { 0.0 },
                variance: sq[k] - mn * mn,
            }
        })
        .collect();
    let d: Vec<f64> = mean[3].iter().zip(&reverse).map(|(a, b)| a - b).collect();
    Ok((rows, norm(&d) / norm(&reverse), en))
}

/// Writes `kl_study.json` and draws the figures from it into `out`.
pub fn write(study: &KlStudy, out: &Path) -> Result<Vec<PathBuf>> {
    crate::io::write_json(&out.join("kl_study.json"), study)?;
    draw(study, out)
}

/// Draws `kl_study_rmse.{png,svg}` (RMSE against n, log–log, for `KL(π‖π*)`) and
/// `kl_study_gradients.{png,svg}` (relative bias of each gradient estimator).
pub fn draw(study: &KlStudy, out: &Path) -> Result<Vec<PathBuf>> {
    let t = &study.targets[0];
    let chart = LineChart {
        title: format!(
            "Estimators of {} = {:.3} (V = {}, H = {})",
            t.target, t.exact, study.config.vocab, study.config.horizon
        ),
        x_label: "samples n".into(),
        y_label: "RMSE over replications".into(),
        x_log: true,
        y_log: true,
        series: t
            .estimators
            .iter()
            .filter(|e| e.name != "tok_k1")
            .map(|e| Series {
                name: e.name.clone(),
                points: e.rows.iter().map(|r| (r.n as f64, r.rmse)).collect(),
                err: None,
                style: Style::LinePoints,
                key: None,
                lighten: 0.0,
            })
            .collect(),
        shade_x: vec![],
        shade_label: None,
        dodge: 0.0,
        wide: false,
    };
    let mut files = render_line(&chart, &out.join("kl_study_rmse"))?;
    let bars = BarChart {
        title: "Gradient estimators of ∇KL(π‖π_ref): exact relative bias".into(),
        y_label: "‖E g − ∇KL‖ / ‖∇KL‖".into(),
        categories: study.gradients.iter().map(|g| g.name.clone()).collect(),
        groups: vec![(
            "relative bias".into(),
            study.gradients.iter().map(|g| g.relative_bias).collect(),
            None,
        )],
    };
    files.extend(render_bars(&bars, &out.join("kl_study_gradients"))?);
    Ok(files)
}

/// Threshold of the unbiasedness claim: `|bias|/se ≤ 4` for each of the 4 unbiased estimators
/// × 2 targets × the sizes (≤ 40 tests): a Bonferroni bound at 0.25% per test, so a false
/// FAIL has probability below 1% under the null while a real bias of a tenth of the se at n = 1
/// is caught at the published sizes.
pub const UNBIASED_Z: f64 = 4.0;

/// Exact expectations by enumeration agree with the recursion to round-off: 1e-9 relative.
pub const GRAD_EXACT_REL: f64 = 1e-9;

/// The study's claims in `aihf verify`.
pub fn claims() -> Vec<Claim> {
    vec![
        Claim {
            id: "truth.kl_estimators_unbiased",
            paper_ref: "toolkit (SPEC §3.2 KL estimators; TRL issue #3556)",
            statement: "On a Markov task (V = 8, H = 8) and a known Markov policy, the sequence-level \
                        k1 and k3 and the per-token sums Σk1_t, Σk3_t are unbiased for KL(π‖π*) and \
                        KL(π‖π_ref): max |bias|/se over estimators, targets and sample sizes ≤ 4 \
                        (k2 and Σk2_t are reported as biased).",
            run: run_claim_unbiased,
        },
        Claim {
            id: "truth.kl_gradient_estimators",
            paper_ref: "toolkit (SPEC §3.2 gradients of KL estimators)",
            statement: "For a tabular Markov policy, the REINFORCE gradient with k1 in the reward and \
                        the gradient of the k2 loss through the log-probabilities have expectation \
                        ∇KL(π‖π_ref) exactly (relative error ≤ 1e-9, by enumeration), while the k1 \
                        loss (expectation 0) and the k3 loss (the reverse KL's gradient) do not.",
            run: run_claim_gradients,
        },
    ]
}

fn study_for(ctx: &Ctx, id: &str) -> Result<KlStudy> {
    let seed = derive_seed(ctx.seed, id);
    let cfg = if ctx.full {
        KlStudyConfig::full(seed)
    } else {
        KlStudyConfig::quick(seed)
    };
    run(&cfg, ctx.progress)
}

fn run_claim_unbiased(ctx: &Ctx) -> Result<Outcome> {
    let s = study_for(ctx, "truth.kl_estimators_unbiased")?;
    let z = s
        .targets
        .iter()
        .flat_map(|t| t.estimators.iter().filter(|e| e.unbiased_by_theory))
        .map(|e| e.max_abs_z)
        .fold(0.0, f64::max);
    let mut o = Outcome::new(
        z,
        Relation::AtMost,
        UNBIASED_Z,
        format!(
            "{}; {} replications of n = {:?}, seed {}",
            s.summary[..2].join("; "),
            s.config.replications,
            s.config.sizes,
            s.config.seed
        ),
    )
    .with_details(serde_json::to_value(&s).unwrap_or(json!(null)));
    if let Some(dir) = &ctx.out_dir {
        for f in write(&s, &dir.join("kl_study"))? {
            if let Ok(rel) = f.strip_prefix(dir) {
                o = o.with_figure(rel.to_path_buf());
            }
        }
    }
    Ok(o)
}

fn run_claim_gradients(ctx: &Ctx) -> Result<Outcome> {
    let seed = derive_seed(ctx.seed, "truth.kl_gradient_estimators");
    let cfg = KlStudyConfig::quick(seed);
    check_config(&cfg)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (rows, rev, _) = gradient_study(&cfg, &mut rng)?;
    let get = |n: &str| {
        rows.iter()
            .find(|r| r.name == n)
            .map_or(f64::NAN, |r| r.relative_bias)
    };
    let m = get("reinforce_k1").max(get("loss_k2"));
    let biased_ok = get("loss_k1") > 0.5 && get("loss_k3") > 1e-3;
    let measured = if biased_ok { m } else { f64::INFINITY };
    Ok(Outcome::new(
        measured,
        Relation::AtMost,
        GRAD_EXACT_REL,
        format!(
            "relative bias: REINFORCE-k1 {:.1e}, k2 loss {:.1e}, k1 loss {:.3}, k3 loss {:.3}, \
             per-token k2 loss {:.3}, per-token k3 loss {:.3}; k3 loss vs ∇KL(π_ref‖π): {:.1e}; \
             V = {}, H = {} enumerated, seed {seed}",
            get("reinforce_k1"),
            get("loss_k2"),
            get("loss_k1"),
            get("loss_k3"),
            get("loss_tok_k2"),
            get("loss_tok_k3"),
            rev,
            cfg.grad_vocab,
            cfg.grad_horizon
        ),
    )
    .with_details(json!({"gradients": rows, "k3_loss_vs_reverse_kl": rev})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_gradient_matches_finite_differences() {
        // Independent computation: central differences of the chain-rule KL.
        let task = MarkovTask::random(3, 3, 2, 1.0, 5).unwrap();
        let q = TabularMarkov::of_task(&task, false).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let theta: Vec<f64> = (0..27)
            .map(|_| rng.sample::<f64, _>(StandardNormal))
            .collect();
        let pi = TabularMarkov::from_logits(3, 3, 0, &theta).unwrap();
        let g = pi.grad_kl_to(&q);
        let h = crate::tol::FD_STEP;
        for i in 0..27 {
            let mut a = theta.clone();
            let mut b = theta.clone();
            a[i] += h;
            b[i] -= h;
            let fa = TabularMarkov::from_logits(3, 3, 0, &a).unwrap().kl_to(&q);
            let fb = TabularMarkov::from_logits(3, 3, 0, &b).unwrap().kl_to(&q);
            let fd = (fa - fb) / (2.0 * h);
            assert!(
                (fd - g[i]).abs() <= crate::tol::FD_REL * (1.0 + g[i].abs()),
                "θ[{i}]: exact {} vs finite difference {fd}",
                g[i]
            );
        }
    }

    #[test]
    fn kl_agrees_with_truth_policy() {
        use crate::truth::policy::MarkovPolicy;
        let task = MarkovTask::random(4, 3, 2, 1.0, 2).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let pi = random_policy(&task, 0.5, 0.5, &mut rng).unwrap();
        let table: Vec<f64> = pi.logp.iter().map(|l| l.exp()).collect();
        let p = MarkovPolicy::from_table(4, 3, 0, &table, "test").unwrap();
        let star = MarkovPolicy::star(&task).unwrap();
        let a = p.kl_to(&p.marginals(), &star).unwrap();
        let b = pi.kl_to(&TabularMarkov::of_task(&task, true).unwrap());
        assert!(
            (a - b).abs() < 1e-12,
            "MarkovPolicy {a} vs TabularMarkov {b}"
        );
    }

    #[test]
    fn chain_rule_kl_matches_enumeration() {
        let task = MarkovTask::random(3, 4, 2, 1.0, 8).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let pi = random_policy(&task, 0.5, 0.5, &mut rng).unwrap();
        let star = TabularMarkov::of_task(&task, true).unwrap();
        let mut kl = 0.0;
        for i in 0..task.enumeration_size().unwrap() {
            let y = task.decode(i);
            let l = pi.log_prob(&y);
            kl += l.exp() * (l - star.log_prob(&y));
        }
        assert!(
            (kl - pi.kl_to(&star)).abs() < 1e-12,
            "{kl} vs {}",
            pi.kl_to(&star)
        );
    }
}
