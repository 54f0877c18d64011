//! **The authors' public 3-action example** (SPEC §4): `r* = (0, −0.075, −1)`, 30
//! demonstrations from `softmax(r*)`, 10 BTL comparisons per pair, AIHF with `normalized`
//! weighting and `w = 1`. Over 1000 repetitions (quick mode; 2000 with `--full`), AIHF's MSE
//! `E‖π̂ − π*‖²` is below both SFT's and the preference-only estimator's, with paired intervals
//! that exclude zero. (Their 10 repetitions are too few to rank SFT and AIHF: see the report.)

use crate::sim_support::{run, show};

#[test]
fn aihf_has_lower_mse_than_sft_and_btl_on_the_authors_example() {
    let (r, o) = run("sim.authors_aihf_mse_below_single_source");
    assert_eq!(r.verdict, "PASS", "{}", show(&o));
    for p in o.details["paired"].as_array().unwrap() {
        let hi = p["ci"][1].as_f64().unwrap();
        assert!(
            hi < 0.0,
            "paired MSE difference {} − {} not below 0: {p}",
            p["a"],
            p["b"]
        );
    }
}
