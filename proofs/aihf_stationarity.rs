//! **AIHF stationarity and the weighted-average fixed point** (SPEC §1.4, paper (15), (35)–(36)):
//! with uniform `π0`, `β = 1`, the maximiser of `Σ N_i log π_r(i) + λ Σ M_ij log σ(r_i − r_j)`
//! satisfies `N_i − Nπ_i + λ Σ_j [M_ij − n_ij π_i/(π_i+π_j)] = 0`, equivalently
//! `π_i = (N_i + λW_i)/(N + λD_i(π))`, `D_i(π) = Σ_j n_ij/(π_i+π_j)`. Existence iff every proper
//! subset carries demonstrations or wins against its complement.

use crate::strategies::*;
use aihf::bandit::{fit, Method, Options, Weighting};
use aihf::AihfError;
use proptest::prelude::*;

proptest! {
    #[test]
    fn aihf_satisfies_stationarity_and_fixed_point_15(d in full_data(), lambda in 0.0f64..4.0) {
        let f = fit(Method::Aihf, &d, &Options { lambda, ..Options::default() }).unwrap();
        let (n, nn) = (d.n_actions(), d.n_demos() as f64);
        let scale = nn + lambda * d.n_comparisons() as f64;
        let pi = &f.policy;
        let w = d.wins();
        for i in 0..n {
            let mut s = d.demos()[i] as f64 - nn * pi[i];
            let mut di = 0.0;
            for j in (0..n).filter(|&j| j != i) {
                let nij = (d.pref(i, j) + d.pref(j, i)) as f64;
                s += lambda * (d.pref(i, j) as f64 - nij * pi[i] / (pi[i] + pi[j]));
                di += nij / (pi[i] + pi[j]);
            }
            prop_assert!(s.abs() / scale <= aihf::tol::STATIONARITY_REL, "stationarity residual {:e} > {:e}", s.abs() / scale, aihf::tol::STATIONARITY_REL);
            let rhs = (d.demos()[i] as f64 + lambda * w[i] as f64) / (nn + lambda * di);
            prop_assert!((rhs - pi[i]).abs() / pi[i] <= aihf::tol::STATIONARITY_REL, "(15) residual {:e}", (rhs - pi[i]).abs() / pi[i]);
        }
    }

    /// The `normalized` weighting solves `w p̂_i + Σ_j f_ij = π_i (w + Σ_j 1/(π_i+π_j))`.
    #[test]
    fn normalized_weighting_solves_its_system(d in full_data(), w in 0.1f64..5.0) {
        let o = Options { weighting: Weighting::Normalized, demo_weight: w, ..Options::default() };
        let pi = fit(Method::Aihf, &d, &o).unwrap().policy;
        let (n, nn) = (d.n_actions(), d.n_demos() as f64);
        for i in 0..n {
            let (mut lhs, mut rhs) = (w * d.demos()[i] as f64 / nn, w);
            for j in (0..n).filter(|&j| j != i) {
                let nij = (d.pref(i, j) + d.pref(j, i)) as f64;
                lhs += d.pref(i, j) as f64 / nij;
                rhs += 1.0 / (pi[i] + pi[j]);
            }
            prop_assert!((lhs - pi[i] * rhs).abs() / lhs <= aihf::tol::STATIONARITY_REL, "residual {:e}", (lhs - pi[i] * rhs).abs() / lhs);
        }
    }

    /// Existence: a refusal names a witness set with no demonstrations and no win outside;
    /// an uncovered action that wins a comparison still gets positive probability (Example 2's
    /// coverage effect).
    #[test]
    fn aihf_existence_and_coverage(d in sparse_data()) {
        match fit(Method::Aihf, &d, &Options::default()) {
            Ok(f) => {
                for i in 0..d.n_actions() {
                    prop_assert!(f.policy[i] > 0.0, "action {i} has zero probability");
                }
            }
            Err(AihfError::NoEstimator { witness, .. }) => {
                let n = d.n_actions();
                for &i in &witness {
                    prop_assert_eq!(d.demos()[i], 0, "witness action {} has demonstrations", i);
                    for j in (0..n).filter(|j| !witness.contains(j)) {
                        prop_assert_eq!(d.pref(i, j), 0, "witness action {} beats {}", i, j);
                    }
                }
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }
}
