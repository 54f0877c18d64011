//! **BTL maximum likelihood** (SPEC §1.2, paper (28)–(32)): `r^P = argmax Σ M_ij log σ(r_i − r_j)`
//! satisfies `Σ_j [M_ij − n_ij σ(r_i − r_j)] = 0`, equivalently the Zermelo/MM fixed point
//! `p_i = W_i / Σ_j n_ij/(p_i + p_j)` with `p = exp(r)`; it exists iff the beats graph is strongly
//! connected (Ford 1957, Hunter 2004), otherwise the solver must refuse with a witness set.

use crate::strategies::*;
use aihf::bandit::{fit, Method, Options};
use aihf::math::sigmoid;
use aihf::AihfError;
use proptest::prelude::*;

proptest! {
    #[test]
    fn btl_solves_its_stationarity_and_mm_fixed_point(d in full_data()) {
        let f = fit(Method::Btl, &d, &Options::default()).unwrap();
        let r: Vec<f64> = f.reward.iter().map(|x| x.unwrap()).collect();
        let n = d.n_actions();
        let m = d.n_comparisons() as f64;
        let w = d.wins();
        for i in 0..n {
            let (mut g, mut den) = (0.0, 0.0);
            for j in (0..n).filter(|&j| j != i) {
                let nij = (d.pref(i, j) + d.pref(j, i)) as f64;
                g += d.pref(i, j) as f64 - nij * sigmoid(r[i] - r[j]);
                den += nij / (r[i].exp() + r[j].exp());
            }
            prop_assert!(g.abs() / m <= aihf::tol::STATIONARITY_REL, "gradient residual {:e}", g.abs() / m);
            let mm = (w[i] as f64 / den - r[i].exp()).abs() / r[i].exp();
            prop_assert!(mm <= aihf::tol::STATIONARITY_REL, "MM fixed-point residual {mm:e}");
        }
        prop_assert!(r.iter().sum::<f64>().abs() < 1e-9, "rewards are normalised to mean zero");
    }

    /// Existence: if the check refuses, the witness set never wins against its complement, and
    /// the likelihood keeps increasing as the witness rewards go to −∞ (no maximiser); if it
    /// accepts, Newton converges.
    #[test]
    fn btl_existence_matches_the_graph_condition(d in sparse_data()) {
        match fit(Method::Btl, &d, &Options::default()) {
            Ok(f) => prop_assert!(f.grad_norm <= 1e-10 * (d.n_comparisons() as f64).max(1.0)),
            Err(AihfError::NoEstimator { witness, .. }) => {
                prop_assert!(!witness.is_empty());
                let n = d.n_actions();
                let inside = |i: usize| witness.contains(&i);
                for i in (0..n).filter(|&i| inside(i)) {
                    for j in (0..n).filter(|&j| !inside(j)) {
                        prop_assert_eq!(d.pref(i, j), 0, "witness action {} beats {}", i, j);
                    }
                }
                // With a ridge the estimator always exists.
                let f = fit(Method::Btl, &d, &Options { ridge: 0.1, ..Options::default() }).unwrap();
                prop_assert!(f.policy.iter().all(|p| p.is_finite() && *p > 0.0));
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }
}
