//! The neural layer's entries in `aihf verify` (built with `--features neural`).

use crate::error::Result;
use crate::neural::crossval::{self, CrossvalConfig, ModelKind};
use crate::verify::{derive_seed, Claim, Ctx, Outcome, Relation};

/// The cross-validation claims, one per backbone.
pub fn claims() -> Vec<Claim> {
    vec![
        Claim {
            id: "neural.crossval_tabular",
            paper_ref: "toolkit (SPEC §3 cross-validation contract, §2.6, §3.1)",
            statement: "On an enumerable task (|V| = 4, H = 3), the tabular-expressive model trained \
                        with SFT, BTL (through π_r), DPO, IPO and Direct AIHF reaches the exact-layer \
                        optimum for the same data: max over methods of TV(π_neural, π_exact) ≤ 0.02.",
            run: run_tabular,
        },
        Claim {
            id: "neural.crossval_transformer",
            paper_ref: "toolkit (SPEC §3 cross-validation contract, §2.6, §3.1)",
            statement: "The same with a 2-layer, width-32, 2-head GPT-style transformer: max over \
                        methods of TV(π_neural, π_exact) ≤ 0.05.",
            run: run_transformer,
        },
    ]
}

fn run_kind(ctx: &Ctx, kind: ModelKind, id: &str) -> Result<Outcome> {
    let cfg = CrossvalConfig {
        models: vec![kind],
        seed: derive_seed(ctx.seed, id),
        ..CrossvalConfig::default()
    };
    let rep = crossval::run(&cfg)?;
    let worst = rep.max_tv(kind);
    Ok(Outcome::new(
        worst,
        Relation::AtMost,
        kind.threshold(),
        format!(
            "max TV over {} methods; {} sequences, {} demonstrations, {} comparisons, seed {}",
            rep.rows.len(),
            rep.sequences,
            rep.demonstrations,
            rep.comparisons,
            rep.seed
        ),
    )
    .with_details(serde_json::to_value(&rep.rows).unwrap_or_default()))
}

fn run_tabular(ctx: &Ctx) -> Result<Outcome> {
    run_kind(ctx, ModelKind::Tabular, "neural.crossval_tabular")
}

fn run_transformer(ctx: &Ctx) -> Result<Outcome> {
    run_kind(ctx, ModelKind::Transformer, "neural.crossval_transformer")
}
