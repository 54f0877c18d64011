//! Trainers (SPEC §3): SFT, reward modelling (BTL), DPO, IPO and Direct AIHF, which need no
//! samples from the policy, and SPIN / Self-Play AIHF with their generation step.
//!
//! One optimisation loop serves them all ([`optimise`]): AdamW, global gradient-norm clipping,
//! a learning-rate schedule (linear warm-up, then constant, linear or cosine decay), an
//! `indicatif` progress bar, JSONL metrics, and a stop with the step number on a non-finite
//! loss. A step is full-batch over the de-duplicated data ([`SeqData`], duplicates as weights)
//! unless `batch_size` is set, in which case records are drawn with replacement proportionally
//! to their weights, which keeps the step an unbiased estimate of the full-batch gradient.

use crate::error::{AihfError, Result};
use crate::neural::checkpoint::{self, CheckpointConfig};
use crate::neural::data::SeqData;
use crate::neural::optim::AdamW;
use crate::neural::{loss, terr};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// The learning-rate shape after warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// Constant.
    Constant,
    /// Linear decay to zero at the last step.
    Linear,
    /// Half-cosine decay to zero at the last step.
    #[default]
    Cosine,
}

/// Optimisation settings shared by every trainer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Optimiser steps (per SPIN iteration for the self-play trainers).
    pub steps: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// AdamW's decoupled weight decay (0 for the cross-validation: decay would move the optimum).
    pub weight_decay: f64,
    /// Clip the global gradient norm to this value (None: no clipping).
    pub grad_clip: Option<f64>,
    /// Learning-rate shape.
    pub schedule: Schedule,
    /// Linear warm-up steps.
    pub warmup: usize,
    /// Records per step (None: the full data set, duplicates as weights).
    pub batch_size: Option<usize>,
    /// Seed of record sampling and generation (parameter initialisation uses
    /// [`crate::neural::manual_seed`], set by the caller).
    pub seed: u64,
    /// Write a metrics line every this many steps (and at the last step).
    pub log_every: usize,
    /// Show a progress bar.
    pub progress: bool,
    /// JSONL metrics file (None: no file).
    pub metrics: Option<PathBuf>,
    /// Checkpoints of the run (None: none). Not part of a checkpoint's identity.
    #[serde(default)]
    pub checkpoint: Option<CheckpointConfig>,
    /// What the caller knows about the run beyond this configuration and the trained models
    /// (the model's hyper-parameters, fingerprints of a frozen reward model or reference): part
    /// of a checkpoint's identity, so a resume with a different one is refused.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub tag: Value,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            steps: 1000,
            lr: 1e-3,
            weight_decay: 0.0,
            grad_clip: Some(1.0),
            schedule: Schedule::Cosine,
            warmup: 0,
            batch_size: None,
            seed: 0,
            log_every: 50,
            progress: false,
            metrics: None,
            checkpoint: None,
            tag: Value::Null,
        }
    }
}

impl TrainConfig {
    /// Checks the domains.
    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 {
            return Err(AihfError::param("steps", "must be at least 1"));
        }
        crate::error::check_positive("lr", self.lr)?;
        crate::error::check_nonneg("weight_decay", self.weight_decay)?;
        if let Some(c) = self.grad_clip {
            crate::error::check_positive("grad_clip", c)?;
        }
        if self.batch_size == Some(0) {
            return Err(AihfError::param("batch_size", "must be at least 1"));
        }
        if self.log_every == 0 {
            return Err(AihfError::param("log_every", "must be at least 1"));
        }
        if let Some(c) = &self.checkpoint {
            c.validate()?;
        }
        Ok(())
    }

    /// Where this invocation stops: `steps`, or the checkpoint's `stop_at` if earlier.
    pub fn end_step(&self) -> usize {
        self.checkpoint
            .as_ref()
            .and_then(|c| c.stop_at)
            .map_or(self.steps, |s| s.min(self.steps))
    }

    /// The learning rate at `step` (0-based).
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.lr * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.steps.saturating_sub(self.warmup).max(1) as f64;
        let x = ((step - self.warmup) as f64 / span).min(1.0);
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Linear => self.lr * (1.0 - x),
            Schedule::Cosine => self.lr * 0.5 * (1.0 + (std::f64::consts::PI * x).cos()),
        }
    }
}

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

/// The policy objectives that need no samples from the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    Sft,
    Dpo,
    Ipo,
    DirectAihf,
}

/// What a training run did.
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    pub steps: usize,
    /// Loss at the last step.
    pub final_loss: f64,
    /// Global gradient norm at the last step (before clipping).
    pub final_grad_norm: f64,
    /// The last metrics line.
    pub last: Map<String, Value>,
    pub seconds: f64,
    pub seed: u64,
}

/// What one step hands back to [`optimise`]: the loss to minimise and extra metrics.
pub struct StepOut {
    pub loss: Tensor,
    pub metrics: Map<String, Value>,
}

/// Evaluates the model along training: called at every logged step, after that step's update,
/// with the step number; what it returns is added to the step's metrics line. It must not
/// change the model, and a probe that samples should seed its own generator from the step, so a
/// resumed run logs what the uninterrupted run logged.
pub type Probe<'a> = &'a mut dyn FnMut(usize) -> Result<Map<String, Value>>;

/// The parts of a run header that do not change what is computed (logging, display, file names),
/// left out of a checkpoint's identity.
const VOLATILE: [&str; 4] = ["progress", "metrics", "log_every", "checkpoint"];

/// A run's identity for checkpoints: its header without the volatile fields (the header holds
/// the configuration and its `tag`), the models' variables (names, shapes, dtypes and an FNV-1a
/// fingerprint of their starting values, which covers `--init` files and the seed), and a
/// fingerprint of the data. Computed before a checkpoint is loaded, and only for a run with
/// checkpoints (`Null` otherwise: fingerprinting copies every parameter to the host).
pub fn identity(
    cfg: &TrainConfig,
    header: &Value,
    models: &[(&str, &AdamW)],
    data_fingerprint: u64,
) -> Result<Value> {
    if cfg.checkpoint.is_none() {
        return Ok(Value::Null);
    }
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| !VOLATILE.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            v => v.clone(),
        }
    }
    let mut shapes = Map::new();
    for (g, o) in models {
        shapes.insert((*g).to_string(), checkpoint::shapes(o));
        shapes.insert(
            format!("{g}.start_fnv1a"),
            json!(format!("{:016x}", checkpoint::values_fingerprint(o)?)),
        );
    }
    Ok(json!({"run": strip(header), "variables": shapes,
           "data_fnv1a": format!("{data_fingerprint:016x}")}))
}

/// Restores a run from its checkpoint when `cfg.checkpoint` asks to resume; returns the steps
/// already completed (0 for a fresh run).
pub(crate) fn maybe_resume(
    cfg: &TrainConfig,
    identity: &Value,
    rng: &mut ChaCha8Rng,
    models: &mut [(&str, &mut AdamW)],
) -> Result<usize> {
    match &cfg.checkpoint {
        Some(ck) if ck.resume => {
            if !ck.path.exists() {
                return Err(AihfError::param(
                    "resume",
                    format!("no checkpoint at {} to resume from", ck.path.display()),
                ));
            }
            let r = checkpoint::load(&ck.path, identity, rng, models)?;
            if r.step > cfg.steps {
                return Err(AihfError::param(
                    "resume",
                    format!(
                        "checkpoint {} is at step {}, past the run's {} steps",
                        ck.path.display(),
                        r.step,
                        cfg.steps
                    ),
                ));
            }
            Ok(r.step)
        }
        _ => Ok(0),
    }
}

/// Adds the step and the last good checkpoint to a training error.
pub(crate) fn with_checkpoint_note(
    e: AihfError,
    cfg: &TrainConfig,
    last_good: Option<usize>,
) -> AihfError {
    match (&cfg.checkpoint, last_good, e) {
        (Some(ck), Some(s), AihfError::Neural(m)) => AihfError::Neural(format!(
            "{m}; the last good checkpoint (step {s}) is kept at {}",
            ck.path.display()
        )),
        (Some(ck), Some(s), AihfError::Numerical(m)) => AihfError::Numerical(format!(
            "{m}; the last good checkpoint (step {s}) is kept at {}",
            ck.path.display()
        )),
        (_, _, e) => e,
    }
}

/// Sets libtorch's generator from the run's seed and the step, so that dropout (the only use of
/// it after initialisation) is a function of the step and a resumed run draws the same masks.
pub(crate) fn seed_step(seed: u64, step: usize) {
    let mut h = checkpoint::fnv1a(&seed.to_le_bytes(), checkpoint::FNV_OFFSET);
    h = checkpoint::fnv1a(&(step as u64).to_le_bytes(), h);
    crate::neural::manual_seed(h);
}

/// Clips (if asked), checks and applies one AdamW update; returns the gradient norm.
pub(crate) fn update(
    opt: &mut AdamW,
    lr: f64,
    clip: Option<f64>,
    step: usize,
    l: f64,
) -> Result<f64> {
    let gn = opt.grad_norm();
    if !gn.is_finite() {
        return Err(AihfError::Neural(format!(
            "gradient norm is {gn} at step {step} (loss {l}); stopping"
        )));
    }
    if let Some(c) = clip {
        opt.clip(gn, c);
    }
    opt.step(lr)?;
    if !opt.params_finite() {
        return Err(AihfError::Neural(format!(
            "a parameter is not finite after the update of step {step} (loss {l}, gradient \
             norm {gn}, learning rate {lr}); stopping"
        )));
    }
    Ok(gn)
}

/// The shared loop: for each step, `step_fn(step, log, rng)` builds the loss (and, when `log` is
/// true, its extra metrics), drawing any randomness from `rng` (seeded from `cfg.seed`, saved in
/// checkpoints); AdamW ([`AdamW`]), clipping, schedule, NaN/inf stop, checkpoints, the probe,
/// progress bar and metrics happen here. `step0` offsets step numbers (SPIN, which cannot be
/// checkpointed). `header` describes the run (the checkpoint identity is built from it) and
/// `data_fingerprint` the data ([`SeqData::fingerprint`]).
#[allow(clippy::too_many_arguments)]
pub fn optimise(
    vs: &nn::VarStore,
    cfg: &TrainConfig,
    label: &str,
    step0: usize,
    metrics: &mut Option<MetricsSink>,
    header: &Value,
    data_fingerprint: u64,
    mut probe: Option<Probe>,
    mut step_fn: impl FnMut(usize, bool, &mut ChaCha8Rng) -> Result<StepOut>,
) -> Result<TrainReport> {
    cfg.validate()?;
    let mut opt = AdamW::new(vs, cfg.weight_decay)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let id = identity(cfg, header, &[("policy", &opt)], data_fingerprint)?;
    if cfg.checkpoint.is_some() && step0 != 0 {
        return Err(AihfError::param(
            "checkpoint",
            "multi-phase runs (SPIN, Self-Play AIHF) cannot be checkpointed",
        ));
    }
    let start = maybe_resume(cfg, &id, &mut rng, &mut [("policy", &mut opt)])?;
    if let Some(m) = metrics.as_mut() {
        m.resume_from(start);
    }
    let mut last_good = (start > 0).then_some(start);
    let end = cfg.end_step();
    let bar = progress_bar(cfg, label);
    bar.set_position(start as u64);
    let t0 = std::time::Instant::now();
    let (mut last_loss, mut last_gn) = (f64::NAN, f64::NAN);
    let mut last = Map::new();
    let res = (|| -> Result<()> {
        for k in start..end {
            let step = step0 + k;
            let lr = cfg.lr_at(k);
            seed_step(cfg.seed, step);
            let log = k % cfg.log_every == 0 || k + 1 == cfg.steps;
            let out = step_fn(step, log, &mut rng)?;
            let l = loss::finite_value(&out.loss, step)?;
            opt.zero_grad();
            out.loss.backward();
            let gn = update(&mut opt, lr, cfg.grad_clip, step, l)?;
            last_loss = l;
            last_gn = gn;
            if log {
                let mut m = Map::new();
                m.insert("step".into(), json!(step));
                m.insert("loss".into(), json!(l));
                m.insert("lr".into(), json!(lr));
                m.insert("grad_norm".into(), json!(gn));
                m.insert("elapsed_s".into(), json!(t0.elapsed().as_secs_f64()));
                m.extend(out.metrics);
                if let Some(p) = probe.as_mut() {
                    m.extend(p(step)?);
                }
                if let Some(s) = metrics.as_mut() {
                    s.write(&Value::Object(m.clone()))?;
                }
                bar.set_message(format!("loss {l:.4}"));
                last = m;
            }
            if let Some(ck) = &cfg.checkpoint {
                if ck.due(k + 1, cfg.steps) {
                    checkpoint::save(&ck.path, &id, k + 1, &rng, &[("policy", &opt)])?;
                    last_good = Some(k + 1);
                }
            }
            bar.inc(1);
        }
        Ok(())
    })();
    bar.finish_and_clear();
    res.map_err(|e| with_checkpoint_note(e, cfg, last_good))?;
    Ok(TrainReport {
        steps: end,
        final_loss: last_loss,
        final_grad_norm: last_gn,
        last,
        seconds: t0.elapsed().as_secs_f64(),
        seed: cfg.seed,
    })
}

pub(crate) fn progress_bar(cfg: &TrainConfig, label: &str) -> indicatif::ProgressBar {
    if !cfg.progress {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(cfg.steps as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} ({per_sec})",
    ) {
        bar.set_style(style);
    }
    bar.set_prefix(label.to_string());
    bar
}

/// `‖∇‖₂` over all trainable variables (before clipping), with one device synchronisation.
pub(crate) fn grad_norm(vars: &[Tensor]) -> f64 {
    tch::no_grad(|| {
        let norms: Vec<Tensor> = vars
            .iter()
            .map(|v| v.grad())
            .filter(|g| g.defined())
            .map(|g| g.to_kind(Kind::Float).norm())
            .collect();
        if norms.is_empty() {
            return 0.0;
        }
        Tensor::stack(&norms, 0).norm().double_value(&[])
    })
}

/// A JSONL metrics file: a header line with the run's configuration and seed, then one line
/// per logged step. A resumed run appends to it, after a `resume` line. The file is opened at
/// the first line written, so a run refused before its first step (a checkpoint of another
/// configuration, say) leaves no file behind and an existing one untouched.
pub struct MetricsSink {
    out: Option<std::io::BufWriter<std::fs::File>>,
    path: PathBuf,
    header: Value,
    append: bool,
    /// On resume: the checkpoint's step; lines of later steps (logged before the interruption)
    /// are dropped from the file before appending, so every step appears once.
    resume_from: Option<usize>,
}

impl MetricsSink {
    /// A sink that writes `header` (`append`: appends to the file, after a `resume` line).
    pub fn open(path: &std::path::Path, header: Value, append: bool) -> Result<Self> {
        Ok(MetricsSink {
            out: None,
            path: path.to_path_buf(),
            header,
            append,
            resume_from: None,
        })
    }

    /// The run resumes after `step` completed steps: step lines `≥ step` already in the file
    /// are removed (atomically) when it is opened.
    pub fn resume_from(&mut self, step: usize) {
        self.resume_from = Some(step);
    }

    /// Rewrites the file without the step lines at or after `from`.
    fn trim(&self, from: usize) -> Result<()> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(AihfError::Io {
                    action: "cannot read",
                    path: self.path.clone(),
                    source: e,
                })
            }
        };
        let kept: String = text
            .lines()
            .filter(|l| {
                serde_json::from_str::<Value>(l)
                    .ok()
                    .and_then(|v| v.get("step").and_then(Value::as_u64))
                    .is_none_or(|s| (s as usize) < from)
            })
            .flat_map(|l| [l, "\n"])
            .collect();
        crate::io::write_atomic(&self.path, kept.as_bytes())
    }

    /// A sink that creates the file and writes the header.
    pub fn create(path: &std::path::Path, header: Value) -> Result<Self> {
        Self::open(path, header, false)
    }

    /// Appends one line.
    pub fn write(&mut self, v: &Value) -> Result<()> {
        let err = |action, e| AihfError::Io {
            action,
            path: self.path.clone(),
            source: e,
        };
        if self.out.is_none() {
            if let (true, Some(from)) = (self.append, self.resume_from) {
                self.trim(from)?;
            }
            let f = if self.append {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
            } else {
                std::fs::File::create(&self.path)
            }
            .map_err(|e| err("cannot create", e))?;
            let mut out = std::io::BufWriter::new(f);
            let event = if self.append { "resume" } else { "start" };
            writeln!(out, "{}", json!({"event": event, "run": self.header}))
                .map_err(|e| err("cannot write", e))?;
            self.out = Some(out);
        }
        let out = self.out.as_mut().expect("opened above");
        writeln!(out, "{v}")
            .and_then(|_| out.flush())
            .map_err(|e| err("cannot write", e))
    }
}

/// Opens the metrics sink of a config, if any (appending when the run resumes).
pub fn sink(cfg: &TrainConfig, header: Value) -> Result<Option<MetricsSink>> {
    let append = cfg.checkpoint.as_ref().is_some_and(|c| c.resume);
    cfg.metrics
        .as_ref()
        .map(|p| MetricsSink::open(p, header, append))
        .transpose()
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
    hyper.validate()?;
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
    let zeros;
    let ref_logp = if needs_prefs {
        let r = ref_logp.ok_or_else(|| {
            AihfError::param(
                "reference",
                format!("{objective:?} needs reference log-probabilities"),
            )
        })?;
        check_ref(r, data)?;
        r
    } else {
        zeros = vec![0.0; data.seqs.len()];
        &zeros
    };
    let device = vs.device();
    let dw: Vec<f64> = data.demos.iter().map(|d| d.1).collect();
    let pw: Vec<f64> = data.prefs.iter().map(|p| p.2).collect();
    let header = json!({"trainer": "policy", "objective": objective, "hyper": hyper, "config": cfg,
               "sequences": data.seqs.len(), "demo_records": dw.iter().sum::<f64>(),
               "pref_records": pw.iter().sum::<f64>()});
    let mut sink = sink(cfg, header.clone())?;
    // The reference log-probabilities are part of what is computed.
    let fp = checkpoint::fnv1a(
        &ref_logp
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<u8>>(),
        data.fingerprint(),
    );
    let label = format!("{objective:?}");
    let make_plan = |rng: &mut ChaCha8Rng| -> Result<Plan> {
        let demos = if needs_demos {
            draw(&dw, cfg.batch_size, rng)?
        } else {
            vec![]
        };
        let prefs = if needs_prefs {
            draw(&pw, cfg.batch_size, rng)?
        } else {
            vec![]
        };
        Ok(Plan::new(data, &demos, &prefs, ref_logp, device))
    };
    // Full batch: the same tensors every step, built once (drawing nothing).
    let fixed = if cfg.batch_size.is_none() {
        Some(make_plan(&mut ChaCha8Rng::seed_from_u64(cfg.seed))?)
    } else {
        None
    };
    optimise(
        vs,
        cfg,
        &label,
        0,
        &mut sink,
        &header,
        fp,
        probe,
        |_step, log, rng| {
            let owned;
            let p = match &fixed {
                Some(p) => p,
                None => {
                    owned = make_plan(rng)?;
                    &owned
                }
            };
            let lp = loss::sequence_logprobs(
                &model.forward_t(&p.batch.tokens, true),
                &p.batch.tokens,
                &p.batch.mask,
            );
            let mut metrics = Map::new();
            let mut total = Tensor::zeros([], (Kind::Float, device));
            if needs_demos {
                let l = loss::sft(&lp.index_select(0, &p.d_rows), &p.d_w);
                if log {
                    // SPEC §3: the SFT loss is also reported per token.
                    let per_token = tch::no_grad(|| {
                        (lp.index_select(0, &p.d_rows).neg() * &p.d_w).sum(Kind::Float)
                            / (&p.d_ntok * &p.d_w).sum(Kind::Float)
                    });
                    metrics.insert("sft".into(), json!(l.double_value(&[])));
                    metrics.insert("sft_per_token".into(), json!(per_token.double_value(&[])));
                }
                let a = if objective == Objective::DirectAihf {
                    hyper.alpha
                } else {
                    1.0
                };
                total += l * a;
            }
            if needs_prefs {
                let (lpw, lpl) = (lp.index_select(0, &p.w_rows), lp.index_select(0, &p.l_rows));
                let l = if objective == Objective::Ipo {
                    loss::ipo(&lpw, &lpl, &p.ref_w, &p.ref_l, hyper.ipo_tau, &p.p_w)
                } else {
                    loss::dpo(&lpw, &lpl, &p.ref_w, &p.ref_l, hyper.beta, &p.p_w)
                };
                if log {
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
            Ok(StepOut {
                loss: total,
                metrics,
            })
        },
    )
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

/// Trains a reward model by BTL maximum likelihood on the preference pairs.
pub fn train_reward(
    model: &dyn ModuleT,
    vs: &nn::VarStore,
    data: &SeqData,
    cfg: &TrainConfig,
    probe: Option<Probe>,
) -> Result<TrainReport> {
    if data.prefs.is_empty() {
        return Err(AihfError::data(
            "preferences",
            "reward modelling needs preferences, none given",
        ));
    }
    let device = vs.device();
    let pw: Vec<f64> = data.prefs.iter().map(|p| p.2).collect();
    let zeros = vec![0.0; data.seqs.len()];
    let header = json!({"trainer": "reward", "objective": "btl", "config": cfg,
                        "sequences": data.seqs.len()});
    let mut sink = sink(cfg, header.clone())?;
    let make_plan = |rng: &mut ChaCha8Rng| -> Result<Plan> {
        let prefs = draw(&pw, cfg.batch_size, rng)?;
        Ok(Plan::new(data, &[], &prefs, &zeros, device))
    };
    let fixed = if cfg.batch_size.is_none() {
        Some(make_plan(&mut ChaCha8Rng::seed_from_u64(cfg.seed))?)
    } else {
        None
    };
    let fp = data.fingerprint();
    optimise(
        vs,
        cfg,
        "BTL",
        0,
        &mut sink,
        &header,
        fp,
        probe,
        |_step, log, rng| {
            let owned;
            let p = match &fixed {
                Some(p) => p,
                None => {
                    owned = make_plan(rng)?;
                    &owned
                }
            };
            let r = loss::at_positions(&model.forward_t(&p.batch.tokens, true), &p.batch.last);
            let (rw, rl) = (r.index_select(0, &p.w_rows), r.index_select(0, &p.l_rows));
            let l = loss::btl(&rw, &rl, &p.p_w);
            let mut metrics = Map::new();
            if log {
                let acc = tch::no_grad(|| {
                    loss::weighted_mean(&(&rw - &rl).gt(0.0).to_kind(Kind::Float), &p.p_w)
                });
                metrics.insert("accuracy".into(), json!(acc.double_value(&[])));
            }
            Ok(StepOut { loss: l, metrics })
        },
    )
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

/// Samples `n` responses to `prompt` from `model` (no gradients), token by token, from the
/// softmax of the f32-upcast logits, with `rng`.
pub fn generate(
    model: &dyn ModuleT,
    prompt: &[i64],
    n: usize,
    max_new: usize,
    eos: Option<i64>,
    device: Device,
    rng: &mut impl Rng,
) -> Result<Vec<Vec<i64>>> {
    if prompt.is_empty() {
        return Err(AihfError::param(
            "prompt",
            "generation needs at least one prompt token",
        ));
    }
    let mut seqs: Vec<Vec<i64>> = vec![prompt.to_vec(); n];
    let mut done = vec![false; n];
    tch::no_grad(|| -> Result<()> {
        for _ in 0..max_new {
            if done.iter().all(|&d| d) {
                break;
            }
            let t = seqs[0].len();
            let flat: Vec<i64> = seqs.iter().flatten().copied().collect();
            let x = Tensor::from_slice(&flat)
                .view([n as i64, t as i64])
                .to_device(device);
            let logits = model
                .forward_t(&x, false)
                .select(1, t as i64 - 1)
                .to_kind(Kind::Float);
            let probs = logits
                .softmax(-1, Kind::Float)
                .to_kind(Kind::Double)
                .to_device(Device::Cpu);
            let v = probs.size()[1] as usize;
            let probs =
                Vec::<f64>::try_from(probs.view([-1])).map_err(terr("reading probabilities"))?;
            for (r, s) in seqs.iter_mut().enumerate() {
                if done[r] {
                    // Keep rows rectangular; the padding is dropped below.
                    s.push(eos.unwrap_or(0));
                    continue;
                }
                let row = &probs[r * v..(r + 1) * v];
                let u: f64 = rng.random::<f64>() * row.iter().sum::<f64>();
                let mut acc = 0.0;
                let mut tok = v - 1;
                for (k, p) in row.iter().enumerate() {
                    acc += p;
                    if u < acc {
                        tok = k;
                        break;
                    }
                }
                s.push(tok as i64);
                if Some(tok as i64) == eos {
                    done[r] = true;
                }
            }
        }
        Ok(())
    })?;
    Ok(seqs
        .into_iter()
        .map(|s| {
            let mut r = s[prompt.len()..].to_vec();
            if let Some(e) = eos {
                if let Some(p) = r.iter().position(|&t| t == e) {
                    r.truncate(p + 1);
                }
            }
            r
        })
        .collect())
}

/// SPIN and Self-Play AIHF (SPEC §1.5, §3). Iteration `t` freezes `π_t` (the current model),
/// generates `samples_per_prompt` responses per distinct demonstration prompt from it, and runs
/// `cfg.steps` optimiser steps (full batch) on
///
/// `−E_{y∼demo, y'∼π_t} log σ(β (h_t(y) − h_t(y')))  [+ λ · DPO on the preference pairs]`,
///
/// with `h_t = log π_φ − log π_t`: both terms use `π_t` as the reference (the self-play form of
/// (11)). Each demonstration is paired with every sample of its prompt, weight
/// `w_demo / samples_per_prompt` (repeated samples merged into counts).
pub fn train_self_play(
    model: &dyn ModuleT,
    vs: &nn::VarStore,
    data: &SeqData,
    sp: &SelfPlay,
    hyper: &Hyper,
    cfg: &TrainConfig,
) -> Result<Vec<TrainReport>> {
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
    let device = vs.device();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let name = if sp.with_preferences {
        "self-play-aihf"
    } else {
        "spin"
    };
    if cfg.checkpoint.is_some() {
        return Err(AihfError::param(
            "checkpoint",
            "SPIN and Self-Play AIHF runs cannot be checkpointed (each iteration regenerates \
             its pairs); run them without checkpoints",
        ));
    }
    let header = json!({"trainer": name, "self_play": sp, "hyper": hyper, "config": cfg});
    let mut sink = sink(cfg, header.clone())?;
    let mut reports = Vec::with_capacity(sp.iters);
    for it in 0..sp.iters {
        // 1. Generation from the frozen π_t.
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
            let ys = generate(
                model,
                p,
                sp.samples_per_prompt,
                sp.max_new_tokens,
                sp.eos,
                device,
                &mut rng,
            )?;
            let idx: Vec<usize> = ys.iter().map(|y| table.intern(p, y)).collect();
            by_prompt.insert(p.clone(), idx);
        }
        // Pairs (demo ≻ generated), weight w / k.
        // Duplicate samples are merged into counts (the same loss, fewer terms).
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
        // 2. π_t's log-probabilities, frozen for this iteration.
        let all: Vec<usize> = (0..table.seqs.len()).collect();
        let ref_lp = logprobs(model, &table, &all, device)?;
        let spin_w: Vec<f64> = pairs.iter().map(|p| if p.3 { p.2 } else { 0.0 }).collect();
        let pref_w: Vec<f64> = pairs.iter().map(|p| if p.3 { 0.0 } else { p.2 }).collect();
        let (spin_total, pref_total): (f64, f64) = (spin_w.iter().sum(), pref_w.iter().sum());
        let mut g = Gather::new();
        let w_rows: Vec<i64> = pairs.iter().map(|p| g.add(p.0)).collect();
        let l_rows: Vec<i64> = pairs.iter().map(|p| g.add(p.1)).collect();
        let rw = crate::neural::data::Batch::weights(
            &pairs.iter().map(|p| ref_lp[p.0]).collect::<Vec<_>>(),
            device,
        );
        let rl = crate::neural::data::Batch::weights(
            &pairs.iter().map(|p| ref_lp[p.1]).collect::<Vec<_>>(),
            device,
        );
        let (wi, li) = (index_tensor(&w_rows, device), index_tensor(&l_rows, device));
        let sw = crate::neural::data::Batch::weights(&spin_w, device);
        let pw = crate::neural::data::Batch::weights(&pref_w, device);
        let b = table.batch(&g.seqs, device);
        let label = format!("{name} {}/{}", it + 1, sp.iters);
        let r = optimise(
            vs,
            cfg,
            &label,
            it * cfg.steps,
            &mut sink,
            &header,
            0,
            None,
            |_step, log, _rng| {
                let lp =
                    loss::sequence_logprobs(&model.forward_t(&b.tokens, true), &b.tokens, &b.mask);
                let (lpw, lpl) = (lp.index_select(0, &wi), lp.index_select(0, &li));
                let spin = loss::dpo(&lpw, &lpl, &rw, &rl, hyper.beta, &sw);
                let mut metrics = Map::new();
                if log {
                    metrics.insert("iteration".into(), json!(it));
                    metrics.insert("spin_loss".into(), json!(spin.double_value(&[])));
                }
                let mut total = spin;
                if sp.with_preferences && pref_total > 0.0 && spin_total > 0.0 {
                    let pl = loss::dpo(&lpw, &lpl, &rw, &rl, hyper.beta, &pw);
                    if log {
                        metrics.insert("pref_loss".into(), json!(pl.double_value(&[])));
                    }
                    total += pl * hyper.lambda;
                }
                Ok(StepOut {
                    loss: total,
                    metrics,
                })
            },
        )?;
        reports.push(r);
    }
    Ok(reports)
}
