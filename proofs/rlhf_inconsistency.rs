//! **RLHF is inconsistent, AIHF is consistent** (SPEC §1.3, beyond the paper): at `β = 1`,
//! uniform `π0`, with demonstrations and preferences drawn from one `r*`, `r^D → r*` and
//! `r^P → r*`, so `π_RLHF = softmax(r^D + r^P) → π_{2r*}`, while `π_AIHF → π_{r*}`.
//! Checked through the registered claims (growing data sets, mean TV at the largest size).

use aihf::registry::registry;
use aihf::verify::{run_claim, Ctx};

fn ctx() -> Ctx {
    Ctx {
        full: false,
        seed: 7,
        out_dir: None,
        progress: false,
    }
}

#[test]
fn rlhf_converges_to_twice_the_reward_and_aihf_to_the_truth() {
    for id in [
        "static.rlhf_limit_is_2r",
        "static.rlhf_bias_floor",
        "static.aihf_consistent",
    ] {
        let c = registry().into_iter().find(|c| c.id == id).unwrap();
        let r = run_claim(&c, &ctx());
        let o = r
            .outcome
            .as_ref()
            .unwrap_or_else(|| panic!("{id}: {:?}", r.error));
        assert_eq!(
            r.verdict,
            "PASS",
            "{id}: measured {} {} threshold {}",
            o.measured,
            o.relation.symbol(),
            o.threshold
        );
    }
}

/// Every static claim of the registry passes in quick mode.
#[test]
fn every_static_claim_passes() {
    for c in registry()
        .into_iter()
        .filter(|c| c.id.starts_with("static."))
    {
        let r = run_claim(&c, &ctx());
        match &r.outcome {
            Some(o) => assert_eq!(
                r.verdict,
                "PASS",
                "{}: measured {:e} {} threshold {:e} ({})",
                c.id,
                o.measured,
                o.relation.symbol(),
                o.threshold,
                o.note
            ),
            None => panic!("{}: {:?}", c.id, r.error),
        }
    }
}
