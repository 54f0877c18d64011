//! (42), SPEC §2.6: on the prefix-tree MDP of a vocabulary `V` and horizon `H` (deterministic
//! concatenation, `γ = 1`, reward on the whole sequence), token-level soft backward induction
//! gives `Π_t π*_t(y_t|y_<t) = π_ref(y) exp(R(y)/β) / Z` for every sequence `y`.
use aihf::mdp::claims::prefix_tree_gap;
use aihf::mdp::sequence::prefix_tree;
use aihf::tol;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn token_level_equals_sequence_gibbs(vocab in 1usize..6, horizon in 1usize..5, beta in 0.05f64..5.0, seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let gap = prefix_tree_gap(vocab, horizon, beta, &mut rng).unwrap();
        prop_assert!(gap <= tol::PREFIX_TREE_LOG, "max |Δ log π| = {gap:e} > {:e}", tol::PREFIX_TREE_LOG);
    }
}

/// Uniform reference, V = 2, H = 2: golden values by hand — `π*(y) ∝ e^{R(y)}`.
#[test]
fn uniform_reference_golden() {
    let r = [0.0, 1.0, 2.0, 3.0];
    let t = prefix_tree(2, 2, &r, None, 1.0).unwrap();
    let lp = t.token_level_log_probs().unwrap();
    let z: f64 = r.iter().map(|x: &f64| x.exp()).sum();
    for (y, l) in lp.iter().enumerate() {
        let want = r[y] - z.ln();
        assert!((l - want).abs() < 1e-14, "y = {y}: {l} vs {want}");
    }
}
