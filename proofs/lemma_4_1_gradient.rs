//! Lemma 4.1 (SPEC §2.3, paper (45)–(47)): the ML-IRL likelihood
//! `L_D(θ) = Σ_t γ^t E_{d_{E,t}}[log π_{θ,t}(a|s)]` has the exact gradient
//! `∇_θ L_D = (1/β) Φᵀ (d_E − d^{π_θ})` (`Φ = I` for tabular rewards). Checked against central
//! finite differences of `L_D` computed through `Q*_θ`: relative error ≤ 1e-6 (`tol::FD_REL`),
//! for tabular and linear rewards, discounted and finite-horizon MDPs.
use crate::mdp_strategies::any_mdp;
use aihf::mdp::claims::gradient_fd_error;
use aihf::mdp::irl::{self, RewardModel};
use aihf::tol;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn exact_gradient_matches_finite_differences((m, seed) in any_mdp()) {
        let model = match m.features() {
            Some(_) => RewardModel::linear(&m).unwrap(),
            None => RewardModel::tabular(&m),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 7);
        let theta: Vec<f64> = (0..model.dim()).map(|_| 2.0 * (rng.random::<f64>() - 0.5)).collect();
        let err = gradient_fd_error(&m, &model, &theta).unwrap();
        prop_assert!(err <= tol::FD_REL, "relative error {err:e} > {:e}", tol::FD_REL);
    }
}

/// The telescoped objective (45) equals `L_D − Σ d_E log π0` when `d_E` is an exact occupancy.
#[test]
fn telescoped_objective_equals_likelihood_up_to_a_constant() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for i in 0..12 {
        let m = aihf::mdp::claims::instance(i, &mut rng, i % 2 == 0).unwrap();
        let model = RewardModel::tabular(&m);
        let expert = aihf::mdp::bellman::solve(&m, m.reward(), tol::VI_EXACT).unwrap();
        let d_e = aihf::mdp::occupancy::of_solution(&m, &expert).unwrap();
        let tot = d_e.total(m.gamma());
        let theta: Vec<f64> = (0..m.n_sa()).map(|_| rng.random::<f64>()).collect();
        let l = irl::likelihood(&m, &model, &theta, &d_e, tol::VI_EXACT).unwrap();
        let (lt, _, _) =
            irl::telescoped_with_gradient(&m, &model, &theta, &tot, tol::VI_EXACT).unwrap();
        let c: f64 = tot
            .iter()
            .zip(m.log_ref())
            .filter(|(d, _)| **d > 0.0)
            .map(|(d, l)| d * l)
            .sum();
        assert!(
            (l - (lt + c)).abs() < 1e-9 * l.abs().max(1.0),
            "instance {i}: L_D = {l}, L̃ + Σ d_E log π0 = {}",
            lt + c
        );
    }
}
