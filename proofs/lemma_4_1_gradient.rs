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
    #![proptest_config(ProptestConfig::with_cases(96))]

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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// SPEC §2.4: the upper-level objective `L(θ) = L̃_D(θ) + λ·mean log σ(R_θ(τ_w) − R_θ(τ_l))`
    /// (empirical `d̂_E` from sampled demonstrations, sampled trajectory pairs) has the exact
    /// gradient `(1/β)Φᵀ(d̂_E − d^{π_θ}) + λ·mean (1−σ)(Φ(τ_w) − Φ(τ_l))`: relative error ≤ 1e-6
    /// against central differences.
    #[test]
    fn upper_objective_gradient_matches_finite_differences((m, seed) in crate::mdp_strategies::discounted_mdp(), lambda in 0.0f64..3.0) {
        use aihf::mdp::traj::{self, Length, Sampler};
        let model = match m.features() {
            Some(_) => RewardModel::linear(&m).unwrap(),
            None => RewardModel::tabular(&m),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 9);
        let pi: Vec<f64> = m.log_ref().iter().map(|l| l.exp()).collect();
        let s = Sampler::new(&m);
        let demos: Vec<_> = (0..20).map(|_| traj::sample(&m, &s, &[&pi], Length::Fixed(12), &mut rng)).collect();
        let prefs = traj::sample_preferences(&m, &s, &[&pi], Length::Fixed(12), m.reward(), 20, &mut rng);
        let data = aihf::mdp::algorithm1::Data::from_trajectories(&m, &model, &demos, &prefs).unwrap();
        let theta: Vec<f64> = (0..model.dim()).map(|_| rng.random::<f64>() - 0.5).collect();
        let f = |th: &[f64]| irl::upper_objective(&m, &model, th, &data.d_e, &data.prefs, lambda, tol::VI_EXACT).unwrap();
        let (_, g, _) = f(&theta);
        let h = tol::FD_STEP;
        let mut th = theta.clone();
        let mut err = 0.0f64;
        for i in 0..theta.len() {
            th[i] = theta[i] + h;
            let fp = f(&th).0;
            th[i] = theta[i] - h;
            let fm = f(&th).0;
            th[i] = theta[i];
            err = err.max(((fp - fm) / (2.0 * h) - g[i]).abs());
        }
        let gmax = g.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let rel = if m.n_actions() > 1 && gmax > 1e-9 { err / gmax } else { err };
        prop_assert!(rel <= tol::FD_REL, "relative error {rel:e} > {:e} (λ = {lambda})", tol::FD_REL);
    }
}

/// The two-stage baseline's trajectory-BTL fit recovers a well-identified linear reward: with
/// 4,000 pairs labelled by BTL on `θ*` (3 features), `‖θ_P − θ*‖∞ ≤ 0.25`.
#[test]
fn trajectory_btl_recovers_a_linear_reward() {
    use aihf::mdp::gen::{random_mdp, RandomMdp};
    use aihf::mdp::traj::{self, Length, Sampler};
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let c = RandomMdp {
        feature_dim: Some(3),
        ..RandomMdp::small(6, 3)
    };
    let m = random_mdp(&c, &mut rng).unwrap();
    let model = RewardModel::linear(&m).unwrap();
    let pi: Vec<f64> = m.log_ref().iter().map(|l| l.exp()).collect();
    let s = Sampler::new(&m);
    let prefs = traj::sample_preferences(
        &m,
        &s,
        &[&pi],
        Length::Fixed(10),
        m.reward(),
        4000,
        &mut rng,
    );
    let diffs = irl::pref_diffs(&model, &prefs, m.n_actions(), m.gamma());
    let th = irl::fit_btl(&diffs, 3, 0.0).unwrap();
    let truth = m.theta().unwrap();
    let err = th
        .iter()
        .zip(truth)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        err <= 0.25,
        "‖θ_P − θ*‖∞ = {err:.3} > 0.25 (θ_P = {th:?}, θ* = {truth:?})"
    );
}
