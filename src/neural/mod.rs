//! The neural layer on tch/libtorch (SPEC §3, §3.1, §2.6), behind the Cargo feature `neural`.
//!
//! - [`model`]: a tabular-expressive policy (a free logit vector per prefix), a GPT-style
//!   pre-norm decoder-only transformer policy, and reward models on both backbones;
//! - [`loss`]: sequence log-probabilities (response tokens only, logits upcast to f32) and the
//!   losses of SPEC §3: SFT, BTL, DPO, IPO, Direct AIHF, SPIN, Self-Play AIHF;
//! - [`data`]: JSONL readers in the field's conventions (`prompt`/`completion`,
//!   `prompt`/`chosen`/`rejected`, text through a byte-level tokenizer or token ids) and the
//!   de-duplicated sequence table the trainers work on;
//! - [`train`]: AdamW trainers (SFT, reward modelling, DPO, IPO, Direct AIHF, SPIN,
//!   Self-Play AIHF) with gradient clipping, learning-rate schedules, a progress bar and JSONL
//!   metrics;
//! - [`rl`]: trainers that sample from the policy: RLHF by REINFORCE (ReMax baseline) against a
//!   frozen reward model, and AIHF's Algorithm 1 (alternating policy and reward steps);
//! - [`executor`]: the one training loop ([`executor::Trainer`] + [`executor::Executor`]):
//!   optimisers, schedule, clipping, NaN stop, checkpoints and resume, metrics, probes, progress;
//! - [`generate`]: sampling and greedy decoding from a policy network;
//! - [`pipeline`]: one entry from a method, data and settings to trained models
//!   ([`pipeline::train`]), with [`model::ModelSpec::build`] and frozen copies;
//! - [`task`]: the enumerable task of SPEC §3.1 with its exact ground truth;
//! - [`crossval`]: trained networks against the exact layer ([`crate::bandit::fit`]);
//! - [`bench`](mod@bench): speed of one training step of SFT, DPO and an AIHF iteration (seconds,
//!   tokens/s, model FLOPs, MFU).
//!
//! Everything runs on CPU; CUDA is used only when asked for, and asking for it where libtorch
//! sees none is an error ([`device`]).

pub mod bench;
pub mod checkpoint;
pub mod claims;
pub mod crossval;
pub mod data;
pub mod executor;
pub mod generate;
pub mod groundtruth;
pub mod loss;
pub mod model;
pub mod optim;
pub mod pipeline;
pub mod rl;
pub mod task;
pub mod train;

use crate::error::{AihfError, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

/// Turns a libtorch error into the crate's error, saying what was being done (the libtorch error
/// is kept as its source).
pub(crate) fn terr(what: &str) -> impl FnOnce(tch::TchError) -> AihfError + '_ {
    move |e| AihfError::Torch {
        what: what.to_string(),
        source: e,
    }
}

/// Parses a device name: `cpu`, `cuda` (GPU 0) or `cuda:N`. CUDA where libtorch finds none is
/// an error, never a silent fall-back to the CPU.
pub fn device(name: &str) -> Result<Device> {
    let name = name.trim().to_ascii_lowercase();
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    let idx = if name == "cuda" {
        0
    } else if let Some(k) = name.strip_prefix("cuda:") {
        k.parse::<usize>()
            .map_err(|_| AihfError::param("device", format!("`{name}`: expected cuda:N")))?
    } else {
        return Err(AihfError::param(
            "device",
            format!("`{name}`: expected cpu, cuda or cuda:N"),
        ));
    };
    if !tch::Cuda::is_available() {
        return Err(AihfError::Neural(format!(
            "device `{name}` requested but CUDA is not available to libtorch (no GPU, or a \
             CPU-only PyTorch in the venv); use --device cpu"
        )));
    }
    let n = tch::Cuda::device_count() as usize;
    if idx >= n {
        return Err(AihfError::Neural(format!(
            "device `{name}` requested but libtorch sees {n} CUDA device(s)"
        )));
    }
    Ok(Device::Cuda(idx))
}

/// Parameter precision. Losses always upcast logits to f32 before `log_softmax`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Dtype {
    /// 32-bit floats (the default; the only one the cross-validation uses).
    #[default]
    F32,
    /// bfloat16 parameters and activations; CUDA only.
    Bf16,
}

impl Dtype {
    /// The libtorch kind, checked against the device: bf16 is offered on CUDA only (CPU bf16
    /// matmuls are slow and this layer's CPU role is validation, which wants f32).
    pub fn kind(self, device: Device) -> Result<Kind> {
        match (self, device) {
            (Dtype::F32, _) => Ok(Kind::Float),
            (Dtype::Bf16, Device::Cuda(_)) => Ok(Kind::BFloat16),
            (Dtype::Bf16, d) => Err(AihfError::param(
                "dtype",
                format!("bf16 is supported on CUDA only, the device is {d:?}; use f32"),
            )),
        }
    }
}

/// Sets libtorch's global seed (parameter initialisation, dropout). Every run records it.
pub fn manual_seed(seed: u64) {
    // libtorch takes an i64; keep the bit pattern.
    tch::manual_seed(seed as i64);
}
