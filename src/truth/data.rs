//! The Markov task's files in the default build: `task.json` (a [`TaskSpec`]), `demos.jsonl` and
//! `prefs.jsonl` (the neural layer's id formats), their generation ([`generate`], what
//! `aihf truth gen` and `aihf neural gen-markov` both call) and checked reading ([`read_records`]).
//!
//! Formats, one JSON object per line (blank lines skipped):
//! - `demos.jsonl`: `{"prompt_ids": [y0], "completion_ids": [y_1, …, y_H]}`;
//! - `prefs.jsonl`: `{"prompt_ids": [y0], "chosen_ids": [...], "rejected_ids": [...]}`.
//!
//! Reading checks every record against the task: the prompt must end in `y_0`, every response has
//! exactly `H` ids below `V`. Errors name `file:line` and the key.

use crate::error::{AihfError, Result};
use crate::markov::{MarkovTask, Reference};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::Path;

/// A Markov task as a file (uniform reference): the fields of `task.json`, identical to the
/// neural layer's `MarkovSpec`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Vocabulary size `|V|` (token ids `0..V`).
    pub vocab: usize,
    /// Response length `H ≥ 1` in tokens (every response has exactly `H`).
    pub horizon: usize,
    /// Temperature `β > 0` of the truth `π* ∝ π_ref · exp(r*/β)` (SPEC §3.1).
    pub beta: f64,
    /// The prompt's (last) token `y_0`.
    pub y0: usize,
    /// `(u, v, w(u, v))`; zero elsewhere.
    pub reward: Vec<(usize, usize, f64)>,
}

impl TaskSpec {
    /// A random task: `nnz_per_row` rewards per row at distinct random columns,
    /// `scale · N(0, 1)` each, `y_0 = 0`, from `ChaCha8Rng::seed_from_u64(seed)` (the draws of
    /// `neural gen-markov`, so old seeds give the same task).
    pub fn random(
        vocab: usize,
        horizon: usize,
        nnz_per_row: usize,
        scale: f64,
        beta: f64,
        seed: u64,
    ) -> Result<Self> {
        if vocab == 0 || horizon == 0 {
            return Err(AihfError::param(
                "vocab/horizon",
                format!("need V ≥ 1 and H ≥ 1, got V = {vocab}, H = {horizon}"),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let t = MarkovTask::random_with(
            vocab,
            horizon,
            nnz_per_row,
            scale,
            beta,
            Reference::Uniform,
            &mut rng,
        )?;
        Ok(TaskSpec {
            vocab,
            horizon,
            beta,
            y0: 0,
            reward: t.reward_entries().collect(),
        })
    }

    /// Builds and solves the task (validating the spec).
    pub fn task(&self) -> Result<MarkovTask> {
        MarkovTask::new(
            self.vocab,
            self.horizon,
            self.beta,
            self.y0,
            &self.reward,
            Reference::Uniform,
        )
    }

    /// Reads `task.json`; a file that is not a task is a typed error naming the file and key.
    pub fn read(path: &Path) -> Result<Self> {
        let text = crate::io::read_input(path)?;
        serde_json::from_str(&text).map_err(|e| {
            AihfError::data(
                format!(
                    "{} (line {}, column {})",
                    path.display(),
                    e.line(),
                    e.column()
                ),
                format!("not a Markov task file (keys vocab, horizon, beta, y0, reward): {e}"),
            )
        })
    }
}

/// Demonstrations and preference pairs of one task (responses only; the prompt is `[y_0]`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Records {
    /// Responses drawn from `π*`.
    pub demos: Vec<Vec<usize>>,
    /// `(chosen, rejected)`.
    pub prefs: Vec<(Vec<usize>, Vec<usize>)>,
}

/// Largest data set [`sample_records`] draws, in response tokens.
pub const MAX_DATA_TOKENS: usize = 1 << 28;

/// Exact data (SPEC §3.1): `n_demos` responses from `π*`, then `n_pairs` pairs of two
/// independent `π_ref` responses labelled by BTL on the reward itself,
/// `P(c ≻ r) = σ(r*(c) − r*(r))`. The draws are those of the neural layer's `sample_data`.
pub fn sample_records(
    task: &MarkovTask,
    n_demos: usize,
    n_pairs: usize,
    rng: &mut impl Rng,
) -> Result<Records> {
    let tokens = (n_demos as u128 + 2 * n_pairs as u128) * task.horizon() as u128;
    if tokens > MAX_DATA_TOKENS as u128 {
        return Err(AihfError::param(
            "demos/comparisons",
            format!(
                "{n_demos} demonstrations and {n_pairs} pairs of {} tokens are {tokens} tokens, \
                 over the {MAX_DATA_TOKENS} this writes in memory",
                task.horizon()
            ),
        ));
    }
    let demos = (0..n_demos).map(|_| task.sample_star(rng)).collect();
    let mut prefs = Vec::with_capacity(n_pairs);
    for _ in 0..n_pairs {
        let (a, b) = (task.sample_ref(rng), task.sample_ref(rng));
        let d = task.true_reward(&a)? - task.true_reward(&b)?;
        // The neural layer's formula, so that a seed gives the same labels.
        let p = 1.0 / (1.0 + (-d).exp());
        prefs.push(if rng.random::<f64>() < p {
            (a, b)
        } else {
            (b, a)
        });
    }
    Ok(Records { demos, prefs })
}

/// What [`generate`] wrote.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The task as written to `task.json`.
    pub spec: TaskSpec,
    /// The same task built and solved (its exact `π*`).
    pub task: MarkovTask,
    /// The data written to `demos.jsonl` and `prefs.jsonl`.
    pub records: Records,
}

/// The task of `seed` and its data from `seed + 1` (the scheme of `neural gen-markov`), written
/// to `out_dir` as `task.json`, `demos.jsonl`, `prefs.jsonl`.
#[allow(clippy::too_many_arguments)]
pub fn generate(
    out_dir: &Path,
    vocab: usize,
    horizon: usize,
    nnz_per_row: usize,
    reward_scale: f64,
    beta: f64,
    n_demos: usize,
    n_pairs: usize,
    seed: u64,
) -> Result<Generated> {
    let spec = TaskSpec::random(vocab, horizon, nnz_per_row, reward_scale, beta, seed)?;
    let task = spec.task()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(1));
    let records = sample_records(&task, n_demos, n_pairs, &mut rng)?;
    crate::io::write_json(&out_dir.join("task.json"), &spec)?;
    write_records(out_dir, task.y0(), &records)?;
    Ok(Generated {
        spec,
        task,
        records,
    })
}

/// Writes `demos.jsonl` and `prefs.jsonl` into `dir`.
pub fn write_records(dir: &Path, y0: usize, r: &Records) -> Result<()> {
    let mut s = String::new();
    for d in &r.demos {
        s.push_str(&json!({"prompt_ids": [y0], "completion_ids": d}).to_string());
        s.push('\n');
    }
    crate::io::write_atomic(&dir.join("demos.jsonl"), s.as_bytes())?;
    let mut s = String::new();
    for (c, rj) in &r.prefs {
        s.push_str(&json!({"prompt_ids": [y0], "chosen_ids": c, "rejected_ids": rj}).to_string());
        s.push('\n');
    }
    crate::io::write_atomic(&dir.join("prefs.jsonl"), s.as_bytes())
}

fn read_lines(path: &Path) -> Result<Vec<(String, serde_json::Map<String, Value>)>> {
    let text = crate::io::read_input(path)?;
    let name = path.display().to_string();
    let mut out = Vec::new();
    for (k, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", k + 1);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| AihfError::data(&at, format!("malformed JSON: {e}")))?;
        match v {
            Value::Object(o) => out.push((at, o)),
            _ => return Err(AihfError::data(&at, "expected a JSON object")),
        }
    }
    Ok(out)
}

fn ids(
    o: &serde_json::Map<String, Value>,
    key: &str,
    at: &str,
    vocab: usize,
) -> Result<Vec<usize>> {
    let a = match o.get(key) {
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(AihfError::data(
                format!("{at}: `{key}`"),
                "must be an array of token ids",
            ))
        }
        None => return Err(AihfError::data(format!("{at}: `{key}`"), "missing")),
    };
    a.iter()
        .enumerate()
        .map(|(i, x)| match x.as_u64() {
            Some(id) if (id as u128) < vocab as u128 => Ok(id as usize),
            Some(id) => Err(AihfError::data(
                format!("{at}: `{key}[{i}]`"),
                format!("token id {id} is outside the vocabulary 0..{vocab}"),
            )),
            None => Err(AihfError::data(
                format!("{at}: `{key}[{i}]`"),
                format!("{x} is not a token id"),
            )),
        })
        .collect()
}

fn response(
    o: &serde_json::Map<String, Value>,
    key: &str,
    at: &str,
    task: &MarkovTask,
) -> Result<Vec<usize>> {
    let y = ids(o, key, at, task.vocab())?;
    if y.len() != task.horizon() {
        return Err(AihfError::data(
            format!("{at}: `{key}`"),
            format!(
                "has {} tokens, the task's horizon is H = {}",
                y.len(),
                task.horizon()
            ),
        ));
    }
    Ok(y)
}

fn check_prompt(o: &serde_json::Map<String, Value>, at: &str, task: &MarkovTask) -> Result<()> {
    let p = ids(o, "prompt_ids", at, task.vocab())?;
    if p.last() != Some(&task.y0()) {
        return Err(AihfError::data(
            format!("{at}: `prompt_ids`"),
            format!(
                "must end in the task's y0 = {}, got {:?}",
                task.y0(),
                p.last()
            ),
        ));
    }
    Ok(())
}

/// Reads demonstrations and preferences (either file may be absent), checked against `task`.
pub fn read_records(
    task: &MarkovTask,
    demos: Option<&Path>,
    prefs: Option<&Path>,
) -> Result<Records> {
    let mut r = Records::default();
    if let Some(p) = demos {
        for (at, o) in read_lines(p)? {
            check_prompt(&o, &at, task)?;
            r.demos.push(response(&o, "completion_ids", &at, task)?);
        }
    }
    if let Some(p) = prefs {
        for (at, o) in read_lines(p)? {
            check_prompt(&o, &at, task)?;
            let c = response(&o, "chosen_ids", &at, task)?;
            let rj = response(&o, "rejected_ids", &at, task)?;
            r.prefs.push((c, rj));
        }
    }
    Ok(r)
}
