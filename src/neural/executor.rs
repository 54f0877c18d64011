//! The one training loop of the neural layer, modelled on argmin's `Solver` + `Executor`.
//!
//! A [`Trainer`] says what it optimises — its parameter [`Group`]s (a name, a `VarStore`, the
//! optimiser's settings) — and how to take one iteration ([`Trainer::step`]): it builds each
//! group's loss and hands it to [`StepCtx::update`]. The [`Executor`] owns everything else, once
//! for every trainer:
//!
//! - AdamW per group ([`AdamW`]), the learning-rate schedule, gradient clipping;
//! - the stop on a non-finite loss, gradient or parameter, with the step number and the last
//!   good checkpoint;
//! - checkpoints: the run's identity ([`identity`]), resume ([`maybe_resume`]), atomic writes;
//! - the sampler's generator (ChaCha8, seeded from the configuration, saved in checkpoints) and
//!   libtorch's generator reseeded from the step (dropout masks are a function of the step);
//! - metrics lines ([`MetricsSink`]), the probe, the progress bar.
//!
//! A trainer may run in *phases* ([`Trainer::phases`]; SPIN and Self-Play AIHF regenerate their
//! pairs from the frozen current policy at the start of each): every phase restarts the
//! optimisers and the schedule and runs `cfg.steps` steps, numbered on from the previous phase.
//! Multi-phase runs cannot be checkpointed.
//!
//! Metric keys: with one group, `loss`, `lr` and `grad_norm`; with several, `{group}_loss`,
//! `{group}_lr` and `{group}_grad_norm` (AIHF: `policy_…`, `reward_…`). Every line also has
//! `step` and `elapsed_s`, then the trainer's metrics and the probe's.

use crate::error::{AihfError, Result};
use crate::neural::checkpoint::{self, CheckpointConfig};
use crate::neural::loss;
use crate::neural::optim::AdamW;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::PathBuf;
use tch::nn;
use tch::Tensor;

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
    /// Optimiser steps (per phase for the self-play trainers).
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

    /// Whether step `k` (0-based, within a phase) writes a metrics line.
    pub fn logs(&self, k: usize) -> bool {
        k.is_multiple_of(self.log_every) || k + 1 == self.steps
    }
}

/// One optimised model of a trainer.
pub struct Group<'a> {
    /// Checkpoint key prefix and metric prefix (`policy`, `reward`).
    pub name: &'static str,
    /// The model's variables (the trainable ones are optimised).
    pub vs: &'a nn::VarStore,
    /// Peak learning rate. The first group's is the run's `cfg.lr`; every other group follows the
    /// run's schedule shape scaled to its own peak (`lr · cfg.lr_at(k) / cfg.lr`).
    pub lr: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Global gradient-norm clip of this group (None: none).
    pub grad_clip: Option<f64>,
}

impl<'a> Group<'a> {
    /// A group with the run's own optimisation settings.
    pub fn from_config(name: &'static str, vs: &'a nn::VarStore, cfg: &TrainConfig) -> Self {
        Group {
            name,
            vs,
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            grad_clip: cfg.grad_clip,
        }
    }
}

/// An iterative training method: its models and one iteration. Run by [`Executor`].
pub trait Trainer {
    /// Progress-bar label.
    fn label(&self) -> String;
    /// The run's description: the metrics file's header, and (without its volatile fields) the
    /// core of the checkpoint identity. It must cover every setting that changes what is computed.
    fn header(&self) -> Value;
    /// A fingerprint of the data (and of anything fixed the trainer computes from, such as a
    /// reference's log-probabilities): part of the checkpoint identity.
    fn data_fingerprint(&self) -> u64;
    /// The optimised models, in a fixed order (the order of [`StepCtx::update`]'s `group`).
    fn groups(&self) -> Vec<Group<'_>>;
    /// Phases of `cfg.steps` steps each (1 unless the trainer regenerates its data).
    fn phases(&self) -> usize {
        1
    }
    /// Called before the first step of every phase, with the run's generator.
    fn begin_phase(&mut self, _phase: usize, _rng: &mut ChaCha8Rng) -> Result<()> {
        Ok(())
    }
    /// One iteration: build each group's loss and pass it to [`StepCtx::update`] (every group
    /// exactly once). Returns the step's extra metrics (only used when `ctx.log` is true).
    fn step(&mut self, ctx: &mut StepCtx<'_>) -> Result<Map<String, Value>>;
}

/// What a trainer's step sees: the step number, whether it logs, the run's generator, and the
/// optimisers behind [`StepCtx::update`].
pub struct StepCtx<'a> {
    /// The global step number (phases numbered on).
    pub step: usize,
    /// Whether this step writes a metrics line (compute the metrics only then).
    pub log: bool,
    /// The run's generator: record sampling and generation draw from it (it is checkpointed).
    pub rng: &'a mut ChaCha8Rng,
    opts: &'a mut [AdamW],
    names: &'a [&'static str],
    lrs: &'a [f64],
    clips: &'a [Option<f64>],
    /// `(loss, gradient norm)` per group, once updated.
    done: Vec<Option<(f64, f64)>>,
}

impl StepCtx<'_> {
    /// The learning rate of `group` at this step.
    pub fn lr(&self, group: usize) -> f64 {
        self.lrs[group]
    }

    /// Checks `loss` is finite, back-propagates it and applies one clipped AdamW update to
    /// `group`; returns the loss value. A non-finite loss, gradient norm or updated parameter is
    /// an error naming the step (and the group, when there are several).
    pub fn update(&mut self, group: usize, loss: &Tensor) -> Result<f64> {
        let name = self.names[group];
        let prefix = |e: AihfError| match (self.names.len() > 1, e) {
            (true, AihfError::Neural(m)) => AihfError::Neural(format!("{name}: {m}")),
            (_, e) => e,
        };
        if self.done[group].is_some() {
            return Err(AihfError::Numerical(format!(
                "the trainer updated group `{name}` twice at step {}",
                self.step
            )));
        }
        let l = loss::finite_value(loss, self.step).map_err(prefix)?;
        let opt = &mut self.opts[group];
        opt.zero_grad();
        loss.backward();
        let gn =
            apply_update(opt, self.lrs[group], self.clips[group], self.step, l).map_err(prefix)?;
        self.done[group] = Some((l, gn));
        Ok(l)
    }
}

/// Clips (if asked), checks and applies one AdamW update; returns the gradient norm.
fn apply_update(opt: &mut AdamW, lr: f64, clip: Option<f64>, step: usize, l: f64) -> Result<f64> {
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

/// Evaluates the model along training: called at every logged step, after that step's update,
/// with the step number; what it returns is added to the step's metrics line. It must not
/// change the model, and a probe that samples should seed its own generator from the step, so a
/// resumed run logs what the uninterrupted run logged.
pub type Probe<'a> = &'a mut dyn FnMut(usize) -> Result<Map<String, Value>>;

/// One group's last loss and gradient norm.
#[derive(Clone, Debug, Serialize)]
pub struct GroupFinal {
    /// The group's name ([`Group::name`]).
    pub name: String,
    /// The group's loss at its last update (NaN if it never updated).
    pub loss: f64,
    /// The group's global gradient norm at its last update, before clipping (NaN if none).
    pub grad_norm: f64,
}

/// What one phase of a run did.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseReport {
    /// The phase's last step count (`cfg.end_step()`).
    pub steps: usize,
    /// Per group, in [`Trainer::groups`] order.
    pub groups: Vec<GroupFinal>,
    /// The last metrics line.
    pub last: Map<String, Value>,
    /// Wall-clock time of the steps run in this process (after a resume, only those), seconds.
    pub seconds: f64,
    /// The run's seed ([`TrainConfig::seed`]).
    pub seed: u64,
}

/// Runs a [`Trainer`] under a [`TrainConfig`] (see the module docs).
pub struct Executor<'a, 'p, T: Trainer> {
    trainer: T,
    cfg: &'a TrainConfig,
    probe: Option<Probe<'p>>,
    sink: Option<&'a mut Option<MetricsSink>>,
    offset: usize,
}

impl<'a, 'p, T: Trainer> Executor<'a, 'p, T> {
    /// An executor of `trainer` with the run's settings `cfg`.
    pub fn new(trainer: T, cfg: &'a TrainConfig) -> Self {
        Executor {
            trainer,
            cfg,
            probe: None,
            sink: None,
            offset: 0,
        }
    }

    /// Evaluates the model at every logged step ([`Probe`]).
    pub fn probe(mut self, probe: Option<Probe<'p>>) -> Self {
        self.probe = probe;
        self
    }

    /// Writes metrics to this sink instead of opening `cfg.metrics` (a caller that logs several
    /// runs to one file).
    pub fn sink(mut self, sink: &'a mut Option<MetricsSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Numbers steps from `offset` (refused with checkpoints).
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// The trainer (after a run: its final state).
    pub fn trainer(&self) -> &T {
        &self.trainer
    }

    /// Runs every phase; returns one report per phase, and the trainer.
    pub fn run(mut self) -> Result<(Vec<PhaseReport>, T)> {
        let cfg = self.cfg;
        cfg.validate()?;
        let header = self.trainer.header();
        let phases = self.trainer.phases();
        if cfg.checkpoint.is_some() && (phases > 1 || self.offset != 0) {
            return Err(AihfError::param(
                "checkpoint",
                format!(
                    "{} runs cannot be checkpointed (each of its {phases} phases regenerates its \
                     data and restarts the optimiser); run without checkpoints",
                    self.trainer.label()
                ),
            ));
        }
        let mut own_sink;
        let sink: &mut Option<MetricsSink> = match self.sink.take() {
            Some(s) => s,
            None => {
                own_sink = open_sink(cfg, header.clone())?;
                &mut own_sink
            }
        };
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut reports = Vec::with_capacity(phases);
        for phase in 0..phases {
            self.trainer.begin_phase(phase, &mut rng)?;
            let r = self.run_phase(phase, &header, &mut rng, sink)?;
            reports.push(r);
        }
        Ok((reports, self.trainer))
    }

    fn run_phase(
        &mut self,
        phase: usize,
        header: &Value,
        rng: &mut ChaCha8Rng,
        sink: &mut Option<MetricsSink>,
    ) -> Result<PhaseReport> {
        let cfg = self.cfg;
        let step0 = self.offset + phase * cfg.steps;
        let groups = self.trainer.groups();
        let names: Vec<&'static str> = groups.iter().map(|g| g.name).collect();
        let clips: Vec<Option<f64>> = groups.iter().map(|g| g.grad_clip).collect();
        let peaks: Vec<f64> = groups.iter().map(|g| g.lr).collect();
        let mut opts = groups
            .iter()
            .map(|g| AdamW::new(g.vs, g.weight_decay))
            .collect::<Result<Vec<_>>>()?;
        drop(groups);
        let id = {
            let pairs: Vec<(&str, &AdamW)> = names.iter().copied().zip(opts.iter()).collect();
            identity(cfg, header, &pairs, self.trainer.data_fingerprint())?
        };
        let start = {
            let mut pairs: Vec<(&str, &mut AdamW)> =
                names.iter().copied().zip(opts.iter_mut()).collect();
            maybe_resume(cfg, &id, rng, &mut pairs)?
        };
        if let Some(m) = sink.as_mut() {
            m.resume_from(start);
        }
        let mut last_good = (start > 0).then_some(start);
        let end = cfg.end_step();
        let label = if self.trainer.phases() > 1 {
            format!(
                "{} {}/{}",
                self.trainer.label(),
                phase + 1,
                self.trainer.phases()
            )
        } else {
            self.trainer.label()
        };
        let bar = progress_bar(cfg, &label);
        bar.set_position(start as u64);
        let t0 = std::time::Instant::now();
        let mut finals: Vec<GroupFinal> = names
            .iter()
            .map(|n| GroupFinal {
                name: (*n).to_string(),
                loss: f64::NAN,
                grad_norm: f64::NAN,
            })
            .collect();
        let mut last = Map::new();
        let res = (|| -> Result<()> {
            for k in start..end {
                let step = step0 + k;
                let base_lr = cfg.lr_at(k);
                let lrs: Vec<f64> = peaks
                    .iter()
                    .enumerate()
                    .map(|(g, &p)| {
                        if g == 0 {
                            base_lr
                        } else {
                            p * base_lr / cfg.lr
                        }
                    })
                    .collect();
                seed_step(cfg.seed, step);
                let log = cfg.logs(k);
                let mut ctx = StepCtx {
                    step,
                    log,
                    rng: &mut *rng,
                    opts: &mut opts,
                    names: &names,
                    lrs: &lrs,
                    clips: &clips,
                    done: vec![None; names.len()],
                };
                let extra = self.trainer.step(&mut ctx)?;
                let done = std::mem::take(&mut ctx.done);
                drop(ctx);
                for (g, d) in done.iter().enumerate() {
                    let (l, gn) = d.ok_or_else(|| {
                        AihfError::Numerical(format!(
                            "the trainer did not update group `{}` at step {step}",
                            names[g]
                        ))
                    })?;
                    finals[g].loss = l;
                    finals[g].grad_norm = gn;
                }
                if log {
                    let mut m = Map::new();
                    m.insert("step".into(), json!(step));
                    if names.len() == 1 {
                        m.insert("loss".into(), json!(finals[0].loss));
                        m.insert("lr".into(), json!(lrs[0]));
                        m.insert("grad_norm".into(), json!(finals[0].grad_norm));
                    } else {
                        for (g, f) in finals.iter().enumerate() {
                            m.insert(format!("{}_loss", f.name), json!(f.loss));
                            m.insert(format!("{}_lr", f.name), json!(lrs[g]));
                            m.insert(format!("{}_grad_norm", f.name), json!(f.grad_norm));
                        }
                    }
                    m.insert("elapsed_s".into(), json!(t0.elapsed().as_secs_f64()));
                    m.extend(extra);
                    if let Some(p) = self.probe.as_mut() {
                        m.extend(p(step)?);
                    }
                    if let Some(s) = sink.as_mut() {
                        s.write(&Value::Object(m.clone()))?;
                    }
                    bar.set_message(if finals.len() == 1 {
                        format!("loss {:.4}", finals[0].loss)
                    } else {
                        finals
                            .iter()
                            .map(|f| format!("{} {:.4}", f.name, f.loss))
                            .collect::<Vec<_>>()
                            .join(" ")
                    });
                    last = m;
                }
                if let Some(ck) = &cfg.checkpoint {
                    if ck.due(k + 1, cfg.steps) {
                        let pairs: Vec<(&str, &AdamW)> =
                            names.iter().copied().zip(opts.iter()).collect();
                        checkpoint::save(&ck.path, &id, k + 1, rng, &pairs)?;
                        last_good = Some(k + 1);
                    }
                }
                bar.inc(1);
            }
            Ok(())
        })();
        bar.finish_and_clear();
        res.map_err(|e| with_checkpoint_note(e, cfg, last_good))?;
        Ok(PhaseReport {
            steps: end,
            groups: finals,
            last,
            seconds: t0.elapsed().as_secs_f64(),
            seed: cfg.seed,
        })
    }
}

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
pub fn maybe_resume(
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

/// Adds the last good checkpoint to a training error.
fn with_checkpoint_note(e: AihfError, cfg: &TrainConfig, last_good: Option<usize>) -> AihfError {
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
fn seed_step(seed: u64, step: usize) {
    let mut h = checkpoint::fnv1a(&seed.to_le_bytes(), checkpoint::FNV_OFFSET);
    h = checkpoint::fnv1a(&(step as u64).to_le_bytes(), h);
    crate::neural::manual_seed(h);
}

fn progress_bar(cfg: &TrainConfig, label: &str) -> indicatif::ProgressBar {
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
pub fn open_sink(cfg: &TrainConfig, header: Value) -> Result<Option<MetricsSink>> {
    let append = cfg.checkpoint.as_ref().is_some_and(|c| c.resume);
    cfg.metrics
        .as_ref()
        .map(|p| MetricsSink::open(p, header, append))
        .transpose()
}
