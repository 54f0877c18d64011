//! **Consistency** (SPEC §1.3–1.4): with both sources drawn from `r*` and growing together,
//! `log mean TV(π*, π_AIHF)` falls against `log(N + M)` with slope ≤ −0.4 (the `n^{-1/2}` rate;
//! −1/2 inside the 95% interval), while RLHF's TV levels off at `TV(π*, π_{2r*})` (within 5%):
//! its tail slope is ≈ 0 — the negative control showing the slope check can fail.

use crate::sim_support::{run, show};

#[test]
fn aihf_converges_at_root_n_and_rlhf_hits_its_bias_floor() {
    let (r, o) = run("sim.aihf_consistency_slope");
    assert_eq!(r.verdict, "PASS", "{}", show(&o));
    let slopes = o.details["slopes"].as_array().unwrap();
    let get = |l: &str| slopes.iter().find(|s| s["label"] == l).unwrap();
    let a = &get("AIHF")["all"];
    let (lo, hi) = (a["lo"].as_f64().unwrap(), a["hi"].as_f64().unwrap());
    assert!(
        lo <= -0.5 && -0.5 <= hi,
        "−1/2 outside AIHF's slope interval [{lo}, {hi}]"
    );
    let tail = get("RLHF")["tail"]["slope"].as_f64().unwrap();
    assert!(tail > -0.1, "RLHF tail slope {tail}: no floor?");
    let (r2, o2) = run("sim.rlhf_bias_floor");
    assert_eq!(r2.verdict, "PASS", "{}", show(&o2));
}
