//! Shared proptest strategies: random static data sets with named size ranges.

use aihf::data::BanditData;
use proptest::prelude::*;

/// Action counts used by the general properties (small: the claims are about structure).
pub const N_ACTIONS: std::ops::RangeInclusive<usize> = 2..=7;

/// Data on which every estimator exists: every action demonstrated, every ordered pair
/// compared at least once.
pub fn full_data() -> impl Strategy<Value = BanditData> {
    N_ACTIONS.prop_flat_map(|n| {
        (
            prop::collection::vec(1u64..200, n),
            prop::collection::vec(1u64..30, n * n),
        )
            .prop_map(move |(d, m)| {
                let prefs = (0..n)
                    .map(|i| {
                        (0..n)
                            .map(|j| if i == j { 0 } else { m[i * n + j] })
                            .collect()
                    })
                    .collect();
                BanditData::new(n, d, prefs).unwrap()
            })
    })
}

/// Arbitrary sparse data (many zero counts): existence may fail.
pub fn sparse_data() -> impl Strategy<Value = BanditData> {
    N_ACTIONS.prop_flat_map(|n| {
        (
            prop::collection::vec(prop_oneof![3 => Just(0u64), 1 => 1u64..20], n),
            prop::collection::vec(prop_oneof![3 => Just(0u64), 1 => 1u64..5], n * n),
        )
            .prop_map(move |(d, m)| {
                let prefs = (0..n)
                    .map(|i| {
                        (0..n)
                            .map(|j| if i == j { 0 } else { m[i * n + j] })
                            .collect()
                    })
                    .collect();
                BanditData::new(n, d, prefs).unwrap()
            })
    })
}

/// A temperature in a range where every estimator of §1 is well conditioned.
pub fn beta() -> impl Strategy<Value = f64> {
    0.2f64..5.0
}

/// A temperature drawn so that the three values the β convention is checked at (SPEC §1.4,
/// issue 12: `β ∈ {0.5, 1, 2}`) are always among the cases, plus the continuous range.
pub fn beta_anchored() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.5f64), Just(1.0f64), Just(2.0f64), beta()]
}

/// Central finite-difference gradient of `f` at `x` with step `tol::FD_STEP`: a numerical
/// derivative independent of any closed form or solver, for first-order-condition checks.
pub fn fd_gradient(f: impl Fn(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    let h = aihf::tol::FD_STEP;
    (0..x.len())
        .map(|i| {
            let (mut a, mut b) = (x.to_vec(), x.to_vec());
            a[i] += h;
            b[i] -= h;
            (f(&a) - f(&b)) / (2.0 * h)
        })
        .collect()
}
