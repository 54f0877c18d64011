//! `aihf neural ...`: the neural layer (feature `neural`).

use aihf::neural::checkpoint::CheckpointConfig;
use aihf::neural::crossval::{self, CrossvalConfig, ModelKind};
use aihf::neural::data::{ByteTokenizer, ReadOptions};
use aihf::neural::groundtruth::{self, GroundTruthConfig, RewardHead};
use aihf::neural::model::{Arch, ModelSpec, TransformerConfig};
use aihf::neural::pipeline::{self, Recipe, TrainJob};
use aihf::neural::rl::{Baseline, PolicyStep, Reinforce};
use aihf::neural::task::TaskConfig;
use aihf::neural::train::{Hyper, Schedule, TrainConfig};
use aihf::neural::{self as neural, Dtype};
use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
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
    /// Vocabulary size V of the Markov task.
    #[arg(long, default_value_t = 8)]
    pub vocab: usize,
    /// Response length H.
    #[arg(long, default_value_t = 8)]
    pub horizon: usize,
    /// Non-zero bigram rewards per row of the task (its sparsity).
    #[arg(long, default_value_t = 2)]
    pub nnz_per_row: usize,
    /// Scale of the task's bigram rewards.
    #[arg(long, default_value_t = 1.0)]
    pub reward_scale: f64,
    /// KL temperature β > 0 of the alignment objective (π* ∝ π_ref e^{r*/β}).
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// Demonstrations drawn from π*.
    #[arg(long, default_value_t = 2000)]
    pub demos: usize,
    /// Preference pairs (π_ref responses labelled by BTL on r*).
    #[arg(long, default_value_t = 2000)]
    pub comparisons: usize,
    /// Transformer layers.
    #[arg(long, default_value_t = 2)]
    pub layers: i64,
    /// Attention heads per layer.
    #[arg(long, default_value_t = 2)]
    pub heads: i64,
    /// Model width (embedding size).
    #[arg(long, default_value_t = 64)]
    pub width: i64,
    /// The reward models' read-out: the sum of per-token heads, or the last token's head.
    #[arg(long, value_enum, default_value = "sum")]
    pub reward_head: RewardHead,
    /// Optimiser steps of every policy trainer (the same budget for all).
    #[arg(long, default_value_t = 600)]
    pub steps: usize,
    /// Policy learning rate (AdamW).
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Steps of the two-stage pipeline's reward model.
    #[arg(long, default_value_t = 600)]
    pub reward_steps: usize,
    /// The two-stage pipeline's reward-model learning rate.
    #[arg(long, default_value_t = 3e-3)]
    pub reward_lr: f64,
    /// AIHF's reward learning rate (two time scales: below the policy's).
    #[arg(long, default_value_t = 3e-4)]
    pub aihf_reward_lr: f64,
    /// Sequences per optimiser step.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Responses sampled per prompt by the sampling trainers (RLHF, AIHF).
    #[arg(long, default_value_t = 128)]
    pub samples_per_prompt: usize,
    /// AIHF's preference weight λ ≥ 0.
    #[arg(long, default_value_t = 1.0)]
    pub lambda: f64,
    /// Steps between evaluations against π*.
    #[arg(long, default_value_t = 50)]
    pub eval_every: usize,
    /// Samples per evaluation (Monte Carlo estimates with standard errors).
    #[arg(long, default_value_t = 512)]
    pub eval_samples: usize,
    /// Methods to run: sft, rlhf, dpo, aihf, aihf-online-dpo (default: sft, rlhf, dpo, aihf).
    #[arg(long)]
    pub method: Vec<Recipe>,
    /// Master seed (task, data, initialisation, sampling).
    /// Seed of the models and the random batch.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Floating-point type of the models (bf16 is CUDA only).
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: Dtype,
    /// libtorch intra-op threads (default: libtorch's).
    #[arg(long)]
    pub threads: Option<i32>,
    /// No progress bars.
    #[arg(long, alias = "no-progress")]
    pub quiet: bool,
    /// Accepted for older scripts: progress bars are now the default (see `--quiet`).
    #[arg(long, hide = true)]
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
    /// Run several master seeds, `A..B` (B excluded) or a comma list, and report the largest
    /// TV over them (overrides --seed).
    #[arg(long)]
    pub seeds: Option<String>,
    /// Models to run (default both).
    #[arg(long, value_enum)]
    pub model: Vec<ModelKind>,
    /// No progress bars.
    #[arg(long, alias = "no-progress")]
    pub quiet: bool,
    /// Accepted for older scripts: progress bars are now the default (see `--quiet`).
    #[arg(long, hide = true)]
    pub progress: bool,
}

#[derive(Args, Debug)]
pub struct GenTaskArgs {
    /// Folder for demos.jsonl, prefs.jsonl, counts.json, truth.json.
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Vocabulary size V.
    #[arg(long, default_value_t = 4)]
    pub vocab: usize,
    /// Response length H.
    #[arg(long, default_value_t = 3)]
    pub horizon: usize,
    /// KL temperature β > 0.
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// Scale of the random true reward.
    #[arg(long, default_value_t = 1.0)]
    pub reward_scale: f64,
    /// Scale of the random reference policy's logits (0: uniform).
    #[arg(long, default_value_t = 0.5)]
    pub ref_scale: f64,
    /// Demonstrations drawn from π*.
    #[arg(long, default_value_t = 2000)]
    pub demos: usize,
    /// Preference comparisons (reference pairs labelled by BTL on the true reward).
    #[arg(long, default_value_t = 3000)]
    pub comparisons: usize,
    /// Seed of the task and the data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ArchArg {
    Tabular,
    Transformer,
}

/// The network: architecture and token space (shared by `train`'s policy and reward models).
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Backbone: a free logit vector per prefix (enumerable tasks) or the GPT-style transformer.
    #[arg(long, value_enum, default_value = "transformer")]
    pub arch: ArchArg,
    /// Vocabulary size (258 = the byte tokenizer, needed for text records).
    #[arg(long, default_value_t = ByteTokenizer::VOCAB)]
    pub vocab: i64,
    /// Context length (prompt + response tokens).
    #[arg(long, default_value_t = 256)]
    pub context: i64,
    /// Transformer blocks.
    #[arg(long, default_value_t = 2)]
    pub layers: i64,
    /// Attention heads (divides --width).
    #[arg(long, default_value_t = 2)]
    pub heads: i64,
    /// Residual width.
    #[arg(long, default_value_t = 32)]
    pub width: i64,
    /// Dropout on attention and residual branches.
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// cpu, cuda or cuda:N (CUDA where none exists is an error).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Parameter precision (bf16 is CUDA only).
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: Dtype,
    /// libtorch intra-op CPU threads (default: libtorch's choice; 1 is fastest for tiny models
    /// on a busy machine).
    #[arg(long)]
    pub threads: Option<i32>,
}

impl ModelArgs {
    fn spec(&self) -> ModelSpec {
        ModelSpec {
            arch: match self.arch {
                ArchArg::Tabular => Arch::Tabular,
                ArchArg::Transformer => Arch::Transformer(TransformerConfig {
                    layers: self.layers,
                    heads: self.heads,
                    width: self.width,
                    dropout: self.dropout,
                }),
            },
            vocab: self.vocab,
            context: self.context,
        }
    }
}

/// Optimisation settings of a training run.
#[derive(Args, Debug, Clone)]
pub struct OptimArgs {
    /// Optimiser steps (per self-play iteration for SPIN and Self-Play AIHF).
    #[arg(long, default_value_t = 1000)]
    pub steps: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// AdamW's decoupled weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Global gradient-norm clip (0: none).
    #[arg(long, default_value_t = 1.0)]
    pub grad_clip: f64,
    /// Learning-rate shape after warm-up.
    #[arg(long, value_enum, default_value = "cosine")]
    pub schedule: Schedule,
    /// Linear warm-up steps.
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
    /// Records per step (default: full batch).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seed of initialisation, record sampling and generation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write a metrics line every this many steps (and at the last).
    #[arg(long, default_value_t = 50)]
    pub log_every: usize,
    /// Metrics JSONL.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, alias = "no-progress")]
    pub quiet: bool,
    /// Accepted for older scripts: the progress bar is now the default (see `--quiet`).
    #[arg(long, hide = true)]
    pub progress: bool,
}

/// Checkpoints of a training run.
#[derive(Args, Debug, Clone)]
pub struct CheckpointArgs {
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
}

impl OptimArgs {
    fn config(&self, checkpoint: Option<CheckpointConfig>) -> TrainConfig {
        TrainConfig {
            steps: self.steps,
            lr: self.lr,
            weight_decay: self.weight_decay,
            grad_clip: (self.grad_clip > 0.0).then_some(self.grad_clip),
            schedule: self.schedule,
            warmup: self.warmup,
            batch_size: self.batch_size,
            seed: self.seed,
            log_every: self.log_every,
            progress: !self.quiet,
            metrics: self.metrics.clone(),
            checkpoint,
            tag: serde_json::Value::Null,
        }
    }
}

impl CheckpointArgs {
    fn config(&self) -> anyhow::Result<Option<CheckpointConfig>> {
        if self.resume && self.checkpoint.is_none() {
            bail!("--resume needs --checkpoint FILE (the checkpoint to continue from)");
        }
        if self.stop_at.is_some() && self.checkpoint.is_none() {
            bail!("--stop-at needs --checkpoint FILE (where the run is saved to resume later)");
        }
        Ok(self.checkpoint.as_ref().map(|p| CheckpointConfig {
            path: p.clone(),
            every: self.checkpoint_every,
            resume: self.resume,
            stop_at: self.stop_at,
        }))
    }
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// sft, btl, dpo, ipo, direct-aihf, spin, self-play-aihf, rlhf (REINFORCE against a frozen
    /// --reward-model) or aihf (Algorithm 1); rlhf and aihf also as rlhf-online-dpo and
    /// aihf-online-dpo (the same as --policy-step online-dpo).
    #[arg(long)]
    pub method: Recipe,
    /// Demonstrations JSONL (`prompt`/`completion` or `prompt_ids`/`completion_ids`); `-`
    /// reads standard input.
    #[arg(long)]
    pub demos: Option<PathBuf>,
    /// Preferences JSONL (`prompt`/`chosen`/`rejected` or the `_ids` forms); `-` reads
    /// standard input.
    #[arg(long)]
    pub prefs: Option<PathBuf>,
    /// Truncate over-long records instead of failing.
    #[arg(long)]
    pub truncate: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub optim: OptimArgs,
    #[command(flatten)]
    pub checkpoints: CheckpointArgs,
    /// Save the trained weights (VarStore file).
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Start from these weights; they are also the DPO family's reference π_ref (default: the
    /// fresh initialisation).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Temperature β > 0 of DPO, the self-play trainers and the RL trainers.
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    /// IPO's τ.
    #[arg(long, default_value_t = 0.1)]
    pub ipo_tau: f64,
    /// Direct AIHF's SFT weight α.
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
    /// Preference weight λ of AIHF and Self-Play AIHF.
    #[arg(long, default_value_t = 1.0)]
    pub lambda: f64,
    /// Self-play iterations.
    #[arg(long, default_value_t = 3)]
    pub spin_iters: usize,
    /// Responses generated per prompt and step (RL) or iteration (self-play).
    #[arg(long, default_value_t = 8)]
    pub samples_per_prompt: usize,
    /// Longest generated response.
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Stop generation at this id (default: the byte tokenizer's EOS when vocab = 258, else
    /// fixed-length generation).
    #[arg(long)]
    pub eos: Option<i64>,
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

/// `A..B` (B excluded) or `a,b,c`.
fn run_crossval(a: CrossvalArgs) -> anyhow::Result<()> {
    let mut cfg = CrossvalConfig {
        seed: a.seed,
        ..CrossvalConfig::default()
    };
    if !a.model.is_empty() {
        cfg.models = a.model.clone();
    }
    cfg.tabular_train.progress = !a.quiet;
    cfg.transformer_train.progress = !a.quiet;
    if let Some(seeds) = &a.seeds {
        let rep = crossval::run_seeds(&cfg, &crossval::parse_seeds(seeds)?)?;
        let v = serde_json::to_value(&rep)?;
        if let Some(p) = &a.out {
            aihf::io::write_json(p, &v)?;
        }
        if a.json {
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            for r in &rep.reports {
                print!("{}", crossval::table(r));
            }
            print!("{}", crossval::seeds_table(&rep));
        }
        if !rep.all_pass {
            bail!("cross-validation failed: some TV is over its threshold");
        }
        return Ok(());
    }
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
        progress: !a.quiet,
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
    let w = aihf::neural::task::write_task(cfg, &a.out_dir)?;
    println!(
        "wrote {} ({} sequences, {} demonstrations, {} comparisons, seed {})",
        a.out_dir.display(),
        w.sequences,
        w.demos,
        w.comparisons,
        a.seed
    );
    Ok(())
}

fn set_threads(threads: Option<i32>) -> anyhow::Result<()> {
    if let Some(n) = threads {
        if n < 1 {
            bail!("--threads must be at least 1, got {n}");
        }
        tch::set_num_threads(n);
    }
    Ok(())
}

fn run_train(a: TrainArgs) -> anyhow::Result<()> {
    aihf::io::at_most_one_stdio(&[
        ("--demos", a.demos.as_deref()),
        ("--prefs", a.prefs.as_deref()),
    ])?;
    set_threads(a.model.threads)?;
    let o = &a.optim;
    let mut recipe = a.method;
    if a.policy_step == PolicyStep::OnlineDpo {
        recipe.policy_step = PolicyStep::OnlineDpo;
    }
    let job = TrainJob {
        recipe,
        demos: a.demos.clone(),
        prefs: a.prefs.clone(),
        read: ReadOptions {
            vocab: a.model.vocab,
            context: a.model.context,
            truncate: a.truncate,
        },
        spec: a.model.spec(),
        device: a.model.device.clone(),
        dtype: a.model.dtype,
        train: o.config(a.checkpoints.config()?),
        hyper: Hyper {
            beta: a.beta,
            ipo_tau: a.ipo_tau,
            alpha: a.alpha,
            lambda: a.lambda,
        },
        reinforce: reinforce(&a, recipe.policy_step),
        spin_iters: a.spin_iters,
        eos: a.eos,
        reward_lr: a.reward_lr,
        init: a.init.clone(),
        reward_model: a.reward_model.clone(),
        save: a.save.clone(),
        save_reward: a.save_reward.clone(),
        truth: a.truth.clone(),
        eval_samples: a.eval_samples,
    };
    let rep = pipeline::run_job(&job)?;
    let (d, p) = rep.truncated;
    if d + p > 0 {
        eprintln!(
            "warning: truncated {d} demonstration(s) and {p} preference(s) to the context of {} (--truncate)",
            a.model.context
        );
    }
    println!("{}", serde_json::to_string_pretty(&rep)?);
    Ok(())
}

/// RL's sampling settings from the flags (the pipeline fills in the EOS token and context).
fn reinforce(a: &TrainArgs, step: PolicyStep) -> Reinforce {
    Reinforce {
        samples_per_prompt: a.samples_per_prompt,
        max_new_tokens: a.max_new_tokens,
        eos: None,
        context: 0,
        baseline: match a.baseline {
            BaselineArg::Greedy => Baseline::Greedy,
            BaselineArg::Mean => Baseline::Mean,
        },
        step,
    }
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Sizes to start from; the flags below override single fields.
    #[arg(long, value_enum, default_value = "tiny")]
    pub preset: aihf::neural::bench::Preset,
    /// Transformer layers (overrides the preset).
    #[arg(long)]
    pub layers: Option<i64>,
    /// Attention heads per layer (overrides the preset).
    #[arg(long)]
    pub heads: Option<i64>,
    /// Model width (overrides the preset).
    #[arg(long)]
    pub width: Option<i64>,
    /// Dropout probability in [0, 1) (overrides the preset).
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Vocabulary size (overrides the preset).
    #[arg(long)]
    pub vocab: Option<i64>,
    /// Context length (overrides the preset).
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
    /// Seed of the models and the random batch.
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
