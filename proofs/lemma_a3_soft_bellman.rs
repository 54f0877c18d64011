//! Lemma A.3 (SPEC §2.1, paper (80)–(84)): for the soft Bellman operator
//! `(TQ)(s,a) = r(s,a) + γ Σ_{s'} P(s'|s,a) V_Q(s')`, `V_Q(s) = β log Σ_a π0(a|s) e^{Q(s,a)/β}`,
//! - (81)/(84) `V_Q(s) = max_π Σ_a π(a)Q(s,a) − β KL(π‖π0(·|s))`, attained at `π_Q`;
//! - (82) `‖TQ − TQ'‖∞ ≤ γ‖Q − Q'‖∞`, with equality when `Q' = Q + c`;
//! - (83) `T` has a unique fixed point, reached by value iteration at geometric rate `γ`.
use crate::mdp_strategies::discounted_mdp;
use aihf::mdp::claims::{contraction_ratio, fixed_point_check, gibbs_check};
use aihf::tol;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_q(n: usize, rng: &mut impl Rng) -> Vec<f64> {
    (0..n).map(|_| 10.0 * (rng.random::<f64>() - 0.5)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn gibbs_variational_form((m, seed) in discounted_mdp()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 1);
        let q = random_q(m.n_sa(), &mut rng);
        let (gap, viol) = gibbs_check(&m, &q, 10, &mut rng);
        prop_assert!(gap <= 1e-12, "|V_Q − G(π_Q)| = {gap:e} > 1e-12");
        prop_assert!(viol <= 1e-12, "some π beats π_Q by {viol:e} (threshold 1e-12)");
    }

    #[test]
    fn contraction_and_shift_equality((m, seed) in discounted_mdp()) {
        prop_assume!(m.gamma() > 0.0);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 2);
        let q1 = random_q(m.n_sa(), &mut rng);
        let q2 = random_q(m.n_sa(), &mut rng);
        let ratio = contraction_ratio(&m, m.reward(), &q1, &q2);
        prop_assert!(ratio <= 1.0 + tol::CONTRACTION_SLACK,
            "‖TQ−TQ'‖/(γ‖Q−Q'‖) = {ratio:.17} > 1 + {:e}", tol::CONTRACTION_SLACK);
        let c = 7.0 * (rng.random::<f64>() - 0.5);
        let q3: Vec<f64> = q1.iter().map(|x| x + c).collect();
        let eq = contraction_ratio(&m, m.reward(), &q1, &q3);
        prop_assert!((eq - 1.0).abs() <= 1e-9,
            "shift by c = {c}: ratio {eq:.17}, expected 1 within 1e-9");
    }

    #[test]
    fn unique_fixed_point_geometric_rate((m, seed) in discounted_mdp()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 3);
        let (dist, resid, rate) = fixed_point_check(&m, &mut rng).unwrap();
        prop_assert!(dist <= 1e-9, "two starts end {dist:e} apart (threshold 1e-9)");
        prop_assert!(resid <= 1e-9, "‖TQ*−Q*‖∞ = {resid:e} (threshold 1e-9)");
        prop_assert!(rate <= m.gamma() + 1e-6, "residual ratio {rate} > γ = {}", m.gamma());
    }
}
