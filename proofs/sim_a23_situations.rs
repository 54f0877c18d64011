//! **The two A.2.3 situations** (their numbers are lost; the toolkit's own instances on the
//! authors' truth `r* = (0, −0.075, −1)`): the paper says RLHF lands farthest from the truth
//! both with more demonstrations than preferences and with the reverse.
//! Found: with more preferences (`N = 6`, 100 comparisons per pair) RLHF is farthest, but only
//! slightly farther than SFT (both ≈ 6× AIHF's TV); with more demonstrations RLHF is farthest among the estimators that use
//! demonstrations, but with 2 comparisons per pair the preference-only BTL is farther still
//! (the registered claim, which ranks all four, reports FAIL).

use crate::sim_support::{run, show};

#[test]
fn rlhf_is_farthest_except_that_btl_is_farther_with_very_few_comparisons() {
    let (r, o) = run("sim.a23_rlhf_farthest");
    let s = o.details["situations"].as_array().unwrap();
    let by_name = |p: &str| {
        s.iter()
            .find(|x| x["situation"].as_str().unwrap().starts_with(p))
            .unwrap()
    };
    let prefs = by_name("more preferences");
    // RLHF and SFT are the two far ones (≈ 6× AIHF's TV); RLHF's margin over SFT is small
    // (0.005 [0.003, 0.008] with 4000 data sets), so only the pair is asserted here.
    let top: Vec<&str> = prefs["ranking_tv"].as_array().unwrap()[..2]
        .iter()
        .map(|x| x[0].as_str().unwrap())
        .collect();
    assert!(top.contains(&"RLHF") && top.contains(&"SFT"), "{prefs}");
    let tv = |l: &str| prefs["estimators"][l]["tv"].as_f64().unwrap();
    assert!(tv("RLHF") > 4.0 * tv("AIHF"), "{prefs}");
    for x in s {
        assert_eq!(x["farthest_tv_excluding_preference_only"], "RLHF", "{x}");
    }
    let few = by_name("more demonstrations (N=300, k=2)");
    assert_eq!(few["farthest_tv"], "BTL", "{few}");
    assert!(few["margin_tv"]["ci"][0].as_f64().unwrap() > 0.0, "{few}");
    assert_eq!(r.verdict, "FAIL", "{}", show(&o));
}
