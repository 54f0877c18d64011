//! **The static solver converges wherever the estimator exists** (SPEC §1.2, §1.4): on data
//! drawn from strongly separated truths (reward spread up to 5 nats), with up to 60 actions,
//! partial demonstration coverage and up to 300 comparisons per pair — the regime of Example 2
//! where an undamped Newton step overshoots into a region with no curvature — AIHF, BTL and
//! DPO either refuse with a witness or reach the gradient tolerance.

use aihf::bandit::{fit, Method, Options};
use aihf::data::{all_pairs, sample_btl, sample_demos, BanditData};
use aihf::AihfError;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    #[test]
    fn newton_converges_on_separated_data(
        n in 2usize..60, sd in 0.5f64..5.0, demos in 0u64..5000, per_pair in 1u64..300,
        cover in 0.5f64..1.0, seed in 0u64..10_000,
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let r: Vec<f64> = (0..n).map(|_| Normal::new(0.0, sd).unwrap().sample(&mut rng)).collect();
        let covered = ((n as f64 * cover).ceil() as usize).clamp(1, n);
        let mut p = aihf::math::softmax(&r[..covered]);
        p.resize(n, 0.0);
        let mut d = BanditData::empty(n).unwrap();
        for (i, c) in sample_demos(&p, demos, &mut rng).into_iter().enumerate() {
            d.add_demos(i, c);
        }
        sample_btl(&mut d, &r, &all_pairs(n, per_pair), &mut rng);
        for m in [Method::Aihf, Method::Btl, Method::Rlhf] {
            match fit(m, &d, &Options::default()) {
                Ok(f) => prop_assert!(f.policy.iter().all(|x| x.is_finite())),
                Err(AihfError::NoEstimator { .. }) => {}
                Err(e) => prop_assert!(false, "{m:?} failed on existing data: {e}"),
            }
        }
    }
}

/// Regression: a Fig. 9 data set (linear truth `r*_i = i/10`, 50 actions, 2,000 demonstrations on
/// actions 0–44, 200 comparisons per pair; replication 1637 of the studies' engine) on which an
/// undamped, uncapped Newton step jumped to rewards of −55, where the Hessian is numerically
/// singular.
#[test]
fn fig9_linear_replication_that_broke_undamped_newton() {
    let text = include_str!("data/fig9_linear_newton_overshoot.json");
    let d = BanditData::from_json_str(text).unwrap();
    let f = fit(Method::Aihf, &d, &Options::default()).unwrap();
    let tol = aihf::tol::GRAD_REL * (d.n_demos() + d.n_comparisons()) as f64;
    assert!(f.grad_norm <= tol, "grad norm {:e} > {tol:e}", f.grad_norm);
    assert!(f.iterations <= 30, "{} Newton iterations", f.iterations);
    // The uncovered actions 45–49 get mass from their wins (Example 2's coverage effect).
    assert!(
        f.policy[45..].iter().all(|p| *p > 1e-3),
        "{:?}",
        &f.policy[45..]
    );
}
