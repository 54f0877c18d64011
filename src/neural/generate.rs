//! Sampling from a policy network: ancestral sampling of `n` responses to a prompt
//! ([`generate`]) and greedy decoding ([`greedy`]), without gradients. The trainers that sample
//! (SPIN, Self-Play AIHF, RLHF, AIHF), the ground-truth probe and the benchmark all draw here.

use crate::error::{AihfError, Result};
use crate::neural::model::PolicyNet;
use rand::Rng;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

/// Samples `n` responses to `prompt` from `model` (no gradients), token by token, from the
/// softmax of the f32-upcast logits, with `rng` (one uniform per unfinished row and step):
/// [`crate::neural::model::sample`] with the network's decoder — a key–value cache for the
/// transformer, so each step costs one position instead of the whole prefix.
pub fn generate(
    model: &dyn PolicyNet,
    prompt: &[i64],
    n: usize,
    max_new: usize,
    eos: Option<i64>,
    device: Device,
    rng: &mut impl Rng,
) -> Result<Vec<Vec<i64>>> {
    Ok(crate::neural::model::sample(model.decoder(), prompt, n, max_new, eos, device, rng)?.tokens)
}

/// Greedy (argmax) decoding of one response to `prompt`.
pub fn greedy(
    model: &dyn ModuleT,
    prompt: &[i64],
    max_new: usize,
    eos: Option<i64>,
    device: Device,
) -> Result<Vec<i64>> {
    if prompt.is_empty() {
        return Err(AihfError::param(
            "prompt",
            "generation needs at least one prompt token",
        ));
    }
    let mut s = prompt.to_vec();
    tch::no_grad(|| -> Result<()> {
        for _ in 0..max_new {
            let x = Tensor::from_slice(&s)
                .view([1, s.len() as i64])
                .to_device(device);
            let logits = model
                .forward_t(&x, false)
                .select(1, s.len() as i64 - 1)
                .to_kind(Kind::Float)
                .to_device(Device::Cpu);
            let tok = logits
                .argmax(-1, false)
                .int64_value(&[0])
                .clamp(0, i64::MAX);
            s.push(tok);
            if Some(tok) == eos {
                break;
            }
        }
        Ok(())
    })?;
    Ok(s[prompt.len()..].to_vec())
}
