//! Policy-gradient trainers that sample from the policy (SPEC §3): RLHF by REINFORCE against a
//! frozen reward model, and AIHF's Algorithm 1 (alternating policy and reward steps).
//!
//! **RLHF.** Each step draws `samples_per_prompt` responses per prompt from the current policy
//! `π_φ` and maximises `E_{y∼π_φ}[r(x,y)] − β KL(π_φ‖π_ref)` with the REINFORCE estimator of
//! the KL-regularised reward
//!
//! `R(x,y) = r(x,y) − β (log π_φ(y|x) − log π_ref(y|x))`,
//!
//! `∇ ≈ Σ_y w_y (R(x,y) − b(x)) ∇log π_φ(y|x)` (the `−β E[∇log π_φ]` term has mean zero). The
//! baseline `b(x)` is ReMax's by default ([`Baseline::Greedy`]): the KL-regularised reward of the
//! greedy (argmax-decoded) response to the same prompt; [`Baseline::Mean`] uses the weighted mean
//! of `R` over the prompt's samples instead. Repeated samples are merged into counts (the same
//! estimator, fewer rows to score).
//!
//! **AIHF, Algorithm 1.** Each step (i) takes the policy step above with the current reward
//! `r_θ`, then (ii) takes a reward step ascending
//!
//! `(1/β)(E_demo r_θ(x,y) − E_{y'∼π_φ} r_θ(x,y')) + λ · mean log σ(r_θ(x,y_w) − r_θ(x,y_l))`,
//!
//! whose gradient is `(1/β)(∇r_θ(y_demo) − ∇r_θ(y_gen)) + λ(1 − σ(r_w − r_l))(∇r_w − ∇r_l)`,
//! with `y_gen` the policy samples of step (i). At the joint fixed point `π_φ ∝ π_ref exp(r_θ/β)`
//! and `r_θ` maximises the exact layer's AIHF likelihood with `π0 = π_ref` (means instead of
//! sums: the exact `λ` is `λ N/M` for `N` demonstrations and `M` comparisons).

use crate::error::{AihfError, Result};
use crate::neural::data::{Batch, SeqData};
use crate::neural::executor::{Executor, Group, StepCtx, Trainer};
use crate::neural::model::PolicyNet;
use crate::neural::train::{self, Hyper, Probe, TrainConfig, TrainReport};
use crate::neural::{loss, terr};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// The REINFORCE baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Baseline {
    /// ReMax: the KL-regularised reward of the greedy response to the same prompt.
    #[default]
    Greedy,
    /// The weighted mean KL-regularised reward of the prompt's samples.
    Mean,
}

/// How the policy step uses its samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyStep {
    /// REINFORCE on the KL-regularised reward with the chosen [`Baseline`].
    #[default]
    Reinforce,
    /// The paper's online DPO (A.1.4): per prompt, the samples ranked by the current reward are
    /// paired best against worst (then second best against second worst, ...), and the step is
    /// DPO on those pairs against `π_ref` with `β`.
    OnlineDpo,
}

/// Sampling settings of the policy step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reinforce {
    /// Responses drawn per prompt and step.
    pub samples_per_prompt: usize,
    /// Longest generated response.
    pub max_new_tokens: usize,
    /// Stop a response at this id; None: fixed length.
    pub eos: Option<i64>,
    /// The model's context: every prompt plus `max_new_tokens` must fit.
    pub context: usize,
    /// The variance-reduction baseline subtracted from each sample's KL-regularised reward.
    pub baseline: Baseline,
    /// REINFORCE or online DPO.
    #[serde(default)]
    pub step: PolicyStep,
}

impl Reinforce {
    fn validate(&self, prompts: &[(Vec<i64>, f64)]) -> Result<()> {
        if self.samples_per_prompt == 0 || self.max_new_tokens == 0 {
            return Err(AihfError::param(
                "reinforce",
                "samples_per_prompt and max_new_tokens must be >= 1",
            ));
        }
        if prompts.is_empty() {
            return Err(AihfError::data("prompts", "RL needs at least one prompt"));
        }
        for (p, w) in prompts {
            if p.is_empty() {
                return Err(AihfError::param(
                    "prompt",
                    "generation needs at least one prompt token",
                ));
            }
            if !(w.is_finite() && *w > 0.0) {
                return Err(AihfError::param(
                    "prompt weight",
                    format!("must be finite and > 0, got {w}"),
                ));
            }
            if p.len() + self.max_new_tokens > self.context {
                return Err(AihfError::param(
                    "max_new_tokens",
                    format!(
                        "a prompt of {} tokens plus {} generated tokens exceeds the context of {}",
                        p.len(),
                        self.max_new_tokens,
                        self.context
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Scores table sequences `idx` (a reward, or `log π_ref`), without gradients.
pub type Scorer<'a> = &'a dyn Fn(&SeqData, &[usize]) -> Result<Vec<f64>>;

/// One step's samples: the distinct sampled (and greedy) sequences, and per prompt its sampled
/// sequences with weights (prompt weight × count / K, summing to 1 over all prompts) and its
/// greedy sequence.
struct Rollout {
    table: SeqData,
    /// `(prompt index, sequence, weight)`.
    samples: Vec<(usize, usize, f64)>,
    /// Greedy sequence per prompt (ReMax baseline only).
    greedy: Vec<Option<usize>>,
}

fn rollout(
    model: &dyn PolicyNet,
    prompts: &[(Vec<i64>, f64)],
    rl: &Reinforce,
    device: Device,
    rng: &mut ChaCha8Rng,
) -> Result<Rollout> {
    let total: f64 = prompts.iter().map(|p| p.1).sum();
    let k = rl.samples_per_prompt;
    let mut table = SeqData::default();
    let mut samples = Vec::new();
    let mut greedy_idx = Vec::with_capacity(prompts.len());
    for (pi, (p, w)) in prompts.iter().enumerate() {
        let ys =
            crate::neural::generate::generate(model, p, k, rl.max_new_tokens, rl.eos, device, rng)?;
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        for y in &ys {
            *counts.entry(table.intern(p, y)).or_default() += 1;
        }
        for (s, c) in counts {
            samples.push((pi, s, w / total * c as f64 / k as f64));
        }
        greedy_idx.push(
            if rl.baseline == Baseline::Greedy && rl.step == PolicyStep::Reinforce {
                let g =
                    crate::neural::generate::greedy(model, p, rl.max_new_tokens, rl.eos, device)?;
                Some(table.intern(p, &g))
            } else {
                None
            },
        );
    }
    Ok(Rollout {
        table,
        samples,
        greedy: greedy_idx,
    })
}

fn check_scores(what: &str, v: &[f64], n: usize, step: usize) -> Result<()> {
    if v.len() != n {
        return Err(AihfError::Numerical(format!(
            "{what}: {} scores for {n} sequences at step {step}",
            v.len()
        )));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(AihfError::Numerical(format!(
            "{what} of a sampled sequence is {} at step {step}; stopping",
            v[i]
        )));
    }
    Ok(())
}

/// The policy step's loss on a rollout ([`PolicyStep`]) and its metrics.
#[allow(clippy::too_many_arguments)]
fn policy_loss(
    model: &dyn ModuleT,
    ro: &Rollout,
    reward: &[f64],
    ref_lp: &[f64],
    n_prompts: usize,
    rl: &Reinforce,
    beta: f64,
    device: Device,
) -> Result<(Tensor, Map<String, Value>)> {
    match rl.step {
        PolicyStep::Reinforce => {
            reinforce_loss(model, ro, reward, ref_lp, n_prompts, rl, beta, device)
        }
        PolicyStep::OnlineDpo => {
            online_dpo_loss(model, ro, reward, ref_lp, n_prompts, beta, device)
        }
    }
}

/// Online DPO (the paper's A.1.4): each prompt's distinct samples are ranked by the current
/// reward and paired best against worst, second best against second worst, and so on (one pair
/// per prompt would be a one-pair DPO step when there are few prompts; ties are skipped); the
/// loss is the prompt-weighted DPO loss `−log σ(β (h(y_b) − h(y_w)))`, `h = log π_φ − log π_ref`.
/// Metrics as for REINFORCE, plus the pairs used.
fn online_dpo_loss(
    model: &dyn ModuleT,
    ro: &Rollout,
    reward: &[f64],
    ref_lp: &[f64],
    n_prompts: usize,
    beta: f64,
    device: Device,
) -> Result<(Tensor, Map<String, Value>)> {
    // Per prompt, its distinct samples by reward; the i-th best is paired with the i-th worst
    // (i = 0 is best against worst), each pair carrying an equal share of the prompt's weight.
    let mut by_prompt: Vec<Vec<usize>> = vec![Vec::new(); n_prompts];
    let mut pw = vec![0.0; n_prompts];
    for &(p, s, w) in &ro.samples {
        pw[p] += w;
        by_prompt[p].push(s);
    }
    let mut pairs: Vec<(usize, usize, f64)> = Vec::new();
    for (p, mut v) in by_prompt.into_iter().enumerate() {
        v.sort_by(|x, y| reward[*y].total_cmp(&reward[*x]));
        let k = v.len() / 2;
        let used: Vec<(usize, usize)> = (0..k)
            .map(|i| (v[i], v[v.len() - 1 - i]))
            .filter(|&(b, w)| reward[b] > reward[w])
            .collect();
        for &(b, w) in &used {
            pairs.push((b, w, pw[p] / used.len() as f64));
        }
    }
    let (lp, lp_v) = rollout_logprobs(model, ro, device)?;
    let mut m = rollout_metrics(ro, reward, &lp_v, ref_lp, beta);
    m.insert("dpo_pairs".into(), json!(pairs.len()));
    if pairs.is_empty() {
        // Every prompt's samples tie: no signal this step (a zero loss with a graph).
        return Ok(((lp * 0.0).sum(Kind::Float), m));
    }
    let rows = |f: fn(&(usize, usize, f64)) -> usize| {
        Tensor::from_slice(&pairs.iter().map(|q| f(q) as i64).collect::<Vec<_>>()).to_device(device)
    };
    let (wi, li) = (rows(|q| q.0), rows(|q| q.1));
    let refs = |f: fn(&(usize, usize, f64)) -> usize| {
        Batch::weights(
            &pairs.iter().map(|q| ref_lp[f(q)]).collect::<Vec<_>>(),
            device,
        )
    };
    let weights = Batch::weights(&pairs.iter().map(|q| q.2).collect::<Vec<_>>(), device);
    let l = loss::dpo(
        &lp.index_select(0, &wi),
        &lp.index_select(0, &li),
        &refs(|q| q.0),
        &refs(|q| q.1),
        beta,
        &weights,
    );
    Ok((l, m))
}

/// The REINFORCE surrogate loss of a rollout (its gradient is minus the policy gradient) and
/// metrics: mean reward, mean KL estimate, mean KL-regularised reward.
#[allow(clippy::too_many_arguments)]
fn reinforce_loss(
    model: &dyn ModuleT,
    ro: &Rollout,
    reward: &[f64],
    ref_lp: &[f64],
    n_prompts: usize,
    rl: &Reinforce,
    beta: f64,
    device: Device,
) -> Result<(Tensor, Map<String, Value>)> {
    let n = ro.table.seqs.len();
    let (lp, lp_v) = rollout_logprobs(model, ro, device)?;
    let big_r: Vec<f64> = (0..n)
        .map(|i| reward[i] - beta * (lp_v[i] - ref_lp[i]))
        .collect();
    let mut base = vec![0.0; n_prompts];
    match rl.baseline {
        Baseline::Greedy => {
            for (p, g) in ro.greedy.iter().enumerate() {
                base[p] = g.map(|g| big_r[g]).unwrap_or(0.0);
            }
        }
        Baseline::Mean => {
            let mut mass = vec![0.0; n_prompts];
            for &(p, s, w) in &ro.samples {
                base[p] += w * big_r[s];
                mass[p] += w;
            }
            for (b, m) in base.iter_mut().zip(&mass) {
                if *m > 0.0 {
                    *b /= m;
                }
            }
        }
    }
    let mut coef = vec![0.0; n];
    for &(p, s, w) in &ro.samples {
        coef[s] += w * (big_r[s] - base[p]);
    }
    let loss = (lp * Batch::weights(&coef, device)).sum(Kind::Float).neg();
    Ok((loss, rollout_metrics(ro, reward, &lp_v, ref_lp, beta)))
}

/// `log π_φ` of every sequence of a rollout, with gradients, and its values.
fn rollout_logprobs(
    model: &dyn ModuleT,
    ro: &Rollout,
    device: Device,
) -> Result<(Tensor, Vec<f64>)> {
    let idx: Vec<usize> = (0..ro.table.seqs.len()).collect();
    let b = ro.table.batch(&idx, device);
    let lp = loss::sequence_logprobs(&model.forward_t(&b.tokens, true), &b.tokens, &b.mask);
    let lp_v = Vec::<f64>::try_from(lp.detach().to_kind(Kind::Double).to_device(Device::Cpu))
        .map_err(terr("reading log-probabilities"))?;
    Ok((lp, lp_v))
}

/// A policy step's metrics: the samples' mean reward, mean KL estimate
/// `log π_φ − log π_ref`, the KL-regularised objective and the distinct samples.
fn rollout_metrics(
    ro: &Rollout,
    reward: &[f64],
    lp: &[f64],
    ref_lp: &[f64],
    beta: f64,
) -> Map<String, Value> {
    let (mut mr, mut mkl) = (0.0, 0.0);
    for &(_, s, w) in &ro.samples {
        mr += w * reward[s];
        mkl += w * (lp[s] - ref_lp[s]);
    }
    let mut m = Map::new();
    m.insert("reward".into(), json!(mr));
    m.insert("kl".into(), json!(mkl));
    m.insert("objective".into(), json!(mr - beta * mkl));
    m.insert("distinct_samples".into(), json!(ro.samples.len()));
    m
}

/// One policy step's sampling and loss, shared by RLHF and AIHF: a rollout from the policy, its
/// rewards and reference log-probabilities (checked finite), and the [`PolicyStep`]'s loss.
#[allow(clippy::too_many_arguments)]
fn policy_step(
    policy: &dyn PolicyNet,
    prompts: &[(Vec<i64>, f64)],
    rl: &Reinforce,
    beta: f64,
    reward: Scorer,
    reference: Scorer,
    device: Device,
    ctx: &mut StepCtx<'_>,
) -> Result<(Rollout, Tensor, Map<String, Value>)> {
    let step = ctx.step;
    let ro = rollout(policy, prompts, rl, device, ctx.rng)?;
    let idx: Vec<usize> = (0..ro.table.seqs.len()).collect();
    let r = reward(&ro.table, &idx)?;
    check_scores("reward", &r, idx.len(), step)?;
    let lr = reference(&ro.table, &idx)?;
    check_scores("log π_ref", &lr, idx.len(), step)?;
    let (loss, m) = policy_loss(policy, &ro, &r, &lr, prompts.len(), rl, beta, device)?;
    Ok((ro, loss, m))
}

/// RLHF by REINFORCE against a frozen reward model (see the module docs and [`train_rlhf`]).
pub struct RlhfTrainer<'a> {
    policy: &'a dyn PolicyNet,
    vs: &'a nn::VarStore,
    cfg: &'a TrainConfig,
    prompts: &'a [(Vec<i64>, f64)],
    reward: Scorer<'a>,
    reference: Scorer<'a>,
    rl: Reinforce,
    hyper: Hyper,
    header: Value,
}

impl<'a> RlhfTrainer<'a> {
    /// Checks the settings and prompts once.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        policy: &'a dyn PolicyNet,
        vs: &'a nn::VarStore,
        prompts: &'a [(Vec<i64>, f64)],
        reward: Scorer<'a>,
        reference: Scorer<'a>,
        rl: &Reinforce,
        hyper: &Hyper,
        cfg: &'a TrainConfig,
    ) -> Result<Self> {
        hyper.validate()?;
        rl.validate(prompts)?;
        if cfg.batch_size.is_some() {
            return Err(AihfError::param(
                "batch_size",
                "the RL trainers sample every prompt each step; leave batch_size unset",
            ));
        }
        let header = json!({"trainer": "rlhf", "reinforce": rl, "hyper": hyper, "config": cfg});
        Ok(RlhfTrainer {
            policy,
            vs,
            cfg,
            prompts,
            reward,
            reference,
            rl: *rl,
            hyper: *hyper,
            header,
        })
    }
}

impl Trainer for RlhfTrainer<'_> {
    fn label(&self) -> String {
        "RLHF".into()
    }
    fn header(&self) -> Value {
        self.header.clone()
    }
    /// The prompts; the frozen reward model and reference are the caller's (its `cfg.tag`).
    fn data_fingerprint(&self) -> u64 {
        prompts_fingerprint(self.prompts)
    }
    fn groups(&self) -> Vec<Group<'_>> {
        vec![Group::from_config("policy", self.vs, self.cfg)]
    }
    fn step(&mut self, ctx: &mut StepCtx<'_>) -> Result<Map<String, Value>> {
        let device = self.vs.device();
        let reward = |t: &SeqData, idx: &[usize]| (self.reward)(t, idx);
        let (ro, loss, m) = policy_step(
            self.policy,
            self.prompts,
            &self.rl,
            self.hyper.beta,
            &reward,
            self.reference,
            device,
            ctx,
        )?;
        drop(ro);
        ctx.update(0, &loss)?;
        Ok(if ctx.log { m } else { Map::new() })
    }
}

/// RLHF by REINFORCE (see the module docs). `prompts` are `(prompt, weight)`; `reward` scores
/// sampled sequences with the frozen reward model; `reference` gives `log π_ref` of them (from a
/// frozen reference model, or exactly from a task). Full-batch in the sense that every prompt is
/// sampled every step; `cfg.batch_size` must be unset.
#[allow(clippy::too_many_arguments)]
pub fn train_rlhf(
    policy: &dyn PolicyNet,
    vs: &nn::VarStore,
    prompts: &[(Vec<i64>, f64)],
    reward: Scorer,
    reference: Scorer,
    rl: &Reinforce,
    hyper: &Hyper,
    cfg: &TrainConfig,
    probe: Option<Probe>,
) -> Result<TrainReport> {
    let t = RlhfTrainer::new(policy, vs, prompts, reward, reference, rl, hyper, cfg)?;
    crate::neural::train::run_single(t, cfg, probe)
}

/// FNV-1a of prompts and their weights.
fn prompts_fingerprint(prompts: &[(Vec<i64>, f64)]) -> u64 {
    use crate::neural::checkpoint::{fnv1a, FNV_OFFSET};
    let mut h = FNV_OFFSET;
    for (p, w) in prompts {
        h = fnv1a(&(p.len() as u64).to_le_bytes(), h);
        for t in p {
            h = fnv1a(&t.to_le_bytes(), h);
        }
        h = fnv1a(&w.to_bits().to_le_bytes(), h);
    }
    h
}

/// The reward step's records as tensors: the distinct sequences, and per demonstration and pair
/// its row(s) and weight.
struct RewardRecords {
    batch: Batch,
    d_rows: Tensor,
    d_w: Tensor,
    w_rows: Tensor,
    l_rows: Tensor,
    p_w: Tensor,
}

impl RewardRecords {
    fn new(data: &SeqData, demos: &[(usize, f64)], prefs: &[(usize, f64)], device: Device) -> Self {
        let mut g: Vec<usize> = demos.iter().map(|&(k, _)| data.demos[k].0).collect();
        g.extend(
            prefs
                .iter()
                .flat_map(|&(k, _)| [data.prefs[k].0, data.prefs[k].1]),
        );
        g.sort_unstable();
        g.dedup();
        let row = |i: usize| g.binary_search(&i).unwrap_or(0) as i64;
        let rows = |v: Vec<i64>| Tensor::from_slice(&v).to_device(device);
        RewardRecords {
            batch: data.batch(&g, device),
            d_rows: rows(demos.iter().map(|&(k, _)| row(data.demos[k].0)).collect()),
            d_w: Batch::weights(&demos.iter().map(|d| d.1).collect::<Vec<_>>(), device),
            w_rows: rows(prefs.iter().map(|&(k, _)| row(data.prefs[k].0)).collect()),
            l_rows: rows(prefs.iter().map(|&(k, _)| row(data.prefs[k].1)).collect()),
            p_w: Batch::weights(&prefs.iter().map(|p| p.1).collect::<Vec<_>>(), device),
        }
    }
}

/// What [`train_aihf`] did: the last losses and gradient norms of both players.
#[derive(Clone, Debug, Serialize)]
pub struct AihfReport {
    /// Optimiser steps done (each updates the policy, then the reward).
    pub steps: usize,
    /// The policy player's loss at the last step.
    pub final_policy_loss: f64,
    /// The reward player's loss at the last step.
    pub final_reward_loss: f64,
    /// The policy's global gradient norm at the last step (before clipping).
    pub final_policy_grad_norm: f64,
    /// The reward model's global gradient norm at the last step (before clipping).
    pub final_reward_grad_norm: f64,
    /// The last metrics line.
    pub last: Map<String, Value>,
    /// Wall-clock training time, seconds.
    pub seconds: f64,
    /// The run's seed ([`TrainConfig::seed`]).
    pub seed: u64,
}

/// AIHF's Algorithm 1 with networks (see the module docs and [`train_aihf`]): two groups,
/// `policy` then `reward`, updated in that order every step.
pub struct AihfTrainer<'a> {
    policy: &'a dyn PolicyNet,
    policy_vs: &'a nn::VarStore,
    reward: &'a dyn ModuleT,
    reward_vs: &'a nn::VarStore,
    data: &'a SeqData,
    reference: Scorer<'a>,
    rl: Reinforce,
    hyper: Hyper,
    policy_cfg: &'a TrainConfig,
    reward_cfg: &'a TrainConfig,
    prompts: Vec<(Vec<i64>, f64)>,
    dw: Vec<f64>,
    pw: Vec<f64>,
    /// Full-batch reward records, built once.
    fixed: Option<RewardRecords>,
    header: Value,
}

impl<'a> AihfTrainer<'a> {
    /// Checks the data and both configurations once. The prompts to sample are the
    /// demonstrations' distinct prompts, weighted by their demonstration weight.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        policy: &'a dyn PolicyNet,
        policy_vs: &'a nn::VarStore,
        reward: &'a dyn ModuleT,
        reward_vs: &'a nn::VarStore,
        data: &'a SeqData,
        reference: Scorer<'a>,
        rl: &Reinforce,
        hyper: &Hyper,
        policy_cfg: &'a TrainConfig,
        reward_cfg: &'a TrainConfig,
    ) -> Result<Self> {
        hyper.validate()?;
        policy_cfg.validate()?;
        reward_cfg.validate()?;
        if data.demos.is_empty() {
            return Err(AihfError::data(
                "demonstrations",
                "AIHF needs demonstrations, none given",
            ));
        }
        if hyper.lambda > 0.0 && data.prefs.is_empty() {
            return Err(AihfError::data(
                "preferences",
                "AIHF with λ > 0 needs preferences, none given",
            ));
        }
        if policy_cfg.batch_size.is_some() {
            return Err(AihfError::param(
                "batch_size",
                "the AIHF policy step samples every prompt each step; leave the policy \
                 configuration's batch_size unset (the reward configuration's sets the reward \
                 step's minibatch)",
            ));
        }
        let mut pw: BTreeMap<Vec<i64>, f64> = BTreeMap::new();
        for &(d, w) in &data.demos {
            *pw.entry(data.seqs[d].prompt.clone()).or_default() += w;
        }
        let prompts: Vec<(Vec<i64>, f64)> = pw.into_iter().collect();
        rl.validate(&prompts)?;
        if reward_cfg.checkpoint.is_some() {
            return Err(AihfError::param(
                "checkpoint",
                "AIHF checkpoints both models through the policy configuration's checkpoint; \
                 leave the reward configuration's unset",
            ));
        }
        let header = json!({"trainer": "aihf", "reinforce": rl, "hyper": hyper,
                            "policy_config": policy_cfg, "reward_config": reward_cfg});
        let mut t = AihfTrainer {
            policy,
            policy_vs,
            reward,
            reward_vs,
            data,
            reference,
            rl: *rl,
            hyper: *hyper,
            policy_cfg,
            reward_cfg,
            prompts,
            dw: data.demos.iter().map(|d| d.1).collect(),
            pw: data.prefs.iter().map(|p| p.2).collect(),
            fixed: None,
            header,
        };
        if reward_cfg.batch_size.is_none() {
            t.fixed = Some(t.records(&mut ChaCha8Rng::seed_from_u64(0))?);
        }
        Ok(t)
    }

    /// The reward step's records: all of them with their weights (full batch), or
    /// `reward_cfg.batch_size` demonstrations and as many pairs drawn ∝ weight.
    fn records(&self, rng: &mut ChaCha8Rng) -> Result<RewardRecords> {
        let demos = train::draw(&self.dw, self.reward_cfg.batch_size, rng)?;
        let prefs = if self.hyper.lambda > 0.0 {
            train::draw(&self.pw, self.reward_cfg.batch_size, rng)?
        } else {
            vec![]
        };
        Ok(RewardRecords::new(
            self.data,
            &demos,
            &prefs,
            self.policy_vs.device(),
        ))
    }
}

impl Trainer for AihfTrainer<'_> {
    fn label(&self) -> String {
        "AIHF".into()
    }
    fn header(&self) -> Value {
        self.header.clone()
    }
    /// The data; the reference scorer is the caller's (its `cfg.tag`).
    fn data_fingerprint(&self) -> u64 {
        self.data.fingerprint()
    }
    fn groups(&self) -> Vec<Group<'_>> {
        let r = self.reward_cfg;
        vec![
            Group::from_config("policy", self.policy_vs, self.policy_cfg),
            Group {
                name: "reward",
                vs: self.reward_vs,
                lr: r.lr,
                weight_decay: r.weight_decay,
                grad_clip: r.grad_clip,
            },
        ]
    }
    fn step(&mut self, ctx: &mut StepCtx<'_>) -> Result<Map<String, Value>> {
        let (device, hyper) = (self.policy_vs.device(), self.hyper);
        // (i) Policy step with the current reward.
        let reward = |t: &SeqData, idx: &[usize]| train::rewards(self.reward, t, idx, device);
        let (ro, ploss, m) = policy_step(
            self.policy,
            &self.prompts,
            &self.rl,
            hyper.beta,
            &reward,
            self.reference,
            device,
            ctx,
        )?;
        let idx: Vec<usize> = (0..ro.table.seqs.len()).collect();
        ctx.update(0, &ploss)?;
        // (ii) Reward step on demonstrations, the samples of (i) and the preferences.
        let owned;
        let RewardRecords {
            batch: db,
            d_rows,
            d_w,
            w_rows,
            l_rows,
            p_w,
        } = match &self.fixed {
            Some(r) => r,
            None => {
                owned = self.records(ctx.rng)?;
                &owned
            }
        };
        let rd = loss::at_positions(&self.reward.forward_t(&db.tokens, true), &db.last);
        let gb = ro.table.batch(&idx, device);
        let rg = loss::at_positions(&self.reward.forward_t(&gb.tokens, true), &gb.last);
        let mut gw = vec![0.0; idx.len()];
        for &(_, s, w) in &ro.samples {
            gw[s] += w;
        }
        let demo_term = (loss::weighted_mean(&rd.index_select(0, d_rows), d_w)
            - (rg * Batch::weights(&gw, device)).sum(Kind::Float))
            / hyper.beta;
        let mut rloss = demo_term.neg();
        if hyper.lambda > 0.0 {
            let (rw, rl_) = (rd.index_select(0, w_rows), rd.index_select(0, l_rows));
            rloss += loss::btl(&rw, &rl_, p_w) * hyper.lambda;
        }
        ctx.update(1, &rloss)?;
        Ok(m)
    }
}

/// AIHF's Algorithm 1 with networks (see the module docs). `data` holds the demonstrations and
/// preference pairs; the prompts to sample are the demonstrations' distinct prompts, weighted by
/// their demonstration weight. The policy uses `policy_cfg` (steps, learning rate, schedule,
/// clipping, seed, metrics, progress, checkpoints of both models), the reward model
/// `reward_cfg`'s learning rate, weight decay and clipping; both follow `policy_cfg.steps` and
/// its schedule shape.
#[allow(clippy::too_many_arguments)]
pub fn train_aihf(
    policy: &dyn PolicyNet,
    policy_vs: &nn::VarStore,
    reward: &dyn ModuleT,
    reward_vs: &nn::VarStore,
    data: &SeqData,
    reference: Scorer,
    rl: &Reinforce,
    hyper: &Hyper,
    policy_cfg: &TrainConfig,
    reward_cfg: &TrainConfig,
    probe: Option<Probe>,
) -> Result<AihfReport> {
    let t = AihfTrainer::new(
        policy, policy_vs, reward, reward_vs, data, reference, rl, hyper, policy_cfg, reward_cfg,
    )?;
    let (mut reports, _) = Executor::new(t, policy_cfg).probe(probe).run()?;
    let p = reports.remove(0);
    Ok(AihfReport {
        steps: p.steps,
        final_policy_loss: p.groups[0].loss,
        final_reward_loss: p.groups[1].loss,
        final_policy_grad_norm: p.groups[0].grad_norm,
        final_reward_grad_norm: p.groups[1].grad_norm,
        last: p.last,
        seconds: p.seconds,
        seed: p.seed,
    })
}
