//! Data for the neural trainers: JSONL in the conventions of the field's libraries, a byte-level
//! tokenizer, and the de-duplicated sequence table the trainers batch from.
//!
//! # Formats (one JSON object per line; blank lines are skipped)
//! - Demonstrations: `{"prompt": "...", "completion": "..."}` or
//!   `{"prompt_ids": [..], "completion_ids": [..]}`.
//! - Preferences: `{"prompt": "...", "chosen": "...", "rejected": "..."}` or
//!   `{"prompt_ids": [..], "chosen_ids": [..], "rejected_ids": [..]}`.
//!
//! Other keys are ignored (datasets carry ids, scores, sources). A record with both the text
//! and the id form of one field is an error. Text goes through [`ByteTokenizer`]; ids are checked
//! against the model's vocabulary. Every error names `file:line`. A sequence longer than the
//! context is an error unless truncation is asked for explicitly, and the number of records
//! truncated is reported. Reading is all-or-nothing: one bad line and nothing is returned, so a
//! trainer never runs on a silently shortened data set.

use crate::error::{AihfError, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Byte-level tokenizer: ids `0..=255` are bytes, [`ByteTokenizer::BOS`] starts every prompt,
/// [`ByteTokenizer::EOS`] ends every completion (so a policy learns where to stop).
#[derive(Clone, Copy, Debug, Default)]
pub struct ByteTokenizer;

impl ByteTokenizer {
    /// Beginning of sequence.
    pub const BOS: i64 = 256;
    /// End of sequence.
    pub const EOS: i64 = 257;
    /// Vocabulary size.
    pub const VOCAB: i64 = 258;

    /// `BOS + bytes`.
    pub fn encode_prompt(&self, s: &str) -> Vec<i64> {
        std::iter::once(Self::BOS)
            .chain(s.bytes().map(i64::from))
            .collect()
    }

    /// `bytes + EOS`.
    pub fn encode_completion(&self, s: &str) -> Vec<i64> {
        s.bytes()
            .map(i64::from)
            .chain(std::iter::once(Self::EOS))
            .collect()
    }

    /// Bytes back to text (special tokens dropped, invalid UTF-8 replaced).
    pub fn decode(&self, ids: &[i64]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .filter(|&&i| (0..256).contains(&i))
            .map(|&i| i as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// How records are checked and encoded.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Model vocabulary: every id must be in `0..vocab` (text needs `vocab ≥ 258`).
    pub vocab: i64,
    /// Longest prompt + response, in tokens.
    pub context: i64,
    /// Truncate over-long records (prompt from the left, then the response from the right)
    /// instead of failing.
    pub truncate: bool,
}

/// A demonstration: prompt and completion token ids.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Demo {
    /// The prompt's token ids (may be empty).
    pub prompt: Vec<i64>,
    /// The demonstrated completion's token ids.
    pub completion: Vec<i64>,
}

/// A preference: `chosen ≻ rejected` for `prompt`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pref {
    /// The prompt's token ids (shared by both responses).
    pub prompt: Vec<i64>,
    /// The preferred response's token ids (`y_w`).
    pub chosen: Vec<i64>,
    /// The other response's token ids (`y_l`).
    pub rejected: Vec<i64>,
}

/// Records read from a file, with how many were truncated (0 unless asked for).
#[derive(Clone, Debug)]
pub struct Read<T> {
    /// The records, in file order.
    pub records: Vec<T>,
    /// How many of them were truncated to fit the context.
    pub truncated: usize,
}

fn field_ids(
    obj: &serde_json::Map<String, Value>,
    name: &str,
    at: &str,
    opts: &ReadOptions,
    prompt: bool,
) -> Result<Vec<i64>> {
    let ids_key = format!("{name}_ids");
    match (obj.get(name), obj.get(&ids_key)) {
        (Some(_), Some(_)) => Err(AihfError::data(
            at,
            format!("has both `{name}` and `{ids_key}`; give one"),
        )),
        (Some(Value::String(s)), None) => {
            if opts.vocab < ByteTokenizer::VOCAB {
                return Err(AihfError::data(
                    at,
                    format!(
                        "text field `{name}` needs the byte tokenizer's {} ids but the model's \
                         vocabulary is {}",
                        ByteTokenizer::VOCAB,
                        opts.vocab
                    ),
                ));
            }
            Ok(if prompt {
                ByteTokenizer.encode_prompt(s)
            } else {
                ByteTokenizer.encode_completion(s)
            })
        }
        (Some(v), None) => Err(AihfError::data(
            at,
            format!("`{name}` must be a string, got {}", short(v)),
        )),
        (None, Some(Value::Array(a))) => {
            let mut out = Vec::with_capacity(a.len());
            for (k, x) in a.iter().enumerate() {
                let id = x.as_i64().ok_or_else(|| {
                    AihfError::data(
                        at,
                        format!("`{ids_key}[{k}]` = {} is not an integer id", short(x)),
                    )
                })?;
                if !(0..opts.vocab).contains(&id) {
                    return Err(AihfError::data(
                        at,
                        format!(
                            "`{ids_key}[{k}]` = {id} is outside the vocabulary 0..{}",
                            opts.vocab
                        ),
                    ));
                }
                out.push(id);
            }
            Ok(out)
        }
        (None, Some(v)) => Err(AihfError::data(
            at,
            format!(
                "`{ids_key}` must be an array of token ids, got {}",
                short(v)
            ),
        )),
        (None, None) => Err(AihfError::data(
            at,
            format!("missing `{name}` (text) or `{ids_key}` (token ids)"),
        )),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        format!(
            "{}...",
            &s[..s.char_indices().nth(37).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

/// Fits `prompt + response` into the context: an error naming `at`, or with `truncate` the
/// prompt's last tokens (at least one) and the response's first ones. Returns whether it cut.
fn fit_context(
    prompt: &mut Vec<i64>,
    responses: &mut [&mut Vec<i64>],
    at: &str,
    opts: &ReadOptions,
) -> Result<bool> {
    if prompt.is_empty() {
        return Err(AihfError::data(at, "empty prompt: the first response token needs a prompt token to condition on (the byte tokenizer adds BOS)"));
    }
    if responses.iter().any(|r| r.is_empty()) {
        return Err(AihfError::data(at, "empty response"));
    }
    let longest = responses.iter().map(|r| r.len()).max().unwrap_or(0) as i64;
    let len = prompt.len() as i64 + longest;
    if len <= opts.context {
        return Ok(false);
    }
    if !opts.truncate {
        return Err(AihfError::data(
            at,
            format!(
                "prompt + response is {len} tokens, over the context of {} (pass --truncate to cut \
                 the prompt from the left and the response from the right)",
                opts.context
            ),
        ));
    }
    let keep_prompt = (opts.context - longest).max(1) as usize;
    if prompt.len() > keep_prompt {
        prompt.drain(..prompt.len() - keep_prompt);
    }
    let room = (opts.context as usize).saturating_sub(prompt.len());
    for r in responses.iter_mut() {
        r.truncate(room);
    }
    Ok(true)
}

/// Splits a JSONL file's bytes into `(line number, object)` pairs; all-or-nothing.
fn jsonl_objects(path: &Path) -> Result<Vec<(usize, serde_json::Map<String, Value>)>> {
    // `-` is standard input (the command-line convention); the file is read once.
    let text = crate::io::read_input(path)?;
    let bytes = text.as_bytes();
    let name = path.display().to_string();
    let mut out = Vec::new();
    for (k, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let at = format!("{name}:{}", k + 1);
        let line = std::str::from_utf8(line)
            .map_err(|e| AihfError::data(&at, format!("not UTF-8: {e}")))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| AihfError::data(&at, format!("malformed JSON: {e}")))?;
        match v {
            Value::Object(o) => out.push((k + 1, o)),
            other => {
                return Err(AihfError::data(
                    &at,
                    format!("expected a JSON object, got {}", short(&other)),
                ))
            }
        }
    }
    if out.is_empty() {
        return Err(AihfError::data(name, "no records"));
    }
    Ok(out)
}

/// Reads demonstrations (`prompt`/`completion` or `prompt_ids`/`completion_ids`).
pub fn read_demos(path: &Path, opts: &ReadOptions) -> Result<Read<Demo>> {
    let name = path.display().to_string();
    let mut records = Vec::new();
    let mut truncated = 0;
    for (line, o) in jsonl_objects(path)? {
        let at = format!("{name}:{line}");
        let mut prompt = field_ids(&o, "prompt", &at, opts, true)?;
        let mut completion = field_ids(&o, "completion", &at, opts, false)?;
        truncated += usize::from(fit_context(&mut prompt, &mut [&mut completion], &at, opts)?);
        records.push(Demo { prompt, completion });
    }
    Ok(Read { records, truncated })
}

/// Reads preferences (`prompt`/`chosen`/`rejected` or the `_ids` forms).
pub fn read_prefs(path: &Path, opts: &ReadOptions) -> Result<Read<Pref>> {
    let name = path.display().to_string();
    let mut records = Vec::new();
    let mut truncated = 0;
    for (line, o) in jsonl_objects(path)? {
        let at = format!("{name}:{line}");
        let mut prompt = field_ids(&o, "prompt", &at, opts, true)?;
        let mut chosen = field_ids(&o, "chosen", &at, opts, false)?;
        let mut rejected = field_ids(&o, "rejected", &at, opts, false)?;
        truncated += usize::from(fit_context(
            &mut prompt,
            &mut [&mut chosen, &mut rejected],
            &at,
            opts,
        )?);
        records.push(Pref {
            prompt,
            chosen,
            rejected,
        });
    }
    Ok(Read { records, truncated })
}

/// Writes demonstrations as `{"prompt_ids", "completion_ids"}` lines.
pub fn demos_to_jsonl(demos: &[Demo]) -> String {
    let mut s = String::new();
    for d in demos {
        s.push_str(
            &serde_json::json!({"prompt_ids": d.prompt, "completion_ids": d.completion})
                .to_string(),
        );
        s.push('\n');
    }
    s
}

/// Writes preferences as `{"prompt_ids", "chosen_ids", "rejected_ids"}` lines.
pub fn prefs_to_jsonl(prefs: &[Pref]) -> String {
    let mut s = String::new();
    for p in prefs {
        s.push_str(
            &serde_json::json!({"prompt_ids": p.prompt, "chosen_ids": p.chosen, "rejected_ids": p.rejected})
                .to_string(),
        );
        s.push('\n');
    }
    s
}

/// A prompt–response sequence.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Seq {
    /// The prompt's token ids.
    pub prompt: Vec<i64>,
    /// The response's token ids (what the log-probabilities are summed over).
    pub response: Vec<i64>,
}

/// The unique sequences of a data set and the records as indices into them, duplicates merged
/// into weights. A forward pass then scores each distinct sequence once per step, however many
/// records mention it.
#[derive(Clone, Debug, Default)]
pub struct SeqData {
    /// The distinct sequences, in order of first appearance; records index into this.
    pub seqs: Vec<Seq>,
    index: HashMap<Seq, usize>,
    /// `(sequence, weight)`.
    pub demos: Vec<(usize, f64)>,
    /// `(chosen, rejected, weight)`.
    pub prefs: Vec<(usize, usize, f64)>,
}

impl SeqData {
    /// A 64-bit FNV-1a fingerprint of the sequences and records (tokens, indices and weights, in
    /// order): part of a checkpoint's identity, so that a run is not resumed on other data.
    pub fn fingerprint(&self) -> u64 {
        use crate::neural::checkpoint::{fnv1a, FNV_OFFSET};
        let mut h = FNV_OFFSET;
        let mut put = |x: u64| h = fnv1a(&x.to_le_bytes(), h);
        put(self.seqs.len() as u64);
        for s in &self.seqs {
            put(s.prompt.len() as u64);
            s.prompt.iter().for_each(|&t| put(t as u64));
            put(s.response.len() as u64);
            s.response.iter().for_each(|&t| put(t as u64));
        }
        put(self.demos.len() as u64);
        for &(i, w) in &self.demos {
            put(i as u64);
            put(w.to_bits());
        }
        put(self.prefs.len() as u64);
        for &(a, b, w) in &self.prefs {
            put(a as u64);
            put(b as u64);
            put(w.to_bits());
        }
        h
    }

    /// Index of a sequence, adding it if new.
    pub fn intern(&mut self, prompt: &[i64], response: &[i64]) -> usize {
        let s = Seq {
            prompt: prompt.to_vec(),
            response: response.to_vec(),
        };
        if let Some(&i) = self.index.get(&s) {
            return i;
        }
        self.seqs.push(s.clone());
        self.index.insert(s, self.seqs.len() - 1);
        self.seqs.len() - 1
    }

    /// Index of a sequence if present.
    pub fn find(&self, prompt: &[i64], response: &[i64]) -> Option<usize> {
        self.index
            .get(&Seq {
                prompt: prompt.to_vec(),
                response: response.to_vec(),
            })
            .copied()
    }

    /// Builds the table from records, merging duplicates.
    pub fn from_records(demos: &[Demo], prefs: &[Pref]) -> Self {
        let mut d = SeqData::default();
        let mut dw: HashMap<usize, f64> = HashMap::new();
        let mut order = Vec::new();
        for r in demos {
            let i = d.intern(&r.prompt, &r.completion);
            let e = dw.entry(i).or_insert_with(|| {
                order.push(i);
                0.0
            });
            *e += 1.0;
        }
        d.demos = order.iter().map(|&i| (i, dw[&i])).collect();
        let mut pw: HashMap<(usize, usize), f64> = HashMap::new();
        let mut porder = Vec::new();
        for r in prefs {
            let w = d.intern(&r.prompt, &r.chosen);
            let l = d.intern(&r.prompt, &r.rejected);
            let e = pw.entry((w, l)).or_insert_with(|| {
                porder.push((w, l));
                0.0
            });
            *e += 1.0;
        }
        d.prefs = porder.iter().map(|&(w, l)| (w, l, pw[&(w, l)])).collect();
        d
    }

    /// Longest prompt + response.
    pub fn max_len(&self) -> usize {
        self.seqs
            .iter()
            .map(|s| s.prompt.len() + s.response.len())
            .max()
            .unwrap_or(0)
    }

    /// Right-padded tensors for sequences `idx`: tokens `[U, T]` (padding id 0, masked),
    /// response mask `[U, T]` f32, and the position of each last token `[U]`.
    pub fn batch(&self, idx: &[usize], device: Device) -> Batch {
        let t = idx
            .iter()
            .map(|&i| self.seqs[i].prompt.len() + self.seqs[i].response.len())
            .max()
            .unwrap_or(1);
        let u = idx.len();
        let mut tok = vec![0i64; u * t];
        let mut mask = vec![0f32; u * t];
        let mut last = vec![0i64; u];
        for (r, &i) in idx.iter().enumerate() {
            let s = &self.seqs[i];
            let p = s.prompt.len();
            tok[r * t..r * t + p].copy_from_slice(&s.prompt);
            tok[r * t + p..r * t + p + s.response.len()].copy_from_slice(&s.response);
            for m in &mut mask[r * t + p..r * t + p + s.response.len()] {
                *m = 1.0;
            }
            last[r] = (p + s.response.len()) as i64 - 1;
        }
        Batch {
            tokens: Tensor::from_slice(&tok)
                .view([u as i64, t as i64])
                .to_device(device),
            mask: Tensor::from_slice(&mask)
                .view([u as i64, t as i64])
                .to_device(device),
            last: Tensor::from_slice(&last).to_device(device),
        }
    }
}

/// Padded tensors of a set of sequences.
#[derive(Debug)]
pub struct Batch {
    /// Token ids `[U, T]` (i64), right-padded with id 0.
    pub tokens: Tensor,
    /// Response mask `[U, T]` (f32): 1 on response tokens, 0 on the prompt and padding.
    pub mask: Tensor,
    /// Position of each sequence's last token `[U]` (i64), where a reward head reads.
    pub last: Tensor,
}

impl Batch {
    /// A weights tensor on the batch's device.
    pub fn weights(w: &[f64], device: Device) -> Tensor {
        Tensor::from_slice(w).to_kind(Kind::Float).to_device(device)
    }
}
