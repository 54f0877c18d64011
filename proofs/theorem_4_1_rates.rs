//! Theorem 4.1 (SPEC §2.5, paper (20a), (20b)): with step `α/√K`, Algorithm 1 achieves
//! `(1/K) Σ_k E‖log π_{k+1} − log π_{θ_k}‖∞ = O(K^{-1/2})` and
//! `(1/K) Σ_k E‖∇L(θ_k)‖² = O(K^{-1/2})`.
//! Check (quick sizes, `K = 2^6 … 2^13`, 5 seeds): the least-squares log–log slope of each
//! quantity is `≤ −1/2` within its 95% CI (`ci_low ≤ −1/2`); the same rule must judge the
//! constant-step negative control FAIL.
use aihf::mdp::rates::{run, RatesConfig};

#[test]
fn rates_and_negative_control() {
    let res = run(&RatesConfig::quick(0), false).unwrap();
    for (name, f) in [("E_pol (20a)", &res.fit_pol), ("E_grad (20b)", &res.fit_grad)] {
        assert!(
            f.pass(),
            "{name}: slope {:.3}, 95% CI [{:.3}, {:.3}]: lower end > −1/2",
            f.slope, f.ci_low, f.ci_high
        );
    }
    for (name, f) in [("control E_pol", &res.control_fit_pol), ("control E_grad", &res.control_fit_grad)] {
        assert!(
            !f.pass(),
            "{name}: slope {:.3}, 95% CI [{:.3}, {:.3}] reaches −1/2: the check cannot tell a constant step apart",
            f.slope, f.ci_low, f.ci_high
        );
    }
}
