//! **The DPO family, tabular** (SPEC §1.5, paper (10), §3.3):
//! - DPO's optimum is `π_ref exp(r^P/β)`; with `π_ref = π_SFT` it equals RLHF's `π_SFT exp(r^P/β)` (33);
//! - Direct AIHF with uniform `π_ref`, `β = 1`, `α = 1` has AIHF's optimum (`λ = 1`);
//! - IPO's optimum is a stationary point of its own objective `Σ M_ij (h_i − h_j − 1/(2τ))²` in the
//!   policy logits, checked by central finite differences of that objective (independent of the
//!   Laplacian normal equations the solver uses); the objective is convex in the logits, so
//!   this certifies the minimum;
//! - the DPO family refuses a reference with zero mass, naming the actions.

use crate::strategies::*;
use aihf::bandit::{btl_reward, fit, Method, Options};
use aihf::math::{softmax, tv};
use aihf::tol::IDENTITY_TV;
use proptest::prelude::*;

proptest! {
    #[test]
    fn dpo_optimum_is_reference_tilted_by_btl_reward(d in full_data(), beta in beta(), seed in 0u64..1000) {
        let n = d.n_actions();
        // An arbitrary positive reference.
        let w: Vec<f64> = (0..n).map(|i| 1.0 + ((seed + i as u64 * 7) % 11) as f64).collect();
        let s: f64 = w.iter().sum();
        let pref: Vec<f64> = w.iter().map(|x| x / s).collect();
        let o = Options { beta, dpo_reference: Some(pref.clone()), ..Options::default() };
        let dpo = fit(Method::Dpo, &d, &o).unwrap().policy;
        let r = btl_reward(&d, &o).unwrap().u;
        let want = softmax(&(0..n).map(|i| pref[i].ln() + r[i] / beta).collect::<Vec<_>>());
        let t = tv(&dpo, &want);
        prop_assert!(t <= IDENTITY_TV, "TV(π_DPO, π_ref exp(r^P/β)) = {t:e}");
        let rl = fit(Method::Rlhf, &d, &Options { beta, ..Options::default() }).unwrap().policy;
        let dp = fit(Method::Dpo, &d, &Options { beta, ..Options::default() }).unwrap().policy;
        prop_assert!(tv(&rl, &dp) <= IDENTITY_TV, "TV(π_DPO(π_SFT), π_RLHF) = {:e}", tv(&rl, &dp));
    }

    #[test]
    fn direct_aihf_with_uniform_reference_is_aihf(d in full_data()) {
        let n = d.n_actions();
        let o = Options { dpo_reference: Some(vec![1.0 / n as f64; n]), ..Options::default() };
        let direct = fit(Method::DirectAihf, &d, &o).unwrap().policy;
        // Independent of the shared solver: the paper's fixed point (15) with λ = 1.
        let fp = aihf::bandit::claims::fixed_point_15_residual(&d, &direct, 1.0);
        prop_assert!(fp <= aihf::tol::STATIONARITY_REL, "(15) residual of π_DirectAIHF = {fp:e}");
        let t = tv(&direct, &fit(Method::Aihf, &d, &o).unwrap().policy);
        prop_assert!(t <= IDENTITY_TV, "TV(π_DirectAIHF, π_AIHF) = {t:e}");
    }

    #[test]
    fn ipo_optimum_is_stationary_for_its_own_objective(d in full_data(), tau in 0.05f64..2.0) {
        let o = Options { ipo_tau: tau, ..Options::default() };
        let f = fit(Method::Ipo, &d, &o).unwrap();
        let lr = aihf::bandit::dpo_log_ref(&d, &o, "IPO").unwrap();
        let n = d.n_actions();
        // SPEC §1.5's IPO loss as a function of the logits θ (π = softmax θ), written from the
        // formula: Σ_{i≠j} M_ij (h_i − h_j − 1/(2τ))², h = log π − log π_ref.
        let loss = |theta: &[f64]| -> f64 {
            let lp = aihf::math::log_softmax(theta);
            let mut s = 0.0;
            for i in 0..n {
                for j in (0..n).filter(|&j| j != i) {
                    let x = (lp[i] - lr[i]) - (lp[j] - lr[j]) - 1.0 / (2.0 * tau);
                    s += d.pref(i, j) as f64 * x * x;
                }
            }
            s
        };
        let theta: Vec<f64> = f.policy.iter().map(|p| p.ln()).collect();
        let g = fd_gradient(loss, &theta);
        let scale = d.n_comparisons() as f64 / (2.0 * tau);
        let worst = g.iter().fold(0.0f64, |m, x| if x.abs() > m || x.is_nan() { x.abs() } else { m }) / scale;
        prop_assert!(worst <= aihf::tol::FD_REL, "‖∇ IPO loss‖∞ / (M/(2τ)) = {worst:e} > {:e} (finite differences)", aihf::tol::FD_REL);
    }
}

#[test]
fn dpo_refuses_a_reference_with_zero_mass() {
    let d = aihf::data::BanditData::new(
        3,
        vec![5, 0, 2],
        vec![vec![0, 1, 1], vec![1, 0, 1], vec![1, 1, 0]],
    )
    .unwrap();
    for m in [Method::Dpo, Method::Ipo, Method::DirectAihf] {
        let e = fit(m, &d, &Options::default()).unwrap_err().to_string();
        assert!(e.contains("{1}") && e.contains("zero mass"), "{m:?}: {e}");
    }
    // Smoothing makes it exist.
    let o = Options {
        ref_smoothing: Some(0.5),
        ..Options::default()
    };
    assert!(fit(Method::Dpo, &d, &o).is_ok());
}
