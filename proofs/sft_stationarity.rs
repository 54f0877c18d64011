//! **SFT stationarity** (SPEC §1.1, paper (22)–(27)): maximising `Σ_i N_i log π_r(i)` gives
//! `N_i = N π_SFT(i)`, i.e. `π_SFT(i) = N_i/N`, with implicit reward `β log(N_i/N) + const`
//! (uniform `π0`) and zero probability on uncovered actions.

use crate::strategies::*;
use aihf::bandit::{fit, Method, Options};
use proptest::prelude::*;

proptest! {
    #[test]
    fn sft_is_the_empirical_distribution(d in sparse_data(), beta in beta()) {
        prop_assume!(d.n_demos() > 0);
        let f = fit(Method::Sft, &d, &Options { beta, ..Options::default() }).unwrap();
        let nn = d.n_demos() as f64;
        for (i, &c) in d.demos().iter().enumerate() {
            let r = (c as f64 - nn * f.policy[i]).abs() / nn;
            prop_assert!(r <= aihf::tol::STATIONARITY_REL, "action {i}: |N_i − Nπ_i|/N = {r:e} > {:e}", aihf::tol::STATIONARITY_REL);
            prop_assert_eq!(f.reward[i].is_none(), c == 0, "reward is −∞ exactly on uncovered actions");
        }
        // Implicit reward differences: β log(N_i/N_j).
        let cov: Vec<usize> = (0..d.n_actions()).filter(|&i| d.demos()[i] > 0).collect();
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
