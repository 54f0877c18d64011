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
use crate::neural::checkpoint;
use crate::neural::data::{Batch, SeqData};
use crate::neural::optim::AdamW;
use crate::neural::train::{self, Hyper, MetricsSink, Probe, StepOut, TrainConfig, TrainReport};
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

/// Greedy (argmax) decoding of one response to `prompt`.
pub fn greedy(
    model: &dyn ModuleT,
    prompt: &[i64],
    max_new: usize,
    eos: Option<i64>,
    device: Device,
) -> Result<Vec<i64>> {
    if prompt.is_empty() {
        return Err(AihfError::param(
            "prompt",
            "generation needs at least one prompt token",
        ));
    }
    let mut s = prompt.to_vec();
    tch::no_grad(|| -> Result<()> {
        for _ in 0..max_new {
            let x = Tensor::from_slice(&s)
                .view([1, s.len() as i64])
                .to_device(device);
            let logits = model
                .forward_t(&x, false)
                .select(1, s.len() as i64 - 1)
                .to_kind(Kind::Float)
                .to_device(Device::Cpu);
            let tok = logits
                .argmax(-1, false)
                .int64_value(&[0])
                .clamp(0, i64::MAX);
            s.push(tok);
            if Some(tok) == eos {
                break;
            }
        }
        Ok(())
    })?;
    Ok(s[prompt.len()..].to_vec())
}

fn rollout(
    model: &dyn ModuleT,
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
        let ys = train::generate(model, p, k, rl.max_new_tokens, rl.eos, device, rng)?;
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        for y in &ys {
            *counts.entry(table.intern(p, y)).or_default() += 1;
        }
        for (s, c) in counts {
            samples.push((pi, s, w / total * c as f64 / k as f64));
        }
        greedy_idx.push(
            if rl.baseline == Baseline::Greedy && rl.step == PolicyStep::Reinforce {
                let g = greedy(model, p, rl.max_new_tokens, rl.eos, device)?;
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

/// RLHF by REINFORCE (see the module docs). `prompts` are `(prompt, weight)`; `reward` scores
/// sampled sequences with the frozen reward model; `reference` gives `log π_ref` of them (from a
/// frozen reference model, or exactly from a task). Full-batch in the sense that every prompt is
/// sampled every step; `cfg.batch_size` must be unset.
#[allow(clippy::too_many_arguments)]
pub fn train_rlhf(
    policy: &dyn ModuleT,
    vs: &nn::VarStore,
    prompts: &[(Vec<i64>, f64)],
    reward: Scorer,
    reference: Scorer,
    rl: &Reinforce,
    hyper: &Hyper,
    cfg: &TrainConfig,
    probe: Option<Probe>,
) -> Result<TrainReport> {
    hyper.validate()?;
    rl.validate(prompts)?;
    if cfg.batch_size.is_some() {
        return Err(AihfError::param(
            "batch_size",
            "the RL trainers sample every prompt each step; leave batch_size unset",
        ));
    }
    let device = vs.device();
    let header = json!({"trainer": "rlhf", "reinforce": rl, "hyper": hyper, "config": cfg});
    let mut sink = train::sink(cfg, header.clone())?;
    // The identity covers the prompts; the frozen reward model and reference are the caller's.
    let fp = prompts_fingerprint(prompts);
    train::optimise(
        vs,
        cfg,
        "RLHF",
        0,
        &mut sink,
        &header,
        fp,
        probe,
        |step, log, rng| {
            let ro = rollout(policy, prompts, rl, device, rng)?;
            let idx: Vec<usize> = (0..ro.table.seqs.len()).collect();
            let r = reward(&ro.table, &idx)?;
            check_scores("reward", &r, idx.len(), step)?;
            let lr = reference(&ro.table, &idx)?;
            check_scores("log π_ref", &lr, idx.len(), step)?;
            let (loss, m) =
                policy_loss(policy, &ro, &r, &lr, prompts.len(), rl, hyper.beta, device)?;
            Ok(StepOut {
                loss,
                metrics: if log { m } else { Map::new() },
            })
        },
    )
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

/// Backward pass, clipping and one optimiser step; returns (loss, gradient norm) or the error
/// that stops training on a non-finite value at `step`.
fn apply(
    opt: &mut AdamW,
    lr: f64,
    loss: &Tensor,
    clip: Option<f64>,
    step: usize,
    what: &str,
) -> Result<(f64, f64)> {
    let l =
        loss::finite_value(loss, step).map_err(|e| AihfError::Neural(format!("{what}: {e}")))?;
    opt.zero_grad();
    loss.backward();
    let gn = train::update(opt, lr, clip, step, l)
        .map_err(|e| AihfError::Neural(format!("{what}: {e}")))?;
    Ok((l, gn))
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
    pub steps: usize,
    pub final_policy_loss: f64,
    pub final_reward_loss: f64,
    pub final_policy_grad_norm: f64,
    pub final_reward_grad_norm: f64,
    pub last: Map<String, Value>,
    pub seconds: f64,
    pub seed: u64,
}

/// AIHF's Algorithm 1 with networks (see the module docs). `data` holds the demonstrations and
/// preference pairs; the prompts to sample are the demonstrations' distinct prompts, weighted by
/// their demonstration weight. The policy uses `policy_cfg` (steps, learning rate, schedule,
/// clipping, seed, metrics, progress), the reward model `reward_cfg`'s learning rate, weight decay
/// and clipping; both follow `policy_cfg.steps` and its schedule shape.
#[allow(clippy::too_many_arguments)]
pub fn train_aihf(
    policy: &dyn ModuleT,
    policy_vs: &nn::VarStore,
    reward: &dyn ModuleT,
    reward_vs: &nn::VarStore,
    data: &SeqData,
    reference: Scorer,
    rl: &Reinforce,
    hyper: &Hyper,
    policy_cfg: &TrainConfig,
    reward_cfg: &TrainConfig,
    mut probe: Option<Probe>,
) -> Result<AihfReport> {
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
    // Prompts: the demonstrations' distinct prompts, weighted by demonstration weight.
    let mut pw: BTreeMap<Vec<i64>, f64> = BTreeMap::new();
    for &(d, w) in &data.demos {
        *pw.entry(data.seqs[d].prompt.clone()).or_default() += w;
    }
    let prompts: Vec<(Vec<i64>, f64)> = pw.into_iter().collect();
    rl.validate(&prompts)?;
    let device = policy_vs.device();
    if reward_cfg.checkpoint.is_some() {
        return Err(AihfError::param(
            "checkpoint",
            "AIHF checkpoints both models through the policy configuration's checkpoint; \
             leave the reward configuration's unset",
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(policy_cfg.seed);
    let header = json!({"trainer": "aihf", "reinforce": rl, "hyper": hyper,
                        "policy_config": policy_cfg, "reward_config": reward_cfg});
    let mut sink: Option<MetricsSink> = train::sink(policy_cfg, header.clone())?;
    let mut popt = AdamW::new(policy_vs, policy_cfg.weight_decay)?;
    let mut ropt = AdamW::new(reward_vs, reward_cfg.weight_decay)?;
    // The identity covers the data; the reference scorer is the caller's.
    let id = train::identity(
        policy_cfg,
        &header,
        &[("policy", &popt), ("reward", &ropt)],
        data.fingerprint(),
    )?;
    let start = train::maybe_resume(
        policy_cfg,
        &id,
        &mut rng,
        &mut [("policy", &mut popt), ("reward", &mut ropt)],
    )?;
    if let Some(m) = sink.as_mut() {
        m.resume_from(start);
    }
    let mut last_good = (start > 0).then_some(start);
    let end = policy_cfg.end_step();
    // The reward step's records: all of them with their weights (full batch, built once), or
    // `reward_cfg.batch_size` demonstrations and as many pairs drawn ∝ weight each step.
    let dw: Vec<f64> = data.demos.iter().map(|d| d.1).collect();
    let pw: Vec<f64> = data.prefs.iter().map(|p| p.2).collect();
    let records = |rng: &mut ChaCha8Rng| -> Result<RewardRecords> {
        let demos = train::draw(&dw, reward_cfg.batch_size, rng)?;
        let prefs = if hyper.lambda > 0.0 {
            train::draw(&pw, reward_cfg.batch_size, rng)?
        } else {
            vec![]
        };
        Ok(RewardRecords::new(data, &demos, &prefs, device))
    };
    let fixed = if reward_cfg.batch_size.is_none() {
        Some(records(&mut ChaCha8Rng::seed_from_u64(0))?)
    } else {
        None
    };

    let bar = train::progress_bar(policy_cfg, "AIHF");
    let t0 = std::time::Instant::now();
    let mut rep = AihfReport {
        steps: policy_cfg.steps,
        final_policy_loss: f64::NAN,
        final_reward_loss: f64::NAN,
        final_policy_grad_norm: f64::NAN,
        final_reward_grad_norm: f64::NAN,
        last: Map::new(),
        seconds: 0.0,
        seed: policy_cfg.seed,
    };
    bar.set_position(start as u64);
    let res = (|| -> Result<()> {
        for step in start..end {
            let (plr, rlr) = (
                policy_cfg.lr_at(step),
                reward_cfg.lr * policy_cfg.lr_at(step) / policy_cfg.lr,
            );
            train::seed_step(policy_cfg.seed, step);
            let log = step % policy_cfg.log_every == 0 || step + 1 == policy_cfg.steps;
            // (i) Policy step with the current reward.
            let ro = rollout(policy, &prompts, rl, device, &mut rng)?;
            let idx: Vec<usize> = (0..ro.table.seqs.len()).collect();
            let r = train::rewards(reward, &ro.table, &idx, device)?;
            check_scores("reward", &r, idx.len(), step)?;
            let lref = reference(&ro.table, &idx)?;
            check_scores("log π_ref", &lref, idx.len(), step)?;
            let (ploss, mut m) = policy_loss(
                policy,
                &ro,
                &r,
                &lref,
                prompts.len(),
                rl,
                hyper.beta,
                device,
            )?;
            let (pl, pgn) = apply(&mut popt, plr, &ploss, policy_cfg.grad_clip, step, "policy")?;
            // (ii) Reward step on demonstrations, the samples of (i) and the preferences.
            let owned;
            let RewardRecords {
                batch: db,
                d_rows,
                d_w,
                w_rows,
                l_rows,
                p_w,
            } = match &fixed {
                Some(r) => r,
                None => {
                    owned = records(&mut rng)?;
                    &owned
                }
            };
            let rd = loss::at_positions(&reward.forward_t(&db.tokens, true), &db.last);
            let gb = ro.table.batch(&idx, device);
            let rg = loss::at_positions(&reward.forward_t(&gb.tokens, true), &gb.last);
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
            let (rlv, rgn) = apply(&mut ropt, rlr, &rloss, reward_cfg.grad_clip, step, "reward")?;
            rep.final_policy_loss = pl;
            rep.final_reward_loss = rlv;
            rep.final_policy_grad_norm = pgn;
            rep.final_reward_grad_norm = rgn;
            if log {
                m.insert("step".into(), json!(step));
                m.insert("policy_loss".into(), json!(pl));
                m.insert("reward_loss".into(), json!(rlv));
                m.insert("policy_lr".into(), json!(plr));
                m.insert("reward_lr".into(), json!(rlr));
                m.insert("policy_grad_norm".into(), json!(pgn));
                m.insert("reward_grad_norm".into(), json!(rgn));
                m.insert("elapsed_s".into(), json!(t0.elapsed().as_secs_f64()));
                if let Some(p) = probe.as_mut() {
                    m.extend(p(step)?);
                }
                if let Some(s) = sink.as_mut() {
                    s.write(&Value::Object(m.clone()))?;
                }
                bar.set_message(format!("policy {pl:.4} reward {rlv:.4}"));
                rep.last = m;
            }
            if let Some(ck) = &policy_cfg.checkpoint {
                if ck.due(step + 1, policy_cfg.steps) {
                    checkpoint::save(
                        &ck.path,
                        &id,
                        step + 1,
                        &rng,
                        &[("policy", &popt), ("reward", &ropt)],
                    )?;
                    last_good = Some(step + 1);
                }
            }
            bar.inc(1);
        }
        Ok(())
    })();
    bar.finish_and_clear();
    res.map_err(|e| train::with_checkpoint_note(e, policy_cfg, last_good))?;
    rep.steps = end;
    rep.seconds = t0.elapsed().as_secs_f64();
    Ok(rep)
}
