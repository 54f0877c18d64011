//! Sequence log-probabilities and the losses of SPEC §3.
//!
//! Conventions. Token ids `x: [B, T]`, a response mask `m: [B, T]` that is 1 on response
//! tokens and 0 on prompt and padding, next-token logits `z: [B, T, V]` (position `t` scores
//! token `t + 1`). Then
//!
//! `log π(y|x) = Σ_{t ≥ 1} m_t · log_softmax(z_{t−1})[x_t]`,
//!
//! with the logits upcast to f32 before `log_softmax` (bf16 logits lose ~3 digits). Losses are
//! weighted means over records, `Σ_k w_k ℓ_k / Σ_k w_k`: a record repeated `c` times and the same
//! record once with weight `c` give the same loss (the trainers aggregate duplicates this way).
//! With `h(y) = log π_φ(y|x) − log π_ref(y|x)`:
//!
//! | loss | `ℓ_k` |
//! |---|---|
//! | SFT | `−log π_φ(y_k|x_k)` |
//! | BTL | `−log σ(r(y_w) − r(y_l))` |
//! | DPO | `−log σ(β (h(y_w) − h(y_l)))` |
//! | IPO | `(h(y_w) − h(y_l) − 1/(2τ))²` |
//! | Direct AIHF | DPO `+ α ·` SFT (two weighted means) |
//! | SPIN | DPO with `y_w = y_demo`, `y_l ∼ π_t`, `π_ref = π_t` |
//! | Self-Play AIHF | SPIN `+ λ ·` DPO on the preference pairs |
//!
//! `log σ` is libtorch's `log_sigmoid` (stable for large negative arguments).

use crate::error::{AihfError, Result};
use tch::{Kind, Tensor};

/// `log π(y|x)` per row: sum over response tokens of the next-token log-probabilities.
/// `logits: [B, T, V]` (any float kind; upcast to f32), `tokens: [B, T]` int64,
/// `response_mask: [B, T]` (1 on response tokens). Returns `[B]` f32.
pub fn sequence_logprobs(logits: &Tensor, tokens: &Tensor, response_mask: &Tensor) -> Tensor {
    token_logprobs(logits, tokens, response_mask).sum_dim_intlist(1, false, Kind::Float)
}

/// The per-token terms of [`sequence_logprobs`], `[B, T−1]`, zero off the response.
pub fn token_logprobs(logits: &Tensor, tokens: &Tensor, response_mask: &Tensor) -> Tensor {
    let t = tokens.size()[1];
    let lp = logits
        .narrow(1, 0, t - 1)
        .to_kind(Kind::Float)
        .log_softmax(-1, Kind::Float);
    let target = tokens.narrow(1, 1, t - 1).unsqueeze(-1);
    let tok = lp.gather(-1, &target, false).squeeze_dim(-1);
    tok * response_mask.narrow(1, 1, t - 1).to_kind(Kind::Float)
}

/// `values[b, idx[b]]` upcast to f32: the reward of a sequence read at its last token.
pub fn at_positions(values: &Tensor, idx: &Tensor) -> Tensor {
    values
        .to_kind(Kind::Float)
        .gather(1, &idx.unsqueeze(-1), false)
        .squeeze_dim(-1)
}

/// `Σ w ℓ / Σ w`.
pub fn weighted_mean(l: &Tensor, w: &Tensor) -> Tensor {
    (l * w).sum(Kind::Float) / w.sum(Kind::Float)
}

/// SFT: weighted mean of `−log π(y|x)`.
pub fn sft(logp: &Tensor, w: &Tensor) -> Tensor {
    weighted_mean(&logp.neg(), w)
}

/// BTL reward modelling: weighted mean of `−log σ(r_w − r_l)`.
pub fn btl(r_w: &Tensor, r_l: &Tensor, w: &Tensor) -> Tensor {
    weighted_mean(&(r_w - r_l).log_sigmoid().neg(), w)
}

/// The implicit-reward margin `h(y_w) − h(y_l)` of the DPO family.
pub fn margin(lp_w: &Tensor, lp_l: &Tensor, ref_w: &Tensor, ref_l: &Tensor) -> Tensor {
    (lp_w - ref_w) - (lp_l - ref_l)
}

/// DPO: weighted mean of `−log σ(β (h_w − h_l))`.
pub fn dpo(
    lp_w: &Tensor,
    lp_l: &Tensor,
    ref_w: &Tensor,
    ref_l: &Tensor,
    beta: f64,
    w: &Tensor,
) -> Tensor {
    let z = margin(lp_w, lp_l, ref_w, ref_l) * beta;
    weighted_mean(&z.log_sigmoid().neg(), w)
}

/// IPO: weighted mean of `(h_w − h_l − 1/(2τ))²`.
pub fn ipo(
    lp_w: &Tensor,
    lp_l: &Tensor,
    ref_w: &Tensor,
    ref_l: &Tensor,
    tau: f64,
    w: &Tensor,
) -> Tensor {
    let d = margin(lp_w, lp_l, ref_w, ref_l) - 0.5 / tau;
    weighted_mean(&d.square(), w)
}

/// A scalar loss as f64, or the error that stops training: a NaN or ±∞ at `step`.
pub fn finite_value(loss: &Tensor, step: usize) -> Result<f64> {
    let v = loss.to_kind(Kind::Double).double_value(&[]);
    if v.is_finite() {
        Ok(v)
    } else {
        Err(AihfError::Neural(format!(
            "loss is {v} at step {step}; stopping (lower the learning rate, enable gradient \
             clipping, or check the data for extreme reference log-probabilities)"
        )))
    }
}
