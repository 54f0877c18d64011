//! Trainers (SPEC §3) that need no reward model in the loop: SFT, reward modelling (BTL), DPO,
//! IPO and Direct AIHF ([`PolicyTrainer`], [`RewardTrainer`]), and SPIN / Self-Play AIHF with
//! their generation phases ([`SelfPlayTrainer`]). Each is a [`Trainer`] run by the one
//! [`Executor`] (AdamW, clipping, schedule, NaN stop, checkpoints, metrics, progress).
//!
//! A step is full-batch over the de-duplicated data ([`SeqData`], duplicates as weights) unless
//! `batch_size` is set, in which case records are drawn with replacement proportionally to
//! their weights, which keeps the step an unbiased estimate of the full-batch gradient.

use crate::error::{AihfError, Result};
use crate::neural::checkpoint;
use crate::neural::data::SeqData;
use crate::neural::executor::{Executor, Group, PhaseReport, StepCtx, Trainer};
use crate::neural::model::PolicyNet;
use crate::neural::{loss, terr};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

pub use crate::neural::executor::{open_sink as sink, MetricsSink, Probe, Schedule, TrainConfig};

/// The objectives' hyper-parameters (SPEC §3).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    /// `β` of DPO, Direct AIHF, SPIN and Self-Play AIHF.
    pub beta: f64,
    /// IPO's `τ`.
    pub ipo_tau: f64,
    /// Direct AIHF's SFT weight `α`.
    pub alpha: f64,
    /// Self-Play AIHF's preference weight `λ`.
    pub lambda: f64,
}

impl Default for Hyper {
    fn default() -> Self {
        Hyper {
            beta: 1.0,
            ipo_tau: 0.1,
            alpha: 1.0,
            lambda: 1.0,
        }
    }
}

impl Hyper {
    /// Checks the domains.
    pub fn validate(&self) -> Result<()> {
        crate::error::check_positive("beta", self.beta)?;
        crate::error::check_positive("ipo_tau", self.ipo_tau)?;
        crate::error::check_nonneg("alpha", self.alpha)?;
        crate::error::check_nonneg("lambda", self.lambda)?;
        Ok(())
    }
}

/// The policy objectives that need no samples from the policy are the methods `Sft`, `Dpo`,
/// `Ipo` and `DirectAihf` of the library's one method enum (this name is kept for callers).
pub use crate::bandit::Method as Objective;

/// What a training run did.
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    /// Optimiser steps done (the last step count).
    pub steps: usize,
    /// Loss at the last step.
    pub final_loss: f64,
    /// Global gradient norm at the last step (before clipping).
    pub final_grad_norm: f64,
    /// The last metrics line.
    pub last: Map<String, Value>,
    /// Wall-clock training time, seconds.
    pub seconds: f64,
    /// The run's seed ([`TrainConfig::seed`]).
    pub seed: u64,
}

/// What a closure step hands back to [`optimise`]: the loss to minimise and extra metrics.
pub struct StepOut {
    /// The scalar loss tensor to back-propagate.
    pub loss: Tensor,
    /// Extra metrics added to the step's metrics line.
    pub metrics: Map<String, Value>,
}

impl TrainReport {
    /// The report of a single-group run's phase.
    pub fn from_phase(p: PhaseReport) -> Self {
        let g = p.groups.first();
        TrainReport {
            steps: p.steps,
            final_loss: g.map_or(f64::NAN, |g| g.loss),
            final_grad_norm: g.map_or(f64::NAN, |g| g.grad_norm),
            last: p.last,
            seconds: p.seconds,
            seed: p.seed,
        }
    }
}

/// A single-model trainer from a closure: `step_fn(step, log, rng)` builds the loss (and, when
/// `log` is true, its extra metrics). What [`optimise`] runs.
pub struct FnTrainer<'a, F> {
    vs: &'a nn::VarStore,
    cfg: &'a TrainConfig,
    label: String,
    header: Value,
    data_fingerprint: u64,
    step_fn: F,
}

impl<F> Trainer for FnTrainer<'_, F>
where
    F: FnMut(usize, bool, &mut ChaCha8Rng) -> Result<StepOut>,
{
    fn label(&self) -> String {
        self.label.clone()
    }
    fn header(&self) -> Value {
        self.header.clone()
    }
    fn data_fingerprint(&self) -> u64 {
        self.data_fingerprint
    }
    fn groups(&self) -> Vec<Group<'_>> {
        vec![Group::from_config("policy", self.vs, self.cfg)]
    }
    fn step(&mut self, ctx: &mut StepCtx<'_>) -> Result<Map<String, Value>> {
        let out = (self.step_fn)(ctx.step, ctx.log, ctx.rng)?;
        ctx.update(0, &out.loss)?;
        Ok(out.metrics)
    }
}

/// One model optimised with a closure as its step, through the [`Executor`] (checkpoints,
/// metrics into `metrics`, the probe, the progress bar). `step0` numbers the steps from there
/// (refused with checkpoints). `header` describes the run (the checkpoint identity is built from
/// it) and `data_fingerprint` the data ([`SeqData::fingerprint`]).
#[allow(clippy::too_many_arguments)]
pub fn optimise(
    vs: &nn::VarStore,
    cfg: &TrainConfig,
    label: &str,
    step0: usize,
    metrics: &mut Option<MetricsSink>,
    header: &Value,
    data_fingerprint: u64,
    probe: Option<Probe>,
    step_fn: impl FnMut(usize, bool, &mut ChaCha8Rng) -> Result<StepOut>,
) -> Result<TrainReport> {
    let t = FnTrainer {
        vs,
        cfg,
        label: label.to_string(),
        header: header.clone(),
        data_fingerprint,
        step_fn,
    };
    let (mut reports, _) = Executor::new(t, cfg)
        .sink(metrics)
        .probe(probe)
        .offset(step0)
        .run()?;
    Ok(TrainReport::from_phase(reports.remove(0)))
}

/// Draws `k` record indices with probability ∝ weight (with replacement), or all of them with
/// their weights when `k` is None.
pub(crate) fn draw(
    weights: &[f64],
    k: Option<usize>,
    rng: &mut impl Rng,
) -> Result<Vec<(usize, f64)>> {
    match k {
        None => Ok(weights.iter().copied().enumerate().collect()),
        Some(k) => {
            let d = WeightedIndex::new(weights)
                .map_err(|e| AihfError::data("records", format!("cannot sample: {e}")))?;
            Ok((0..k).map(|_| (d.sample(rng), 1.0)).collect())
        }
    }
}

/// Scores a set of sequences in one forward pass: returns the unique sequence list and a map
/// from table index to row.
struct Gather {
    rows: HashMap<usize, i64>,
    seqs: Vec<usize>,
}

impl Gather {
    fn new() -> Self {
        Gather {
            rows: HashMap::new(),
            seqs: Vec::new(),
        }
    }
    fn add(&mut self, i: usize) -> i64 {
        let n = self.seqs.len() as i64;
        *self.rows.entry(i).or_insert_with(|| {
            self.seqs.push(i);
            n
        })
    }
}

fn index_tensor(v: &[i64], device: Device) -> Tensor {
    Tensor::from_slice(v).to_device(device)
}

/// One number per table sequence `idx`, computed by `f` from the model's output on a chunk's
/// batch, without gradients, 1024 sequences at a time.
fn score_chunks(
    model: &dyn ModuleT,
    data: &SeqData,
    idx: &[usize],
    device: Device,
    what: &str,
    f: impl Fn(&Tensor, &crate::neural::data::Batch) -> Tensor,
) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(idx.len());
    tch::no_grad(|| -> Result<()> {
        for chunk in idx.chunks(1024) {
            let b = data.batch(chunk, device);
            let v = f(&model.forward_t(&b.tokens, false), &b);
            out.extend(
                Vec::<f64>::try_from(v.to_kind(Kind::Double).to_device(Device::Cpu))
                    .map_err(terr(what))?,
            );
        }
        Ok(())
    })?;
    Ok(out)
}

/// `log π(y|x)` of table sequences `idx` under `model`, without gradients, in chunks.
pub fn logprobs(
    model: &dyn ModuleT,
    data: &SeqData,
    idx: &[usize],
    device: Device,
) -> Result<Vec<f64>> {
    score_chunks(
        model,
        data,
        idx,
        device,
        "reading log-probabilities",
        |out, b| loss::sequence_logprobs(out, &b.tokens, &b.mask),
    )
}

/// Rewards `r(x, y)` of table sequences `idx` under a reward model, without gradients.
pub fn rewards(
    model: &dyn ModuleT,
    data: &SeqData,
    idx: &[usize],
    device: Device,
) -> Result<Vec<f64>> {
    score_chunks(model, data, idx, device, "reading rewards", |out, b| {
        loss::at_positions(out, &b.last)
    })
}

fn check_ref(ref_logp: &[f64], data: &SeqData) -> Result<()> {
    if ref_logp.len() != data.seqs.len() {
        return Err(AihfError::param(
            "reference",
            format!(
                "{} reference log-probabilities for {} sequences",
                ref_logp.len(),
                data.seqs.len()
            ),
        ));
    }
    if let Some(i) = ref_logp.iter().position(|x| !x.is_finite()) {
        return Err(AihfError::param(
            "reference",
            format!(
                "log π_ref of sequence {i} is {}; the DPO family needs π_ref > 0",
                ref_logp[i]
            ),
        ));
    }
    Ok(())
}

/// SFT, DPO, IPO or Direct AIHF on a policy network (see [`train_policy`]).
pub struct PolicyTrainer<'a> {
    model: &'a dyn ModuleT,
    vs: &'a nn::VarStore,
    cfg: &'a TrainConfig,
    data: &'a SeqData,
    objective: Objective,
    hyper: Hyper,
    ref_logp: Vec<f64>,
    needs_demos: bool,
    needs_prefs: bool,
    dw: Vec<f64>,
    pw: Vec<f64>,
    /// Full batch: the same tensors every step, built once.
    fixed: Option<Plan>,
    header: Value,
    fingerprint: u64,
}

impl<'a> PolicyTrainer<'a> {
    /// Checks the data and settings once. `ref_logp[i]` is `log π_ref` of table sequence `i`
    /// (needed by DPO, IPO and Direct AIHF).
    pub fn new(
        model: &'a dyn ModuleT,
        vs: &'a nn::VarStore,
        data: &'a SeqData,
        objective: Objective,
        ref_logp: Option<&[f64]>,
        hyper: &Hyper,
        cfg: &'a TrainConfig,
    ) -> Result<Self> {
        hyper.validate()?;
        if !matches!(
            objective,
            Objective::Sft | Objective::Dpo | Objective::Ipo | Objective::DirectAihf
        ) {
            return Err(AihfError::param(
                "method",
                format!(
                    "{} is not a sampling-free policy objective (sft, dpo, ipo, direct-aihf)",
                    objective.name()
                ),
            ));
        }
        let needs_demos = matches!(objective, Objective::Sft | Objective::DirectAihf);
        let needs_prefs = !matches!(objective, Objective::Sft);
        if needs_demos && data.demos.is_empty() {
            return Err(AihfError::data(
                "demonstrations",
                format!("{objective:?} needs demonstrations, none given"),
            ));
        }
        if needs_prefs && data.prefs.is_empty() {
            return Err(AihfError::data(
                "preferences",
                format!("{objective:?} needs preferences, none given"),
            ));
        }
        let ref_logp = if needs_prefs {
            let r = ref_logp.ok_or_else(|| {
                AihfError::param(
                    "reference",
                    format!("{objective:?} needs reference log-probabilities"),
                )
            })?;
            check_ref(r, data)?;
            r.to_vec()
        } else {
            vec![0.0; data.seqs.len()]
        };
        let dw: Vec<f64> = data.demos.iter().map(|d| d.1).collect();
        let pw: Vec<f64> = data.prefs.iter().map(|p| p.2).collect();
        let header = json!({"trainer": "policy", "objective": objective, "hyper": hyper,
                   "config": cfg, "sequences": data.seqs.len(),
                   "demo_records": dw.iter().sum::<f64>(), "pref_records": pw.iter().sum::<f64>()});
        // The reference log-probabilities are part of what is computed.
        let fingerprint = checkpoint::fnv1a(
            &ref_logp
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect::<Vec<u8>>(),
            data.fingerprint(),
        );
        let mut t = PolicyTrainer {
            model,
            vs,
            cfg,
            data,
            objective,
            hyper: *hyper,
            ref_logp,
            needs_demos,
            needs_prefs,
            dw,
            pw,
            fixed: None,
            header,
            fingerprint,
        };
        if cfg.batch_size.is_none() {
            t.fixed = Some(t.plan(&mut ChaCha8Rng::seed_from_u64(cfg.seed))?);
        }
        Ok(t)
    }

    fn plan(&self, rng: &mut ChaCha8Rng) -> Result<Plan> {
        let demos = if self.needs_demos {
            draw(&self.dw, self.cfg.batch_size, rng)?
        } else {
            vec![]
        };
        let prefs = if self.needs_prefs {
            draw(&self.pw, self.cfg.batch_size, rng)?
        } else {
            vec![]
        };
        Ok(Plan::new(
            self.data,
            &demos,
            &prefs,
            &self.ref_logp,
            self.vs.device(),
        ))
    }
}

impl Trainer for PolicyTrainer<'_> {
    fn label(&self) -> String {
        format!("{:?}", self.objective)
    }
    fn header(&self) -> Value {
        self.header.clone()
    }
    fn data_fingerprint(&self) -> u64 {
        self.fingerprint
    }
    fn groups(&self) -> Vec<Group<'_>> {
        vec![Group::from_config("policy", self.vs, self.cfg)]
    }
    fn step(&mut self, ctx: &mut StepCtx<'_>) -> Result<Map<String, Value>> {
        let owned;
        let p = match &self.fixed {
            Some(p) => p,
            None => {
                owned = self.plan(ctx.rng)?;
                &owned
            }
        };
        let device = self.vs.device();
        let lp = loss::sequence_logprobs(
            &self.model.forward_t(&p.batch.tokens, true),
            &p.batch.tokens,
            &p.batch.mask,
        );
        let mut metrics = Map::new();
        let mut total = Tensor::zeros([], (Kind::Float, device));
        if self.needs_demos {
            let l = loss::sft(&lp.index_select(0, &p.d_rows), &p.d_w);
            if ctx.log {
                // SPEC §3: the SFT loss is also reported per token.
                let per_token = tch::no_grad(|| {
                    (lp.index_select(0, &p.d_rows).neg() * &p.d_w).sum(Kind::Float)
                        / (&p.d_ntok * &p.d_w).sum(Kind::Float)
                });
                metrics.insert("sft".into(), json!(l.double_value(&[])));
                metrics.insert("sft_per_token".into(), json!(per_token.double_value(&[])));
            }
            let a = if self.objective == Objective::DirectAihf {
                self.hyper.alpha
            } else {
                1.0
            };
            total += l * a;
        }
        if self.needs_prefs {
            let (lpw, lpl) = (lp.index_select(0, &p.w_rows), lp.index_select(0, &p.l_rows));
            let h = &self.hyper;
            let l = if self.objective == Objective::Ipo {
                loss::ipo(&lpw, &lpl, &p.ref_w, &p.ref_l, h.ipo_tau, &p.p_w)
            } else {
                loss::dpo(&lpw, &lpl, &p.ref_w, &p.ref_l, h.beta, &p.p_w)
            };
            if ctx.log {
                tch::no_grad(|| {
                    let m = loss::margin(&lpw, &lpl, &p.ref_w, &p.ref_l);
                    let acc = loss::weighted_mean(&m.gt(0.0).to_kind(Kind::Float), &p.p_w);
                    metrics.insert("pref_loss".into(), json!(l.double_value(&[])));
                    metrics.insert(
                        "margin".into(),
                        json!(loss::weighted_mean(&m, &p.p_w).double_value(&[])),
                    );
                    metrics.insert("accuracy".into(), json!(acc.double_value(&[])));
                });
            }
            total += l;
        }
        ctx.update(0, &total)?;
        Ok(metrics)
    }
}

/// Trains a policy on one of the sampling-free objectives. `ref_logp[i]` is `log π_ref` of
/// table sequence `i` (needed by DPO, IPO and Direct AIHF; computed once, as is usual, from a
/// frozen reference model with [`logprobs`], or given exactly by a task).
#[allow(clippy::too_many_arguments)]
pub fn train_policy(
    model: &dyn ModuleT,
    vs: &nn::VarStore,
    data: &SeqData,
    objective: Objective,
    ref_logp: Option<&[f64]>,
    hyper: &Hyper,
    cfg: &TrainConfig,
    probe: Option<Probe>,
) -> Result<TrainReport> {
    let t = PolicyTrainer::new(model, vs, data, objective, ref_logp, hyper, cfg)?;
    run_single(t, cfg, probe)
}

/// Runs a one-phase trainer and reports its (first) group.
pub(crate) fn run_single<T: Trainer>(
    t: T,
    cfg: &TrainConfig,
    probe: Option<Probe>,
) -> Result<TrainReport> {
    let (mut reports, _) = Executor::new(t, cfg).probe(probe).run()?;
    Ok(TrainReport::from_phase(reports.remove(0)))
}

/// One step's records as tensors: the distinct sequences to score, and per record the row of
/// its sequence(s), its weight and (pairs) the reference log-probabilities.
struct Plan {
    batch: crate::neural::data::Batch,
    d_rows: Tensor,
    d_w: Tensor,
    /// Response tokens of each demonstration.
    d_ntok: Tensor,
    w_rows: Tensor,
    l_rows: Tensor,
    ref_w: Tensor,
    ref_l: Tensor,
    p_w: Tensor,
}

impl Plan {
    /// `demos`/`prefs`: (record index, weight) as drawn by [`draw`].
    fn new(
        data: &SeqData,
        demos: &[(usize, f64)],
        prefs: &[(usize, f64)],
        ref_logp: &[f64],
        device: Device,
    ) -> Plan {
        use crate::neural::data::Batch;
        let mut g = Gather::new();
        let d_rows: Vec<i64> = demos.iter().map(|&(k, _)| g.add(data.demos[k].0)).collect();
        let w_rows: Vec<i64> = prefs.iter().map(|&(k, _)| g.add(data.prefs[k].0)).collect();
        let l_rows: Vec<i64> = prefs.iter().map(|&(k, _)| g.add(data.prefs[k].1)).collect();
        let ref_w: Vec<f64> = prefs
            .iter()
            .map(|&(k, _)| ref_logp[data.prefs[k].0])
            .collect();
        let ref_l: Vec<f64> = prefs
            .iter()
            .map(|&(k, _)| ref_logp[data.prefs[k].1])
            .collect();
        Plan {
            batch: data.batch(&g.seqs, device),
            d_rows: index_tensor(&d_rows, device),
            d_w: Batch::weights(&demos.iter().map(|d| d.1).collect::<Vec<_>>(), device),
            d_ntok: Batch::weights(
                &demos
                    .iter()
                    .map(|&(k, _)| data.seqs[data.demos[k].0].response.len() as f64)
                    .collect::<Vec<_>>(),
                device,
            ),
            w_rows: index_tensor(&w_rows, device),
            l_rows: index_tensor(&l_rows, device),
            ref_w: Batch::weights(&ref_w, device),
            ref_l: Batch::weights(&ref_l, device),
            p_w: Batch::weights(&prefs.iter().map(|d| d.1).collect::<Vec<_>>(), device),
        }
    }
}

/// BTL maximum likelihood on the preference pairs, for a reward network (see [`train_reward`]).
pub struct RewardTrainer<'a> {
    model: &'a dyn ModuleT,
    vs: &'a nn::VarStore,
    cfg: &'a TrainConfig,
    data: &'a SeqData,
    pw: Vec<f64>,
    zeros: Vec<f64>,
    fixed: Option<Plan>,
    header: Value,
}

impl<'a> RewardTrainer<'a> {
    /// Checks the data once.
    pub fn new(
        model: &'a dyn ModuleT,
        vs: &'a nn::VarStore,
        data: &'a SeqData,
        cfg: &'a TrainConfig,
    ) -> Result<Self> {
        if data.prefs.is_empty() {
            return Err(AihfError::data(
                "preferences",
                "reward modelling needs preferences, none given",
            ));
        }
        let header = json!({"trainer": "reward", "objective": "btl", "config": cfg,
                            "sequences": data.seqs.len()});
        let mut t = RewardTrainer {
            model,
            vs,
            cfg,
            data,
            pw: data.prefs.iter().map(|p| p.2).collect(),
            zeros: vec![0.0; data.seqs.len()],
            fixed: None,
            header,
        };
        if cfg.batch_size.is_none() {
            t.fixed = Some(t.plan(&mut ChaCha8Rng::seed_from_u64(cfg.seed))?);
        }
        Ok(t)
    }

    fn plan(&self, rng: &mut ChaCha8Rng) -> Result<Plan> {
        let prefs = draw(&self.pw, self.cfg.batch_size, rng)?;
        Ok(Plan::new(
            self.data,
            &[],
            &prefs,
            &self.zeros,
            self.vs.device(),
        ))
    }
}

impl Trainer for RewardTrainer<'_> {
    fn label(&self) -> String {
        "BTL".into()
    }
    fn header(&self) -> Value {
        self.header.clone()
    }
    fn data_fingerprint(&self) -> u64 {
        self.data.fingerprint()
    }
    fn groups(&self) -> Vec<Group<'_>> {
        vec![Group::from_config("reward", self.vs, self.cfg)]
    }
    fn step(&mut self, ctx: &mut StepCtx<'_>) -> Result<Map<String, Value>> {
        let owned;
        let p = match &self.fixed {
            Some(p) => p,
            None => {
                owned = self.plan(ctx.rng)?;
                &owned
            }
        };
        let r = loss::at_positions(&self.model.forward_t(&p.batch.tokens, true), &p.batch.last);
        let (rw, rl) = (r.index_select(0, &p.w_rows), r.index_select(0, &p.l_rows));
        let l = loss::btl(&rw, &rl, &p.p_w);
        let mut metrics = Map::new();
        if ctx.log {
            let acc = tch::no_grad(|| {
                loss::weighted_mean(&(&rw - &rl).gt(0.0).to_kind(Kind::Float), &p.p_w)
            });
            metrics.insert("accuracy".into(), json!(acc.double_value(&[])));
        }
        ctx.update(0, &l)?;
        Ok(metrics)
    }
}

/// Trains a reward model by BTL maximum likelihood on the preference pairs.
pub fn train_reward(
    model: &dyn ModuleT,
    vs: &nn::VarStore,
    data: &SeqData,
    cfg: &TrainConfig,
    probe: Option<Probe>,
) -> Result<TrainReport> {
    run_single(RewardTrainer::new(model, vs, data, cfg)?, cfg, probe)
}

/// Self-play settings (SPEC §1.5, §3).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelfPlay {
    /// Outer iterations `t = 0..iters`.
    pub iters: usize,
    /// Generated responses per distinct prompt and iteration.
    pub samples_per_prompt: usize,
    /// Longest generated response.
    pub max_new_tokens: usize,
    /// Stop a generated response at this id (the byte tokenizer's EOS); None: fixed length.
    pub eos: Option<i64>,
    /// Add `λ ·` DPO on the preference pairs (Self-Play AIHF) or not (SPIN).
    pub with_preferences: bool,
    /// The model's context: every prompt plus `max_new_tokens` must fit.
    pub context: usize,
}

/// One self-play phase's fixed tensors: the pairs (demonstration ≻ sample, and the preference
/// pairs) against the frozen `π_t`.
struct SpinPhase {
    batch: crate::neural::data::Batch,
    wi: Tensor,
    li: Tensor,
    rw: Tensor,
    rl: Tensor,
    sw: Tensor,
    pw: Tensor,
    spin_total: f64,
    pref_total: f64,
}

/// SPIN and Self-Play AIHF (see [`train_self_play`]): one phase per self-play iteration.
pub struct SelfPlayTrainer<'a> {
    model: &'a dyn PolicyNet,
    vs: &'a nn::VarStore,
    cfg: &'a TrainConfig,
    data: &'a SeqData,
    sp: SelfPlay,
    hyper: Hyper,
    header: Value,
    phase: usize,
    current: Option<SpinPhase>,
}

impl<'a> SelfPlayTrainer<'a> {
    /// Checks the data and settings once.
    pub fn new(
        model: &'a dyn PolicyNet,
        vs: &'a nn::VarStore,
        data: &'a SeqData,
        sp: &SelfPlay,
        hyper: &Hyper,
        cfg: &'a TrainConfig,
    ) -> Result<Self> {
        hyper.validate()?;
        if data.demos.is_empty() {
            return Err(AihfError::data(
                "demonstrations",
                "SPIN needs demonstrations, none given",
            ));
        }
        if sp.with_preferences && data.prefs.is_empty() {
            return Err(AihfError::data(
                "preferences",
                "Self-Play AIHF needs preferences, none given",
            ));
        }
        if sp.iters == 0 || sp.samples_per_prompt == 0 || sp.max_new_tokens == 0 {
            return Err(AihfError::param(
                "self-play",
                "iters, samples_per_prompt and max_new_tokens must be >= 1",
            ));
        }
        if cfg.batch_size.is_some() {
            return Err(AihfError::param(
                "batch_size",
                "the self-play trainers are full-batch; leave batch_size unset",
            ));
        }
        if cfg.checkpoint.is_some() {
            return Err(AihfError::param(
                "checkpoint",
                "SPIN and Self-Play AIHF runs cannot be checkpointed (each iteration regenerates \
                 its pairs); run them without checkpoints",
            ));
        }
        let name = if sp.with_preferences {
            "self-play-aihf"
        } else {
            "spin"
        };
        let header = json!({"trainer": name, "self_play": sp, "hyper": hyper, "config": cfg});
        Ok(SelfPlayTrainer {
            model,
            vs,
            cfg,
            data,
            sp: *sp,
            hyper: *hyper,
            header,
            phase: 0,
            current: None,
        })
    }
}

impl Trainer for SelfPlayTrainer<'_> {
    fn label(&self) -> String {
        if self.sp.with_preferences {
            "self-play-aihf".into()
        } else {
            "spin".into()
        }
    }
    fn header(&self) -> Value {
        self.header.clone()
    }
    fn data_fingerprint(&self) -> u64 {
        0
    }
    fn groups(&self) -> Vec<Group<'_>> {
        vec![Group::from_config("policy", self.vs, self.cfg)]
    }
    fn phases(&self) -> usize {
        self.sp.iters
    }

    /// Generation from the frozen `π_t`, and its log-probabilities.
    fn begin_phase(&mut self, phase: usize, rng: &mut ChaCha8Rng) -> Result<()> {
        let (data, sp, device) = (self.data, &self.sp, self.vs.device());
        self.phase = phase;
        let mut table = data.clone();
        let mut by_prompt: HashMap<Vec<i64>, Vec<usize>> = HashMap::new();
        for &(d, _) in &data.demos {
            by_prompt.entry(data.seqs[d].prompt.clone()).or_default();
        }
        let mut prompts: Vec<Vec<i64>> = by_prompt.keys().cloned().collect();
        prompts.sort();
        if let Some(p) = prompts
            .iter()
            .find(|p| p.len() + sp.max_new_tokens > sp.context)
        {
            return Err(AihfError::param(
                "max_new_tokens",
                format!(
                    "a prompt of {} tokens plus {} generated tokens exceeds the context of {}",
                    p.len(),
                    sp.max_new_tokens,
                    sp.context
                ),
            ));
        }
        for p in &prompts {
            let ys = crate::neural::generate::generate(
                self.model,
                p,
                sp.samples_per_prompt,
                sp.max_new_tokens,
                sp.eos,
                device,
                rng,
            )?;
            let idx: Vec<usize> = ys.iter().map(|y| table.intern(p, y)).collect();
            by_prompt.insert(p.clone(), idx);
        }
        // Pairs (demo ≻ generated), weight w / k. Duplicate samples are merged into counts
        // (the same loss, fewer terms).
        let mut pairs: Vec<(usize, usize, f64, bool)> = Vec::new();
        for &(d, w) in &data.demos {
            let gen = &by_prompt[&data.seqs[d].prompt];
            let mut counts: Vec<(usize, usize)> = Vec::new();
            let mut sorted = gen.clone();
            sorted.sort_unstable();
            for g in sorted {
                match counts.last_mut() {
                    Some((h, c)) if *h == g => *c += 1,
                    _ => counts.push((g, 1)),
                }
            }
            for (g, c) in counts {
                pairs.push((d, g, w * c as f64 / gen.len() as f64, true));
            }
        }
        if sp.with_preferences {
            for &(a, b, w) in &data.prefs {
                pairs.push((a, b, w, false));
            }
        }
        // π_t's log-probabilities, frozen for this iteration.
        let all: Vec<usize> = (0..table.seqs.len()).collect();
        let ref_lp = logprobs(self.model, &table, &all, device)?;
        let spin_w: Vec<f64> = pairs.iter().map(|p| if p.3 { p.2 } else { 0.0 }).collect();
        let pref_w: Vec<f64> = pairs.iter().map(|p| if p.3 { 0.0 } else { p.2 }).collect();
        let mut g = Gather::new();
        let w_rows: Vec<i64> = pairs.iter().map(|p| g.add(p.0)).collect();
        let l_rows: Vec<i64> = pairs.iter().map(|p| g.add(p.1)).collect();
        let weights = crate::neural::data::Batch::weights;
        self.current = Some(SpinPhase {
            rw: weights(
                &pairs.iter().map(|p| ref_lp[p.0]).collect::<Vec<_>>(),
                device,
            ),
            rl: weights(
                &pairs.iter().map(|p| ref_lp[p.1]).collect::<Vec<_>>(),
                device,
            ),
            wi: index_tensor(&w_rows, device),
            li: index_tensor(&l_rows, device),
            sw: weights(&spin_w, device),
            pw: weights(&pref_w, device),
            spin_total: spin_w.iter().sum(),
            pref_total: pref_w.iter().sum(),
            batch: table.batch(&g.seqs, device),
        });
        Ok(())
    }

    fn step(&mut self, ctx: &mut StepCtx<'_>) -> Result<Map<String, Value>> {
        let Some(ph) = &self.current else {
            return Err(AihfError::Numerical(
                "self-play step before its generation phase".into(),
            ));
        };
        let b = &ph.batch;
        let lp =
            loss::sequence_logprobs(&self.model.forward_t(&b.tokens, true), &b.tokens, &b.mask);
        let (lpw, lpl) = (lp.index_select(0, &ph.wi), lp.index_select(0, &ph.li));
        let beta = self.hyper.beta;
        let spin = loss::dpo(&lpw, &lpl, &ph.rw, &ph.rl, beta, &ph.sw);
        let mut metrics = Map::new();
        if ctx.log {
            metrics.insert("iteration".into(), json!(self.phase));
            metrics.insert("spin_loss".into(), json!(spin.double_value(&[])));
        }
        let mut total = spin;
        if self.sp.with_preferences && ph.pref_total > 0.0 && ph.spin_total > 0.0 {
            let pl = loss::dpo(&lpw, &lpl, &ph.rw, &ph.rl, beta, &ph.pw);
            if ctx.log {
                metrics.insert("pref_loss".into(), json!(pl.double_value(&[])));
            }
            total += pl * self.hyper.lambda;
        }
        ctx.update(0, &total)?;
        Ok(metrics)
    }
}

/// SPIN and Self-Play AIHF (SPEC §1.5, §3). Iteration `t` freezes `π_t` (the current model),
/// generates `samples_per_prompt` responses per distinct demonstration prompt from it, and runs
/// `cfg.steps` optimiser steps (full batch, a fresh optimiser) on
///
/// `−E_{y∼demo, y'∼π_t} log σ(β (h_t(y) − h_t(y')))  [+ λ · DPO on the preference pairs]`,
///
/// with `h_t = log π_φ − log π_t`: both terms use `π_t` as the reference (the self-play form of
/// (11)). Each demonstration is paired with every sample of its prompt, weight
/// `w_demo / samples_per_prompt` (repeated samples merged into counts). One report per iteration.
pub fn train_self_play(
    model: &dyn PolicyNet,
    vs: &nn::VarStore,
    data: &SeqData,
    sp: &SelfPlay,
    hyper: &Hyper,
    cfg: &TrainConfig,
) -> Result<Vec<TrainReport>> {
    let t = SelfPlayTrainer::new(model, vs, data, sp, hyper, cfg)?;
    let (reports, _) = Executor::new(t, cfg).run()?;
    Ok(reports.into_iter().map(TrainReport::from_phase).collect())
}
