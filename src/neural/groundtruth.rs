//! Ground truth at scale (SPEC §3.1): neural trainers on the Markov task, measured against the
//! exact `π*`.
//!
//! A random sparse additive reward `r*(y) = Σ_t w(y_{t−1}, y_t)` over a vocabulary of `V`
//! tokens and responses of `H` tokens, with a uniform reference (which a freshly initialised
//! network already is, to within its N(0, 0.02) initialisation), gives the exact optimum
//! `π* ∝ π_ref exp(r*/β)` by the backward recursion of [`crate::markov`]. The data are exact:
//! demonstrations drawn from `π*`, and preference pairs of two independent `π_ref` responses
//! labelled by BTL on `r*` (`P(y_1 ≻ y_2) = σ(r*(y_1) − r*(y_2))`). Along training, a probe draws
//! responses from the network, scores them with the network's own log-probabilities and the
//! exact ones, and reports unbiased estimates, with standard errors, of `KL(π_φ‖π*)`, the true
//! reward `E_φ[r*]` and `KL(π_φ‖π_ref)` ([`MarkovTask::estimate_policy`]).
//!
//! [`run`] trains SFT, the two-stage pipeline (BTL reward model, then RLHF by REINFORCE), DPO
//! and AIHF's Algorithm 1 on the same data and draws the reward–KL path of each; the method that
//! ends closest to `π*` (smallest `KL(π_φ‖π*)`) answers, on ground truth, the paper's claim that
//! AIHF beats the two-stage pipeline — for this task, data size and budget.

use crate::bandit::Method;
use crate::error::{AihfError, Result};
use crate::markov::MarkovTask;
use crate::neural::data::{Demo, Pref, SeqData};
use crate::neural::model::{Arch, ModelSpec, PolicyNet, TransformerConfig};
use crate::neural::pipeline::{self, Recipe, RewardStage, Role, Settings};
use crate::neural::rl::{Baseline, PolicyStep, Reinforce};
use crate::neural::train::{self, Hyper, Schedule, TrainConfig};
use crate::neural::{self as neural, Dtype};
use crate::plot::{BarChart, LineChart, Series, Style};
use crate::stats::Summary;
use crate::truth::data::Records;
use crate::truth::estimate::{self as exact, Estimator, RefKind};
use crate::truth::policy::MarkovPolicy;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use tch::nn::ModuleT;
use tch::Device;

/// A Markov task as a file (`task.json`): the default build's [`crate::truth::data::TaskSpec`].
pub use crate::truth::data::TaskSpec as MarkovSpec;

/// Largest data set [`sample_data`] draws, in response tokens.
pub use crate::truth::data::MAX_DATA_TOKENS;

/// Exact data: `n_demos` responses from `π*` and `n_pairs` BTL-labelled pairs of `π_ref`
/// responses, all to the prompt `[y_0]` ([`crate::truth::data::sample_records`], as records of
/// the neural layer).
pub fn sample_data(
    task: &MarkovTask,
    n_demos: usize,
    n_pairs: usize,
    rng: &mut impl Rng,
) -> Result<(Vec<Demo>, Vec<Pref>)> {
    let r = crate::truth::data::sample_records(task, n_demos, n_pairs, rng)?;
    Ok(records_to_neural(task, &r))
}

/// The truth layer's records as the neural layer's `Demo`/`Pref` (prompt `[y_0]`).
fn records_to_neural(task: &MarkovTask, r: &Records) -> (Vec<Demo>, Vec<Pref>) {
    let prompt = vec![task.y0() as i64];
    let ids = |y: &[usize]| y.iter().map(|&t| t as i64).collect::<Vec<i64>>();
    let demos = r
        .demos
        .iter()
        .map(|y| Demo {
            prompt: prompt.clone(),
            completion: ids(y),
        })
        .collect();
    let prefs = r
        .prefs
        .iter()
        .map(|(c, l)| Pref {
            prompt: prompt.clone(),
            chosen: ids(c),
            rejected: ids(l),
        })
        .collect();
    (demos, prefs)
}

/// Held-out preference pairs on which reward models are scored.
pub const HELD_OUT_PAIRS: usize = 2000;

/// One evaluation of a policy against the truth.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Eval {
    /// Optimiser updates done (0: the initial network).
    pub updates: usize,
    /// `KL(π_φ‖π*)` estimate (mean, standard error, 95% t interval over the probe's samples).
    pub kl_to_star: Summary,
    /// True reward `E_{y∼π_φ}[r*(y)]` estimate (mean ± standard error).
    pub true_reward: Summary,
    /// `KL(π_φ‖π_ref)` estimate (mean ± standard error).
    pub kl_to_ref: Summary,
}

impl Eval {
    fn new(updates: usize, e: crate::markov::PolicyEstimates) -> Self {
        Eval {
            updates,
            kl_to_star: e.kl_to_star,
            true_reward: e.true_reward,
            kl_to_ref: e.kl_to_ref,
        }
    }

    /// The metrics-line form.
    pub fn metrics(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("kl_to_star".into(), json!(self.kl_to_star.mean));
        m.insert("kl_to_star_se".into(), json!(self.kl_to_star.se));
        m.insert("true_reward".into(), json!(self.true_reward.mean));
        m.insert("true_reward_se".into(), json!(self.true_reward.se));
        m.insert("kl_to_ref".into(), json!(self.kl_to_ref.mean));
        m.insert("kl_to_ref_se".into(), json!(self.kl_to_ref.se));
        m
    }
}

/// Draws `n` responses from `policy` with the generator `rng`, and their log-probabilities
/// under the policy.
fn sample_policy(
    policy: &dyn PolicyNet,
    task: &MarkovTask,
    n: usize,
    rng: &mut ChaCha8Rng,
    device: Device,
) -> Result<(Vec<Vec<usize>>, Vec<f64>)> {
    let prompt = vec![task.y0() as i64];
    let ys =
        crate::neural::generate::generate(policy, &prompt, n, task.horizon(), None, device, rng)?;
    let lp = score_responses(&prompt, &ys, |t, idx| {
        train::logprobs(policy, t, idx, device)
    })?;
    let samples = ys
        .iter()
        .map(|y| y.iter().map(|&t| t as usize).collect())
        .collect();
    Ok((samples, lp))
}

/// Draws `n` responses from `policy` (a seed per evaluation, from `seed` and `updates`, so a
/// resumed run evaluates what the uninterrupted one did) and estimates its distance to the truth.
pub fn evaluate(
    policy: &dyn PolicyNet,
    task: &MarkovTask,
    n: usize,
    seed: u64,
    updates: usize,
    device: Device,
) -> Result<Eval> {
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed ^ 0x5eed_0000_0000_0000 ^ (updates as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    let (samples, lp) = sample_policy(policy, task, n, &mut rng, device)?;
    Ok(Eval::new(
        updates,
        task.estimate_policy(&samples, &lp, 0.95)?,
    ))
}

/// A trained policy's distance to the truth, split (SPEC §3.2): the method's exact estimator
/// `π̂` on the same data, its statistical error `KL(π̂‖π*)` (exact, chain rule) and the trainer's
/// optimisation error `KL(π_φ‖π̂)` (Monte Carlo, `k1` over samples of `π_φ`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Split {
    /// The exact estimator (`aihf truth estimate`'s name: `sft`, `rlhf_ref`, `dpo_ref`, `aihf`).
    pub estimator: String,
    /// `KL(π_φ‖π*)` at the end of training (the last evaluation): the total error.
    pub total: Summary,
    /// `KL(π̂‖π*)`, exact; `None` when infinite (`π̂` puts mass where `π*` has none).
    pub statistical: Option<f64>,
    /// `KL(π_φ‖π̂)`, mean ± se of `log π_φ(y) − log π̂(y)` over `y ∼ π_φ`; `None` when a sample has
    /// `π̂(y) = 0` (the divergence is infinite: `π̂` rules out what the network produces).
    pub optimisation: Option<Summary>,
    /// The estimator's own `KL(π̂‖π_ref)` and `E_π̂[r*]`, exact.
    pub estimator_kl_to_ref: Option<f64>,
    /// Why there is no exact estimator, when it does not exist on these data.
    pub error: Option<String>,
}

/// The exact estimators of the study's methods on its data.
struct Targets<'a> {
    task: &'a MarkovTask,
    star: MarkovPolicy,
    reference: MarkovPolicy,
    /// Counts weighting with `λ N / M`: Algorithm 1 averages each source (see [`crate::neural::rl`]).
    est: Estimator<'a>,
}

impl<'a> Targets<'a> {
    fn new(task: &'a MarkovTask, records: &'a Records, lambda: f64) -> Result<Self> {
        let (n, m) = (records.demos.len() as f64, records.prefs.len() as f64);
        let est = Estimator::new(
            task,
            records,
            exact::Options {
                lambda: if m > 0.0 { lambda * n / m } else { 0.0 },
                ..exact::Options::default()
            },
        )?;
        let star = MarkovPolicy::star(task)?;
        Ok(Targets {
            task,
            star,
            reference: est.ref_policy().clone(),
            est,
        })
    }

    /// The exact estimator a method's trainer aims at: SFT's empirical conditionals; BTL→RLHF
    /// and DPO against `π_ref` (the trainers' reference is the starting, uniform policy): both
    /// `π_{w_P}`; AIHF (either policy step) with `λ N/M`.
    fn fit(&self, method: Method) -> Result<exact::Fit> {
        match method {
            Method::Sft => self.est.sft(),
            Method::Rlhf => self.est.rlhf(RefKind::Ref, &self.est.btl()?),
            Method::Dpo => self.est.dpo(RefKind::Ref),
            Method::Aihf => self.est.aihf(),
            m => Err(AihfError::param(
                "methods",
                format!("{} has no exact Markov estimator here", m.name()),
            )),
        }
    }

    fn split(
        &self,
        method: Method,
        policy: &dyn PolicyNet,
        total: Summary,
        n: usize,
        seed: u64,
        device: Device,
    ) -> Result<Split> {
        let fit = match self.fit(method) {
            Ok(f) => f,
            Err(e) => {
                return Ok(Split {
                    estimator: method.name().into(),
                    total,
                    statistical: None,
                    optimisation: None,
                    estimator_kl_to_ref: None,
                    error: Some(e.to_string()),
                })
            }
        };
        let hat = &fit.policy;
        let mu = hat.marginals();
        let finite = |x: f64| x.is_finite().then_some(x);
        let statistical = finite(hat.kl_to(&mu, &self.star)?);
        let kl_ref = finite(hat.kl_to(&mu, &self.reference)?);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0005_5917_0000_0000);
        let (ys, lp) = sample_policy(policy, self.task, n, &mut rng, device)?;
        let mut k1 = Vec::with_capacity(ys.len());
        let mut infinite = false;
        for (y, l) in ys.iter().zip(&lp) {
            let h = hat.log_prob(y)?;
            if h == f64::NEG_INFINITY {
                infinite = true;
                break;
            }
            k1.push(l - h);
        }
        Ok(Split {
            estimator: fit.name.clone(),
            total,
            statistical,
            optimisation: (!infinite).then(|| crate::stats::summarize(&k1, 0.95)),
            estimator_kl_to_ref: kl_ref,
            error: None,
        })
    }
}

/// Scores responses to `prompt` with `scorer`, each distinct response once; one number per
/// response, in order.
fn score_responses(
    prompt: &[i64],
    ys: &[Vec<i64>],
    scorer: impl Fn(&SeqData, &[usize]) -> Result<Vec<f64>>,
) -> Result<Vec<f64>> {
    let mut table = SeqData::default();
    let idx: Vec<usize> = ys.iter().map(|y| table.intern(prompt, y)).collect();
    let uniq: Vec<usize> = (0..table.seqs.len()).collect();
    let scores = scorer(&table, &uniq)?;
    Ok(idx.iter().map(|&i| scores[i]).collect())
}

/// How the reward model reads a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RewardHead {
    /// The head at the last token.
    Last,
    /// The sum of per-token heads ([`crate::neural::model::reward_sum`]).
    #[default]
    Sum,
}

impl RewardHead {
    /// The network role of this read-out.
    pub fn role(self) -> Role {
        match self {
            RewardHead::Last => Role::Reward,
            RewardHead::Sum => Role::RewardSum,
        }
    }
}

/// The study's settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroundTruthConfig {
    /// Vocabulary size `V`.
    pub vocab: usize,
    /// Response length `H` (tokens).
    pub horizon: usize,
    /// Nonzero rewards per row of `w`.
    pub nnz_per_row: usize,
    /// Standard deviation of each nonzero `w(u, v)` (`scale · N(0,1)`).
    pub reward_scale: f64,
    /// The KL temperature `β` (of `π*` and of every trainer).
    pub beta: f64,
    /// Demonstrations drawn from `π*` (`N`).
    pub demos: usize,
    /// Preference pairs of `π_ref` responses labelled by BTL on `r*` (`M`).
    pub comparisons: usize,
    /// The shape of every network (policy and reward models).
    pub transformer: TransformerConfig,
    /// The reward models' read-out (BTL→RLHF and AIHF use the same).
    pub reward_head: RewardHead,
    /// Optimiser steps of every policy trainer.
    pub steps: usize,
    /// Peak learning rate of every policy trainer (cosine schedule).
    pub lr: f64,
    /// Steps and learning rate of the two-stage pipeline's reward model.
    pub reward_steps: usize,
    /// Peak learning rate of the two-stage pipeline's reward model.
    pub reward_lr: f64,
    /// AIHF's reward learning rate. Smaller than the policy's (two time scales, as in the
    /// paper's analysis, where the policy tracks the current reward): with equal rates the
    /// game overshoots (measured: KL(π‖π*) spiking to 3.4 mid-run at V = 8, H = 8).
    pub aihf_reward_lr: f64,
    /// Records per step of SFT, DPO and the reward model.
    pub batch_size: usize,
    /// Responses per step of the REINFORCE policy steps (RLHF, AIHF).
    pub samples_per_prompt: usize,
    /// AIHF's preference weight (mean over pairs against mean over demonstrations).
    pub lambda: f64,
    /// Evaluate (and log) every this many optimiser updates.
    pub eval_every: usize,
    /// Responses drawn per evaluation (at least 2, for a standard error).
    pub eval_samples: usize,
    /// Methods (a recipe: the method, and `-online-dpo` for AIHF's online-DPO policy step).
    pub methods: Vec<Recipe>,
    /// Master seed: task, data, initialisations and probes.
    pub seed: u64,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Parameter precision of the networks.
    pub dtype: Dtype,
    /// Show progress bars (not serialised).
    #[serde(skip)]
    pub progress: bool,
}

impl Default for GroundTruthConfig {
    fn default() -> Self {
        // A CPU-sized default (a minute or two on 2 cores); the GPU sizes are CLI flags.
        GroundTruthConfig {
            vocab: 8,
            horizon: 8,
            nnz_per_row: 2,
            reward_scale: 1.0,
            beta: 1.0,
            demos: 2000,
            comparisons: 2000,
            transformer: TransformerConfig {
                layers: 2,
                heads: 2,
                width: 64,
                dropout: 0.0,
            },
            reward_head: RewardHead::Sum,
            steps: 600,
            lr: 3e-3,
            reward_steps: 600,
            reward_lr: 3e-3,
            aihf_reward_lr: 3e-4,
            batch_size: 128,
            samples_per_prompt: 128,
            lambda: 1.0,
            eval_every: 50,
            eval_samples: 512,
            methods: [Method::Sft, Method::Rlhf, Method::Dpo, Method::Aihf]
                .map(Recipe::new)
                .to_vec(),
            seed: 0,
            device: "cpu".into(),
            dtype: Dtype::F32,
            progress: false,
        }
    }
}

impl GroundTruthConfig {
    fn validate(&self) -> Result<()> {
        let pos = |name: &str, v: usize| {
            if v == 0 {
                Err(AihfError::param(name, "must be at least 1"))
            } else {
                Ok(())
            }
        };
        pos("vocab", self.vocab)?;
        pos("horizon", self.horizon)?;
        pos("demos", self.demos)?;
        pos("comparisons", self.comparisons)?;
        pos("steps", self.steps)?;
        pos("reward_steps", self.reward_steps)?;
        pos("batch_size", self.batch_size)?;
        pos("samples_per_prompt", self.samples_per_prompt)?;
        pos("eval_every", self.eval_every)?;
        if self.eval_samples < 2 {
            return Err(AihfError::param("eval_samples", "must be at least 2"));
        }
        if self.methods.is_empty() {
            return Err(AihfError::param("methods", "name at least one"));
        }
        crate::error::check_positive("lr", self.lr)?;
        crate::error::check_positive("reward_lr", self.reward_lr)?;
        crate::error::check_positive("aihf_reward_lr", self.aihf_reward_lr)?;
        crate::error::check_nonneg("lambda", self.lambda)?;
        Ok(())
    }
}

/// A trained reward model against `r*` on held-out responses (SPEC §3's ground-truth contract).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct RewardEval {
    /// Held-out `π_ref` pairs whose order under `r_θ` agrees with `r*` (ties in `r*` skipped).
    pub pair_accuracy: f64,
    /// Pairs counted (held-out pairs with `r*` not tied).
    pub pairs: usize,
    /// Pearson correlation of `r_θ` and `r*` over the pairs' responses.
    pub correlation: f64,
}

/// Scores `n_pairs` fresh `π_ref` pairs (from `seed`) with `reward` and compares with `r*`.
pub fn evaluate_reward(
    reward: &dyn ModuleT,
    task: &MarkovTask,
    n_pairs: usize,
    seed: u64,
    device: Device,
) -> Result<RewardEval> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0000_e7a1_0000);
    let prompt = vec![task.y0() as i64];
    let ys: Vec<Vec<usize>> = (0..2 * n_pairs)
        .map(|_| task.sample_ref(&mut rng))
        .collect();
    let ids: Vec<Vec<i64>> = ys
        .iter()
        .map(|y| y.iter().map(|&t| t as i64).collect())
        .collect();
    let r = score_responses(&prompt, &ids, |t, idx| {
        train::rewards(reward, t, idx, device)
    })?;
    let star: Vec<f64> = ys
        .iter()
        .map(|y| task.true_reward(y))
        .collect::<Result<_>>()?;
    let (mut agree, mut counted) = (0usize, 0usize);
    for k in 0..n_pairs {
        let (a, b) = (2 * k, 2 * k + 1);
        let d = star[a] - star[b];
        if d != 0.0 {
            counted += 1;
            if (r[a] - r[b]) * d > 0.0 {
                agree += 1;
            }
        }
    }
    Ok(RewardEval {
        pair_accuracy: agree as f64 / counted.max(1) as f64,
        pairs: counted,
        correlation: crate::stats::pearson(&r, &star),
    })
}

/// One method's path.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MethodPath {
    /// The recipe trained.
    pub method: Recipe,
    /// Its display label ([`Recipe::label`]).
    pub name: String,
    /// Evaluations, the initial network first.
    pub path: Vec<Eval>,
    /// The method's reward model at the end (BTL→RLHF, AIHF).
    pub reward_model: Option<RewardEval>,
    /// The total error beside the exact estimator's statistical error and the trainer's
    /// optimisation error (SPEC §3.2), at the end of training.
    pub split: Split,
    /// Wall-clock time of the method (training and evaluations), seconds.
    pub seconds: f64,
}

/// The study's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroundTruthReport {
    /// The configuration run.
    pub config: GroundTruthConfig,
    /// `V_0(y_0) = max E[r*] − β KL(·‖π_ref)`, exact.
    pub optimal_objective: f64,
    /// `π*` itself, estimated from exact samples with exact log-probabilities (its `kl_to_star`
    /// is 0 by construction).
    pub pi_star: Eval,
    /// One path per method, in `config.methods` order.
    pub methods: Vec<MethodPath>,
    /// Methods by final `KL(π_φ‖π*)`, closest first: (name, KL, standard error).
    pub ranking: Vec<(String, f64, f64)>,
    /// Each method's smallest `KL(π_φ‖π*)` along its path (what early stopping with an oracle
    /// would keep): (name, KL, standard error, updates). Optimistic: the minimum of noisy
    /// estimates, selected and reported on the same samples.
    pub best_along_path: Vec<(String, f64, f64, usize)>,
    /// The method with the smallest final `KL(π_φ‖π*)` (first of `ranking`).
    pub closest: String,
    /// AIHF ends closer to `π*` than the two-stage pipeline by more than twice the combined
    /// standard error (None when one of them was not run).
    pub aihf_beats_two_stage: Option<bool>,
    /// Wall-clock time of the whole study, seconds.
    pub seconds: f64,
}

/// Runs the study (see the module docs).
pub fn run(cfg: &GroundTruthConfig) -> Result<GroundTruthReport> {
    cfg.validate()?;
    let t0 = std::time::Instant::now();
    let device = neural::device(&cfg.device)?;
    cfg.dtype.kind(device)?;
    let spec_task = MarkovSpec::random(
        cfg.vocab,
        cfg.horizon,
        cfg.nnz_per_row,
        cfg.reward_scale,
        cfg.beta,
        cfg.seed,
    )?;
    let task = spec_task.task()?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(1));
    let records = crate::truth::data::sample_records(&task, cfg.demos, cfg.comparisons, &mut rng)?;
    let (demos, prefs) = records_to_neural(&task, &records);
    let targets = Targets::new(&task, &records, cfg.lambda)?;
    let data = SeqData::from_records(&demos, &prefs);
    // π*: exact samples, exact log-probabilities.
    let star: Vec<Vec<usize>> = (0..cfg.eval_samples)
        .map(|_| task.sample_star(&mut rng))
        .collect();
    let star_lp: Vec<f64> = star
        .iter()
        .map(|y| task.log_prob_star(y))
        .collect::<Result<_>>()?;
    let pi_star = Eval::new(0, task.estimate_policy(&star, &star_lp, 0.95)?);
    let spec = ModelSpec {
        arch: Arch::Transformer(cfg.transformer),
        vocab: cfg.vocab as i64,
        context: 1 + cfg.horizon as i64,
    };
    // Exact log π_ref of any response (uniform reference: −H log V).
    let log_ref = |t: &SeqData, idx: &[usize]| -> Result<Vec<f64>> {
        idx.iter()
            .map(|&i| {
                let y: Vec<usize> = t.seqs[i].response.iter().map(|&x| x as usize).collect();
                task.log_prob_ref(&y)
            })
            .collect()
    };
    let hyper = Hyper {
        beta: cfg.beta,
        lambda: cfg.lambda,
        ..Hyper::default()
    };
    let base = TrainConfig {
        steps: cfg.steps,
        lr: cfg.lr,
        weight_decay: 0.0,
        grad_clip: Some(1.0),
        schedule: Schedule::Cosine,
        warmup: 0,
        batch_size: None,
        seed: cfg.seed,
        log_every: cfg.eval_every,
        progress: cfg.progress,
        metrics: None,
        checkpoint: None,
        tag: Value::Null,
    };
    let rl_cfg = Reinforce {
        samples_per_prompt: cfg.samples_per_prompt,
        max_new_tokens: cfg.horizon,
        eos: None,
        context: 1 + cfg.horizon,
        baseline: Baseline::Greedy,
        step: PolicyStep::Reinforce,
    };
    let sft_dpo = TrainConfig {
        batch_size: Some(cfg.batch_size),
        ..base.clone()
    };
    let rlhf_reward = TrainConfig {
        steps: cfg.reward_steps,
        lr: cfg.reward_lr,
        batch_size: Some(cfg.batch_size),
        log_every: cfg.reward_steps,
        ..base.clone()
    };
    let aihf_reward = TrainConfig {
        lr: cfg.aihf_reward_lr,
        batch_size: Some(cfg.batch_size),
        ..base.clone()
    };
    let mut methods = Vec::new();
    for (mi, &recipe) in cfg.methods.iter().enumerate() {
        let tm = std::time::Instant::now();
        let init_seed = cfg.seed.wrapping_add(100 + mi as u64);
        let policy = spec.build(Role::Policy, device, cfg.dtype, init_seed)?;
        // The initial policy is exactly π_ref (uniform).
        policy.zero_head();
        let mut path = vec![evaluate(
            policy.policy_net()?,
            &task,
            cfg.eval_samples,
            cfg.seed,
            0,
            device,
        )?];
        // The reward model of BTL→RLHF and AIHF: zero at the start.
        let mut reward = match recipe.method {
            Method::Rlhf | Method::Aihf => {
                let r = spec.build(
                    cfg.reward_head.role(),
                    device,
                    cfg.dtype,
                    init_seed.wrapping_add(1),
                )?;
                r.zero_head();
                Some(r)
            }
            Method::Sft | Method::Dpo => None,
            m => {
                return Err(AihfError::param(
                    "methods",
                    format!(
                        "{} is not in the ground-truth study (sft, rlhf, dpo, aihf)",
                        m.name()
                    ),
                ))
            }
        };
        let settings = Settings {
            hyper,
            policy: if matches!(recipe.method, Method::Sft | Method::Dpo) {
                &sft_dpo
            } else {
                &base
            },
            reward: &aihf_reward,
            reinforce: rl_cfg,
            self_play: train::SelfPlay {
                iters: 1,
                samples_per_prompt: cfg.samples_per_prompt,
                max_new_tokens: cfg.horizon,
                eos: None,
                with_preferences: false,
                context: 1 + cfg.horizon,
            },
            rlhf_reward: RewardStage::Train(&rlhf_reward),
        };
        {
            let net = policy.policy_net()?;
            let mut probe = |step: usize| -> Result<Map<String, Value>> {
                let e = evaluate(net, &task, cfg.eval_samples, cfg.seed, step + 1, device)?;
                path.push(e);
                Ok(e.metrics())
            };
            pipeline::train(
                recipe,
                Some(&policy),
                reward.as_mut(),
                &data,
                pipeline::Reference::Exact(&log_ref),
                &settings,
                Some(&mut probe),
            )?;
        }
        let reward_eval = match &reward {
            Some(r) => Some(evaluate_reward(
                r.net(),
                &task,
                HELD_OUT_PAIRS,
                cfg.seed,
                device,
            )?),
            None => None,
        };
        let total = path
            .last()
            .map(|e| e.kl_to_star)
            .unwrap_or_else(Summary::empty);
        let split = targets.split(
            recipe.method,
            policy.policy_net()?,
            total,
            cfg.eval_samples,
            cfg.seed.wrapping_add(mi as u64),
            device,
        )?;
        methods.push(MethodPath {
            method: recipe,
            name: recipe.label(),
            path,
            reward_model: reward_eval,
            split,
            seconds: tm.elapsed().as_secs_f64(),
        });
    }
    let mut ranking: Vec<(String, f64, f64)> = methods
        .iter()
        .map(|m| {
            let last = m.path.last().expect("a path has its initial point");
            (m.name.clone(), last.kl_to_star.mean, last.kl_to_star.se)
        })
        .collect();
    ranking.sort_by(|a, b| a.1.total_cmp(&b.1));
    let closest = ranking[0].0.clone();
    let best_along_path = methods
        .iter()
        .map(|m| {
            let b = m
                .path
                .iter()
                .min_by(|x, y| x.kl_to_star.mean.total_cmp(&y.kl_to_star.mean))
                .expect("a path has its initial point");
            (
                m.name.clone(),
                b.kl_to_star.mean,
                b.kl_to_star.se,
                b.updates,
            )
        })
        .collect();
    let last_of = |m: Method| {
        methods
            .iter()
            .find(|p| p.method == Recipe::new(m))
            .and_then(|p| p.path.last().copied())
    };
    let aihf_beats_two_stage = match (last_of(Method::Aihf), last_of(Method::Rlhf)) {
        (Some(a), Some(r)) => {
            let se = (a.kl_to_star.se.powi(2) + r.kl_to_star.se.powi(2)).sqrt();
            Some(r.kl_to_star.mean - a.kl_to_star.mean > 2.0 * se)
        }
        _ => None,
    };
    Ok(GroundTruthReport {
        config: cfg.clone(),
        optimal_objective: task.optimal_objective(),
        pi_star,
        methods,
        ranking,
        best_along_path,
        closest,
        aihf_beats_two_stage,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The reward–KL path (x: `KL(π_φ‖π_ref)`, y: true reward) and `KL(π_φ‖π*)` by update.
pub fn figures(rep: &GroundTruthReport, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut path_series: Vec<Series> = rep
        .methods
        .iter()
        .map(|m| Series {
            name: m.name.clone(),
            points: m
                .path
                .iter()
                .map(|e| (e.kl_to_ref.mean, e.true_reward.mean))
                .collect(),
            err: Some(
                m.path
                    .iter()
                    .map(|e| (e.true_reward.lo, e.true_reward.hi))
                    .collect(),
            ),
            style: Style::LinePoints,
            key: None,
            lighten: 0.0,
        })
        .collect();
    path_series.push(Series {
        name: "π* (exact samples)".into(),
        points: vec![(rep.pi_star.kl_to_ref.mean, rep.pi_star.true_reward.mean)],
        err: Some(vec![(
            rep.pi_star.true_reward.lo,
            rep.pi_star.true_reward.hi,
        )]),
        style: Style::Points,
        key: None,
        lighten: 0.0,
    });
    let c = &rep.config;
    let mut out = crate::plot::render_line(
        &LineChart {
            title: format!(
                "Reward–KL paths on the Markov task (V = {}, H = {}, {} demos, {} pairs)",
                c.vocab, c.horizon, c.demos, c.comparisons
            ),
            x_label: "KL(π_φ ‖ π_ref)".into(),
            y_label: "true reward E[r*]".into(),
            x_log: false,
            y_log: false,
            series: path_series,
            shade_x: vec![],
            shade_label: None,
            dodge: 0.0,
            wide: false,
        },
        &dir.join("reward_kl_path"),
    )?;
    let kl_series = rep
        .methods
        .iter()
        .map(|m| Series {
            name: m.name.clone(),
            points: m
                .path
                .iter()
                .map(|e| (e.updates as f64, e.kl_to_star.mean))
                .collect(),
            err: Some(
                m.path
                    .iter()
                    .map(|e| (e.kl_to_star.lo, e.kl_to_star.hi))
                    .collect(),
            ),
            style: Style::LinePoints,
            key: None,
            lighten: 0.0,
        })
        .collect();
    out.extend(crate::plot::render_line(
        &LineChart {
            title: "Distance to the exact optimum along training".into(),
            x_label: "optimiser updates".into(),
            y_label: "KL(π_φ ‖ π*)".into(),
            x_log: false,
            y_log: false,
            series: kl_series,
            shade_x: vec![],
            shade_label: None,
            dodge: 0.0,
            wide: false,
        },
        &dir.join("kl_to_star"),
    )?);
    // The split: total, statistical and optimisation error per method (an infinite one is drawn
    // as a missing bar and named in the title).
    let inf: Vec<String> = rep
        .methods
        .iter()
        .filter(|m| m.split.statistical.is_none() || m.split.optimisation.is_none())
        .map(|m| m.name.clone())
        .collect();
    let or0 = |x: Option<f64>| x.unwrap_or(0.0);
    out.extend(crate::plot::render_bars(
        &BarChart {
            title: if inf.is_empty() {
                "Error split: total, statistical (exact estimator), optimisation (trainer)".into()
            } else {
                format!(
                    "Error split (an infinite KL is not drawn: {})",
                    inf.join(", ")
                )
            },
            y_label: "KL divergence (nats)".into(),
            categories: rep.methods.iter().map(|m| m.name.clone()).collect(),
            groups: vec![
                (
                    "total KL(π_φ‖π*)".into(),
                    rep.methods.iter().map(|m| m.split.total.mean).collect(),
                    Some(
                        rep.methods
                            .iter()
                            .map(|m| 1.96 * m.split.total.se)
                            .collect(),
                    ),
                ),
                (
                    "statistical KL(π_est‖π*)".into(),
                    rep.methods
                        .iter()
                        .map(|m| or0(m.split.statistical))
                        .collect(),
                    None,
                ),
                (
                    "optimisation KL(π_φ‖π_est)".into(),
                    rep.methods
                        .iter()
                        .map(|m| or0(m.split.optimisation.map(|o| o.mean)))
                        .collect(),
                    Some(
                        rep.methods
                            .iter()
                            .map(|m| or0(m.split.optimisation.map(|o| 1.96 * o.se)))
                            .collect(),
                    ),
                ),
            ],
        },
        &dir.join("split"),
    )?);
    Ok(out)
}

/// A plain-text summary.
pub fn table(rep: &GroundTruthReport) -> String {
    let mut s = format!(
        "Markov task V = {}, H = {}, β = {}: V0 = {:.4}; π*: E[r*] = {:.3}, KL(π*‖π_ref) = {:.3}\n",
        rep.config.vocab,
        rep.config.horizon,
        rep.config.beta,
        rep.optimal_objective,
        rep.pi_star.true_reward.mean,
        rep.pi_star.kl_to_ref.mean
    );
    s += &format!(
        "{:<10} {:>18} {:>16} {:>12} {:>22} {:>8}\n",
        "method", "KL(π‖π*) ± se", "E[r*] ± se", "KL(π‖π_ref)", "best KL(π‖π*) @ update", "sec"
    );
    for (m, b) in rep.methods.iter().zip(&rep.best_along_path) {
        let e = m.path.last().expect("path");
        s += &format!(
            "{:<10} {:>10.4} ± {:<6.4} {:>8.3} ± {:<5.3} {:>12.4} {:>14.4} @ {:<5} {:>8.1}\n",
            m.name,
            e.kl_to_star.mean,
            e.kl_to_star.se,
            e.true_reward.mean,
            e.true_reward.se,
            e.kl_to_ref.mean,
            b.1,
            b.3,
            m.seconds
        );
    }
    for m in &rep.methods {
        if let Some(r) = m.reward_model {
            s += &format!(
                "{} reward model on {} held-out pairs: accuracy {:.3}, correlation with r* {:.3}\n",
                m.name, r.pairs, r.pair_accuracy, r.correlation
            );
        }
    }
    s += "error split (SPEC §3.2; KL is not additive, the three are reported side by side): total KL(π_φ‖π*), statistical KL(π̂‖π*) of the exact estimator π̂, optimisation KL(π_φ‖π̂) of the trainer\n";
    let fmt = |x: Option<f64>| x.map_or("∞".to_string(), |v| format!("{v:.4}"));
    for m in &rep.methods {
        let sp = &m.split;
        match &sp.error {
            Some(e) => s += &format!("  {:<10} no exact estimator: {e}\n", m.name),
            None => {
                s += &format!(
                    "  {:<10} total {:.4} ± {:.4}   statistical ({}) {}   optimisation {}\n",
                    m.name,
                    sp.total.mean,
                    sp.total.se,
                    sp.estimator,
                    fmt(sp.statistical),
                    sp.optimisation
                        .map_or("∞ (π̂ gives a sample probability 0)".into(), |o| {
                            format!("{:.4} ± {:.4}", o.mean, o.se)
                        })
                )
            }
        }
    }
    s += &format!("closest to π*: {}", rep.closest);
    if let Some(b) = rep.aihf_beats_two_stage {
        s += &format!(
            "; AIHF beats the two-stage pipeline (by > 2 se): {}",
            if b { "yes" } else { "no" }
        );
    }
    s.push('\n');
    s
}
