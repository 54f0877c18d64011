//! Speed of one training step of SFT, DPO and one AIHF iteration (SPEC §3; the paper's
//! Algorithm 1) on the GPT-style transformer ([`crate::neural::model::transformer`]): seconds, tokens/s, model
//! FLOPs, achieved TFLOP/s and model FLOPs utilisation (MFU).
//!
//! **Steps.** Every step is forward + backward + one [`AdamW`] update, on random token ids drawn
//! from the seed; `B` rows of `T` tokens, the first `P` the prompt, the rest the response (the
//! losses' masks mark the response).
//! - `sft`: `B` sequences through the policy, [`loss::sft`].
//! - `dpo`: `B` pairs, the `2B` sequences concatenated into one policy forward (TRL's
//!   `concatenated_forward`), plus a no-grad forward of a frozen reference on the same `2B`
//!   sequences (TRL's default when reference log-probabilities are not precomputed);
//!   `dpo-precomputed-ref` takes them from a table instead.
//! - `aihf`: one iteration of Algorithm 1 on samples that are given (like DPO's data):
//!   (i) the REINFORCE policy step on `B` samples, `−Σ_i c_i log π_φ(y_i)` with
//!   `c_i = (R_i − mean R)/B`, `R_i = r_θ(y_i) − β(log π_φ(y_i) − log π_ref(y_i))` (the rewards
//!   and reference log-probabilities from no-grad forwards; the mean baseline, [`crate::neural::
//!   rl::Baseline::Mean`], because ReMax's greedy baseline is one more generation); (ii) the
//!   reward step on `B` demonstrations, the `B` samples and the `B` preference pairs of the DPO
//!   step, `−(1/β)(mean r_θ(demo) − mean r_θ(sample)) + λ · BTL`, the `4B` sequences in one
//!   forward. The coefficients stay on the device (the trainer in [`crate::neural::rl`] reads
//!   them back to the host, one synchronisation more).
//! - `generation`: the `B` responses of `T − P` tokens that (i) needs, by
//!   [`crate::neural::generate::generate`] (`B` samples of one prompt per call, as the trainer draws
//!   `samples_per_prompt` per prompt). There is no KV cache: the token at length `t` costs a
//!   forward of all `t` positions, and each token's probabilities are copied to the host to
//!   sample.
//!
//! **FLOPs** (PaLM, Appendix B; Chinchilla's `C ≈ 6ND`): a pass of `D` tokens of sequences of
//! length `T` costs `D (2N + 4·L·d·T)` forward and three times that with the backward, where
//! `L` is the layer count, `d` the width and `N` the parameters that take part in a matmul per
//! token: every parameter except the token and position embedding tables (lookups, no FLOPs).
//! Our transformer's output head is its own `d × V` matrix (GPT-2 ties it to the token
//! embedding, whose FLOPs nanoGPT's MFU counts through the tie); it is in `N`. Kaplan et al.'s
//! "non-embedding" count (the blocks and the final layer norm, ~85M for GPT-2 small) is reported
//! separately as `blocks`. The attention term counts the full `T × T` score matrix, as PaLM does,
//! though the causal mask needs half of it. MFU is achieved FLOP/s over the peak given by the
//! caller (nothing is guessed).

use crate::error::{AihfError, Result};
use crate::neural::model::{Arch, ModelSpec, TransformerConfig};
use crate::neural::optim::AdamW;
use crate::neural::pipeline::{Model, Role as NetRole};
use crate::neural::{loss, terr, Dtype};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use tch::nn;
use tch::{Device, Kind, Tensor};

/// Learning rate of every update: small, so that timed steps on random data stay finite.
pub const LR: f64 = 1e-5;
/// AdamW weight decay (Hugging Face `TrainingArguments`' default).
pub const WEIGHT_DECAY: f64 = 0.0;
/// β of DPO and of AIHF's KL regularisation (TRL's DPO default).
pub const BETA: f64 = 0.1;
/// λ, the weight of the preference term of the AIHF reward step.
pub const LAMBDA: f64 = 1.0;

/// Named sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Preset {
    /// GPT-2 small: 12 layers, 12 heads, width 768, vocab 50257; context 512 (GPT-2's is 1024),
    /// batch 8.
    #[serde(rename = "gpt2-small")]
    #[value(name = "gpt2-small")]
    Gpt2Small,
    /// The cross-validation transformer (2 layers, 2 heads, width 32) with vocab 64, context 32,
    /// batch 4.
    #[serde(rename = "tiny")]
    #[value(name = "tiny")]
    Tiny,
}

impl Preset {
    /// The model of the preset (dropout 0).
    pub fn spec(self) -> ModelSpec {
        let (layers, heads, width, vocab, context) = match self {
            Preset::Gpt2Small => (12, 12, 768, 50257, 512),
            Preset::Tiny => (2, 2, 32, 64, 32),
        };
        ModelSpec {
            arch: Arch::Transformer(TransformerConfig {
                layers,
                heads,
                width,
                dropout: 0.0,
            }),
            vocab,
            context,
        }
    }

    /// The preset's batch `B` (sequences for SFT, pairs for DPO).
    pub fn batch(self) -> usize {
        match self {
            Preset::Gpt2Small => 8,
            Preset::Tiny => 4,
        }
    }
}

/// What to measure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// The preset the sizes came from, if any (a record; `spec` and `batch` are what run).
    pub preset: Option<Preset>,
    /// A transformer.
    pub spec: ModelSpec,
    /// `B`.
    pub batch: usize,
    /// `T`, tokens per sequence (at most the context).
    pub seq_len: i64,
    /// `P`, prompt tokens per sequence (`1 ≤ P < T`).
    pub prompt_len: i64,
    /// Untimed steps before the timed ones.
    pub warmup: usize,
    /// Timed steps; the median is reported.
    pub steps: usize,
    /// Also time the generation of the `B` responses.
    pub generation: bool,
    /// Seed of the random batch and of the initialisation.
    pub seed: u64,
    /// Parameter precision.
    pub dtype: Dtype,
    /// Peak dense TFLOP/s of the device in `dtype`, for MFU (none: MFU is not reported).
    pub peak_tflops: Option<f64>,
}

impl BenchConfig {
    /// The preset's sizes, `T` = context, `P = T/2`, 2 warm-up and 5 timed steps, generation on,
    /// seed 0, f32, no peak.
    pub fn preset(p: Preset) -> Self {
        let spec = p.spec();
        let t = spec.context;
        BenchConfig {
            preset: Some(p),
            spec,
            batch: p.batch(),
            seq_len: t,
            prompt_len: t / 2,
            warmup: 2,
            steps: 5,
            generation: true,
            seed: 0,
            dtype: Dtype::F32,
            peak_tflops: None,
        }
    }

    /// The transformer's sizes.
    pub fn transformer(&self) -> Result<TransformerConfig> {
        match self.spec.arch {
            Arch::Transformer(c) => Ok(c),
            Arch::Tabular => Err(AihfError::param(
                "arch",
                "the benchmark is for the transformer (the tabular model is for enumerable tasks)",
            )),
        }
    }

    /// Checks every size.
    pub fn validate(&self) -> Result<()> {
        self.spec.validate()?;
        self.transformer()?;
        if self.batch == 0 {
            return Err(AihfError::param("batch", "must be >= 1, got 0"));
        }
        if self.steps == 0 {
            return Err(AihfError::param("steps", "must be >= 1 timed step, got 0"));
        }
        if self.seq_len < 2 || self.seq_len > self.spec.context {
            return Err(AihfError::param(
                "seq_len",
                format!(
                    "T must be in 2..={} (the context), got {}",
                    self.spec.context, self.seq_len
                ),
            ));
        }
        if self.prompt_len < 1 || self.prompt_len >= self.seq_len {
            return Err(AihfError::param(
                "prompt_len",
                format!(
                    "P must satisfy 1 <= P < T = {} (at least one prompt and one response \
                     token), got {}",
                    self.seq_len, self.prompt_len
                ),
            ));
        }
        if let Some(p) = self.peak_tflops {
            crate::error::check_positive("peak_tflops", p)?;
        }
        Ok(())
    }
}

/// Parameters of one model by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamCount {
    /// All parameters: `embedding + head + blocks`.
    pub total: i64,
    /// Token and position embedding tables.
    pub embedding: i64,
    /// The output head (untied: its own `d × out` matrix and bias).
    pub head: i64,
    /// Blocks and final layer norm: Kaplan et al.'s non-embedding count.
    pub blocks: i64,
    /// `N` of the FLOPs formula: `total − embedding` (blocks + head).
    pub flops: i64,
}

/// Counts the parameters of a transformer built at the root of `vs` by name (`tok.*`, `pos.*`
/// embeddings, `head.*` the output layer, the rest blocks).
pub fn param_count(vs: &nn::VarStore) -> ParamCount {
    let (mut embedding, mut head, mut blocks) = (0, 0, 0);
    for (name, t) in vs.variables() {
        let n = t.numel() as i64;
        if name.starts_with("tok.") || name.starts_with("pos.") {
            embedding += n;
        } else if name.starts_with("head.") {
            head += n;
        } else {
            blocks += n;
        }
    }
    ParamCount {
        total: embedding + head + blocks,
        embedding,
        head,
        blocks,
        flops: head + blocks,
    }
}

/// Which model a pass runs through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The trained policy `π_φ`.
    Policy,
    /// The frozen reference `π_ref` (same shape as the policy).
    Reference,
    /// The reward model `r_θ` (a scalar head).
    Reward,
}

/// One forward (and, with `grad`, backward) of `sequences × seq_len` tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pass {
    /// The model run.
    pub model: Role,
    /// With gradients and a backward (3× the forward FLOPs), or a no-grad forward.
    pub grad: bool,
    /// Number of sequences in the pass.
    pub sequences: i64,
    /// Tokens per sequence `T`.
    pub seq_len: i64,
}

impl Pass {
    /// Tokens through the model: `sequences · seq_len`.
    pub fn tokens(&self) -> i64 {
        self.sequences * self.seq_len
    }

    /// PaLM's model FLOPs: `tokens · (2N + 4·L·d·T)`, times 3 with the backward.
    pub fn flops(&self, n: i64, layers: i64, width: i64) -> f64 {
        let per_token = 2.0 * n as f64 + 4.0 * (layers * width * self.seq_len) as f64;
        let fwd = self.tokens() as f64 * per_token;
        if self.grad {
            3.0 * fwd
        } else {
            fwd
        }
    }
}

/// Timings of one kind of step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// `sft`, `dpo`, `dpo-precomputed-ref`, `aihf`, `generation`.
    pub name: String,
    /// Median seconds per step.
    pub seconds: f64,
    /// Fastest timed step, seconds.
    pub seconds_min: f64,
    /// Slowest timed step, seconds.
    pub seconds_max: f64,
    /// Every timed step, in order.
    pub times: Vec<f64>,
    /// Tokens that went through a forward with gradients (and its backward).
    pub tokens_grad: i64,
    /// Tokens that went through no-grad forwards.
    pub tokens_forward_only: i64,
    /// `tokens_grad / seconds` (none for generation).
    pub tokens_per_s: Option<f64>,
    /// Generated tokens per second (generation only).
    pub generated_tokens_per_s: Option<f64>,
    /// Model FLOPs per step (sum over `passes`).
    pub flops: f64,
    /// `flops / seconds / 1e12`.
    pub tflops_per_s: f64,
    /// `tflops_per_s / peak`, when the peak is given.
    pub mfu: Option<f64>,
    /// The passes whose FLOPs are counted.
    pub passes: Vec<Pass>,
    /// The losses of the last timed step (AIHF: policy, reward).
    pub losses: Vec<f64>,
}

/// AIHF against DPO on the same batch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ratios {
    /// AIHF iteration (no generation) over the DPO step with the reference forward.
    pub aihf_over_dpo: f64,
    /// AIHF iteration over the DPO step with precomputed reference log-probabilities.
    pub aihf_over_dpo_precomputed_ref: f64,
    /// The same ratio of model FLOPs.
    pub aihf_flops_over_dpo_flops: f64,
    /// Time per model FLOP, AIHF over DPO (`aihf_over_dpo / aihf_flops_over_dpo_flops`): 1
    /// when an AIHF iteration runs its FLOPs as fast as a DPO step (issue 15's target: ≤ 1.1).
    pub aihf_per_flop_over_dpo: f64,
    /// AIHF iteration plus generation over the DPO step with the reference forward.
    pub aihf_with_generation_over_dpo: Option<f64>,
}

/// Everything one run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The configuration run.
    pub config: BenchConfig,
    /// The device, as tch names it in lower case (`cpu`, `cuda(0)`).
    pub device: String,
    /// libtorch's intra-op threads.
    pub threads: i32,
    /// Transformer blocks `L`.
    pub layers: i64,
    /// Model width `d`.
    pub width: i64,
    /// Parameters of the policy (and of the reference, its copy).
    pub params_policy: ParamCount,
    /// Parameters of the reward model.
    pub params_reward: ParamCount,
    /// One report per timed step kind (`sft`, `dpo`, ..., `generation`).
    pub steps: Vec<StepReport>,
    /// AIHF's cost relative to DPO's.
    pub ratios: Ratios,
}

impl BenchReport {
    /// The step called `name`.
    pub fn step(&self, name: &str) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.name == name)
    }
}

/// The fixed random batch.
struct Data {
    /// `[B, T]` SFT sequences.
    sft: Tensor,
    /// `[2B, T]`: chosen rows `0..B`, rejected `B..2B`.
    pairs: Tensor,
    /// `log π_ref` of `pairs`, `[2B]`.
    ref_lp: Tensor,
    /// `[B, T]` policy samples.
    samples: Tensor,
    /// `[4B, T]`: demonstrations, samples, chosen, rejected (the reward step's one forward).
    reward_rows: Tensor,
    mask_b: Tensor,
    mask_2b: Tensor,
    last_b: Tensor,
    last_4b: Tensor,
    /// `[B]` of ones.
    w_b: Tensor,
    /// The prompt generation continues.
    prompt: Vec<i64>,
}

/// The models, optimisers and data of a benchmark; each `*_step` is one timed unit.
pub struct Bench {
    b: i64,
    t: i64,
    p: i64,
    device: Device,
    policy: Model,
    reference: Model,
    reward: Model,
    popt: AdamW,
    ropt: AdamW,
    data: Data,
    rng: ChaCha8Rng,
}

fn tokens(rng: &mut impl Rng, rows: i64, t: i64, vocab: i64, device: Device) -> Tensor {
    let v: Vec<i64> = (0..rows * t).map(|_| rng.random_range(0..vocab)).collect();
    Tensor::from_slice(&v).view([rows, t]).to_device(device)
}

fn response_mask(rows: i64, t: i64, p: i64, device: Device) -> Tensor {
    let m: Vec<f32> = (0..rows * t)
        .map(|i| if i % t >= p { 1.0 } else { 0.0 })
        .collect();
    Tensor::from_slice(&m).view([rows, t]).to_device(device)
}

fn backward(l: &Tensor) -> Result<()> {
    l.f_backward().map_err(terr("backward"))
}

impl Bench {
    /// Builds the policy, a frozen copy as reference, the reward model (libtorch seeded from
    /// `cfg.seed`), their optimisers and the random batch.
    pub fn new(cfg: &BenchConfig, device: Device) -> Result<Self> {
        cfg.validate()?;
        // The pipeline's builders: the policy, its frozen copy as the reference, the reward model.
        let policy = cfg
            .spec
            .build(NetRole::Policy, device, cfg.dtype, cfg.seed)?;
        let reference = policy.frozen_copy()?;
        let reward =
            cfg.spec
                .build(NetRole::Reward, device, cfg.dtype, cfg.seed.wrapping_add(1))?;
        let popt = AdamW::new(&policy.vs, WEIGHT_DECAY)?;
        let ropt = AdamW::new(&reward.vs, WEIGHT_DECAY)?;

        let (b, t, p, v) = (
            cfg.batch as i64,
            cfg.seq_len,
            cfg.prompt_len,
            cfg.spec.vocab,
        );
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let sft = tokens(&mut rng, b, t, v, device);
        let pairs = tokens(&mut rng, 2 * b, t, v, device);
        let samples = tokens(&mut rng, b, t, v, device);
        let demos = tokens(&mut rng, b, t, v, device);
        let prompt: Vec<i64> = (0..p).map(|_| rng.random_range(0..v)).collect();
        let mask_2b = response_mask(2 * b, t, p, device);
        let ref_lp = tch::no_grad(|| {
            loss::sequence_logprobs(&reference.net().forward_t(&pairs, false), &pairs, &mask_2b)
        });
        let reward_rows = Tensor::cat(&[&demos, &samples, &pairs], 0);
        let data = Data {
            sft,
            pairs,
            ref_lp,
            samples,
            reward_rows,
            mask_b: response_mask(b, t, p, device),
            mask_2b,
            last_b: Tensor::full([b], t - 1, (Kind::Int64, device)),
            last_4b: Tensor::full([4 * b], t - 1, (Kind::Int64, device)),
            w_b: Tensor::ones([b], (Kind::Float, device)),
            prompt,
        };
        Ok(Bench {
            b,
            t,
            p,
            device,
            policy,
            reference,
            reward,
            popt,
            ropt,
            data,
            rng,
        })
    }

    /// Parameters of the policy (the reference has the same) and of the reward model.
    pub fn params(&self) -> (ParamCount, ParamCount) {
        (param_count(&self.policy.vs), param_count(&self.reward.vs))
    }

    /// One SFT step; returns the loss.
    pub fn sft_step(&mut self) -> Result<Vec<Tensor>> {
        let d = &self.data;
        self.popt.zero_grad();
        let lp = loss::sequence_logprobs(
            &self.policy.net().forward_t(&d.sft, true),
            &d.sft,
            &d.mask_b,
        );
        let l = loss::sft(&lp, &d.w_b);
        backward(&l)?;
        self.popt.step(LR)?;
        Ok(vec![l.detach()])
    }

    /// One DPO step, the reference log-probabilities from a no-grad forward of the frozen
    /// reference (`with_reference`) or from the precomputed table; returns the loss.
    pub fn dpo_step(&mut self, with_reference: bool) -> Result<Vec<Tensor>> {
        let (d, b) = (&self.data, self.b);
        self.popt.zero_grad();
        let lp = loss::sequence_logprobs(
            &self.policy.net().forward_t(&d.pairs, true),
            &d.pairs,
            &d.mask_2b,
        );
        let ref_lp = if with_reference {
            tch::no_grad(|| {
                loss::sequence_logprobs(
                    &self.reference.net().forward_t(&d.pairs, false),
                    &d.pairs,
                    &d.mask_2b,
                )
            })
        } else {
            d.ref_lp.shallow_clone()
        };
        let l = loss::dpo(
            &lp.narrow(0, 0, b),
            &lp.narrow(0, b, b),
            &ref_lp.narrow(0, 0, b),
            &ref_lp.narrow(0, b, b),
            BETA,
            &d.w_b,
        );
        backward(&l)?;
        self.popt.step(LR)?;
        Ok(vec![l.detach()])
    }

    /// One AIHF iteration on the given samples: the policy step, then the reward step; returns
    /// both losses.
    pub fn aihf_step(&mut self) -> Result<Vec<Tensor>> {
        let (d, b) = (&self.data, self.b);
        // (i) Policy step: rewards and reference log-probabilities without gradients.
        let (r, ref_lp) = tch::no_grad(|| {
            (
                loss::at_positions(&self.reward.net().forward_t(&d.samples, false), &d.last_b),
                loss::sequence_logprobs(
                    &self.reference.net().forward_t(&d.samples, false),
                    &d.samples,
                    &d.mask_b,
                ),
            )
        });
        self.popt.zero_grad();
        let lp = loss::sequence_logprobs(
            &self.policy.net().forward_t(&d.samples, true),
            &d.samples,
            &d.mask_b,
        );
        let big_r = r - (lp.detach() - ref_lp) * BETA;
        let coef = (&big_r - big_r.mean(Kind::Float)) / b as f64;
        let pl = (lp * coef).sum(Kind::Float).neg();
        backward(&pl)?;
        self.popt.step(LR)?;
        // (ii) Reward step on demonstrations, samples and preference pairs, one forward.
        self.ropt.zero_grad();
        let rall = loss::at_positions(
            &self.reward.net().forward_t(&d.reward_rows, true),
            &d.last_4b,
        );
        let (rd, rg) = (rall.narrow(0, 0, b), rall.narrow(0, b, b));
        let (rw, rl) = (rall.narrow(0, 2 * b, b), rall.narrow(0, 3 * b, b));
        let demo_term = (rd.mean(Kind::Float) - rg.mean(Kind::Float)) / BETA;
        let rloss = demo_term.neg() + loss::btl(&rw, &rl, &d.w_b) * LAMBDA;
        backward(&rloss)?;
        self.ropt.step(LR)?;
        Ok(vec![pl.detach(), rloss.detach()])
    }

    /// Generates the `B` responses of `T − P` tokens to one prompt of `P` tokens.
    pub fn generate(&mut self) -> Result<Vec<Vec<i64>>> {
        let ys = crate::neural::generate::generate(
            self.policy.policy_net()?,
            &self.data.prompt,
            self.b as usize,
            (self.t - self.p) as usize,
            None,
            self.device,
            &mut self.rng,
        )?;
        Ok(ys)
    }

    fn sync(&self) {
        if let Device::Cuda(i) = self.device {
            tch::Cuda::synchronize(i as i64);
        }
    }
}

/// Runs `f` `warmup` times untimed, then `steps` times timed (the device synchronised before
/// each clock read); returns the times and the losses of the last step.
fn timed(
    bench: &mut Bench,
    warmup: usize,
    steps: usize,
    mut f: impl FnMut(&mut Bench) -> Result<Vec<Tensor>>,
) -> Result<(Vec<f64>, Vec<f64>)> {
    for _ in 0..warmup {
        f(bench)?;
    }
    let mut times = Vec::with_capacity(steps);
    let mut last = Vec::new();
    for _ in 0..steps {
        bench.sync();
        let t0 = std::time::Instant::now();
        last = f(bench)?;
        bench.sync();
        times.push(t0.elapsed().as_secs_f64());
    }
    let losses = last
        .iter()
        .map(|l| loss::finite_value(l, warmup + steps - 1))
        .collect::<Result<Vec<_>>>()?;
    Ok((times, losses))
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

/// The passes of each step (see the module docs).
pub fn passes(name: &str, b: i64, t: i64, p: i64) -> Vec<Pass> {
    let pass = |model, grad, sequences| Pass {
        model,
        grad,
        sequences,
        seq_len: t,
    };
    match name {
        "sft" => vec![pass(Role::Policy, true, b)],
        "dpo" => vec![
            pass(Role::Policy, true, 2 * b),
            pass(Role::Reference, false, 2 * b),
        ],
        "dpo-precomputed-ref" => vec![pass(Role::Policy, true, 2 * b)],
        "aihf" => vec![
            pass(Role::Reward, false, b),
            pass(Role::Reference, false, b),
            pass(Role::Policy, true, b),
            pass(Role::Reward, true, 4 * b),
        ],
        "generation" => (p..t)
            .map(|len| Pass {
                model: Role::Policy,
                grad: false,
                sequences: b,
                seq_len: len,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Measures every step of `cfg` on `device`.
pub fn run(cfg: &BenchConfig, device: Device) -> Result<BenchReport> {
    let mut bench = Bench::new(cfg, device)?;
    let c = cfg.transformer()?;
    let (pp, pr) = bench.params();
    let (b, t, p) = (bench.b, bench.t, bench.p);
    let report = |name: &str, times: Vec<f64>, losses: Vec<f64>| {
        let ps = passes(name, b, t, p);
        let n_of = |r: Role| match r {
            Role::Policy | Role::Reference => pp.flops,
            Role::Reward => pr.flops,
        };
        let flops: f64 = ps
            .iter()
            .map(|x| x.flops(n_of(x.model), c.layers, c.width))
            .sum();
        let tokens_grad: i64 = ps.iter().filter(|x| x.grad).map(Pass::tokens).sum();
        let tokens_fwd: i64 = ps.iter().filter(|x| !x.grad).map(Pass::tokens).sum();
        let s = median(&times);
        let tflops = flops / s / 1e12;
        let generation = name == "generation";
        StepReport {
            name: name.to_string(),
            seconds: s,
            seconds_min: times.iter().copied().fold(f64::INFINITY, f64::min),
            seconds_max: times.iter().copied().fold(0.0, f64::max),
            times,
            tokens_grad,
            tokens_forward_only: tokens_fwd,
            tokens_per_s: (!generation).then(|| tokens_grad as f64 / s),
            generated_tokens_per_s: generation.then(|| (b * (t - p)) as f64 / s),
            flops,
            tflops_per_s: tflops,
            mfu: cfg.peak_tflops.map(|pk| tflops / pk),
            passes: ps,
            losses,
        }
    };
    let (w, n) = (cfg.warmup, cfg.steps);
    let mut steps = Vec::new();
    let (ts, ls) = timed(&mut bench, w, n, |x| x.sft_step())?;
    steps.push(report("sft", ts, ls));
    let (ts, ls) = timed(&mut bench, w, n, |x| x.dpo_step(true))?;
    steps.push(report("dpo", ts, ls));
    let (ts, ls) = timed(&mut bench, w, n, |x| x.dpo_step(false))?;
    steps.push(report("dpo-precomputed-ref", ts, ls));
    let (ts, ls) = timed(&mut bench, w, n, |x| x.aihf_step())?;
    steps.push(report("aihf", ts, ls));
    if cfg.generation {
        let (ts, _) = timed(&mut bench, w, n, |x| x.generate().map(|_| Vec::new()))?;
        steps.push(report("generation", ts, Vec::new()));
    }
    let sec = |name: &str| steps.iter().find(|s| s.name == name).map(|s| s.seconds);
    let flops = |name: &str| steps.iter().find(|s| s.name == name).map(|s| s.flops);
    let (aihf, dpo) = (
        sec("aihf").unwrap_or(f64::NAN),
        sec("dpo").unwrap_or(f64::NAN),
    );
    let flop_ratio = flops("aihf").unwrap_or(f64::NAN) / flops("dpo").unwrap_or(f64::NAN);
    let ratios = Ratios {
        aihf_over_dpo: aihf / dpo,
        aihf_over_dpo_precomputed_ref: aihf / sec("dpo-precomputed-ref").unwrap_or(f64::NAN),
        aihf_flops_over_dpo_flops: flop_ratio,
        aihf_per_flop_over_dpo: aihf / dpo / flop_ratio,
        aihf_with_generation_over_dpo: sec("generation").map(|g| (aihf + g) / dpo),
    };
    Ok(BenchReport {
        config: cfg.clone(),
        device: format!("{device:?}").to_ascii_lowercase(),
        threads: tch::get_num_threads(),
        layers: c.layers,
        width: c.width,
        params_policy: pp,
        params_reward: pr,
        steps,
        ratios,
    })
}

fn si(x: f64) -> String {
    let a = x.abs();
    if a >= 1e12 {
        format!("{:.2}T", x / 1e12)
    } else if a >= 1e9 {
        format!("{:.2}G", x / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if a >= 1e3 {
        format!("{:.2}k", x / 1e3)
    } else {
        format!("{x:.2}")
    }
}

/// A plain-text table of a report.
pub fn table(r: &BenchReport) -> String {
    let c = &r.config;
    let heads = match c.spec.arch {
        Arch::Transformer(t) => t.heads,
        Arch::Tabular => 0,
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "transformer {} layers × width {} ({} heads), vocab {}, context {}; B {}, T {}, P {}; \
         {} {}, {} thread(s); median of {} steps after {} warm-up; seed {}",
        r.layers,
        r.width,
        heads,
        c.spec.vocab,
        c.spec.context,
        c.batch,
        c.seq_len,
        c.prompt_len,
        r.device,
        format!("{:?}", c.dtype).to_ascii_lowercase(),
        r.threads,
        c.steps,
        c.warmup,
        c.seed
    );
    let pc = |p: &ParamCount| {
        format!(
            "{} total = {} embedding tables + {} blocks (non-embedding) + {} head; N for FLOPs {}",
            p.total, p.embedding, p.blocks, p.head, p.flops
        )
    };
    let _ = writeln!(s, "policy params: {}", pc(&r.params_policy));
    let _ = writeln!(s, "reward params: {}", pc(&r.params_reward));
    let _ = writeln!(
        s,
        "{:<20} {:>10} {:>12} {:>12} {:>10} {:>8}",
        "step", "seconds", "tokens/s", "FLOP/step", "TFLOP/s", "MFU"
    );
    for st in &r.steps {
        let tps = match (st.tokens_per_s, st.generated_tokens_per_s) {
            (Some(x), _) => si(x),
            (None, Some(g)) => format!("{} gen", si(g)),
            _ => "-".into(),
        };
        let mfu = st
            .mfu
            .map_or("-".to_string(), |m| format!("{:.2}%", 100.0 * m));
        let _ = writeln!(
            s,
            "{:<20} {:>10.5} {:>12} {:>12} {:>10.4} {:>8}",
            st.name,
            st.seconds,
            tps,
            si(st.flops),
            st.tflops_per_s,
            mfu
        );
    }
    let q = &r.ratios;
    let _ = writeln!(
        s,
        "AIHF iteration / DPO step: {:.2} in time ({:.2} against DPO with precomputed reference \
         log-probs), {:.2} in FLOPs: {:.2} in time per model FLOP",
        q.aihf_over_dpo,
        q.aihf_over_dpo_precomputed_ref,
        q.aihf_flops_over_dpo_flops,
        q.aihf_per_flop_over_dpo
    );
    if let Some(g) = q.aihf_with_generation_over_dpo {
        let _ = writeln!(
            s,
            "AIHF iteration with the generation of its B samples (no KV cache) / DPO step: {g:.2}"
        );
    }
    s
}
