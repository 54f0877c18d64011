//! `aihf neural ...`: the neural layer (feature `neural`).

use aihf::neural::checkpoint::CheckpointConfig;
use aihf::neural::crossval::{self, CrossvalConfig, ModelKind};
use aihf::neural::data::{self, ByteTokenizer, ReadOptions, SeqData};
use aihf::neural::groundtruth::{self, GroundTruthConfig, GtMethod, MarkovSpec, RewardHead};
use aihf::neural::model::{self, Arch, ModelSpec, TransformerConfig};
use aihf::neural::rl::{self, Baseline, Reinforce};
use aihf::neural::task::{EnumTask, TaskConfig};
use aihf::neural::train::{self, Hyper, Objective, Schedule, SelfPlay, TrainConfig};
use aihf::neural::{self as neural, Dtype};
use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum NeuralCommand {
    /// Train SFT, BTL, DPO, IPO and Direct AIHF on an enumerable task with the tabular model and
    /// the transformer, and compare each with the exact layer in total variation.
    Crossval(CrossvalArgs),
    /// Write the enumerable task of SPEC §3.1: demonstrations and preferences as JSONL (token
    /// ids), the same data as exact-layer counts, and the exact ground truth.
    GenTask(GenTaskArgs),
    /// Train a policy or reward model on JSONL data.
    Train(Box<TrainArgs>),
    /// Time one training step of SFT, DPO and one AIHF iteration (and the generation of its
    /// samples) on a transformer: seconds, tokens/s, model FLOPs, TFLOP/s, MFU.
    Bench(BenchArgs),
    /// Ground truth at scale (SPEC §3.1): SFT, BTL→RLHF, DPO and AIHF on the Markov task, each
    /// measured along training against the exact π* (KL(π‖π*), true reward, KL to π_ref); writes
    /// report.json and the reward–KL path figure.
    GroundTruth(Box<GroundTruthArgs>),
    /// Write a Markov task (SPEC §3.1) and exact data from it: task.json (for `train --truth`),
    /// demos.jsonl (responses of π*), prefs.jsonl (π_ref pairs labelled by BTL on r*).
    GenMarkov(GenMarkovArgs),
}

#[derive(Args, Debug)]
pub struct GroundTruthArgs {
    /// Folder for report.json and the figures.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 8)]
    pub vocab: usize,
    /// Response length H.
    #[arg(long, default_value_t = 8)]
    pub horizon: usize,
    #[arg(long, default_value_t = 2)]
    pub nnz_per_row: usize,
    #[arg(long, default_value_t = 1.0)]
    pub reward_scale: f64,
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    #[arg(long, default_value_t = 2000)]
    pub demos: usize,
    #[arg(long, default_value_t = 2000)]
    pub comparisons: usize,
    #[arg(long, default_value_t = 2)]
    pub layers: i64,
    #[arg(long, default_value_t = 2)]
    pub heads: i64,
    #[arg(long, default_value_t = 64)]
    pub width: i64,
    /// The reward models' read-out: the sum of per-token heads, or the last token's head.
    #[arg(long, value_enum, default_value = "sum")]
    pub reward_head: RewardHead,
    /// Optimiser steps of every policy trainer (the same budget for all).
    #[arg(long, default_value_t = 600)]
    pub steps: usize,
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Steps of the two-stage pipeline's reward model.
    #[arg(long, default_value_t = 600)]
    pub reward_steps: usize,
    #[arg(long, default_value_t = 3e-3)]
    pub reward_lr: f64,
    /// AIHF's reward learning rate (two time scales: below the policy's).
    #[arg(long, default_value_t = 3e-4)]
    pub aihf_reward_lr: f64,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 128)]
    pub samples_per_prompt: usize,
    #[arg(long, default_value_t = 1.0)]
    pub lambda: f64,
    #[arg(long, default_value_t = 50)]
    pub eval_every: usize,
    #[arg(long, default_value_t = 512)]
    pub eval_samples: usize,
    /// Methods to run (default: sft, rlhf, dpo, aihf).
    #[arg(long, value_enum)]
    pub method: Vec<GtMethod>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: Dtype,
    #[arg(long)]
    pub threads: Option<i32>,
    #[arg(long)]
    pub progress: bool,
}

/// `gen-markov` is `truth gen` (default build): one library function writes both.
pub type GenMarkovArgs = super::truth::GenArgs;

#[derive(Args, Debug)]
pub struct CrossvalArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Master seed (task, data, initialisation).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Models to run (default both).
    #[arg(long, value_enum)]
    pub model: Vec<ModelKind>,
    /// Progress bars.
    #[arg(long)]
    pub progress: bool,
}

#[derive(Args, Debug)]
pub struct GenTaskArgs {
    /// Folder for demos.jsonl, prefs.jsonl, counts.json, truth.json.
    #[arg(long)]
    pub out_dir: PathBuf,
    #[arg(long, default_value_t = 4)]
    pub vocab: usize,
    #[arg(long, default_value_t = 3)]
    pub horizon: usize,
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    #[arg(long, default_value_t = 1.0)]
    pub reward_scale: f64,
    #[arg(long, default_value_t = 0.5)]
    pub ref_scale: f64,
    #[arg(long, default_value_t = 2000)]
    pub demos: usize,
    #[arg(long, default_value_t = 3000)]
    pub comparisons: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// What `train` trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TrainMethod {
    Sft,
    Btl,
    Dpo,
    Ipo,
    DirectAihf,
    Spin,
    SelfPlayAihf,
    /// REINFORCE (ReMax baseline) against a frozen reward model (`--reward-model`).
    Rlhf,
    /// Algorithm 1: alternating policy (REINFORCE) and reward steps.
    Aihf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ArchArg {
    Tabular,
    Transformer,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[arg(long, value_enum)]
    pub method: TrainMethod,
    /// Demonstrations JSONL (`prompt`/`completion` or `prompt_ids`/`completion_ids`).
    #[arg(long)]
    pub demos: Option<PathBuf>,
    /// Preferences JSONL (`prompt`/`chosen`/`rejected` or the `_ids` forms).
    #[arg(long)]
    pub prefs: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "transformer")]
    pub arch: ArchArg,
    /// Vocabulary size (258 = the byte tokenizer, needed for text records).
    #[arg(long, default_value_t = ByteTokenizer::VOCAB)]
    pub vocab: i64,
    /// Context length (prompt + response tokens).
    #[arg(long, default_value_t = 256)]
    pub context: i64,
    /// Truncate over-long records instead of failing.
    #[arg(long)]
    pub truncate: bool,
    #[arg(long, default_value_t = 2)]
    pub layers: i64,
    #[arg(long, default_value_t = 2)]
    pub heads: i64,
    #[arg(long, default_value_t = 32)]
    pub width: i64,
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// cpu, cuda or cuda:N (CUDA where none exists is an error).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: Dtype,
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Global gradient-norm clip (0: none).
    #[arg(long, default_value_t = 1.0)]
    pub grad_clip: f64,
    #[arg(long, value_enum, default_value = "cosine")]
    pub schedule: Schedule,
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
    /// Records per step (default: full batch).
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 50)]
    pub log_every: usize,
    /// Metrics JSONL.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Save the trained weights (VarStore file).
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Start from these weights; they are also the DPO family's reference π_ref (default: the
    /// fresh initialisation).
    #[arg(long)]
    pub init: Option<PathBuf>,
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    #[arg(long, default_value_t = 0.1)]
    pub ipo_tau: f64,
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
    #[arg(long, default_value_t = 1.0)]
    pub lambda: f64,
    /// Self-play iterations.
    #[arg(long, default_value_t = 3)]
    pub spin_iters: usize,
    #[arg(long, default_value_t = 8)]
    pub samples_per_prompt: usize,
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Stop generation at this id (default: the byte tokenizer's EOS when vocab = 258, else
    /// fixed-length generation).
    #[arg(long)]
    pub eos: Option<i64>,
    #[arg(long)]
    pub progress: bool,
    /// libtorch intra-op CPU threads (default: libtorch's choice; 1 is fastest for tiny models
    /// on a busy machine).
    #[arg(long)]
    pub threads: Option<i32>,
    /// RLHF: the frozen reward model's weights (from `--method btl --save`; same architecture
    /// flags). AIHF: the reward model's starting weights (default: a fresh initialisation).
    #[arg(long)]
    pub reward_model: Option<PathBuf>,
    /// Save the AIHF reward model's trained weights here.
    #[arg(long)]
    pub save_reward: Option<PathBuf>,
    /// AIHF: the reward model's learning rate (default: --lr).
    #[arg(long)]
    pub reward_lr: Option<f64>,
    /// REINFORCE baseline of RLHF and AIHF.
    #[arg(long, value_enum, default_value = "greedy")]
    pub baseline: BaselineArg,
    /// The policy step of RLHF and AIHF: REINFORCE, or online DPO on each prompt's best and
    /// worst sample under the current reward (the paper's A.1.4).
    #[arg(long, value_enum, default_value = "reinforce")]
    pub policy_step: aihf::neural::rl::PolicyStep,
    /// Checkpoint file (safetensors; written atomically). With --resume, continue from it.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Write the checkpoint every this many steps (and at the end).
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: usize,
    /// Continue the run from --checkpoint (refused if the checkpoint is from another
    /// configuration; on CPU the result equals the uninterrupted run's).
    #[arg(long)]
    pub resume: bool,
    /// Stop with a checkpoint after this many steps in total (a time-limited job resumes later
    /// with --resume).
    #[arg(long)]
    pub stop_at: Option<usize>,
    /// A Markov task (task.json from `gen-markov`): at every logged step, sample the policy and
    /// log KL(π‖π*) from exact log-probabilities, the true reward and KL(π‖π_ref), with standard
    /// errors. Without --init the policy starts exactly at the task's uniform reference.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Responses drawn per --truth evaluation.
    #[arg(long, default_value_t = 256)]
    pub eval_samples: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BaselineArg {
    /// ReMax: the greedy response's KL-regularised reward.
    Greedy,
    /// The mean KL-regularised reward of the prompt's samples.
    Mean,
}

pub fn run(c: NeuralCommand) -> anyhow::Result<()> {
    match c {
        NeuralCommand::Crossval(a) => run_crossval(a),
        NeuralCommand::GenTask(a) => run_gen_task(a),
        NeuralCommand::Train(a) => run_train(*a),
        NeuralCommand::GroundTruth(a) => run_ground_truth(*a),
        NeuralCommand::GenMarkov(a) => run_gen_markov(a),
        NeuralCommand::Bench(a) => run_bench(a),
    }
}

fn run_crossval(a: CrossvalArgs) -> anyhow::Result<()> {
    let mut cfg = CrossvalConfig {
        seed: a.seed,
        ..CrossvalConfig::default()
    };
    if !a.model.is_empty() {
        cfg.models = a.model.clone();
    }
    cfg.tabular_train.progress = a.progress;
    cfg.transformer_train.progress = a.progress;
    let rep = crossval::run(&cfg)?;
    let v = serde_json::to_value(&rep)?;
    if let Some(p) = &a.out {
        aihf::io::write_json(p, &v)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", crossval::table(&rep));
    }
    if !rep.all_pass {
        bail!("cross-validation failed: some TV is over its threshold");
    }
    Ok(())
}

fn run_ground_truth(a: GroundTruthArgs) -> anyhow::Result<()> {
    if let Some(n) = a.threads {
        if n < 1 {
            bail!("--threads must be at least 1, got {n}");
        }
        tch::set_num_threads(n);
    }
    let d = GroundTruthConfig::default();
    let cfg = GroundTruthConfig {
        vocab: a.vocab,
        horizon: a.horizon,
        nnz_per_row: a.nnz_per_row,
        reward_scale: a.reward_scale,
        beta: a.beta,
        demos: a.demos,
        comparisons: a.comparisons,
        transformer: TransformerConfig {
            layers: a.layers,
            heads: a.heads,
            width: a.width,
            dropout: 0.0,
        },
        reward_head: a.reward_head,
        steps: a.steps,
        lr: a.lr,
        reward_steps: a.reward_steps,
        reward_lr: a.reward_lr,
        aihf_reward_lr: a.aihf_reward_lr,
        batch_size: a.batch_size,
        samples_per_prompt: a.samples_per_prompt,
        lambda: a.lambda,
        eval_every: a.eval_every,
        eval_samples: a.eval_samples,
        methods: if a.method.is_empty() {
            d.methods
        } else {
            a.method.clone()
        },
        seed: a.seed,
        device: a.device.clone(),
        dtype: a.dtype,
        progress: a.progress,
    };
    let rep = groundtruth::run(&cfg)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    aihf::io::write_json(&a.out.join("report.json"), &rep)?;
    let figs = groundtruth::figures(&rep, &a.out)?;
    print!("{}", groundtruth::table(&rep));
    println!(
        "wrote {} and {} figure files ({:.1} s)",
        a.out.join("report.json").display(),
        figs.len(),
        rep.seconds
    );
    Ok(())
}

fn run_gen_markov(a: GenMarkovArgs) -> anyhow::Result<()> {
    super::truth::run_gen(&a)
}

fn run_gen_task(a: GenTaskArgs) -> anyhow::Result<()> {
    let cfg = TaskConfig {
        vocab: a.vocab,
        horizon: a.horizon,
        beta: a.beta,
        reward_scale: a.reward_scale,
        ref_scale: a.ref_scale,
        n_demos: a.demos,
        n_comparisons: a.comparisons,
        seed: a.seed,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);
    let task = EnumTask::new(cfg, &mut rng)?;
    let (demos, prefs) = task.sample(&mut rng);
    let mut counts = task.to_bandit(&demos, &prefs)?;
    counts.meta = json!({"source": "aihf neural gen-task", "seed": a.seed,
                         "actions": "sequence k = base-|V| digits of k, most significant first"});
    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("creating {}", a.out_dir.display()))?;
    let d = &a.out_dir;
    aihf::io::write_atomic(
        &d.join("demos.jsonl"),
        data::demos_to_jsonl(&demos).as_bytes(),
    )?;
    aihf::io::write_atomic(
        &d.join("prefs.jsonl"),
        data::prefs_to_jsonl(&prefs).as_bytes(),
    )?;
    aihf::io::write_json(&d.join("counts.json"), &counts.to_value())?;
    let sequences: Vec<Vec<i64>> = (0..task.len()).map(|k| task.response(k)).collect();
    aihf::io::write_json(
        &d.join("truth.json"),
        &json!({"seed": a.seed, "config": task.config, "prompt_ids": task.prompt,
                "sequences": sequences, "reward": task.reward, "log_ref": task.log_ref,
                "pi_star": task.pi_star,
                "note": "π*(y) ∝ π_ref(y) exp(r*(y)/β) (SPEC (42)); counts.json is the same data for `aihf bandit`"}),
    )?;
    println!(
        "wrote {} ({} sequences, {} demonstrations, {} comparisons, seed {})",
        d.display(),
        task.len(),
        demos.len(),
        prefs.len(),
        a.seed
    );
    Ok(())
}

fn run_train(a: TrainArgs) -> anyhow::Result<()> {
    let device = neural::device(&a.device)?;
    if let Some(n) = a.threads {
        if n < 1 {
            bail!("--threads must be at least 1, got {n}");
        }
        tch::set_num_threads(n);
    }
    let kind = a.dtype.kind(device)?;
    let ro = ReadOptions {
        vocab: a.vocab,
        context: a.context,
        truncate: a.truncate,
    };
    let demos = match &a.demos {
        Some(p) => data::read_demos(p, &ro)?,
        None => data::Read {
            records: vec![],
            truncated: 0,
        },
    };
    let prefs = match &a.prefs {
        Some(p) => data::read_prefs(p, &ro)?,
        None => data::Read {
            records: vec![],
            truncated: 0,
        },
    };
    if demos.truncated + prefs.truncated > 0 {
        eprintln!(
            "warning: truncated {} demonstration(s) and {} preference(s) to the context of {} (--truncate)",
            demos.truncated, prefs.truncated, a.context
        );
    }
    let table = SeqData::from_records(&demos.records, &prefs.records);
    let spec = ModelSpec {
        arch: match a.arch {
            ArchArg::Tabular => Arch::Tabular,
            ArchArg::Transformer => Arch::Transformer(TransformerConfig {
                layers: a.layers,
                heads: a.heads,
                width: a.width,
                dropout: a.dropout,
            }),
        },
        vocab: a.vocab,
        context: a.context,
    };
    if a.resume && a.checkpoint.is_none() {
        bail!("--resume needs --checkpoint FILE (the checkpoint to continue from)");
    }
    if a.stop_at.is_some() && a.checkpoint.is_none() {
        bail!("--stop-at needs --checkpoint FILE (where the run is saved to resume later)");
    }
    let cfg = TrainConfig {
        steps: a.steps,
        lr: a.lr,
        weight_decay: a.weight_decay,
        grad_clip: (a.grad_clip > 0.0).then_some(a.grad_clip),
        schedule: a.schedule,
        warmup: a.warmup,
        batch_size: a.batch_size,
        seed: a.seed,
        log_every: a.log_every,
        progress: a.progress,
        metrics: a.metrics.clone(),
        checkpoint: a.checkpoint.as_ref().map(|p| CheckpointConfig {
            path: p.clone(),
            every: a.checkpoint_every,
            resume: a.resume,
            stop_at: a.stop_at,
        }),
        tag: json!({
            "model": spec,
            "reward_model_fnv1a": a.reward_model.as_ref().map(|p| file_fingerprint(p)).transpose()?,
            "truth_fnv1a": a.truth.as_ref().map(|p| file_fingerprint(p)).transpose()?,
            "eval_samples": a.truth.as_ref().map(|_| a.eval_samples),
        }),
    };
    let hyper = Hyper {
        beta: a.beta,
        ipo_tau: a.ipo_tau,
        alpha: a.alpha,
        lambda: a.lambda,
    };
    hyper.validate()?;
    cfg.validate()?;
    // A Markov task's responses have a fixed length H: no end-of-sequence token.
    let eos = if a.truth.is_some() {
        None
    } else {
        a.eos
            .or((a.vocab == ByteTokenizer::VOCAB).then_some(ByteTokenizer::EOS))
    };
    neural::manual_seed(a.seed);
    let mut vs = tch::nn::VarStore::new(device);
    let net = if a.method == TrainMethod::Btl {
        model::reward(&vs.root(), &spec)?
    } else {
        model::policy(&vs.root(), &spec)?
    };
    aihf::neural::model::init_weights(&vs, a.seed)?;
    if kind == tch::Kind::BFloat16 {
        vs.bfloat16();
    }
    let truth = match &a.truth {
        None => None,
        Some(p) => {
            if matches!(
                a.method,
                TrainMethod::Btl | TrainMethod::Spin | TrainMethod::SelfPlayAihf
            ) {
                bail!("--truth evaluates a policy along training: not for --method btl, spin or self-play-aihf");
            }
            if a.eval_samples < 2 {
                bail!("--eval-samples must be at least 2, got {}", a.eval_samples);
            }
            let spec: MarkovSpec = aihf::io::read_json(p)?;
            let task = spec
                .task()
                .with_context(|| format!("Markov task {}", p.display()))?;
            if task.vocab() as i64 != a.vocab || a.context < task.horizon() as i64 + 1 {
                bail!(
                    "the task has V = {}, H = {}: needs --vocab {} and --context >= {}",
                    task.vocab(),
                    task.horizon(),
                    task.vocab(),
                    task.horizon() + 1
                );
            }
            if a.init.is_none() {
                model::zero_head(&vs);
            }
            Some(task)
        }
    };
    if let Some(p) = &a.init {
        vs.load(p)
            .with_context(|| format!("loading initial weights {}", p.display()))?;
    }
    let mut probe_fn =
        |step: usize| -> aihf::error::Result<serde_json::Map<String, serde_json::Value>> {
            match &truth {
                Some(task) => Ok(groundtruth::evaluate(
                    net.as_ref(),
                    task,
                    a.eval_samples,
                    a.seed,
                    step + 1,
                    device,
                )?
                .metrics()),
                None => Ok(Default::default()),
            }
        };
    let mut probe: Option<train::Probe> = truth.is_some().then_some(&mut probe_fn);
    let all: Vec<usize> = (0..table.seqs.len()).collect();
    let mut saved_reward = None;
    let summary = match a.method {
        TrainMethod::Btl => {
            serde_json::to_value(train::train_reward(net.as_ref(), &vs, &table, &cfg, None)?)?
        }
        TrainMethod::Spin | TrainMethod::SelfPlayAihf => {
            let sp = SelfPlay {
                iters: a.spin_iters,
                samples_per_prompt: a.samples_per_prompt,
                max_new_tokens: a.max_new_tokens,
                eos,
                with_preferences: a.method == TrainMethod::SelfPlayAihf,
                context: a.context.max(0) as usize,
            };
            serde_json::to_value(train::train_self_play(
                net.as_ref(),
                &vs,
                &table,
                &sp,
                &hyper,
                &cfg,
            )?)?
        }
        TrainMethod::Rlhf | TrainMethod::Aihf => {
            // π_ref: the starting policy, frozen (a copy of its weights).
            let mut ref_vs = tch::nn::VarStore::new(device);
            let ref_net = model::policy(&ref_vs.root(), &spec)?;
            if kind == tch::Kind::BFloat16 {
                ref_vs.bfloat16();
            }
            ref_vs.copy(&vs).context("copying the reference policy")?;
            ref_vs.freeze();
            let reference =
                |t: &SeqData, idx: &[usize]| train::logprobs(ref_net.as_ref(), t, idx, device);
            let mut rvs = tch::nn::VarStore::new(device);
            let rnet = model::reward(&rvs.root(), &spec)?;
            aihf::neural::model::init_weights(&rvs, a.seed.wrapping_add(1))?;
            if kind == tch::Kind::BFloat16 {
                rvs.bfloat16();
            }
            if let Some(p) = &a.reward_model {
                rvs.load(p)
                    .with_context(|| format!("loading reward model {}", p.display()))?;
            }
            let rl = Reinforce {
                samples_per_prompt: a.samples_per_prompt,
                max_new_tokens: a.max_new_tokens,
                eos,
                context: a.context.max(0) as usize,
                baseline: match a.baseline {
                    BaselineArg::Greedy => Baseline::Greedy,
                    BaselineArg::Mean => Baseline::Mean,
                },
                step: a.policy_step,
            };
            if a.method == TrainMethod::Rlhf {
                if a.reward_model.is_none() {
                    bail!("--method rlhf needs --reward-model FILE (train one with --method btl --save FILE)");
                }
                rvs.freeze();
                let score =
                    |t: &SeqData, idx: &[usize]| train::rewards(rnet.as_ref(), t, idx, device);
                let prompts = prompts_of(&table);
                serde_json::to_value(rl::train_rlhf(
                    net.as_ref(),
                    &vs,
                    &prompts,
                    &score,
                    &reference,
                    &rl,
                    &hyper,
                    &cfg,
                    probe.take(),
                )?)?
            } else {
                let rcfg = TrainConfig {
                    lr: a.reward_lr.unwrap_or(a.lr),
                    metrics: None,
                    checkpoint: None,
                    ..cfg.clone()
                };
                let rep = rl::train_aihf(
                    net.as_ref(),
                    &vs,
                    rnet.as_ref(),
                    &rvs,
                    &table,
                    &reference,
                    &rl,
                    &hyper,
                    &cfg,
                    &rcfg,
                    probe.take(),
                )?;
                saved_reward = Some(rvs);
                serde_json::to_value(rep)?
            }
        }
        m => {
            let objective = match m {
                TrainMethod::Sft => Objective::Sft,
                TrainMethod::Dpo => Objective::Dpo,
                TrainMethod::Ipo => Objective::Ipo,
                _ => Objective::DirectAihf,
            };
            // π_ref = the starting model, frozen: its log-probabilities, once.
            let ref_lp = (objective != Objective::Sft)
                .then(|| train::logprobs(net.as_ref(), &table, &all, device))
                .transpose()?;
            serde_json::to_value(train::train_policy(
                net.as_ref(),
                &vs,
                &table,
                objective,
                ref_lp.as_deref(),
                &hyper,
                &cfg,
                probe.take(),
            )?)?
        }
    };
    if let Some(p) = &a.save {
        vs.save(p)
            .with_context(|| format!("saving weights to {}", p.display()))?;
    }
    match (&a.save_reward, &saved_reward) {
        (Some(p), Some(rvs)) => rvs
            .save(p)
            .with_context(|| format!("saving reward weights to {}", p.display()))?,
        (Some(_), None) => bail!("--save-reward is for --method aihf"),
        _ => {}
    }
    println!(
        "{}",
        serde_json::to_string_pretty(
            &json!({"method": format!("{:?}", a.method), "model": spec, "seed": a.seed, "report": summary})
        )?
    );
    Ok(())
}

/// FNV-1a of a file's bytes (for checkpoint identities).
fn file_fingerprint(p: &std::path::Path) -> anyhow::Result<String> {
    use aihf::neural::checkpoint::{fnv1a, FNV_OFFSET};
    let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
    Ok(format!("{:016x}", fnv1a(&bytes, FNV_OFFSET)))
}

/// The distinct prompts of a data set (demonstrations and preferences), each weighted by the
/// records that use it.
fn prompts_of(t: &SeqData) -> Vec<(Vec<i64>, f64)> {
    let mut w: std::collections::BTreeMap<Vec<i64>, f64> = Default::default();
    for &(d, c) in &t.demos {
        *w.entry(t.seqs[d].prompt.clone()).or_default() += c;
    }
    for &(a, _, c) in &t.prefs {
        *w.entry(t.seqs[a].prompt.clone()).or_default() += c;
    }
    w.into_iter().collect()
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Sizes to start from; the flags below override single fields.
    #[arg(long, value_enum, default_value = "tiny")]
    pub preset: aihf::neural::bench::Preset,
    #[arg(long)]
    pub layers: Option<i64>,
    #[arg(long)]
    pub heads: Option<i64>,
    #[arg(long)]
    pub width: Option<i64>,
    #[arg(long)]
    pub dropout: Option<f64>,
    #[arg(long)]
    pub vocab: Option<i64>,
    #[arg(long)]
    pub context: Option<i64>,
    /// B: sequences (SFT, AIHF samples and demonstrations) and pairs (DPO) per step.
    #[arg(long)]
    pub batch: Option<usize>,
    /// T, tokens per sequence (default: the context).
    #[arg(long)]
    pub seq_len: Option<i64>,
    /// P, prompt tokens per sequence (default: T/2).
    #[arg(long)]
    pub prompt_len: Option<i64>,
    /// Untimed steps before the timed ones.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Timed steps (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Skip timing the generation of the AIHF samples.
    #[arg(long)]
    pub no_generation: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// bf16 is CUDA only.
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    pub dtype: Dtype,
    /// Peak dense TFLOP/s of the device in this dtype, for MFU (absent: MFU is not reported).
    #[arg(long)]
    pub peak_tflops: Option<f64>,
    /// libtorch intra-op threads (default: libtorch's choice).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

fn run_bench(a: BenchArgs) -> anyhow::Result<()> {
    use aihf::neural::bench;
    let mut cfg = bench::BenchConfig::preset(a.preset);
    if let Arch::Transformer(c) = &mut cfg.spec.arch {
        c.layers = a.layers.unwrap_or(c.layers);
        c.heads = a.heads.unwrap_or(c.heads);
        c.width = a.width.unwrap_or(c.width);
        c.dropout = a.dropout.unwrap_or(c.dropout);
    }
    cfg.spec.vocab = a.vocab.unwrap_or(cfg.spec.vocab);
    cfg.spec.context = a.context.unwrap_or(cfg.spec.context);
    cfg.batch = a.batch.unwrap_or(cfg.batch);
    cfg.seq_len = a.seq_len.unwrap_or(cfg.spec.context);
    cfg.prompt_len = a.prompt_len.unwrap_or(cfg.seq_len / 2);
    cfg.warmup = a.warmup;
    cfg.steps = a.steps;
    cfg.generation = !a.no_generation;
    cfg.seed = a.seed;
    cfg.dtype = a.dtype;
    cfg.peak_tflops = a.peak_tflops;
    // Every size is checked before a device or a model is touched.
    cfg.validate()?;
    let device = neural::device(&a.device)?;
    a.dtype.kind(device)?;
    if let Some(n) = a.threads {
        if n < 1 {
            bail!("--threads must be at least 1, got {n}");
        }
        tch::set_num_threads(n);
    }
    let rep = bench::run(&cfg, device)?;
    if let Some(p) = &a.out {
        aihf::io::write_json(p, &rep)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        print!("{}", bench::table(&rep));
    }
    Ok(())
}
