//! AdamW whose state the toolkit owns, so that checkpoints can hold it.
//!
//! tch's `nn::Optimizer` wraps libtorch's C++ optimiser and exposes no way to read or write its
//! moment estimates, so a run restored from weights alone would restart Adam from zero and
//! diverge from the uninterrupted run. This is PyTorch's single-tensor AdamW
//! (`torch.optim.AdamW(foreach=False)`), operation for operation:
//!
//! ```text
//! p ← p · (1 − lr·wd)
//! m ← lerp(m, g, 1 − β1)                       (= β1 m + (1 − β1) g)
//! v ← β2 v + (1 − β2) g²
//! p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
//! ```
//!
//! with the moments kept in the parameters' dtype and device. A test checks it against tch's
//! AdamW step by step (f32: bit for bit against a PyTorch replica). In bf16 it is not bit-exact:
//! tch exposes `addcmul_`/`addcdiv_` without PyTorch's `value=` factor, so the factor is applied
//! in the parameter dtype first, one extra rounding.

use crate::error::{AihfError, Result};
use crate::neural::terr;
use tch::nn::VarStore;
use tch::Tensor;

/// One trainable tensor and its moments.
pub struct Slot {
    /// The variable's name in its `VarStore` (the checkpoint key).
    pub name: String,
    /// The parameter itself (shares storage with the `VarStore`'s variable).
    pub param: Tensor,
    /// First-moment estimate `m` (exponential average of gradients), same shape and dtype.
    pub m: Tensor,
    /// Second-moment estimate `v` (exponential average of squared gradients).
    pub v: Tensor,
}

/// AdamW over the trainable variables of one `VarStore`.
pub struct AdamW {
    /// `β1`, the first-moment decay (0.9).
    pub beta1: f64,
    /// `β2`, the second-moment decay (0.999).
    pub beta2: f64,
    /// `ε` added to the denominator (1e-8).
    pub eps: f64,
    /// Decoupled weight decay `wd` (`p ← p·(1 − lr·wd)` before the Adam step).
    pub weight_decay: f64,
    /// Updates taken so far (Adam's `t`).
    pub t: u64,
    /// Sorted by name.
    pub slots: Vec<Slot>,
}

impl AdamW {
    /// PyTorch's defaults (`β = (0.9, 0.999)`, `ε = 1e-8`) with the given weight decay.
    pub fn new(vs: &VarStore, weight_decay: f64) -> Result<Self> {
        crate::error::check_nonneg("weight_decay", weight_decay)?;
        let mut named: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        if named.is_empty() {
            return Err(AihfError::Neural(
                "the model has no trainable variables".into(),
            ));
        }
        let slots = named
            .into_iter()
            .map(|(name, param)| {
                let m = param.zeros_like().detach();
                let v = param.zeros_like().detach();
                Slot { name, param, m, v }
            })
            .collect();
        Ok(AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            t: 0,
            slots,
        })
    }

    /// The parameters, in slot order.
    pub fn params(&self) -> Vec<Tensor> {
        self.slots.iter().map(|s| s.param.shallow_clone()).collect()
    }

    /// Clears the gradients.
    pub fn zero_grad(&mut self) {
        for s in &mut self.slots {
            let mut g = s.param.grad();
            if g.defined() {
                let _ = g.detach_();
                let _ = g.zero_();
            }
        }
    }

    /// One update with learning rate `lr` from the current gradients (variables without a
    /// gradient are left alone, moments included, as PyTorch does).
    pub fn step(&mut self, lr: f64) -> Result<()> {
        self.t += 1;
        // `powf`, as Python's `beta ** step` (integer powers by repeated squaring round
        // differently in the last bits).
        let t = self.t as f64;
        let bc1 = 1.0 - self.beta1.powf(t);
        let bc2_sqrt = (1.0 - self.beta2.powf(t)).sqrt();
        let step_size = lr / bc1;
        let (b1, b2, eps, wd) = (self.beta1, self.beta2, self.eps, self.weight_decay);
        tch::no_grad(|| -> Result<()> {
            for s in &mut self.slots {
                let g = s.param.grad();
                if !g.defined() {
                    continue;
                }
                if wd != 0.0 {
                    let _ = s
                        .param
                        .f_mul_scalar_(1.0 - lr * wd)
                        .map_err(terr("AdamW"))?;
                }
                let _ = s.m.f_lerp_(&g, 1.0 - b1).map_err(terr("AdamW"))?;
                let _ = s.v.f_mul_scalar_(b2).map_err(terr("AdamW"))?;
                let _ =
                    s.v.f_addcmul_(&g, &(&g * (1.0 - b2)))
                        .map_err(terr("AdamW"))?;
                let denom = (s.v.sqrt() / bc2_sqrt) + eps;
                let _ = s
                    .param
                    .f_addcdiv_(&(&s.m * (-step_size)), &denom)
                    .map_err(terr("AdamW"))?;
            }
            Ok(())
        })
    }

    /// `‖∇‖₂` over the parameters (before clipping).
    pub fn grad_norm(&self) -> f64 {
        grad_norm(&self.params())
    }

    /// Scales the gradients so that their global norm is at most `max` (given the measured
    /// norm `gn`), as `torch.nn.utils.clip_grad_norm_` does.
    pub fn clip(&mut self, gn: f64, max: f64) {
        if gn > max {
            tch::no_grad(|| {
                for s in &self.slots {
                    let mut g = s.param.grad();
                    if g.defined() {
                        let _ = g.g_mul_scalar_(max / (gn + 1e-6));
                    }
                }
            });
        }
    }

    /// Whether every parameter is finite (one device synchronisation).
    pub fn params_finite(&self) -> bool {
        tch::no_grad(|| {
            let all: Vec<Tensor> = self
                .slots
                .iter()
                .map(|s| s.param.isfinite().all())
                .collect();
            Tensor::stack(&all, 0).all().int64_value(&[]) != 0
        })
    }
}

/// `‖∇‖₂` over the gradients of `vars` (before clipping), with one device synchronisation;
/// variables without a gradient count as zero.
pub fn grad_norm(vars: &[Tensor]) -> f64 {
    tch::no_grad(|| {
        let norms: Vec<Tensor> = vars
            .iter()
            .map(|v| v.grad())
            .filter(|g| g.defined())
            .map(|g| g.to_kind(tch::Kind::Float).norm())
            .collect();
        if norms.is_empty() {
            return 0.0;
        }
        Tensor::stack(&norms, 0).norm().double_value(&[])
    })
}
