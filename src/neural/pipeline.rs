//! One method pipeline: from a method, data and settings to trained models and a report.
//!
//! Every caller — the command line (`aihf neural train`), the cross-validation against the
//! exact layer, the ground-truth study and the benchmark — builds models with
//! [`ModelSpec::build`], freezes references with [`Model::frozen_copy`], and trains with
//! [`train`](fn@train), which picks the [`Trainer`](crate::neural::executor::Trainer) of the method and
//! runs it through the one [`Executor`](crate::neural::executor::Executor):
//!
//! | [`Method`] | trainer | models |
//! |---|---|---|
//! | `Sft`, `Dpo`, `Ipo`, `DirectAihf` | [`train::PolicyTrainer`] | policy |
//! | `Btl` | [`train::RewardTrainer`] | reward |
//! | `Spin`, `SelfPlayAihf` | [`train::SelfPlayTrainer`] | policy |
//! | `Rlhf` | (a [`train::RewardTrainer`] stage, then) [`rl::RlhfTrainer`] | policy, reward (frozen) |
//! | `Aihf` | [`rl::AihfTrainer`] (REINFORCE or online-DPO policy step) | policy, reward |
//!
//! The method enum is the library's one [`Method`] (the exact layer's); the neural variants of a
//! method (AIHF's policy step) are settings ([`Recipe`]), not more enums.

use crate::bandit::Method;
use crate::error::{AihfError, Result};
use crate::neural::data::{self, ReadOptions, SeqData};
use crate::neural::groundtruth::MarkovSpec;
use crate::neural::model::{self, ModelSpec, PolicyNet};
use crate::neural::rl::{self, PolicyStep, Reinforce, Scorer};
use crate::neural::train::{self, Hyper, Probe, SelfPlay, TrainConfig};
use crate::neural::{terr, Dtype};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind};

/// What a network computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Next-token logits ([`model::policy`]).
    #[default]
    Policy,
    /// A scalar reward read at the last token ([`model::reward`]).
    Reward,
    /// A reward that sums per-token heads ([`model::reward_sum`]).
    RewardSum,
}

/// A built network: its variables, its forward pass, and how it was built.
pub struct Model {
    /// The variables (trainable unless frozen).
    pub vs: nn::VarStore,
    /// The forward pass.
    net: Net,
    /// The architecture and token space.
    pub spec: ModelSpec,
    /// What it computes.
    pub role: Role,
    /// Parameter precision.
    pub dtype: Dtype,
}

/// A policy keeps its decoder (a key–value cache for the transformer); a reward model is a plain
/// module.
enum Net {
    Policy(Box<dyn PolicyNet>),
    Other(Box<dyn ModuleT>),
}

impl ModelSpec {
    /// Builds a `role` network on `device` in `dtype`, its random parameters drawn from `seed`
    /// alone ([`model::init_weights`]; libtorch's global seed is set to `seed` too).
    ///
    /// ```no_run
    /// # fn main() -> aihf::Result<()> {
    /// use aihf::neural::model::{Arch, ModelSpec};
    /// use aihf::neural::pipeline::Role;
    /// let spec = ModelSpec { arch: Arch::Tabular, vocab: 4, context: 4 };
    /// let m = spec.build(Role::Policy, tch::Device::Cpu, aihf::neural::Dtype::F32, 0)?;
    /// assert!(!m.vs.variables().is_empty());
    /// # Ok(()) }
    /// ```
    pub fn build(&self, role: Role, device: Device, dtype: Dtype, seed: u64) -> Result<Model> {
        let kind = dtype.kind(device)?;
        crate::neural::manual_seed(seed);
        let mut vs = nn::VarStore::new(device);
        let net = match role {
            Role::Policy => Net::Policy(model::policy(&vs.root(), self)?),
            Role::Reward => Net::Other(model::reward(&vs.root(), self)?),
            Role::RewardSum => Net::Other(model::reward_sum(&vs.root(), self)?),
        };
        model::init_weights(&vs, seed)?;
        if kind == Kind::BFloat16 {
            vs.bfloat16();
        }
        Ok(Model {
            vs,
            net,
            spec: self.clone(),
            role,
            dtype,
        })
    }
}

impl Model {
    /// The forward pass (`[B, T]` token ids in; logits or per-position rewards out).
    pub fn net(&self) -> &dyn ModuleT {
        match &self.net {
            Net::Policy(p) => p.as_ref(),
            Net::Other(m) => m.as_ref(),
        }
    }

    /// The policy network with its decoder; an error for a reward model.
    pub fn policy_net(&self) -> Result<&dyn PolicyNet> {
        match &self.net {
            Net::Policy(p) => Ok(p.as_ref()),
            Net::Other(_) => Err(AihfError::param(
                "model",
                "a reward model is not a policy (nothing to sample from)",
            )),
        }
    }

    /// A frozen copy (the same values, no gradients): the reference `π_ref` of the DPO family and
    /// of the RL trainers, or a frozen reward model.
    pub fn frozen_copy(&self) -> Result<Model> {
        let mut m = self
            .spec
            .build(self.role, self.vs.device(), self.dtype, 0)?;
        m.vs.copy(&self.vs)
            .map_err(terr("copying a frozen model"))?;
        m.vs.freeze();
        Ok(m)
    }

    /// Zeroes the output head: a policy starts exactly at the uniform distribution, a reward
    /// model at zero ([`model::zero_head`]).
    pub fn zero_head(&self) {
        model::zero_head(&self.vs);
    }

    /// Loads weights saved with [`nn::VarStore::save`].
    pub fn load(&mut self, path: &std::path::Path) -> Result<()> {
        self.vs
            .load(path)
            .map_err(terr(&format!("loading weights {}", path.display())))
    }

    /// `log π(y|x)` of table sequences `idx` (a policy), without gradients.
    pub fn logprobs(&self, data: &SeqData, idx: &[usize]) -> Result<Vec<f64>> {
        train::logprobs(self.net(), data, idx, self.vs.device())
    }

    /// `r(x, y)` of table sequences `idx` (a reward model), without gradients.
    pub fn rewards(&self, data: &SeqData, idx: &[usize]) -> Result<Vec<f64>> {
        train::rewards(self.net(), data, idx, self.vs.device())
    }
}

/// A method with its neural variant: AIHF's (and RLHF's) policy step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recipe {
    /// The estimator.
    pub method: Method,
    /// The policy step of the methods that sample (RLHF, AIHF).
    pub policy_step: PolicyStep,
}

impl Recipe {
    /// `method` with the REINFORCE policy step.
    pub fn new(method: Method) -> Self {
        Recipe {
            method,
            policy_step: PolicyStep::Reinforce,
        }
    }

    /// The command-line name: the method's, with `-online-dpo` for the online-DPO policy step.
    pub fn name(self) -> String {
        match self.policy_step {
            PolicyStep::Reinforce => self.method.name().to_string(),
            PolicyStep::OnlineDpo => format!("{}-online-dpo", self.method.name()),
        }
    }

    /// The name in tables and figures (`SFT`, `BTL→RLHF`, `AIHF-oDPO`, ...).
    pub fn label(self) -> String {
        let m = match self.method {
            Method::Sft => "SFT",
            Method::Irl => "IRL",
            Method::Btl => "BTL",
            Method::Rlhf => "BTL→RLHF",
            Method::Aihf => "AIHF",
            Method::Dpo => "DPO",
            Method::Ipo => "IPO",
            Method::DirectAihf => "Direct AIHF",
            Method::Spin => "SPIN",
            Method::SelfPlayAihf => "Self-Play AIHF",
        };
        match self.policy_step {
            PolicyStep::Reinforce => m.to_string(),
            PolicyStep::OnlineDpo => format!("{m}-oDPO"),
        }
    }
}

impl std::str::FromStr for Recipe {
    type Err = String;
    /// A method name (`sft`, `rlhf`, ...), optionally with `-online-dpo` (RLHF and AIHF).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (base, step) = match s.strip_suffix("-online-dpo") {
            Some(b) => (b, PolicyStep::OnlineDpo),
            None => (s, PolicyStep::Reinforce),
        };
        let method = crate::bandit::METHODS
            .iter()
            .copied()
            .find(|m| m.name() == base)
            .ok_or_else(|| {
                format!(
                    "unknown method `{s}`; expected one of {} (rlhf and aihf also with \
                     -online-dpo)",
                    crate::bandit::METHODS
                        .iter()
                        .map(|m| m.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        if step == PolicyStep::OnlineDpo && !matches!(method, Method::Rlhf | Method::Aihf) {
            return Err(format!(
                "`{s}`: only rlhf and aihf have an online-DPO policy step"
            ));
        }
        Ok(Recipe {
            method,
            policy_step: step,
        })
    }
}

impl Serialize for Recipe {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Recipe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How RLHF gets its reward model.
pub enum RewardStage<'a> {
    /// Already trained (a loaded file): used frozen as it is.
    Given,
    /// Trained first by BTL on the preferences with this configuration, then frozen.
    Train(&'a TrainConfig),
}

/// Everything a method's training depends on besides its models.
pub struct Settings<'a> {
    /// `β`, IPO's `τ`, Direct AIHF's `α`, `λ`.
    pub hyper: Hyper,
    /// The policy's run: steps, optimiser, schedule, metrics, checkpoints, seed.
    pub policy: &'a TrainConfig,
    /// AIHF's reward player (learning rate, decay, clipping, minibatch).
    pub reward: &'a TrainConfig,
    /// Sampling of RLHF and AIHF (the policy step is the recipe's).
    pub reinforce: Reinforce,
    /// SPIN and Self-Play AIHF.
    pub self_play: SelfPlay,
    /// RLHF's reward model.
    pub rlhf_reward: RewardStage<'a>,
}

/// A trainer's report, by the kind of trainer (serialised as the report itself).
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Trained {
    /// One model, one phase.
    Single(train::TrainReport),
    /// One report per self-play iteration.
    SelfPlay(Vec<train::TrainReport>),
    /// AIHF's two players.
    Aihf(rl::AihfReport),
}

impl Trained {
    /// The policy's (or the only model's) last loss and gradient norm.
    pub fn final_loss_and_grad_norm(&self) -> (f64, f64) {
        match self {
            Trained::Single(r) => (r.final_loss, r.final_grad_norm),
            Trained::SelfPlay(v) => v
                .last()
                .map_or((f64::NAN, f64::NAN), |r| (r.final_loss, r.final_grad_norm)),
            Trained::Aihf(r) => (r.final_policy_loss, r.final_policy_grad_norm),
        }
    }
    /// Steps of the (last phase of the) run.
    pub fn steps(&self) -> usize {
        match self {
            Trained::Single(r) => r.steps,
            Trained::SelfPlay(v) => v.last().map_or(0, |r| r.steps),
            Trained::Aihf(r) => r.steps,
        }
    }
    /// Seconds, all phases.
    pub fn seconds(&self) -> f64 {
        match self {
            Trained::Single(r) => r.seconds,
            Trained::SelfPlay(v) => v.iter().map(|r| r.seconds).sum(),
            Trained::Aihf(r) => r.seconds,
        }
    }
}

/// What [`train`](fn@train) did.
#[derive(Clone, Debug, Serialize)]
pub struct MethodReport {
    /// The recipe trained.
    pub recipe: Recipe,
    /// The trainer's report.
    pub report: Trained,
    /// RLHF's reward stage, when it was trained here.
    pub reward_stage: Option<train::TrainReport>,
}

impl MethodReport {
    /// Seconds of every stage.
    pub fn seconds(&self) -> f64 {
        self.report.seconds() + self.reward_stage.as_ref().map_or(0.0, |r| r.seconds)
    }
}

/// `log π_ref` of table sequences: exactly (a task's reference), or from a frozen model.
pub enum Reference<'a> {
    /// An exact scorer (a task's reference log-probabilities).
    Exact(Scorer<'a>),
    /// A frozen copy of the starting policy ([`Model::frozen_copy`]), made by [`train`](fn@train).
    StartingPolicy,
}

/// Trains `recipe` on `data`: `policy` (and `reward`, for RLHF and AIHF; BTL trains `reward`
/// alone) in place, through the executor, with `probe` called at every logged step of the
/// policy's run (of the reward model's, for BTL).
pub fn train(
    recipe: Recipe,
    policy: Option<&Model>,
    reward: Option<&mut Model>,
    data: &SeqData,
    reference: Reference,
    settings: &Settings,
    probe: Option<Probe>,
) -> Result<MethodReport> {
    let need_reward = || {
        AihfError::param(
            "reward model",
            format!("{} needs a reward model", recipe.method.name()),
        )
    };
    if recipe.policy_step == PolicyStep::OnlineDpo
        && !matches!(recipe.method, Method::Rlhf | Method::Aihf)
    {
        return Err(AihfError::param(
            "policy_step",
            format!(
                "{} has no policy step; online DPO is for rlhf and aihf",
                recipe.method.name()
            ),
        ));
    }
    let need_policy = || {
        AihfError::param(
            "policy",
            format!("{} needs a policy model", recipe.method.name()),
        )
    };
    let frozen = match (&reference, &policy, recipe.method) {
        (_, _, Method::Btl) | (Reference::Exact(_), _, _) => None,
        (Reference::StartingPolicy, Some(p), _) => Some(p.frozen_copy()?),
        (Reference::StartingPolicy, None, _) => return Err(need_policy()),
    };
    let of_frozen = |t: &SeqData, idx: &[usize]| -> Result<Vec<f64>> {
        match &frozen {
            Some(f) => f.logprobs(t, idx),
            None => Err(AihfError::Numerical("no frozen reference".into())),
        }
    };
    let reference: Scorer = match reference {
        Reference::Exact(s) => s,
        Reference::StartingPolicy => &of_frozen,
    };
    let (cfg, hyper) = (settings.policy, &settings.hyper);
    let mut reward_stage = None;
    let report = match recipe.method {
        Method::Btl => {
            let r = reward.ok_or_else(need_reward)?;
            Trained::Single(train::train_reward(r.net(), &r.vs, data, cfg, probe)?)
        }
        Method::Sft | Method::Dpo | Method::Ipo | Method::DirectAihf => {
            let all: Vec<usize> = (0..data.seqs.len()).collect();
            let ref_lp = (recipe.method != Method::Sft)
                .then(|| reference(data, &all))
                .transpose()?;
            let policy = policy.ok_or_else(need_policy)?;
            Trained::Single(train::train_policy(
                policy.net(),
                &policy.vs,
                data,
                recipe.method,
                ref_lp.as_deref(),
                hyper,
                cfg,
                probe,
            )?)
        }
        Method::Spin | Method::SelfPlayAihf => {
            let sp = SelfPlay {
                with_preferences: recipe.method == Method::SelfPlayAihf,
                ..settings.self_play
            };
            let policy = policy.ok_or_else(need_policy)?;
            Trained::SelfPlay(train::train_self_play(
                policy.policy_net()?,
                &policy.vs,
                data,
                &sp,
                hyper,
                cfg,
            )?)
        }
        Method::Rlhf => {
            let r = reward.ok_or_else(need_reward)?;
            if let RewardStage::Train(rcfg) = settings.rlhf_reward {
                reward_stage = Some(train::train_reward(r.net(), &r.vs, data, rcfg, None)?);
            }
            r.vs.freeze();
            let r = &*r;
            let score = |t: &SeqData, idx: &[usize]| r.rewards(t, idx);
            let prompts = prompts_of(data);
            let policy = policy.ok_or_else(need_policy)?;
            Trained::Single(rl::train_rlhf(
                policy.policy_net()?,
                &policy.vs,
                &prompts,
                &score,
                reference,
                &Reinforce {
                    step: recipe.policy_step,
                    ..settings.reinforce
                },
                hyper,
                cfg,
                probe,
            )?)
        }
        Method::Aihf => {
            let r = reward.ok_or_else(need_reward)?;
            let policy = policy.ok_or_else(need_policy)?;
            Trained::Aihf(rl::train_aihf(
                policy.policy_net()?,
                &policy.vs,
                r.net(),
                &r.vs,
                data,
                reference,
                &Reinforce {
                    step: recipe.policy_step,
                    ..settings.reinforce
                },
                hyper,
                cfg,
                settings.reward,
                probe,
            )?)
        }
        // The neural layer trains the one-step layer's methods (a Recipe never parses `irl`).
        Method::Irl => return Err(Method::Irl.unsupported(crate::bandit::METHODS)),
    };
    Ok(MethodReport {
        recipe,
        report,
        reward_stage,
    })
}

/// The distinct prompts of a data set (demonstrations and preferences), each weighted by the
/// records that use it: what RLHF samples.
pub fn prompts_of(t: &SeqData) -> Vec<(Vec<i64>, f64)> {
    let mut w: std::collections::BTreeMap<Vec<i64>, f64> = Default::default();
    for &(d, c) in &t.demos {
        *w.entry(t.seqs[d].prompt.clone()).or_default() += c;
    }
    for &(a, _, c) in &t.prefs {
        *w.entry(t.seqs[a].prompt.clone()).or_default() += c;
    }
    w.into_iter().collect()
}

/// A training run from files, as `aihf neural train` describes it: data files, a model, a
/// method and its settings, optional weights to start from, files to save, and an optional
/// Markov task whose exact `π*` a probe measures along training.
#[derive(Clone, Debug)]
pub struct TrainJob {
    /// The method (and AIHF's or RLHF's policy step).
    pub recipe: Recipe,
    /// Demonstrations JSONL.
    pub demos: Option<PathBuf>,
    /// Preferences JSONL.
    pub prefs: Option<PathBuf>,
    /// Vocabulary, context and truncation of the readers.
    pub read: ReadOptions,
    /// The networks' architecture (policy and reward models share it).
    pub spec: ModelSpec,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Parameter precision.
    pub dtype: Dtype,
    /// The policy's run (for BTL: the reward model's). Its `tag` is filled in by [`run_job`].
    pub train: TrainConfig,
    /// `β`, `τ`, `α`, `λ`.
    pub hyper: Hyper,
    /// Sampling of RLHF and AIHF (its `eos` and `context` are set by [`run_job`]).
    pub reinforce: Reinforce,
    /// Self-play iterations.
    pub spin_iters: usize,
    /// End-of-sequence id for generation (None: the byte tokenizer's when the vocabulary is
    /// 258, else fixed-length generation; never with a Markov task).
    pub eos: Option<i64>,
    /// AIHF's reward learning rate (default: the policy's).
    pub reward_lr: Option<f64>,
    /// Starting weights (also the DPO family's and the RL trainers' reference).
    pub init: Option<PathBuf>,
    /// RLHF: the frozen reward model; AIHF: the reward model's starting weights.
    pub reward_model: Option<PathBuf>,
    /// Save the trained weights here (the reward model's, for BTL).
    pub save: Option<PathBuf>,
    /// Save AIHF's trained reward model here.
    pub save_reward: Option<PathBuf>,
    /// A Markov task (`task.json`) to measure the policy against along training.
    pub truth: Option<PathBuf>,
    /// Responses drawn per evaluation against `truth`.
    pub eval_samples: usize,
}

/// What [`run_job`] did.
#[derive(Clone, Debug, Serialize)]
pub struct JobReport {
    /// The method (its `Debug` name, as the metrics header's).
    pub method: String,
    /// The network.
    pub model: ModelSpec,
    /// The run's seed.
    pub seed: u64,
    /// The trainer's report.
    pub report: Trained,
    /// Records truncated to the context (`--truncate`): demonstrations, preferences.
    #[serde(skip)]
    pub truncated: (usize, usize),
}

/// FNV-1a of a file's bytes (for checkpoint identities).
fn file_fingerprint(p: &Path) -> Result<String> {
    use crate::neural::checkpoint::{fnv1a, FNV_OFFSET};
    let bytes = std::fs::read(p).map_err(|e| AihfError::Io {
        action: "cannot read",
        path: p.to_path_buf(),
        source: e,
    })?;
    Ok(format!("{:016x}", fnv1a(&bytes, FNV_OFFSET)))
}

/// Runs a [`TrainJob`]: reads the data, builds the models, trains through [`train`](fn@train), saves.
pub fn run_job(job: &TrainJob) -> Result<JobReport> {
    let device = crate::neural::device(&job.device)?;
    job.dtype.kind(device)?;
    let method = job.recipe.method;
    let demos = match &job.demos {
        Some(p) => data::read_demos(p, &job.read)?,
        None => data::Read {
            records: vec![],
            truncated: 0,
        },
    };
    let prefs = match &job.prefs {
        Some(p) => data::read_prefs(p, &job.read)?,
        None => data::Read {
            records: vec![],
            truncated: 0,
        },
    };
    let table = SeqData::from_records(&demos.records, &prefs.records);
    let cfg = TrainConfig {
        tag: serde_json::json!({
            "model": job.spec,
            "reward_model_fnv1a": job.reward_model.as_deref().map(file_fingerprint).transpose()?,
            "truth_fnv1a": job.truth.as_deref().map(file_fingerprint).transpose()?,
            "eval_samples": job.truth.as_ref().map(|_| job.eval_samples),
        }),
        ..job.train.clone()
    };
    job.hyper.validate()?;
    cfg.validate()?;
    // A Markov task's responses have a fixed length H: no end-of-sequence token.
    let eos = if job.truth.is_some() {
        None
    } else {
        job.eos
            .or((job.read.vocab == data::ByteTokenizer::VOCAB).then_some(data::ByteTokenizer::EOS))
    };
    let role = if method == Method::Btl {
        Role::Reward
    } else {
        Role::Policy
    };
    let mut net = job.spec.build(role, device, job.dtype, job.train.seed)?;
    let truth = match &job.truth {
        None => None,
        Some(p) => {
            if matches!(method, Method::Btl | Method::Spin | Method::SelfPlayAihf) {
                return Err(AihfError::param(
                    "truth",
                    "--truth evaluates a policy along training: not for --method btl, spin or \
                     self-play-aihf",
                ));
            }
            if job.eval_samples < 2 {
                return Err(AihfError::param(
                    "eval_samples",
                    format!("must be at least 2, got {}", job.eval_samples),
                ));
            }
            let spec: MarkovSpec = crate::io::read_json(p)?;
            let task = spec.task().map_err(|e| {
                AihfError::data(p.display().to_string(), format!("Markov task: {e}"))
            })?;
            if task.vocab() as i64 != job.spec.vocab || job.spec.context < task.horizon() as i64 + 1
            {
                return Err(AihfError::param(
                    "truth",
                    format!(
                        "the task has V = {}, H = {}: needs --vocab {} and --context >= {}",
                        task.vocab(),
                        task.horizon(),
                        task.vocab(),
                        task.horizon() + 1
                    ),
                ));
            }
            if job.init.is_none() {
                net.zero_head();
            }
            Some(task)
        }
    };
    if let Some(p) = &job.init {
        net.load(p)?;
    }
    let mut reward = match method {
        Method::Rlhf | Method::Aihf => {
            if method == Method::Rlhf && job.reward_model.is_none() {
                return Err(AihfError::param(
                    "reward_model",
                    "--method rlhf needs --reward-model FILE (train one with --method btl \
                     --save FILE)",
                ));
            }
            let mut r = job.spec.build(
                Role::Reward,
                device,
                job.dtype,
                job.train.seed.wrapping_add(1),
            )?;
            if let Some(p) = &job.reward_model {
                r.load(p)?;
            }
            Some(r)
        }
        _ => None,
    };
    if job.save_reward.is_some() && method != Method::Aihf {
        return Err(AihfError::param(
            "save_reward",
            "--save-reward is for --method aihf",
        ));
    }
    let context = job.spec.context.max(0) as usize;
    let reward_cfg = TrainConfig {
        lr: job.reward_lr.unwrap_or(cfg.lr),
        metrics: None,
        checkpoint: None,
        ..cfg.clone()
    };
    let settings = Settings {
        hyper: job.hyper,
        policy: &cfg,
        reward: &reward_cfg,
        reinforce: Reinforce {
            eos,
            context,
            ..job.reinforce
        },
        self_play: SelfPlay {
            iters: job.spin_iters,
            samples_per_prompt: job.reinforce.samples_per_prompt,
            max_new_tokens: job.reinforce.max_new_tokens,
            eos,
            with_preferences: method == Method::SelfPlayAihf,
            context,
        },
        rlhf_reward: RewardStage::Given,
    };
    let seed = job.train.seed;
    let rep = if method == Method::Btl {
        train(
            job.recipe,
            None,
            Some(&mut net),
            &table,
            Reference::StartingPolicy,
            &settings,
            None,
        )?
    } else {
        let policy_net = net.policy_net()?;
        let mut probe_fn = |step: usize| -> Result<serde_json::Map<String, serde_json::Value>> {
            match &truth {
                Some(task) => Ok(crate::neural::groundtruth::evaluate(
                    policy_net,
                    task,
                    job.eval_samples,
                    seed,
                    step + 1,
                    device,
                )?
                .metrics()),
                None => Ok(Default::default()),
            }
        };
        let probe: Option<Probe> = truth.is_some().then_some(&mut probe_fn);
        train(
            job.recipe,
            Some(&net),
            reward.as_mut(),
            &table,
            Reference::StartingPolicy,
            &settings,
            probe,
        )?
    };
    if let Some(p) = &job.save {
        net.vs
            .save(p)
            .map_err(terr(&format!("saving weights to {}", p.display())))?;
    }
    if let (Some(p), Some(r)) = (&job.save_reward, &reward) {
        r.vs.save(p)
            .map_err(terr(&format!("saving reward weights to {}", p.display())))?;
    }
    Ok(JobReport {
        method: format!("{method:?}"),
        model: job.spec.clone(),
        seed,
        report: rep.report,
        truncated: (demos.truncated, prefs.truncated),
    })
}
