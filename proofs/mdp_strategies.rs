//! Shared proptest strategies for the MDP claims: a random MDP is drawn from a seed and an
//! index that varies sizes (`2..=8` states, `1..=4` actions), γ ∈ {0, .5, .75, .9, .99}, β,
//! sparsity, linear or tabular rewards, random references and (optionally) a horizon.
use aihf::mdp::claims::instance;
use aihf::mdp::Mdp;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Index range of the instance family (`instance(i, ..)` cycles through every combination).
pub const FAMILY: std::ops::Range<usize> = 0..420;

/// A random discounted MDP with the seed of the stream that drew it.
pub fn discounted_mdp() -> impl Strategy<Value = (Mdp, u64)> {
    (FAMILY, any::<u64>()).prop_map(|(i, seed)| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (
            instance(i, &mut rng, false).expect("instance family is valid"),
            seed,
        )
    })
}

/// A random MDP, discounted or finite-horizon.
pub fn any_mdp() -> impl Strategy<Value = (Mdp, u64)> {
    (FAMILY, any::<u64>(), any::<bool>()).prop_map(|(i, seed, h)| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (
            instance(i, &mut rng, h).expect("instance family is valid"),
            seed,
        )
    })
}
