//! **SPIN and Self-Play AIHF, tabular** (SPEC §1.5; paper §3.3 and (11)):
//! - SPIN's fixed point is `π = N/N`;
//! - toolkit finding: the exact SPIN step maps the centred log-error `e_t = log π_t − log p̂` to
//!   `(1 − 1/β) e_t`, so the iteration converges iff `β > 1/2`;
//! - toolkit finding: Self-Play AIHF settles on `p̂ + λ(W − L)/M` (a linear correction of the
//!   empirical distribution, not AIHF's policy), and has no interior fixed point when that
//!   vector leaves the simplex.

use crate::strategies::*;
use aihf::bandit::{fit, self_play_aihf_fixed_point, self_play_iterates, Method, Options};
use aihf::math::tv;
use proptest::prelude::*;

fn centred_err(lp: &[f64], target: &[f64]) -> f64 {
    let e: Vec<f64> = lp.iter().zip(target).map(|(a, b)| a - b).collect();
    let m = e.iter().sum::<f64>() / e.len() as f64;
    e.iter().map(|x| (x - m).powi(2)).sum::<f64>().sqrt()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn spin_contracts_by_one_minus_inverse_beta(d in full_data(), beta in 0.3f64..4.0) {
        let n = d.n_actions();
        let o = Options { beta, ..Options::default() };
        let target: Vec<f64> = d.demos().iter().map(|&c| (c as f64 / d.n_demos() as f64).ln()).collect();
        let p0 = vec![-(n as f64).ln(); n];
        let e0 = centred_err(&p0, &target);
        prop_assume!(e0 > 1e-3);
        let it = self_play_iterates(&d, &o, 0.0, p0, 2).unwrap();
        let rate = centred_err(&it[0], &target) / e0;
        let want = (1.0 - 1.0 / beta).abs();
        prop_assert!((rate - want).abs() <= 1e-6, "measured rate {rate} vs |1 − 1/β| = {want}");
        if beta > 0.6 {
            let f = fit(Method::Spin, &d, &o).unwrap();
            let p_hat: Vec<f64> = target.iter().map(|l| l.exp()).collect();
            prop_assert!(tv(&f.policy, &p_hat) <= 1e-9, "TV(π_SPIN, p̂) = {:e}", tv(&f.policy, &p_hat));
        }
    }

    #[test]
    fn self_play_aihf_settles_on_its_linear_fixed_point(d in full_data(), lambda in 0.05f64..1.0) {
        let fp = self_play_aihf_fixed_point(&d, lambda);
        let o = Options { lambda, spin_iters: 50_000, ..Options::default() };
        match fit(Method::SelfPlayAihf, &d, &o) {
            Ok(f) => {
                prop_assert!(fp.iter().all(|p| *p > 0.0));
                let t = tv(&f.policy, &fp);
                prop_assert!(t <= 1e-6, "TV(π, p̂ + λ(W−L)/M) = {t:e}");
            }
            Err(e) => prop_assert!(fp.iter().any(|p| *p <= 0.0) || e.to_string().contains("did not settle"), "{e}"),
        }
    }
}
