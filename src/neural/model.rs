//! Models (SPEC §3): token ids `[B, T]` (int64) in, per-position outputs out.
//!
//! - A *policy* maps `[B, T]` to next-token logits `[B, T, V]`: the output at position `t`
//!   scores token `t + 1`.
//! - A *reward model* maps `[B, T]` to one scalar per position `[B, T]`; the reward of a
//!   sequence is the value at its last token ([`crate::neural::loss::at_positions`]).
//!
//! Two backbones, one interface (`tch::nn::ModuleT`), built tch-style by
//! `fn ..(p: &nn::Path, ..) -> impl ModuleT` with the `VarStore` passed in:
//! - [`prefix_table`]: a free output vector per prefix (the *tabular-expressive* model). On an
//!   enumerable task (SPEC §2.6, §3.1) its policy factorises any distribution over `V^H` exactly
//!   (chain rule over the prefix tree), so it must reach the exact-layer optimum;
//! - [`transformer`]: a GPT-style decoder-only transformer, pre-norm, causal attention through
//!   libtorch's `scaled_dot_product_attention`, learned positions.

use crate::error::{AihfError, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// Largest prefix table (rows) the tabular model allocates: `Σ_{l=1}^{context} V^l`. The model is
/// meant for enumerable tasks; past this it is the wrong model, not a bigger one.
pub const MAX_TABLE_ROWS: i64 = 1 << 22;

/// A backbone with its hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "arch", rename_all = "kebab-case")]
pub enum Arch {
    /// A free output vector per prefix.
    Tabular,
    /// The GPT-style transformer.
    Transformer(TransformerConfig),
}

impl Arch {
    /// Short name for tables (`tabular`, `transformer`).
    pub fn name(&self) -> &'static str {
        match self {
            Arch::Tabular => "tabular",
            Arch::Transformer(_) => "transformer",
        }
    }
}

/// Transformer hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransformerConfig {
    /// Blocks.
    pub layers: i64,
    /// Attention heads (divides `width`).
    pub heads: i64,
    /// Residual width `d_model`.
    pub width: i64,
    /// Dropout on attention and residual branches (0 for the cross-validation).
    pub dropout: f64,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        // The cross-validation size: tiny enough for 2 CI cores, large enough for 84 prefixes.
        TransformerConfig {
            layers: 2,
            heads: 2,
            width: 32,
            dropout: 0.0,
        }
    }
}

/// What every model needs to know about the token space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// The backbone.
    pub arch: Arch,
    /// Vocabulary size `V` (ids `0..V`).
    pub vocab: i64,
    /// Longest input (prompt + response) in tokens.
    pub context: i64,
}

impl ModelSpec {
    /// Checks the sizes; returns the spec.
    pub fn validate(&self) -> Result<()> {
        if self.vocab < 1 {
            return Err(AihfError::param(
                "vocab",
                format!("must be >= 1, got {}", self.vocab),
            ));
        }
        if self.context < 2 {
            return Err(AihfError::param(
                "context",
                format!(
                    "must be >= 2 (a prompt token and a response token), got {}",
                    self.context
                ),
            ));
        }
        match &self.arch {
            Arch::Tabular => {
                table_rows(self.vocab, self.context)?;
            }
            Arch::Transformer(c) => {
                if c.layers < 1 || c.heads < 1 || c.width < 1 {
                    return Err(AihfError::param(
                        "transformer",
                        format!("layers, heads and width must be >= 1, got {c:?}"),
                    ));
                }
                if c.width % c.heads != 0 {
                    return Err(AihfError::param(
                        "transformer",
                        format!("width {} is not a multiple of heads {}", c.width, c.heads),
                    ));
                }
                if !(0.0..1.0).contains(&c.dropout) {
                    return Err(AihfError::param(
                        "dropout",
                        format!("must be in [0, 1), got {}", c.dropout),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Rows of the prefix table and the offset of each prefix length: prefixes of length `l`
/// (`1 ≤ l ≤ context`) occupy rows `offset[l-1] .. offset[l-1] + V^l`.
fn table_rows(vocab: i64, context: i64) -> Result<(i64, Vec<i64>)> {
    let too_big = || {
        AihfError::param(
            "tabular model",
            format!(
                "Σ_(l=1..{context}) {vocab}^l prefixes exceed {MAX_TABLE_ROWS} rows; the tabular \
                 model is for enumerable tasks (use the transformer)"
            ),
        )
    };
    let mut offsets = Vec::with_capacity(context as usize);
    let (mut total, mut pow) = (0i64, 1i64);
    for _ in 0..context {
        offsets.push(total);
        pow = pow.checked_mul(vocab).ok_or_else(too_big)?;
        total = total.checked_add(pow).ok_or_else(too_big)?;
        if total > MAX_TABLE_ROWS {
            return Err(too_big());
        }
    }
    Ok((total, offsets))
}

/// The tabular-expressive backbone: one free vector of `out_dim` numbers per prefix
/// `(x_1..x_t)`, looked up at every position `t`. Initialised to zero (the uniform policy, the
/// zero reward). Rows are indexed by the base-`V` code of the prefix plus the offset of its
/// length, computed with integer tensor ops (`code_t = code_(t-1)·V + x_t`).
pub fn prefix_table(p: &nn::Path, vocab: i64, context: i64, out_dim: i64) -> Result<impl ModuleT> {
    let (rows, offsets) = table_rows(vocab, context)?;
    let table = p.zeros("table", &[rows, out_dim]);
    let offsets = Tensor::from_slice(&offsets).to_device(p.device());
    Ok(nn::func_t(move |xs, _train| {
        let (b, t) = xs.size2().expect("prefix_table: input must be [B, T]");
        let mut code = Tensor::zeros([b], (Kind::Int64, xs.device()));
        let mut cols = Vec::with_capacity(t as usize);
        for k in 0..t {
            code = code * vocab + xs.select(1, k);
            cols.push(&code + offsets.get(k));
        }
        let idx = Tensor::stack(&cols, 1); // [B, T]
        table.index_select(0, &idx.view([-1])).view([b, t, out_dim])
    }))
}

fn linear(p: nn::Path, i: i64, o: i64) -> nn::Linear {
    // GPT-2 initialisation: N(0, 0.02) weights, zero biases.
    let cfg = nn::LinearConfig {
        ws_init: nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        },
        bs_init: Some(nn::Init::Const(0.0)),
        bias: true,
    };
    nn::linear(p, i, o, cfg)
}

/// Per-layer keys and values of the tokens seen so far, `[B, heads, T_past, dh]` each: what a
/// decoder needs to score one more token without re-running the prefix.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: i64,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        KvCache::default()
    }
    /// Tokens cached so far (the position of the next token).
    pub fn len(&self) -> i64 {
        self.len
    }
    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Causal self-attention: one `qkv` projection, SDPA, an output projection.
#[derive(Debug)]
struct Attention {
    qkv: nn::Linear,
    proj: nn::Linear,
    heads: i64,
    dh: i64,
    dropout: f64,
}

impl Attention {
    fn new(p: &nn::Path, c: TransformerConfig) -> Self {
        Attention {
            qkv: linear(p / "qkv", c.width, 3 * c.width),
            proj: linear(p / "proj", c.width, c.width),
            heads: c.heads,
            dh: c.width / c.heads,
            dropout: c.dropout,
        }
    }

    /// `xs` `[B, T, D]`; with `cache`, `xs` holds only the new positions, which attend to the
    /// cached keys and values and are appended to them (evaluation only: no dropout).
    fn forward(
        &self,
        xs: &Tensor,
        train: bool,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
    ) -> Tensor {
        let (b, t, d) = xs.size3().expect("attention: input must be [B, T, D]");
        let qkv = xs
            .apply(&self.qkv)
            .view([b, t, 3, self.heads, self.dh])
            .permute([2, 0, 3, 1, 4]); // [3,B,H,T,dh]
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        let drop = if train { self.dropout } else { 0.0 };
        let (k, v, mask, causal) = match cache {
            None => (k, v, None, true),
            Some(slot) => {
                let (k, v) = match slot.take() {
                    None => (k, v),
                    Some((pk, pv)) => (Tensor::cat(&[pk, k], 2), Tensor::cat(&[pv, v], 2)),
                };
                *slot = Some((k.shallow_clone(), v.shallow_clone()));
                let total = k.size()[2];
                let past = total - t;
                if t == 1 || past == 0 {
                    // One new query sees every key; a prefill is plain causal attention.
                    (k, v, None, past == 0 && t > 1)
                } else {
                    // New query i (absolute position past + i) sees keys 0..=past + i.
                    let rows = Tensor::arange(t, (Kind::Int64, xs.device())).unsqueeze(1) + past;
                    let cols = Tensor::arange(total, (Kind::Int64, xs.device())).unsqueeze(0);
                    (k, v, Some(cols.le_tensor(&rows)), false)
                }
            }
        };
        let y = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            mask,
            drop,
            causal,
            None::<f64>,
            false,
        );
        y.transpose(1, 2)
            .contiguous()
            .view([b, t, d])
            .apply(&self.proj)
            .dropout(self.dropout, train)
    }
}

/// A pre-norm block: `x + attn(LN(x))`, then `x + MLP(LN(x))`.
#[derive(Debug)]
struct Block {
    ln1: nn::LayerNorm,
    ln2: nn::LayerNorm,
    attn: Attention,
    fc: nn::Linear,
    out: nn::Linear,
    dropout: f64,
}

impl Block {
    fn new(p: &nn::Path, c: TransformerConfig) -> Self {
        Block {
            ln1: nn::layer_norm(p / "ln1", vec![c.width], Default::default()),
            ln2: nn::layer_norm(p / "ln2", vec![c.width], Default::default()),
            attn: Attention::new(&(p / "attn"), c),
            fc: linear(p / "fc", c.width, 4 * c.width),
            out: linear(p / "out", 4 * c.width, c.width),
            dropout: c.dropout,
        }
    }

    fn forward(
        &self,
        xs: &Tensor,
        train: bool,
        cache: Option<&mut Option<(Tensor, Tensor)>>,
    ) -> Tensor {
        let xs = xs + self.attn.forward(&xs.apply(&self.ln1), train, cache);
        let ys = xs
            .apply(&self.ln2)
            .apply(&self.fc)
            .gelu("tanh")
            .apply(&self.out)
            .dropout(self.dropout, train);
        xs + ys
    }
}

/// The GPT-style decoder-only transformer with an `out_dim`-wide linear head: token and learned
/// position embeddings, `layers` pre-norm blocks (causal SDPA attention, GELU MLP of width
/// `4·width`), a final layer norm. Inputs longer than `context` are rejected by the data layer
/// before they reach the model. [`Gpt::forward_cached`] scores new tokens against a
/// [`KvCache`] of the earlier ones (incremental decoding).
#[derive(Debug)]
pub struct Gpt {
    tok: nn::Embedding,
    pos: nn::Embedding,
    blocks: Vec<Block>,
    ln_f: nn::LayerNorm,
    head: nn::Linear,
    dropout: f64,
    context: i64,
}

impl Gpt {
    fn run(&self, xs: &Tensor, train: bool, mut cache: Option<&mut KvCache>) -> Tensor {
        let (_b, t) = xs.size2().expect("transformer: input must be [B, T]");
        let start = cache.as_ref().map_or(0, |c| c.len);
        let positions = Tensor::arange_start(start, start + t, (Kind::Int64, xs.device()));
        let mut h = (xs.apply(&self.tok) + positions.apply(&self.pos).unsqueeze(0))
            .dropout(self.dropout, train);
        if let Some(c) = cache.as_deref_mut() {
            c.layers.resize_with(self.blocks.len(), || None);
        }
        for (i, block) in self.blocks.iter().enumerate() {
            let slot = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            h = block.forward(&h, train, slot);
        }
        if let Some(c) = cache {
            c.len += t;
        }
        h.apply(&self.ln_f).apply(&self.head)
    }

    /// Outputs `[B, T_new, out_dim]` for the new tokens `xs` `[B, T_new]` at positions
    /// `cache.len() ..`, attending to the cached prefix; appends their keys and values to
    /// `cache`. Evaluation mode (no dropout). Equals the last `T_new` positions of a full
    /// forward over prefix + `xs` (to float round-off). Errors past the model's context.
    pub fn forward_cached(&self, xs: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        let (_b, t) = xs
            .size2()
            .map_err(|e| AihfError::param("tokens", format!("must be [B, T]: {e}")))?;
        if cache.len + t > self.context {
            return Err(AihfError::param(
                "tokens",
                format!(
                    "{} cached + {t} new positions exceed the model's context {}",
                    cache.len, self.context
                ),
            ));
        }
        Ok(self.run(xs, false, Some(cache)))
    }
}

impl ModuleT for Gpt {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.run(xs, train, None)
    }
}

/// The GPT-style transformer ([`Gpt`]) under `p`.
pub fn transformer(
    p: &nn::Path,
    c: TransformerConfig,
    vocab: i64,
    context: i64,
    out_dim: i64,
) -> Gpt {
    let emb_cfg = || nn::EmbeddingConfig {
        ws_init: nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        },
        ..Default::default()
    };
    Gpt {
        tok: nn::embedding(p / "tok", vocab, c.width, emb_cfg()),
        pos: nn::embedding(p / "pos", context, c.width, emb_cfg()),
        blocks: (0..c.layers)
            .map(|i| Block::new(&(p / "blocks" / i), c))
            .collect(),
        ln_f: nn::layer_norm(p / "ln_f", vec![c.width], Default::default()),
        head: linear(p / "head", c.width, out_dim),
        dropout: c.dropout,
        context,
    }
}

/// A transformer policy as its concrete type (for cached generation, [`Decoder::Cached`]);
/// [`policy`] builds the same parameters behind `dyn ModuleT`.
pub fn transformer_policy(p: &nn::Path, spec: &ModelSpec) -> Result<Gpt> {
    spec.validate()?;
    match &spec.arch {
        Arch::Transformer(c) => Ok(transformer(p, *c, spec.vocab, spec.context, spec.vocab)),
        Arch::Tabular => Err(AihfError::param(
            "arch",
            "cached generation needs the transformer (the tabular model has no prefix state)",
        )),
    }
}

/// How [`sample`] computes each step's next-token logits.
pub enum Decoder<'a> {
    /// Re-run the whole prefix through any policy at every step (`O(T²)` positions in all).
    Full(&'a dyn ModuleT),
    /// Prefill the prompt once, then feed one token per step against a [`KvCache`].
    Cached(&'a Gpt),
}

/// Sampled responses and the log-probability of each sampled token under the policy.
#[derive(Clone, Debug)]
pub struct Generation {
    /// Responses (prompt excluded), cut after `eos` when one is given.
    pub tokens: Vec<Vec<i64>>,
    /// `log π(y_t | x, y_<t)` of each response token (same lengths as `tokens`).
    pub logprobs: Vec<Vec<f64>>,
}

/// Samples `n` responses to `prompt` (no gradients), token by token, from the softmax of the
/// f32-upcast logits, with one uniform draw from `rng` per unfinished row and step (inverse CDF),
/// so [`Decoder::Full`] and [`Decoder::Cached`] draw the same tokens from the same `rng` up to
/// float round-off at the CDF's boundaries.
pub fn sample(
    decoder: Decoder<'_>,
    prompt: &[i64],
    n: usize,
    max_new: usize,
    eos: Option<i64>,
    device: Device,
    rng: &mut impl Rng,
) -> Result<Generation> {
    if prompt.is_empty() {
        return Err(AihfError::param(
            "prompt",
            "generation needs at least one prompt token",
        ));
    }
    let mut seqs: Vec<Vec<i64>> = vec![prompt.to_vec(); n];
    let mut lps: Vec<Vec<f64>> = vec![Vec::with_capacity(max_new); n];
    let mut done = vec![false; n];
    let mut cache = KvCache::new();
    tch::no_grad(|| -> Result<()> {
        for step in 0..max_new {
            if done.iter().all(|&d| d) {
                break;
            }
            let t = seqs[0].len();
            let logits = match &decoder {
                Decoder::Full(model) => {
                    let flat: Vec<i64> = seqs.iter().flatten().copied().collect();
                    let x = Tensor::from_slice(&flat)
                        .view([n as i64, t as i64])
                        .to_device(device);
                    model.forward_t(&x, false).select(1, t as i64 - 1)
                }
                Decoder::Cached(gpt) => {
                    // First step: the whole prompt; then only the last sampled token.
                    let from = if step == 0 { 0 } else { t - 1 };
                    let flat: Vec<i64> = seqs.iter().flat_map(|s| s[from..].to_vec()).collect();
                    let x = Tensor::from_slice(&flat)
                        .view([n as i64, (t - from) as i64])
                        .to_device(device);
                    gpt.forward_cached(&x, &mut cache)?
                        .select(1, (t - from) as i64 - 1)
                }
            };
            let logp = logits
                .to_kind(Kind::Float)
                .log_softmax(-1, Kind::Float)
                .to_kind(Kind::Double)
                .to_device(Device::Cpu);
            let v = logp.size()[1] as usize;
            let logp = Vec::<f64>::try_from(logp.view([-1]))
                .map_err(|e| AihfError::Neural(format!("reading log-probabilities: {e}")))?;
            for (r, s) in seqs.iter_mut().enumerate() {
                if done[r] {
                    // Keep rows rectangular; the padding is dropped below.
                    s.push(eos.unwrap_or(0));
                    continue;
                }
                let row = &logp[r * v..(r + 1) * v];
                let probs: Vec<f64> = row.iter().map(|l| l.exp()).collect();
                let u: f64 = rng.random::<f64>() * probs.iter().sum::<f64>();
                let mut acc = 0.0;
                let mut tok = v - 1;
                for (k, p) in probs.iter().enumerate() {
                    acc += p;
                    if u < acc {
                        tok = k;
                        break;
                    }
                }
                s.push(tok as i64);
                lps[r].push(row[tok]);
                if Some(tok as i64) == eos {
                    done[r] = true;
                }
            }
        }
        Ok(())
    })?;
    let tokens: Vec<Vec<i64>> = seqs
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
        .collect();
    let logprobs = tokens
        .iter()
        .zip(lps)
        .map(|(t, mut l)| {
            l.truncate(t.len());
            l
        })
        .collect();
    Ok(Generation { tokens, logprobs })
}

/// A policy network: next-token logits (`ModuleT`), and the decoder sampling uses — a key–value
/// cache where the architecture has one ([`Gpt`]), the full prefix otherwise.
pub trait PolicyNet: ModuleT {
    /// How [`sample`] decodes from this network.
    fn decoder(&self) -> Decoder<'_>;
}

impl PolicyNet for Gpt {
    fn decoder(&self) -> Decoder<'_> {
        Decoder::Cached(self)
    }
}

/// A policy without a prefix state (the tabular model): sampling re-runs the prefix.
struct Uncached<M: ModuleT>(M);

impl<M: ModuleT> std::fmt::Debug for Uncached<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Uncached")
    }
}

impl<M: ModuleT> ModuleT for Uncached<M> {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.0.forward_t(xs, train)
    }
}

impl<M: ModuleT> PolicyNet for Uncached<M> {
    fn decoder(&self) -> Decoder<'_> {
        Decoder::Full(&self.0)
    }
}

/// A policy network: `[B, T]` → next-token logits `[B, T, V]`; the transformer samples with a
/// key–value cache.
pub fn policy(p: &nn::Path, spec: &ModelSpec) -> Result<Box<dyn PolicyNet>> {
    spec.validate()?;
    Ok(match &spec.arch {
        Arch::Tabular => Box::new(Uncached(prefix_table(
            p,
            spec.vocab,
            spec.context,
            spec.vocab,
        )?)),
        Arch::Transformer(c) => Box::new(transformer(p, *c, spec.vocab, spec.context, spec.vocab)),
    })
}

/// A reward network on the same backbones with a scalar head: `[B, T]` → `[B, T]`.
pub fn reward(p: &nn::Path, spec: &ModelSpec) -> Result<Box<dyn ModuleT>> {
    spec.validate()?;
    let net: Box<dyn ModuleT> = match &spec.arch {
        Arch::Tabular => Box::new(prefix_table(p, spec.vocab, spec.context, 1)?),
        Arch::Transformer(c) => Box::new(transformer(p, *c, spec.vocab, spec.context, 1)),
    };
    Ok(Box::new(nn::func_t(move |xs, train| {
        net.forward_t(xs, train).squeeze_dim(-1)
    })))
}

/// A reward network that sums a scalar head over positions (SPEC §3: "a sum of per-token
/// heads"): the value at position `t` is `Σ_{s ≤ t} h(x_{≤ s})`, so the reward read at a
/// sequence's last token sums the heads of all its tokens. The prompt's positions add a constant
/// per prompt, which BTL, RLHF and AIHF are invariant to (they compare responses to the same
/// prompt). Exactly expressive for additive rewards like the Markov task's `Σ_t w(y_{t−1}, y_t)`.
pub fn reward_sum(p: &nn::Path, spec: &ModelSpec) -> Result<Box<dyn ModuleT>> {
    let net = reward(p, spec)?;
    Ok(Box::new(nn::func_t(move |xs, train| {
        net.forward_t(xs, train).cumsum(1, Kind::Float)
    })))
}

/// Zeroes the output head (`head.weight`, `head.bias`): a transformer policy then starts exactly
/// at the uniform distribution (the Markov task's reference) and a reward model at zero.
pub fn zero_head(vs: &nn::VarStore) {
    tch::no_grad(|| {
        for (name, mut t) in vs.variables() {
            if name.starts_with("head.") {
                let _ = t.zero_();
            }
        }
    });
}

/// Standard deviation of the GPT-2 initialisation of weight matrices and embeddings.
pub const INIT_STD: f64 = 0.02;

/// Re-draws every random parameter from `seed` alone: each 2-D `…weight` (linear layers and
/// embeddings) gets `N(0, INIT_STD²)` from a ChaCha stream, visited in name order. Layer-norm
/// gains, biases and the prefix table are deterministic already (ones or zeros). libtorch's
/// global generator is shared by every thread of a process, so without this two models built
/// concurrently (parallel tests) would not be reproducible from their seeds.
pub fn init_weights(vs: &nn::VarStore, seed: u64) -> crate::error::Result<()> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0f32, INIT_STD as f32)
        .map_err(|e| AihfError::Numerical(format!("initialisation: {e}")))?;
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| {
        for (name, mut t) in vars {
            if t.dim() == 2 && name.ends_with("weight") {
                let n = t.numel();
                let v: Vec<f32> = (0..n).map(|_| normal.sample(&mut rng)).collect();
                let src = Tensor::from_slice(&v)
                    .view(t.size().as_slice())
                    .to_kind(t.kind())
                    .to_device(t.device());
                t.copy_(&src);
            }
        }
    });
    Ok(())
}
