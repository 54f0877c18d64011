//! **The studies' confidence intervals cover** (toolkit): SFT's `π̂_i = N_i/N` is exactly
//! unbiased, so the engine's 95% t interval of the mean of `π̂_0` over `R = 60` data sets must
//! cover `π*_0` in about 95% of independent studies. Over 400 studies the coverage must lie in
//! `[0.92, 0.98]` (±3 binomial standard deviations of 0.95).

use aihf::bandit::{Method, Options};
use aihf::sim::engine::{Estimator, Scenario};
use aihf::sim::studies::{run_cell, RunOpts};
use aihf::valid::Check;

#[test]
fn t_intervals_of_an_unbiased_estimator_cover_at_the_nominal_rate() {
    let scn = Scenario {
        reward: vec![0.0, -0.075, -1.0],
        beta: 1.0,
        demos: 30,
        covered: None,
        comparisons_per_pair: 0,
    }
    .checked()
    .expect("a valid scenario");
    let est = [Estimator {
        label: "SFT".into(),
        method: Method::Sft,
        options: Options::default(),
    }];
    let ro = RunOpts {
        threads: Some(1),
        progress: false,
    };
    let truth = scn.true_policy()[0];
    let studies = 400;
    let mut covered = 0;
    for s in 0..studies {
        let c = run_cell("cov", &scn, &est, 1000 + s, 60, 0.95, &ro).unwrap();
        let (lo, hi) = c.stats.estimators[0].mean_ci[0];
        if lo <= truth && truth <= hi {
            covered += 1;
        }
    }
    let rate = covered as f64 / studies as f64;
    assert!(
        (0.92..=0.98).contains(&rate),
        "coverage {rate} not in [0.92, 0.98]"
    );
}
