//! Training checkpoints: one safetensors file per run, written atomically.
//!
//! A checkpoint holds, for every optimised model (`policy`, `reward`), its parameters and
//! AdamW's moments under the keys `{model}/param/{name}`, `{model}/adam_m/{name}` and
//! `{model}/adam_v/{name}`, and in the safetensors header's `__metadata__`:
//!
//! - `format`: `aihf-checkpoint-1`;
//! - `step`: the steps completed (the resumed run starts there);
//! - `identity`: the run's configuration as canonical JSON (trainer, objective, hyper-parameters,
//!   optimisation settings, model variables and shapes, a fingerprint of the data); a checkpoint
//!   whose identity differs from the run's is refused, naming the first differing fields;
//! - `rng`: the ChaCha8 sampler's word position (record sampling and generation continue where
//!   they stopped);
//! - `adam_t.{model}`: each optimiser's update count.
//!
//! The file is written to a temporary sibling, synced and renamed over the previous checkpoint
//! ([`crate::io::write_atomic`]), so a process killed mid-write leaves the last complete
//! checkpoint, never a torn one. Nothing is written once a loss, gradient or parameter is
//! non-finite: the run stops with the step number and the last good checkpoint stays.

use crate::error::{AihfError, Result};
use crate::neural::optim::AdamW;
use crate::neural::terr;
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::{Dtype, SafeTensors, View};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// The `format` tag of the files this version writes.
pub const FORMAT: &str = "aihf-checkpoint-1";

/// Where and how often to checkpoint a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointConfig {
    /// The checkpoint file (conventionally `*.safetensors`).
    pub path: PathBuf,
    /// Write every this many steps (and at the end, and when stopping early).
    pub every: usize,
    /// Continue from the checkpoint at `path` (which must exist and match the run).
    pub resume: bool,
    /// Stop (with a checkpoint) once this many steps have been completed in total, before the
    /// configured `steps`: a job on a time-limited queue resumes later with `resume`.
    pub stop_at: Option<usize>,
}

impl CheckpointConfig {
    /// Checks the domains.
    pub fn validate(&self) -> Result<()> {
        if self.every == 0 {
            return Err(AihfError::param("checkpoint_every", "must be at least 1"));
        }
        if self.stop_at == Some(0) {
            return Err(AihfError::param("stop_at", "must be at least 1"));
        }
        Ok(())
    }

    /// Whether to write after `done` completed steps of `total`.
    pub fn due(&self, done: usize, total: usize) -> bool {
        done.is_multiple_of(self.every) || done == total || self.stop_at == Some(done)
    }
}

/// What a loaded checkpoint restores besides the tensors.
#[derive(Clone, Debug)]
pub struct Restored {
    /// Steps completed.
    pub step: usize,
}

pub use crate::seed::{fnv1a, FNV_OFFSET};

/// The variables of an optimiser as `name: [shape], dtype` (part of a run's identity: a
/// checkpoint of another architecture is refused before any tensor is touched).
pub fn shapes(opt: &AdamW) -> Value {
    Value::Object(
        opt.slots
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    serde_json::json!(format!("{:?} {:?}", s.param.size(), s.param.kind())),
                )
            })
            .collect(),
    )
}

/// FNV-1a over the optimiser's parameters' bytes, in slot order.
pub fn values_fingerprint(opt: &AdamW) -> Result<u64> {
    let mut h = FNV_OFFSET;
    for s in &opt.slots {
        h = fnv1a(s.name.as_bytes(), h);
        h = fnv1a(&to_bytes(&s.param)?.data, h);
    }
    Ok(h)
}

struct Bytes {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Bytes {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn dtype_of(kind: Kind) -> Result<Dtype> {
    Ok(match kind {
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Half => Dtype::F16,
        k => {
            return Err(AihfError::Neural(format!(
                "cannot checkpoint a {k:?} tensor"
            )))
        }
    })
}

fn kind_of(d: Dtype) -> Result<Kind> {
    Ok(match d {
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F16 => Kind::Half,
        d => {
            return Err(AihfError::Neural(format!(
                "unexpected dtype {d:?} in checkpoint"
            )))
        }
    })
}

fn to_bytes(t: &Tensor) -> Result<Bytes> {
    let c = t.detach().to_device(Device::Cpu).contiguous();
    let n = c.numel();
    let mut data = vec![0u8; n * c.kind().elt_size_in_bytes()];
    c.f_copy_data_u8(&mut data, n)
        .map_err(terr("reading a tensor for the checkpoint"))?;
    Ok(Bytes {
        dtype: dtype_of(c.kind())?,
        shape: c.size().iter().map(|&x| x as usize).collect(),
        data,
    })
}

/// Writes a checkpoint of `models` (`(group, optimiser)`) after `step` completed steps.
pub fn save(
    path: &Path,
    identity: &Value,
    step: usize,
    rng: &ChaCha8Rng,
    models: &[(&str, &AdamW)],
) -> Result<()> {
    let mut tensors: Vec<(String, Bytes)> = Vec::new();
    let mut meta: HashMap<String, String> = HashMap::new();
    meta.insert("format".into(), FORMAT.into());
    meta.insert("step".into(), step.to_string());
    meta.insert("identity".into(), identity.to_string());
    meta.insert("rng".into(), rng.get_word_pos().to_string());
    for (group, opt) in models {
        if !opt.params_finite() {
            return Err(AihfError::Neural(format!(
                "{group} parameters are not finite after step {step}; not writing the checkpoint \
                 {}",
                path.display()
            )));
        }
        meta.insert(format!("adam_t.{group}"), opt.t.to_string());
        for s in &opt.slots {
            tensors.push((format!("{group}/param/{}", s.name), to_bytes(&s.param)?));
            tensors.push((format!("{group}/adam_m/{}", s.name), to_bytes(&s.m)?));
            tensors.push((format!("{group}/adam_v/{}", s.name), to_bytes(&s.v)?));
        }
    }
    let views: Vec<(String, &Bytes)> = tensors.iter().map(|(n, b)| (n.clone(), b)).collect();
    let bytes = safetensors::tensor::serialize(views, &Some(meta))
        .map_err(|e| AihfError::Neural(format!("serialising checkpoint: {e}")))?;
    crate::io::write_atomic(path, &bytes)
}

/// The fields where two JSON values differ (dotted paths), at most `limit` of them.
fn diff(a: &Value, b: &Value, at: &str, out: &mut Vec<String>, limit: usize) {
    if out.len() >= limit {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => diff(u, v, &p, out, limit),
                    _ => out.push(p),
                }
            }
        }
        _ if a != b => out.push(format!("{at}: checkpoint {a}, run {b}")),
        _ => {}
    }
}

/// Loads a checkpoint into `models` (`(group, optimiser)`) and `rng`, after checking its format
/// and that its identity equals `identity`. Returns the steps completed.
pub fn load(
    path: &Path,
    identity: &Value,
    rng: &mut ChaCha8Rng,
    models: &mut [(&str, &mut AdamW)],
) -> Result<Restored> {
    let bytes = std::fs::read(path).map_err(|e| AihfError::Io {
        action: "cannot read checkpoint",
        path: path.to_path_buf(),
        source: e,
    })?;
    let bad = |why: String| AihfError::data(path.display().to_string(), why);
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(format!("not a safetensors file: {e:?}")))?;
    let meta = header
        .metadata()
        .clone()
        .ok_or_else(|| bad("no metadata: not an aihf checkpoint".into()))?;
    let get = |k: &str| {
        meta.get(k)
            .cloned()
            .ok_or_else(|| bad(format!("metadata has no `{k}`: not an aihf checkpoint")))
    };
    let format = get("format")?;
    if format != FORMAT {
        return Err(bad(format!(
            "format `{format}`, this version reads `{FORMAT}`"
        )));
    }
    let theirs: Value = serde_json::from_str(&get("identity")?)
        .map_err(|e| bad(format!("unreadable identity: {e}")))?;
    if &theirs != identity {
        let mut d = Vec::new();
        diff(&theirs, identity, "", &mut d, 5);
        return Err(AihfError::param(
            "resume",
            format!(
                "checkpoint {} is from another configuration (differs in: {}); refusing to \
                 resume. Use the same data, model and settings, or start a new run",
                path.display(),
                d.join("; ")
            ),
        ));
    }
    let step: usize = get("step")?
        .parse()
        .map_err(|e| bad(format!("bad step: {e}")))?;
    let word: u128 = get("rng")?
        .parse()
        .map_err(|e| bad(format!("bad rng state: {e}")))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("corrupt: {e:?}")))?;
    for (group, opt) in models.iter_mut() {
        opt.t = get(&format!("adam_t.{group}"))?
            .parse()
            .map_err(|e| bad(format!("bad adam_t: {e}")))?;
        for s in &mut opt.slots {
            for (what, dst) in [
                ("param", &mut s.param),
                ("adam_m", &mut s.m),
                ("adam_v", &mut s.v),
            ] {
                let key = format!("{group}/{what}/{}", s.name);
                let view = st
                    .tensor(&key)
                    .map_err(|_| bad(format!("missing tensor `{key}`")))?;
                let shape: Vec<i64> = view.shape().iter().map(|&x| x as i64).collect();
                if shape != dst.size() {
                    return Err(bad(format!(
                        "`{key}` has shape {shape:?}, the model {:?}",
                        dst.size()
                    )));
                }
                let t = Tensor::f_from_data_size(view.data(), &shape, kind_of(view.dtype())?)
                    .map_err(terr("reading a checkpoint tensor"))?;
                tch::no_grad(|| dst.f_copy_(&t)).map_err(terr("restoring a checkpoint tensor"))?;
            }
        }
    }
    rng.set_word_pos(word);
    Ok(Restored { step })
}
