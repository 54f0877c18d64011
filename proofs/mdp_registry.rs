//! Every registered MDP claim except the Theorem 4.1 ones (see `theorem_4_1_rates`) runs through
//! `aihf verify`'s registry in quick mode and is judged PASS; the measured value and threshold
//! are printed on failure.
use aihf::verify::{run_claim, Ctx};

#[test]
fn mdp_claims_pass_in_quick_mode() {
    let ctx = Ctx {
        full: false,
        seed: 0,
        out_dir: None,
        progress: false,
    };
    for c in aihf::mdp::claims::claims()
        .iter()
        .filter(|c| !c.id.contains("theorem_4_1"))
    {
        let rep = run_claim(c, &ctx);
        let o = rep.outcome.as_ref();
        eprintln!(
            "{}: {} measured {:?} threshold {:?} ({:.2} s)",
            rep.id,
            rep.verdict,
            o.map(|o| o.measured),
            o.map(|o| o.threshold),
            rep.seconds
        );
        assert_eq!(
            rep.verdict,
            "PASS",
            "{}: {:?} {:?}",
            rep.id,
            rep.error,
            o.map(|o| &o.note)
        );
    }
}
