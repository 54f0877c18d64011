//! `aihf truth score` (issue 13, part 1; SPEC §3.2): score any policy against the exact truth
//! of a Markov task from responses sampled from it and their log-probabilities.
//!
//! For samples `y_k ∼ π` with `log π(y_k)` known, `ρ(y) = q(y)/π(y)` for `q ∈ {π*, π_ref}`:
//! `k1 = −log ρ` and `k3 = (ρ − 1) − log ρ` are both unbiased for `KL(π‖q)` (SPEC §3.2), each
//! reported with its standard error. The true reward is `r*(y)`; the regularised
//! suboptimality `J_β(π*) − J_β(π)` with `J_β(π) = E_π[r*] − β KL(π‖π_ref)` and
//! `J_β(π*) = V_0(y_0)` (exact) is estimated per sample by `V_0 − r*(y) + β (log π(y) − log π_ref(y))`,
//! which equals `β · k1(π‖π*)` sample by sample (telescoping, SPEC §3.1) — the identity
//! `J_β(π*) − J_β(π) = β KL(π‖π*)` is tested exactly on Markov policies in the tests below.
//! The win rate against `π*` is the two-sample U-statistic
//! `(1/nm) Σ_{k,j} σ(r*(y_k) − r*(y'_j))` over `m` exact draws `y'_j ∼ π*` (seeded), with `σ`
//! evaluated exactly per pair and the standard error of a two-sample U-statistic
//! (`Var ≈ Var_k(h₁)/n + Var_j(h₂)/m`, `h₁`, `h₂` its Hájek projections).

use crate::error::{AihfError, Result};
use crate::markov::MarkovTask;
use crate::math::sigmoid;
use crate::plot::{render_line, LineChart, Series, Style};
use crate::stats::summarize;
use crate::truth::policy::{Bigrams, MarkovPolicy};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A log-probability above this is refused as impossible. Not 0: a float32 policy's
/// log-softmax of a near-certain token rounds to within a few ulps of 1 (`2^-24 ≈ 6e-8`) above
/// zero; 1e-6 allows that for a response of up to ~16 such tokens and nothing more.
pub const POSITIVE_LOGPROB_SLACK: f64 = 1e-6;

/// `logprob` and the sum of `token_logprobs`, when both are given, must agree to this: a
/// float32 sum of `H ≤ 4096` terms of size ≤ 30 is accurate to ~1e-3 in the worst case.
pub const LOGPROB_SUM_SLACK: f64 = 1e-3;

/// A mean below `−SANITY_Z · se` is "significantly negative": a one-sided 3σ rule
/// (false-alarm rate 0.13% for a normal mean) for quantities that cannot be negative.
pub const SANITY_Z: f64 = 3.0;

/// Default number of exact `π*` draws for the win rate.
pub const DEFAULT_STAR_SAMPLES: usize = 4096;

/// One scored response.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The `H` response tokens.
    pub completion: Vec<usize>,
    /// `log π(y)` (given, or the sum of `token_logprobs`).
    pub logprob: f64,
    /// `log π(y_t | y_<t)` per token, when given.
    pub token_logprobs: Option<Vec<f64>>,
}

/// A mean and its standard error.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanSe {
    /// Sample mean over the scored responses.
    pub mean: f64,
    /// Standard error of the mean (sample SD over `√n`).
    pub se: f64,
}

impl MeanSe {
    fn of(xs: &[f64]) -> Self {
        let s = summarize(xs, 0.95);
        MeanSe {
            mean: s.mean,
            se: s.se,
        }
    }
}

/// The k1 and k3 estimates of one KL divergence (sequence level).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KlEstimates {
    /// Mean of `k1 = −log ρ`, `ρ = q(y)/π(y)`: unbiased for `KL(π‖q)` (SPEC §3.2).
    pub k1: MeanSe,
    /// Mean of `k3 = (ρ − 1) − log ρ`: unbiased for `KL(π‖q)`, nonnegative per sample (SPEC §3.2).
    pub k3: MeanSe,
    /// `Σ_t k3_t` with the per-token conditionals (only with `token_logprobs`): unbiased too,
    /// with another variance (SPEC §3.2).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub k3_token_sum: Option<MeanSe>,
}

/// The sanity verdict on the log-probabilities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sanity {
    /// No flag raised.
    pub ok: bool,
    /// What was flagged, with the numbers.
    pub flags: Vec<String>,
}

/// Distances from the policy under test to an exact estimator's policy `π̂`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToEstimate {
    /// `KL(π‖π̂)`: the optimisation error of a trainer whose exact target is `π̂`; `null` when
    /// it is infinite (`π̂` gives probability 0 to some sampled responses).
    pub kl: Option<KlEstimates>,
    /// Sampled responses to which `π̂` gives probability 0 (e.g. the empirical `sft`
    /// estimator's unseen transitions).
    pub zero_probability_samples: usize,
    /// `KL(π̂‖π*)` (exact, chain rule): the estimator's statistical error.
    pub estimator_kl_to_star: f64,
}

/// Everything `aihf truth score` reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreReport {
    /// Number of responses `y_k ∼ π` scored.
    pub n: usize,
    /// Estimates of `KL(π‖π*)` (nats).
    pub kl_to_star: KlEstimates,
    /// Estimates of `KL(π‖π_ref)` (nats).
    pub kl_to_ref: KlEstimates,
    /// Mean true reward `E_π[r*]` of the responses.
    pub true_reward: MeanSe,
    /// `J_β(π*) − J_β(π)`, estimated per sample; equals `β KL(π‖π*)` (SPEC §3.1).
    pub regularised_suboptimality: MeanSe,
    /// Two-sample U-statistic `(1/nm) Σ σ(r*(y_k) − r*(y'_j))` against `m` draws from `π*`, with its SE.
    pub win_rate_vs_star: MeanSe,
    /// Sanity checks on the supplied log-probabilities.
    pub sanity: Sanity,
    /// Distances to an exact estimator's policy `π̂`, when one was given; `None` otherwise.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub to_estimate: Option<ToEstimate>,
    /// The task's `β` and `J_β(π*) = V_0(y_0)`.
    pub beta: f64,
    /// `J_β(π*) = V_0(y_0)`, the optimal regularised objective (exact).
    pub optimal_objective: f64,
    /// Exact `KL(π*‖π_ref)` and `E_{π*}[r*]` (the frontier's point at `b = β`).
    pub star_kl_to_ref: f64,
    /// Exact `E_{π*}[r*]` of the task.
    pub star_true_reward: f64,
    /// Draws from `π*` for the win rate, and their seed.
    pub star_samples: usize,
    /// Seed of the draws from `π*`.
    pub seed: u64,
    /// The files read, each with its FNV-1a hash ([`crate::io::input_record`]): `task`,
    /// `samples` and `estimate` (with `estimate_name`), set by [`score_files`].
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub inputs: serde_json::Value,
}

/// Options of [`score`].
#[derive(Clone, Copy, Debug)]
pub struct ScoreOptions {
    /// Number `m` of exact draws from `π*` for the win rate.
    pub star_samples: usize,
    /// Seed of those draws.
    pub seed: u64,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            star_samples: DEFAULT_STAR_SAMPLES,
            seed: 0,
        }
    }
}

fn line_err(source: &str, line: usize, reason: impl Into<String>) -> AihfError {
    AihfError::data(format!("{source}:{line}"), reason)
}

fn as_ids(v: &Value, key: &str, source: &str, line: usize) -> Result<Vec<usize>> {
    let arr = v.as_array().ok_or_else(|| {
        line_err(
            source,
            line,
            format!("`{key}` must be an array of token ids"),
        )
    })?;
    arr.iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_u64().map(|u| u as usize).ok_or_else(|| {
                line_err(
                    source,
                    line,
                    format!("`{key}`[{i}] must be a non-negative integer, got {x}"),
                )
            })
        })
        .collect()
}

fn as_logprob(v: &Value, what: &str, source: &str, line: usize) -> Result<f64> {
    let x = v
        .as_f64()
        .ok_or_else(|| line_err(source, line, format!("{what} must be a number, got {v}")))?;
    if !x.is_finite() {
        return Err(line_err(
            source,
            line,
            format!("{what} must be finite, got {x}"),
        ));
    }
    Ok(x)
}

/// Parses a samples file (`source` names it in errors): one JSON object per line with
/// `completion_ids` (`H` ids below `V`) and `logprob` and/or `token_logprobs` (`H` entries);
/// `prompt_ids`, when given, must be `[y_0]`. Blank lines are skipped; other keys are refused.
pub fn parse_samples(text: &str, source: &str, task: &MarkovTask) -> Result<Vec<Sample>> {
    let (v, h) = (task.vocab(), task.horizon());
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let obj: serde_json::Map<String, Value> = serde_json::from_str(raw)
            .map_err(|e| line_err(source, line, format!("not a JSON object: {e}")))?;
        if let Some(k) = obj.keys().find(|k| {
            !matches!(
                k.as_str(),
                "completion_ids" | "logprob" | "token_logprobs" | "prompt_ids"
            )
        }) {
            return Err(line_err(
                source,
                line,
                format!(
                    "unknown key `{k}` (expected completion_ids, logprob or token_logprobs, \
                     prompt_ids)"
                ),
            ));
        }
        let y = as_ids(
            obj.get("completion_ids")
                .ok_or_else(|| line_err(source, line, "missing key `completion_ids`"))?,
            "completion_ids",
            source,
            line,
        )?;
        if y.len() != h {
            return Err(line_err(
                source,
                line,
                format!(
                    "`completion_ids` has {} tokens, the horizon is H = {h}",
                    y.len()
                ),
            ));
        }
        if let Some(k) = y.iter().position(|&t| t >= v) {
            return Err(line_err(
                source,
                line,
                format!("`completion_ids`[{k}] = {} is out of range 0..{v}", y[k]),
            ));
        }
        if let Some(p) = obj.get("prompt_ids") {
            let p = as_ids(p, "prompt_ids", source, line)?;
            if p != [task.y0()] {
                return Err(line_err(
                    source,
                    line,
                    format!(
                        "`prompt_ids` {p:?} is not the task's prompt [{}]",
                        task.y0()
                    ),
                ));
            }
        }
        let tokens = match obj.get("token_logprobs") {
            None => None,
            Some(t) => {
                let arr = t.as_array().ok_or_else(|| {
                    line_err(source, line, "`token_logprobs` must be an array of numbers")
                })?;
                if arr.len() != h {
                    return Err(line_err(
                        source,
                        line,
                        format!(
                            "`token_logprobs` has {} entries, the horizon is H = {h}",
                            arr.len()
                        ),
                    ));
                }
                let xs = arr
                    .iter()
                    .enumerate()
                    .map(|(k, x)| as_logprob(x, &format!("`token_logprobs`[{k}]"), source, line))
                    .collect::<Result<Vec<f64>>>()?;
                Some(xs)
            }
        };
        let lp = match (obj.get("logprob"), &tokens) {
            (None, None) => {
                return Err(line_err(
                    source,
                    line,
                    "missing key `logprob` (or `token_logprobs`)",
                ))
            }
            (Some(x), None) => as_logprob(x, "`logprob`", source, line)?,
            (None, Some(t)) => t.iter().sum(),
            (Some(x), Some(t)) => {
                let lp = as_logprob(x, "`logprob`", source, line)?;
                let s: f64 = t.iter().sum();
                if (lp - s).abs() > LOGPROB_SUM_SLACK {
                    return Err(line_err(
                        source,
                        line,
                        format!(
                            "`logprob` {lp} differs from the sum of `token_logprobs` {s} by more \
                             than {LOGPROB_SUM_SLACK}"
                        ),
                    ));
                }
                lp
            }
        };
        if lp > POSITIVE_LOGPROB_SLACK {
            return Err(line_err(
                source,
                line,
                format!("log-probability {lp} is positive: no probability exceeds 1"),
            ));
        }
        out.push(Sample {
            completion: y,
            logprob: lp,
            token_logprobs: tokens,
        });
    }
    if out.len() < 2 {
        return Err(AihfError::data(
            source,
            format!(
                "{} sample(s): need at least 2 responses for a standard error",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// Reads and parses a samples file ([`parse_samples`]).
pub fn read_samples(path: &Path, task: &MarkovTask) -> Result<Vec<Sample>> {
    let text = crate::io::read_input(path)?;
    parse_samples(&text, &path.display().to_string(), task)
}

/// Something with an exact log-probability of a response to the task's prompt.
pub trait SequenceLogProb {
    /// `log q(y)` (`−∞` allowed).
    fn log_prob(&self, y: &[usize]) -> Result<f64>;
}

/// `k1` and `k3` of `KL(π‖q)` per sample, from `log π(y) − log q(y)`.
fn k1_k3(log_ratio_pi_over_q: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let k1 = log_ratio_pi_over_q.to_vec();
    // k3 = ρ − 1 − log ρ with log ρ = −d; exp_m1 keeps accuracy for small |d|.
    let k3 = log_ratio_pi_over_q
        .iter()
        .map(|&d| (-d).exp_m1() + d)
        .collect();
    (k1, k3)
}

fn kl_estimates(d: &[f64], k3_tok: Option<Vec<f64>>) -> KlEstimates {
    let (k1, k3) = k1_k3(d);
    KlEstimates {
        k1: MeanSe::of(&k1),
        k3: MeanSe::of(&k3),
        k3_token_sum: k3_tok.map(|x| MeanSe::of(&x)),
    }
}

/// The win rate `E_{y∼π, y'∼π*}[σ(r(y) − r(y'))]` from rewards of `n` samples of `π` and `m`
/// of `π*`, with the standard error of the two-sample U-statistic.
pub fn win_rate(r_pi: &[f64], r_star: &[f64]) -> MeanSe {
    let (n, m) = (r_pi.len() as f64, r_star.len() as f64);
    let h1: Vec<f64> = r_pi
        .iter()
        .map(|&a| r_star.iter().map(|&b| sigmoid(a - b)).sum::<f64>() / m)
        .collect();
    let h2: Vec<f64> = r_star
        .iter()
        .map(|&b| r_pi.iter().map(|&a| sigmoid(a - b)).sum::<f64>() / n)
        .collect();
    let s1 = summarize(&h1, 0.95);
    let s2 = summarize(&h2, 0.95);
    MeanSe {
        mean: s1.mean,
        se: (s1.se * s1.se + s2.se * s2.se).sqrt(),
    }
}

/// Scores `samples` of a policy `π` against the task's exact `π*` and `π_ref` (and, with
/// `estimate`, against an exact estimator's policy `π̂` with its exact `KL(π̂‖π*)`).
pub fn score(
    task: &MarkovTask,
    samples: &[Sample],
    estimate: Option<(&dyn SequenceLogProb, f64)>,
    opts: ScoreOptions,
) -> Result<ScoreReport> {
    if samples.len() < 2 {
        return Err(AihfError::param(
            "samples",
            format!(
                "need at least 2 for a standard error, got {}",
                samples.len()
            ),
        ));
    }
    if opts.star_samples < 2 {
        return Err(AihfError::param(
            "star_samples",
            format!("need at least 2 draws from π*, got {}", opts.star_samples),
        ));
    }
    let beta = task.beta();
    let v0 = task.optimal_objective();
    let n = samples.len();
    let (mut d_star, mut d_ref, mut reward, mut subopt) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let with_tokens = samples.iter().all(|s| s.token_logprobs.is_some());
    let (mut k3t_star, mut k3t_ref) = (Vec::new(), Vec::new());
    let mut positive_tokens = 0usize;
    for s in samples {
        let y = &s.completion;
        let (ls, lr, r) = (
            task.log_prob_star(y)?,
            task.log_prob_ref(y)?,
            task.true_reward(y)?,
        );
        d_star.push(s.logprob - ls);
        d_ref.push(s.logprob - lr);
        reward.push(r);
        subopt.push(v0 - r + beta * (s.logprob - lr));
        if let Some(tl) = &s.token_logprobs {
            positive_tokens += tl.iter().filter(|&&x| x > 0.0).count();
            if with_tokens {
                let (mut a, mut b) = (0.0, 0.0);
                let mut u = task.y0();
                for (t, (&v, &lp)) in y.iter().zip(tl).enumerate() {
                    let (d1, d2) = (lp - task.log_star(t, u, v), lp - task.log_ref(u, v));
                    a += (-d1).exp_m1() + d1;
                    b += (-d2).exp_m1() + d2;
                    u = v;
                }
                k3t_star.push(a);
                k3t_ref.push(b);
            }
        }
    }
    let kl_to_star = kl_estimates(&d_star, with_tokens.then_some(k3t_star));
    let kl_to_ref = kl_estimates(&d_ref, with_tokens.then_some(k3t_ref));
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let r_star: Vec<f64> = (0..opts.star_samples)
        .map(|_| task.true_reward(&task.sample_star(&mut rng)))
        .collect::<Result<_>>()?;
    let to_estimate = match estimate {
        None => None,
        Some((q, kl_hat_star)) => {
            let d: Vec<f64> = samples
                .iter()
                .map(|s| Ok(s.logprob - q.log_prob(&s.completion)?))
                .collect::<Result<_>>()?;
            let zeros = d.iter().filter(|x| x.is_infinite()).count();
            Some(ToEstimate {
                kl: (zeros == 0).then(|| kl_estimates(&d, None)),
                zero_probability_samples: zeros,
                estimator_kl_to_star: kl_hat_star,
            })
        }
    };
    let mut flags = Vec::new();
    for (name, k) in [("KL(π‖π_ref)", &kl_to_ref), ("KL(π‖π*)", &kl_to_star)] {
        if k.k1.mean < -SANITY_Z * k.k1.se {
            flags.push(format!(
                "{name} k1 = {:.4} ± {:.4} is significantly negative (below −{SANITY_Z} se): the \
                 log-probabilities are not those of the sampled responses (unnormalised, wrong \
                 tokens, or EOS/special-token mass not removed)",
                k.k1.mean, k.k1.se
            ));
        }
    }
    if positive_tokens > 0 {
        flags.push(format!(
            "{positive_tokens} token log-probabilities are > 0 (tolerable only as float round-off \
             of near-certain tokens)"
        ));
    }
    let (star_kl_to_ref, star_true_reward) = exact_frontier_point(task)?;
    Ok(ScoreReport {
        n,
        kl_to_star,
        kl_to_ref,
        true_reward: MeanSe::of(&reward),
        regularised_suboptimality: MeanSe::of(&subopt),
        win_rate_vs_star: win_rate(&reward, &r_star),
        sanity: Sanity {
            ok: flags.is_empty(),
            flags,
        },
        to_estimate,
        beta,
        optimal_objective: v0,
        star_kl_to_ref,
        star_true_reward,
        star_samples: opts.star_samples,
        seed: opts.seed,
        inputs: serde_json::Value::Null,
    })
}

/// Exact `(KL(π*‖π_ref), E_{π*}[r*])` of the task's `π*`: `E_{π*}[r*]` from the forward
/// marginals of [`MarkovPolicy::star`] (`O(H (V + nnz))` with a uniform reference) on the
/// task's support, and `KL(π*‖π_ref) = (E_{π*}[r*] − V_0(y_0))/β` (SPEC §3.1: `V_0` is
/// `J_β(π*)`): one forward pass for both numbers. (The chain-rule KL agrees; it once returned 0
/// at the frontier's far end, `b = β/64` on the README's task, when a cached `e^θ` overflowed —
/// fixed, and tested to `b = 1/1024` in `proofs/truth_policy.rs`.)
pub fn exact_frontier_point(task: &MarkovTask) -> Result<(f64, f64)> {
    let star = MarkovPolicy::star(task)?;
    let mu = star.marginals();
    let pattern = Bigrams::of_task(task);
    let w: Vec<f64> = task.reward_entries().map(|e| e.2).collect();
    let reward = star.expected_reward(&mu, &pattern, &w);
    let kl = (reward - task.optimal_objective()) / task.beta();
    if !(kl.is_finite() && reward.is_finite()) {
        return Err(AihfError::Numerical(format!(
            "exact frontier point at β = {}: KL {kl}, reward {reward}",
            task.beta()
        )));
    }
    // Round-off can leave −1e-16 for a policy at the reference.
    Ok((kl.max(0.0), reward))
}

impl SequenceLogProb for MarkovPolicy {
    fn log_prob(&self, y: &[usize]) -> Result<f64> {
        MarkovPolicy::log_prob(self, y)
    }
}

/// Exact `KL(π̂‖π*)` of a policy `π̂` (chain rule), for [`score`]'s `estimate`.
pub fn exact_kl_to_star(task: &MarkovTask, p_hat: &MarkovPolicy) -> Result<f64> {
    let star = MarkovPolicy::star(task)?;
    p_hat.kl_to(&p_hat.marginals(), &star)
}

/// One point of the exact frontier `{(KL(π*_b‖π_ref), E_{π*_b}[r*]) : b > 0}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrontierPoint {
    /// Temperature `b > 0` at which `π*_b` is solved.
    pub b: f64,
    /// Exact `KL(π*_b‖π_ref)` (nats).
    pub kl_to_ref: f64,
    /// Exact `E_{π*_b}[r*]`.
    pub true_reward: f64,
}

/// The exact frontier at temperatures `β · 2^{k/2}`, `k = −12..=8` (each point by the
/// recursion of SPEC §3.1 with the task's reward and reference at temperature `b`).
pub fn frontier(task: &MarkovTask) -> Result<Vec<FrontierPoint>> {
    let entries: Vec<(usize, usize, f64)> = task.reward_entries().collect();
    (-12..=8)
        .map(|k| {
            let b = task.beta() * 2f64.powf(k as f64 / 2.0);
            let tb = MarkovTask::new(
                task.vocab(),
                task.horizon(),
                b,
                task.y0(),
                &entries,
                task.reference().clone(),
            )?;
            let (kl, r) = exact_frontier_point(&tb)?;
            Ok(FrontierPoint {
                b,
                kl_to_ref: kl,
                true_reward: r,
            })
        })
        .collect()
}

/// The figure's data (written next to it as JSON, redrawable with [`draw_frontier`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FrontierFigure {
    /// The exact frontier, by increasing `b` (see [`frontier`]).
    pub frontier: Vec<FrontierPoint>,
    /// The policy's `(KL(π‖π_ref) k1, E_π[r*])` with standard errors.
    pub policy: (MeanSe, MeanSe),
    /// Legend label of the policy's point.
    pub label: String,
}

/// Draws the policy's point with error bars on the true-reward–KL-to-reference plane against
/// the exact frontier; writes `stem.png` and `stem.svg`.
pub fn draw_frontier(fig: &FrontierFigure, stem: &Path) -> Result<Vec<PathBuf>> {
    let (kl, r) = fig.policy;
    let chart = LineChart {
        title: "True reward against KL to the reference".into(),
        x_label: "KL(π‖π_ref) (nats)".into(),
        y_label: "E_π[r*]".into(),
        x_log: false,
        y_log: false,
        series: vec![
            Series {
                name: "exact frontier π*_b".into(),
                points: fig
                    .frontier
                    .iter()
                    .map(|p| (p.kl_to_ref, p.true_reward))
                    .collect(),
                err: None,
                style: Style::LinePoints,
                key: None,
                lighten: 0.0,
            },
            Series {
                name: format!("{} (± 2 se)", fig.label),
                points: vec![(kl.mean, r.mean)],
                err: Some(vec![(r.mean - 2.0 * r.se, r.mean + 2.0 * r.se)]),
                style: Style::Points,
                key: None,
                lighten: 0.0,
            },
            Series {
                name: "± 2 se in KL".into(),
                points: vec![
                    (kl.mean - 2.0 * kl.se, r.mean),
                    (kl.mean + 2.0 * kl.se, r.mean),
                ],
                err: None,
                style: Style::Line,
                key: None,
                lighten: 0.0,
            },
        ],
        shade_x: vec![],
        shade_label: None,
        dodge: 0.0,
        wide: false,
    };
    render_line(&chart, stem)
}

/// What [`score_files`] reads.
#[derive(Clone, Debug)]
pub struct ScoreFiles<'a> {
    /// `task.json` ([`crate::truth::data::TaskSpec`]).
    pub task: &'a Path,
    /// The samples JSONL ([`parse_samples`]).
    pub samples: &'a Path,
    /// An exact estimator's `--policy-out` file, and which policy in it.
    pub estimate: Option<(&'a Path, Option<&'a str>)>,
    /// The policy's name on the figure.
    pub label: String,
}

/// Reads the files, scores the samples and computes the exact frontier; writes nothing.
pub fn score_files(
    files: &ScoreFiles<'_>,
    opts: ScoreOptions,
) -> Result<(ScoreReport, FrontierFigure)> {
    let task = crate::truth::data::TaskSpec::read(files.task)?.task()?;
    let samples = read_samples(files.samples, &task)?;
    let p_hat = match files.estimate {
        None => None,
        Some((path, name)) => {
            let p = crate::truth::policy::read_policy(
                path,
                name,
                task.vocab(),
                task.horizon(),
                task.y0(),
            )?;
            let kl = exact_kl_to_star(&task, &p)?;
            Some((p, kl))
        }
    };
    let mut report = score(
        &task,
        &samples,
        p_hat
            .as_ref()
            .map(|(p, kl)| (p as &dyn SequenceLogProb, *kl)),
        opts,
    )?;
    report.inputs = serde_json::json!({
        "task": crate::io::input_record(files.task)?,
        "samples": crate::io::input_record(files.samples)?,
        "estimate": files.estimate.map(|(p, _)| crate::io::input_record(p)).transpose()?,
        "estimate_name": files.estimate.and_then(|(_, n)| n),
        "label": files.label,
    });
    let fig = FrontierFigure {
        frontier: frontier(&task)?,
        policy: (report.kl_to_ref.k1, report.true_reward),
        label: files.label.clone(),
    };
    Ok((report, fig))
}

/// Writes `score.json`, `frontier.json` and the figure `frontier.{png,svg}` into `out`.
pub fn write_outputs(
    report: &ScoreReport,
    fig: &FrontierFigure,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    let mut files = vec![
        out.join("score.json"),
        out.join("score.csv"),
        out.join("frontier.json"),
    ];
    crate::io::write_json(&files[0], report)?;
    crate::io::write_csv(
        &files[1],
        &super::report::csv::SCORE_HEADER,
        &super::report::csv::score_rows(report),
    )?;
    crate::io::write_json(&files[2], fig)?;
    files.extend(draw_frontier(fig, &out.join("frontier"))?);
    Ok(files)
}

/// Scores the files ([`score_files`]) and, with `out`, writes the report and the figure into
/// it ([`write_outputs`]); returns the report and the files written.
pub fn score_and_write(
    files: &ScoreFiles<'_>,
    opts: ScoreOptions,
    out: Option<&Path>,
) -> Result<(ScoreReport, Vec<PathBuf>)> {
    let (report, fig) = score_files(files, opts)?;
    let written = match out {
        Some(d) => write_outputs(&report, &fig, d)?,
        None => vec![],
    };
    Ok((report, written))
}

/// `mean ± se` to four decimals.
fn pm(x: &MeanSe) -> String {
    format!("{:.4} ± {:.4}", x.mean, x.se)
}

impl ScoreReport {
    /// The `truth score` table: the KL estimates (k1, k3) to `π*`, `π_ref` and an estimator's
    /// `π̂`, the true reward, the regularised suboptimality, the win rate and the sanity verdict.
    pub fn table_lines(&self) -> Vec<String> {
        let row = |q: &str, k: &KlEstimates| format!("{q:<34} {:>22} {:>22}", pm(&k.k1), pm(&k.k3));
        let mut lines = vec![
            format!(
                "n = {} samples; β = {}, J_β(π*) = V_0 = {:.6}",
                self.n, self.beta, self.optimal_objective
            ),
            format!("{:<34} {:>22} {:>22}", "quantity", "k1", "k3"),
            row("KL(π‖π*)", &self.kl_to_star),
            row("KL(π‖π_ref)", &self.kl_to_ref),
        ];
        if let Some(e) = &self.to_estimate {
            lines.push(match &e.kl {
                Some(k) => row("KL(π‖π̂)", k),
                None => format!(
                    "KL(π‖π̂) = ∞: π̂ gives probability 0 to {} of the {} samples",
                    e.zero_probability_samples, self.n
                ),
            });
            lines.push(format!("exact KL(π̂‖π*) = {:.6}", e.estimator_kl_to_star));
        }
        lines.extend([
            format!(
                "E_π[r*]                        {}   (π*: {:.4})",
                pm(&self.true_reward),
                self.star_true_reward
            ),
            format!(
                "J_β(π*) − J_β(π) = β KL(π‖π*)  {}",
                pm(&self.regularised_suboptimality)
            ),
            format!(
                "win rate vs π*                 {}   ({} π* draws, seed {})",
                pm(&self.win_rate_vs_star),
                self.star_samples,
                self.seed
            ),
            format!("sanity: {}", self.sanity_verdict()),
        ]);
        lines
    }

    /// `ok`, or the sanity flags joined by `; `.
    fn sanity_verdict(&self) -> String {
        if self.sanity.ok {
            "ok".to_string()
        } else {
            self.sanity.flags.join("; ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> MarkovTask {
        MarkovTask::random(5, 4, 2, 1.0, 3).unwrap()
    }

    #[test]
    fn frontier_point_matches_enumeration() {
        // Independent computation: enumerate all 5^4 responses with exact log π*.
        let t = task();
        let lp = t.brute_force_log_probs_star().unwrap();
        let (mut r, mut kl) = (0.0, 0.0);
        for (i, l) in lp.iter().enumerate() {
            let y = t.decode(i);
            let p = l.exp();
            r += p * t.true_reward(&y).unwrap();
            kl += p * (l - t.log_prob_ref(&y).unwrap());
        }
        let (k, rr) = exact_frontier_point(&t).unwrap();
        assert!((k - kl).abs() < 1e-10, "KL {k} vs enumeration {kl}");
        assert!((rr - r).abs() < 1e-10, "reward {rr} vs enumeration {r}");
    }

    #[test]
    fn regularised_suboptimality_is_beta_kl_exactly() {
        use crate::markov::Reference;
        // J_β(π*) − J_β(π) = β KL(π‖π*) (SPEC §3.2), both sides exact on Markov policies:
        // left from E_π[r*] and the chain-rule KL(π‖π_ref), right from the chain-rule KL(π‖π*).
        use crate::truth::klstudy::TabularMarkov;
        use rand::Rng;
        let t = MarkovTask::random_with(
            6,
            5,
            3,
            1.5,
            0.7,
            Reference::Uniform,
            &mut ChaCha8Rng::seed_from_u64(9),
        )
        .unwrap();
        let star = TabularMarkov::of_task(&t, true).unwrap();
        let reference = TabularMarkov::of_task(&t, false).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..5 {
            let theta: Vec<f64> = (0..5 * 36).map(|_| 2.0 * rng.random::<f64>()).collect();
            let pi = TabularMarkov::from_logits(6, 5, 0, &theta).unwrap();
            let j = |p: &TabularMarkov| p.expected_reward(&t) - t.beta() * p.kl_to(&reference);
            let lhs = t.optimal_objective() - j(&pi);
            let rhs = t.beta() * pi.kl_to(&star);
            assert!((lhs - rhs).abs() < 1e-12, "J gap {lhs} vs β KL {rhs}");
            // And J_β(π*) is V_0(y_0) itself.
            assert!((j(&star) - t.optimal_objective()).abs() < 1e-12);
        }
    }

    #[test]
    fn k3_is_accurate_near_zero() {
        let (_, k3) = k1_k3(&[1e-9, -1e-9]);
        assert!(k3.iter().all(|x| (x - 5e-19).abs() < 1e-24), "{k3:?}");
    }
}
