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
        Claim {
            id: "neural.crossval_rl",
            paper_ref: "toolkit (SPEC §3 RLHF by REINFORCE, AIHF Algorithm 1; §2.6, §3.1)",
            statement: "On the same task, the tabular-expressive policy trained by sampling from \
                        itself reaches the exact-layer optimum: BTL then RLHF (REINFORCE, ReMax \
                        baseline) reaches π_ref exp(r^P/β)/Z and AIHF's Algorithm 1 reaches the \
                        exact AIHF policy with π0 = π_ref: max TV ≤ 0.05.",
            run: run_rl,
        },
    ]
}

fn run_kind(ctx: &Ctx, kind: ModelKind, id: &str) -> Result<Outcome> {
    let cfg = CrossvalConfig {
        models: vec![kind],
        rl_methods: vec![],
        seed: derive_seed(ctx.seed, id),
        ..CrossvalConfig::default()
    };
    report(&cfg, kind, kind.threshold())
}

fn report(cfg: &CrossvalConfig, kind: ModelKind, threshold: f64) -> Result<Outcome> {
    let rep = crossval::run(cfg)?;
    let worst = rep.max_tv(kind);
    Ok(Outcome::new(
        worst,
        Relation::AtMost,
        threshold,
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

fn run_rl(ctx: &Ctx) -> Result<Outcome> {
    let cfg = CrossvalConfig {
        models: vec![ModelKind::Tabular],
        methods: vec![],
        seed: derive_seed(ctx.seed, "neural.crossval_rl"),
        ..CrossvalConfig::default()
    };
    report(&cfg, ModelKind::Tabular, crate::tol::NEURAL_TV_RL)
}
