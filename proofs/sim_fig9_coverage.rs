//! **Example 2 / Figure 9** (paper A.2.3; SPEC §4): 50 actions, 2000 demonstrations drawn from
//! `π*` restricted to actions 1–45, 200 BTL comparisons for every pair. SFT and RLHF put zero
//! mass on the uncovered actions 46–50 (`π_SFT(i) = N_i/N = 0`, `π_RLHF ∝ π_SFT e^{r^P}`), so
//! `KL(π*‖π̂) = ∞` on every data set; AIHF does not (the paper: "this issue does not occur"):
//! its restored mass on 46–50 is significantly above SFT's and RLHF's zero, for both ground
//! truths (`r*_i ∼ N(0,1)`, `r*_i = i/10`). The paper states no level, so none is pinned.
//! Reported beyond the paper (printed, not asserted): AIHF's restored mass is biased low (its
//! likelihood reads the restricted demonstrations as draws from `π_r`), while the
//! preference-only BTL is not. Independent computation: SFT's zero mass is `N_i/N = 0`, checked
//! exactly; BTL's restored mass is compared with the truth `π*(46–50)` of the spec's reward.

use crate::sim_support::{run, show};

#[test]
fn sft_and_rlhf_lose_the_uncovered_mass_and_aihf_restores_it() {
    let (r, o) = run("sim.fig9_aihf_restores_uncovered_mass");
    assert_eq!(r.verdict, "PASS", "{}", show(&o));
    for truth in ["fig9_gaussian", "fig9_linear"] {
        let d = &o.details[truth];
        let t = d["truth_uncovered_mass"].as_f64().unwrap();
        for lost in ["SFT", "RLHF"] {
            let e = &d["estimators"][lost];
            assert_eq!(e["mean"].as_f64(), Some(0.0), "{truth} {lost}: {e}");
            assert_eq!(
                e["kl_infinite_fraction"].as_f64(),
                Some(1.0),
                "{truth} {lost}: {e}"
            );
        }
        // BTL uses every comparison and no demonstration: it is (nearly) unbiased here.
        let btl = d["estimators"]["BTL"]["mean"].as_f64().unwrap();
        assert!(
            (btl / t - 1.0).abs() < 0.02,
            "{truth}: BTL restores {btl} of {t}"
        );
        let aihf = &d["estimators"]["AIHF"];
        let lo = aihf["ci"][0].as_f64().unwrap();
        assert!(
            lo > 0.0,
            "{truth}: AIHF's restored mass {aihf} is not above 0"
        );
        eprintln!(
            "{truth}: AIHF restores {:.4} of the true {t:.4} (finding, not a requirement)",
            aihf["mean"].as_f64().unwrap()
        );
    }
}
