//! Helpers shared by the study proofs: run a registered `sim.*` claim in quick mode.

use aihf::registry::registry;
use aihf::verify::{run_claim, ClaimReport, Ctx, Outcome};

/// Runs the registered claim `id` in quick mode (fixed seed, no report folder).
pub fn run(id: &str) -> (ClaimReport, Outcome) {
    let c = registry()
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("claim {id} is not registered"));
    let ctx = Ctx {
        full: false,
        seed: aihf::verify::DEFAULT_SEED,
        out_dir: None,
        progress: false,
    };
    let r = run_claim(&c, &ctx);
    let o = r
        .outcome
        .clone()
        .unwrap_or_else(|| panic!("{id} could not run: {:?}", r.error));
    (r, o)
}

/// `measured relation threshold (note)` for assertion messages.
pub fn show(o: &Outcome) -> String {
    format!(
        "measured {:.6e} {} threshold {:.6e} ({})",
        o.measured,
        o.relation.symbol(),
        o.threshold,
        o.note
    )
}
