//! `aihf neural ...`: the neural layer (feature `neural`).

use aihf::neural::crossval::{self, CrossvalConfig, ModelKind};
use aihf::neural::data::{self, ByteTokenizer, ReadOptions, SeqData};
use aihf::neural::model::{self, Arch, ModelSpec, TransformerConfig};
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
}

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
}

pub fn run(c: NeuralCommand) -> anyhow::Result<()> {
    match c {
        NeuralCommand::Crossval(a) => run_crossval(a),
        NeuralCommand::GenTask(a) => run_gen_task(a),
        NeuralCommand::Train(a) => run_train(*a),
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
    };
    let hyper = Hyper {
        beta: a.beta,
        ipo_tau: a.ipo_tau,
        alpha: a.alpha,
        lambda: a.lambda,
    };
    hyper.validate()?;
    cfg.validate()?;
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
    if let Some(p) = &a.init {
        vs.load(p)
            .with_context(|| format!("loading initial weights {}", p.display()))?;
    }
    let summary = match a.method {
        TrainMethod::Btl => {
            serde_json::to_value(train::train_reward(net.as_ref(), &vs, &table, &cfg)?)?
        }
        TrainMethod::Spin | TrainMethod::SelfPlayAihf => {
            let eos = a
                .eos
                .or((a.vocab == ByteTokenizer::VOCAB).then_some(ByteTokenizer::EOS));
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
        m => {
            let objective = match m {
                TrainMethod::Sft => Objective::Sft,
                TrainMethod::Dpo => Objective::Dpo,
                TrainMethod::Ipo => Objective::Ipo,
                _ => Objective::DirectAihf,
            };
            let all: Vec<usize> = (0..table.seqs.len()).collect();
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
            )?)?
        }
    };
    if let Some(p) = &a.save {
        vs.save(p)
            .with_context(|| format!("saving weights to {}", p.display()))?;
    }
    println!(
        "{}",
        serde_json::to_string_pretty(
            &json!({"method": format!("{:?}", a.method), "model": spec, "seed": a.seed, "report": summary})
        )?
    );
    Ok(())
}
