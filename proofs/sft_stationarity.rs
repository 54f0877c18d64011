//! **SFT stationarity** (SPEC §1.1, paper (22)–(27)): maximising `Σ_i N_i log π_r(i)` gives
//! `N_i = N π_SFT(i)`, i.e. `π_SFT(i) = N_i/N`, with implicit reward `β log(N_i/N) + const`
//! (uniform `π0`) and zero probability on uncovered actions.
//!
//! Independent computation: the first-order conditions of the likelihood
//! `Σ_i N_i log softmax(z)_i` are evaluated by central finite differences in the logits at
//! `z = log π_SFT` (no closed form involved), and the likelihood is concave in `z`, so a
//! vanishing numerical gradient certifies the maximum. A wrong closed form (say `(N_i+1)/(N+n)`)
//! leaves a gradient of order `1/N` per observation, far above `tol::FD_REL`.

use crate::strategies::*;
use aihf::bandit::{fit, Method, Options};
use aihf::math::log_softmax;
use proptest::prelude::*;

proptest! {
    #[test]
    fn sft_is_the_empirical_distribution(d in sparse_data(), beta in beta()) {
        prop_assume!(d.n_demos() > 0);
        let f = fit(Method::Sft, &d, &Options { beta, ..Options::default() }).unwrap();
        let nn = d.n_demos() as f64;
        // First-order conditions by finite differences over the covered actions (uncovered ones
        // sit at z = −∞, the boundary of the simplex, where π_SFT = 0 is forced).
        let cov: Vec<usize> = (0..d.n_actions()).filter(|&i| d.demos()[i] > 0).collect();
        let ll = |z: &[f64]| -> f64 {
            let l = log_softmax(z);
            cov.iter().zip(&l).map(|(&i, li)| d.demos()[i] as f64 * li).sum()
        };
        let z: Vec<f64> = cov.iter().map(|&i| f.policy[i].ln()).collect();
        let g = fd_gradient(ll, &z);
        let worst = g.iter().fold(0.0f64, |m, x| if x.abs() > m || x.is_nan() { x.abs() } else { m }) / nn;
        prop_assert!(worst <= aihf::tol::FD_REL, "‖∇ log-likelihood(log π_SFT)‖∞/N = {worst:e} > {:e} (finite differences)", aihf::tol::FD_REL);
        for (i, &c) in d.demos().iter().enumerate() {
            prop_assert_eq!(f.reward[i].is_none(), c == 0, "reward is −∞ exactly on uncovered actions");
            prop_assert_eq!(f.policy[i] == 0.0, c == 0, "zero mass exactly on uncovered actions");
        }
        // Implicit reward differences: β log(N_i/N_j).
        for w in cov.windows(2) {
            let (i, j) = (w[0], w[1]);
            let want = beta * (d.demos()[i] as f64 / d.demos()[j] as f64).ln();
            let got = f.reward[i].unwrap() - f.reward[j].unwrap();
            prop_assert!((got - want).abs() <= 1e-12 * (1.0 + want.abs()), "r_{i} − r_{j} = {got} ≠ {want}");
        }
    }
}

#[test]
fn sft_without_demonstrations_is_an_error() {
    let d = aihf::data::BanditData::empty(3).unwrap();
    let e = fit(Method::Sft, &d, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no demonstrations"), "{e}");
}
