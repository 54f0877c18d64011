//! **Limits of AIHF** (SPEC §1.4, paper A.2.2 and §3.3 (9)): `M = 0 ⇒ π_AIHF = π_SFT`;
//! `N = 0, λ > 0 ⇒ π_AIHF = π_P` (the BTL policy); `λ = 0` decouples the joint problem into
//! reward modelling and RL, leaving the demonstrations alone: `π_AIHF = π_SFT`.

use crate::strategies::*;
use aihf::bandit::{fit, Method, Options};
use aihf::math::tv;
use aihf::tol::IDENTITY_TV;
use proptest::prelude::*;

proptest! {
    #[test]
    fn no_preferences_gives_sft(d in full_data(), lambda in 0.0f64..4.0, beta in beta()) {
        let d = d.demos_only();
        let o = Options { lambda, beta, ..Options::default() };
        let t = tv(&fit(Method::Aihf, &d, &o).unwrap().policy, &fit(Method::Sft, &d, &o).unwrap().policy);
        prop_assert!(t <= IDENTITY_TV, "TV(π_AIHF, π_SFT) = {t:e} > {IDENTITY_TV:e}");
    }

    #[test]
    fn no_demonstrations_gives_the_preference_policy(d in full_data(), lambda in 0.05f64..4.0) {
        let d = d.prefs_only();
        let o = Options { lambda, ..Options::default() };
        let t = tv(&fit(Method::Aihf, &d, &o).unwrap().policy, &fit(Method::Btl, &d, &o).unwrap().policy);
        prop_assert!(t <= IDENTITY_TV, "TV(π_AIHF, π_P) = {t:e} > {IDENTITY_TV:e}");
    }

    #[test]
    fn lambda_zero_decouples(d in full_data(), beta in beta()) {
        let o = Options { lambda: 0.0, beta, ..Options::default() };
        let t = tv(&fit(Method::Aihf, &d, &o).unwrap().policy, &fit(Method::Sft, &d, &o).unwrap().policy);
        prop_assert!(t <= IDENTITY_TV, "TV(π_AIHF(λ=0), π_SFT) = {t:e} > {IDENTITY_TV:e}");
    }
}
