//! The enumerable task of SPEC §3.1 / §2.6: one prompt, responses `y ∈ V^H` (all `|V|^H` of
//! them are enumerable), a reward table `r*(y)`, a reference `π_ref` that is a genuine
//! autoregressive model (a random next-token distribution per prefix), and
//!
//! `π*(y) = π_ref(y) exp(r*(y)/β) / Z`                                                   (42)
//!
//! Each full response is one "action" of the exact (bandit) layer: demonstrations become counts
//! per sequence and preferences a count matrix over sequence pairs ([`EnumTask::to_bandit`]).
//! Sequence `k` is the base-`|V|` expansion of `k` (most significant token first).

use crate::data::BanditData;
use crate::error::{AihfError, Result};
use crate::neural::data::{Demo, Pref};
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// Sizes and seed of a generated task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskConfig {
    /// `|V|`.
    pub vocab: usize,
    /// `H`.
    pub horizon: usize,
    /// Temperature `β` of (42).
    pub beta: f64,
    /// Standard deviation of the i.i.d. normal reward table `r*`.
    pub reward_scale: f64,
    /// Standard deviation of the reference's i.i.d. normal next-token logits (0: uniform).
    pub ref_scale: f64,
    /// Demonstrations drawn from `π*`.
    pub n_demos: usize,
    /// Comparisons, each of a uniformly drawn pair of distinct sequences, labelled by BTL on `r*`
    /// (`P(y ≻ y') = σ((r*(y) − r*(y'))/β)`).
    pub n_comparisons: usize,
    /// The seed every draw comes from.
    pub seed: u64,
}

impl Default for TaskConfig {
    fn default() -> Self {
        TaskConfig {
            vocab: 4,
            horizon: 3,
            beta: 1.0,
            reward_scale: 1.0,
            ref_scale: 0.5,
            n_demos: 2000,
            n_comparisons: 3000,
            seed: 0,
        }
    }
}

/// Largest enumerable response space (SPEC §3.1: "say ≤ 10^5").
pub const MAX_SEQUENCES: usize = 100_000;

/// A task with its exact quantities.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnumTask {
    /// The configuration the task was drawn from.
    pub config: TaskConfig,
    /// The prompt (one token, id 0).
    pub prompt: Vec<i64>,
    /// `r*(y_k)`.
    pub reward: Vec<f64>,
    /// `log π_ref(y_k)`.
    pub log_ref: Vec<f64>,
    /// `π*(y_k)`.
    pub pi_star: Vec<f64>,
}

impl EnumTask {
    /// Number of sequences `|V|^H`, checked.
    pub fn n_sequences(vocab: usize, horizon: usize) -> Result<usize> {
        if vocab < 2 || horizon < 1 {
            return Err(AihfError::param(
                "task",
                format!("needs |V| >= 2 and H >= 1, got |V| = {vocab}, H = {horizon}"),
            ));
        }
        let mut n = 1usize;
        for _ in 0..horizon {
            n = n
                .checked_mul(vocab)
                .filter(|&n| n <= MAX_SEQUENCES)
                .ok_or_else(|| {
                    AihfError::param(
                        "task",
                        format!("|V|^H = {vocab}^{horizon} exceeds {MAX_SEQUENCES} sequences"),
                    )
                })?;
        }
        Ok(n)
    }

    /// Draws `r*` and `π_ref` and computes `π*`.
    pub fn new(config: TaskConfig, rng: &mut impl Rng) -> Result<Self> {
        crate::error::check_positive("beta", config.beta)?;
        crate::error::check_nonneg("reward_scale", config.reward_scale)?;
        crate::error::check_nonneg("ref_scale", config.ref_scale)?;
        let (v, h) = (config.vocab, config.horizon);
        let n = Self::n_sequences(v, h)?;
        let reward: Vec<f64> = (0..n)
            .map(|_| config.reward_scale * rng.sample::<f64, _>(StandardNormal))
            .collect();
        // Reference: a next-token log-distribution for every prefix of the tree, stored per
        // depth (prefix code k of depth d has row k).
        let mut log_ref = vec![0.0; n];
        let mut tables: Vec<Vec<Vec<f64>>> = Vec::with_capacity(h);
        let mut rows = 1usize;
        for _ in 0..h {
            let t: Vec<Vec<f64>> = (0..rows)
                .map(|_| {
                    let z: Vec<f64> = (0..v)
                        .map(|_| config.ref_scale * rng.sample::<f64, _>(StandardNormal))
                        .collect();
                    crate::math::log_softmax(&z)
                })
                .collect();
            tables.push(t);
            rows *= v;
        }
        for (k, lr) in log_ref.iter_mut().enumerate() {
            let toks = Self::tokens_of(k, v, h);
            let mut prefix = 0usize;
            for (d, &tok) in toks.iter().enumerate() {
                *lr += tables[d][prefix][tok];
                prefix = prefix * v + tok;
            }
        }
        let z: Vec<f64> = log_ref
            .iter()
            .zip(&reward)
            .map(|(l, r)| l + r / config.beta)
            .collect();
        let pi_star = crate::math::softmax(&z);
        Ok(EnumTask {
            config,
            prompt: vec![0],
            reward,
            log_ref,
            pi_star,
        })
    }

    /// `|V|^H`.
    pub fn len(&self) -> usize {
        self.reward.len()
    }

    /// Never true (a task has at least `2^1` sequences); for clippy.
    pub fn is_empty(&self) -> bool {
        self.reward.is_empty()
    }

    /// The tokens of sequence `k` (most significant first).
    pub fn tokens_of(k: usize, vocab: usize, horizon: usize) -> Vec<usize> {
        let mut out = vec![0; horizon];
        let mut k = k;
        for t in (0..horizon).rev() {
            out[t] = k % vocab;
            k /= vocab;
        }
        out
    }

    /// The response ids of sequence `k`.
    pub fn response(&self, k: usize) -> Vec<i64> {
        Self::tokens_of(k, self.config.vocab, self.config.horizon)
            .into_iter()
            .map(|t| t as i64)
            .collect()
    }

    /// The sequence index of a response, if it is one of the task's.
    pub fn index_of(&self, response: &[i64]) -> Option<usize> {
        if response.len() != self.config.horizon {
            return None;
        }
        let v = self.config.vocab as i64;
        response.iter().try_fold(0usize, |k, &t| {
            (0..v).contains(&t).then(|| k * v as usize + t as usize)
        })
    }

    /// Model vocabulary and context for this task: `|V|` ids, prompt + `H` tokens.
    pub fn vocab_context(&self) -> (i64, i64) {
        (
            self.config.vocab as i64,
            (self.prompt.len() + self.config.horizon) as i64,
        )
    }

    /// Draws the data set of the config: demonstrations from `π*`, comparisons of uniformly
    /// drawn distinct pairs labelled by BTL on `r*/β`. Records in draw order.
    pub fn sample(&self, rng: &mut impl Rng) -> (Vec<Demo>, Vec<Pref>) {
        let n = self.len();
        let cdf: Vec<f64> = self
            .pi_star
            .iter()
            .scan(0.0, |s, p| {
                *s += p;
                Some(*s)
            })
            .collect();
        let demos = (0..self.config.n_demos)
            .map(|_| {
                let u: f64 = rng.random::<f64>() * cdf[n - 1];
                let k = cdf.partition_point(|&c| c < u).min(n - 1);
                Demo {
                    prompt: self.prompt.clone(),
                    completion: self.response(k),
                }
            })
            .collect();
        let prefs = (0..self.config.n_comparisons)
            .map(|_| {
                let i = rng.random_range(0..n);
                let mut j = rng.random_range(0..n - 1);
                if j >= i {
                    j += 1;
                }
                // SPEC §1.4: BTL on the reward itself at every β.
                let p = crate::math::sigmoid(self.reward[i] - self.reward[j]);
                let (w, l) = if rng.random::<f64>() < p {
                    (i, j)
                } else {
                    (j, i)
                };
                Pref {
                    prompt: self.prompt.clone(),
                    chosen: self.response(w),
                    rejected: self.response(l),
                }
            })
            .collect();
        (demos, prefs)
    }

    /// The records as exact-layer counts (one action per sequence).
    pub fn to_bandit(&self, demos: &[Demo], prefs: &[Pref]) -> Result<BanditData> {
        let n = self.len();
        let mut data = BanditData::empty(n)?;
        for (k, d) in demos.iter().enumerate() {
            let i = self.check_record(&d.prompt, &d.completion, &format!("demonstration {k}"))?;
            data.add_demos(i, 1);
        }
        for (k, p) in prefs.iter().enumerate() {
            let at = format!("preference {k}");
            let w = self.check_record(&p.prompt, &p.chosen, &at)?;
            let l = self.check_record(&p.prompt, &p.rejected, &at)?;
            if w == l {
                return Err(AihfError::data(
                    at,
                    "chosen and rejected are the same sequence",
                ));
            }
            data.add_prefs(w, l, 1);
        }
        Ok(data)
    }

    fn check_record(&self, prompt: &[i64], response: &[i64], at: &str) -> Result<usize> {
        if prompt != self.prompt.as_slice() {
            return Err(AihfError::data(
                at,
                format!("prompt {prompt:?} is not the task's {:?}", self.prompt),
            ));
        }
        self.index_of(response).ok_or_else(|| {
            AihfError::data(
                at,
                format!(
                    "response {response:?} is not in V^H (|V| = {}, H = {})",
                    self.config.vocab, self.config.horizon
                ),
            )
        })
    }
}

/// What [`write_task`] wrote.
#[derive(Clone, Copy, Debug)]
pub struct Written {
    /// Sequences of the task (`|V|^H`).
    pub sequences: usize,
    /// Demonstration records.
    pub demos: usize,
    /// Comparison records.
    pub comparisons: usize,
}

/// Draws the task of `cfg` and its data (from `cfg.seed`) and writes, into `dir`: `demos.jsonl`
/// and `prefs.jsonl` (token ids), `counts.json` (the same data as exact-layer counts, for
/// `aihf bandit`) and `truth.json` (the task, `π_ref` and the exact `π*`).
pub fn write_task(cfg: TaskConfig, dir: &std::path::Path) -> Result<Written> {
    use crate::neural::data;
    use rand::SeedableRng;
    let seed = cfg.seed;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let task = EnumTask::new(cfg, &mut rng)?;
    let (demos, prefs) = task.sample(&mut rng);
    let mut counts = task.to_bandit(&demos, &prefs)?;
    counts.meta = serde_json::json!({"source": "aihf neural gen-task", "seed": seed,
                         "actions": "sequence k = base-|V| digits of k, most significant first"});
    std::fs::create_dir_all(dir).map_err(|e| AihfError::Io {
        action: "cannot create",
        path: dir.to_path_buf(),
        source: e,
    })?;
    crate::io::write_atomic(
        &dir.join("demos.jsonl"),
        data::demos_to_jsonl(&demos).as_bytes(),
    )?;
    crate::io::write_atomic(
        &dir.join("prefs.jsonl"),
        data::prefs_to_jsonl(&prefs).as_bytes(),
    )?;
    crate::io::write_json(&dir.join("counts.json"), &counts.to_value())?;
    let sequences: Vec<Vec<i64>> = (0..task.len()).map(|k| task.response(k)).collect();
    crate::io::write_json(
        &dir.join("truth.json"),
        &serde_json::json!({"seed": seed, "config": task.config, "prompt_ids": task.prompt,
                "sequences": sequences, "reward": task.reward, "log_ref": task.log_ref,
                "pi_star": task.pi_star,
                "note": "π*(y) ∝ π_ref(y) exp(r*(y)/β) (SPEC (42)); counts.json is the same data for `aihf bandit`"}),
    )?;
    Ok(Written {
        sequences: task.len(),
        demos: demos.len(),
        comparisons: prefs.len(),
    })
}
