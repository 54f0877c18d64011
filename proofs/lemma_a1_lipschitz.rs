//! Lemma A.1 / (39a) with tabular rewards (SPEC §2.1):
//! `‖Q*_{r1} − Q*_{r2}‖∞ ≤ ‖r1 − r2‖∞ / (1−γ)`, attained by a constant shift `r2 = r1 + c`.
use crate::mdp_strategies::discounted_mdp;
use aihf::mdp::claims::lipschitz_ratio;
use aihf::tol;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn q_star_is_lipschitz_in_the_reward((m, seed) in discounted_mdp(), scale in 1e-3f64..10.0) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 5);
        let r2: Vec<f64> = m.reward().iter().map(|x| x + scale * (rng.random::<f64>() - 0.5)).collect();
        let ratio = lipschitz_ratio(&m, m.reward(), &r2).unwrap();
        prop_assert!(ratio <= 1.0 + tol::CONTRACTION_SLACK,
            "(1−γ)‖ΔQ*‖/‖Δr‖ = {ratio:.15} > 1 + {:e}", tol::CONTRACTION_SLACK);
    }
}

#[test]
fn constant_shift_attains_the_bound() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let m = aihf::mdp::claims::instance(3, &mut rng, false).unwrap();
    let r2: Vec<f64> = m.reward().iter().map(|x| x + 0.7).collect();
    let ratio = lipschitz_ratio(&m, m.reward(), &r2).unwrap();
    assert!(
        (ratio - 1.0).abs() < 1e-9,
        "shift ratio {ratio}, expected 1 within 1e-9"
    );
}
