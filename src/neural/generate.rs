//! Sampling from a policy network: ancestral sampling of `n` responses to a prompt
//! ([`generate`]) and greedy decoding ([`greedy`]), without gradients. The trainers that sample
//! (SPIN, Self-Play AIHF, RLHF, AIHF), the ground-truth probe and the benchmark all draw here.

use crate::error::{AihfError, Result};
use crate::neural::terr;
use rand::Rng;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

/// Samples `n` responses to `prompt` from `model` (no gradients), token by token, from the
/// softmax of the f32-upcast logits, with `rng`.
pub fn generate(
    model: &dyn ModuleT,
    prompt: &[i64],
    n: usize,
    max_new: usize,
    eos: Option<i64>,
    device: Device,
    rng: &mut impl Rng,
) -> Result<Vec<Vec<i64>>> {
    if prompt.is_empty() {
        return Err(AihfError::param(
            "prompt",
            "generation needs at least one prompt token",
        ));
    }
    let mut seqs: Vec<Vec<i64>> = vec![prompt.to_vec(); n];
    let mut done = vec![false; n];
    tch::no_grad(|| -> Result<()> {
        for _ in 0..max_new {
            if done.iter().all(|&d| d) {
                break;
            }
            let t = seqs[0].len();
            let flat: Vec<i64> = seqs.iter().flatten().copied().collect();
            let x = Tensor::from_slice(&flat)
                .view([n as i64, t as i64])
                .to_device(device);
            let logits = model
                .forward_t(&x, false)
                .select(1, t as i64 - 1)
                .to_kind(Kind::Float);
            let probs = logits
                .softmax(-1, Kind::Float)
                .to_kind(Kind::Double)
                .to_device(Device::Cpu);
            let v = probs.size()[1] as usize;
            let probs =
                Vec::<f64>::try_from(probs.view([-1])).map_err(terr("reading probabilities"))?;
            for (r, s) in seqs.iter_mut().enumerate() {
                if done[r] {
                    // Keep rows rectangular; the padding is dropped below.
                    s.push(eos.unwrap_or(0));
                    continue;
                }
                let row = &probs[r * v..(r + 1) * v];
                let u: f64 = rng.random::<f64>() * row.iter().sum::<f64>();
                let mut acc = 0.0;
                let mut tok = v - 1;
                for (k, p) in row.iter().enumerate() {
                    acc += p;
                    if u < acc {
                        tok = k;
                        break;
                    }
                }
                s.push(tok as i64);
                if Some(tok as i64) == eos {
                    done[r] = true;
                }
            }
        }
        Ok(())
    })?;
    Ok(seqs
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
        .collect())
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
