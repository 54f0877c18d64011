//! The neural layer's entries in `aihf verify` (built with `--features neural`).

use crate::error::Result;
use crate::neural::crossval::{self, CrossvalConfig, ModelKind};
use crate::verify::{derive_seed, Claim, Ctx, Outcome, Relation};
use std::path::PathBuf;

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
        Claim {
            id: "neural.ground_truth_aihf_vs_two_stage",
            paper_ref: "paper §1/§5 (AIHF improves on the two-stage RLHF pipeline); SPEC §3.1",
            statement: "On the Markov task of SPEC §3.1 (V = 8, H = 8, 2,000 exact demonstrations \
                        from π* and 2,000 BTL-labelled π_ref pairs), a transformer trained by \
                        AIHF's Algorithm 1 ends closer to the exact π* than the two-stage pipeline \
                        (BTL reward model, then RLHF by REINFORCE) with the same network, steps \
                        and samples: KL(π_RLHF‖π*) − KL(π_AIHF‖π*) ≥ 2 standard errors. SFT and \
                        DPO are measured alongside.",
            run: run_ground_truth,
        },
    ]
}

fn run_ground_truth(ctx: &Ctx) -> Result<Outcome> {
    use crate::bandit::Method;
    use crate::neural::groundtruth::{self, GroundTruthConfig};
    use crate::neural::pipeline::Recipe;
    let cfg = GroundTruthConfig {
        seed: derive_seed(ctx.seed, "neural.ground_truth_aihf_vs_two_stage"),
        progress: ctx.progress,
        ..GroundTruthConfig::default()
    };
    let rep = groundtruth::run(&cfg)?;
    let last = |m: Method| {
        rep.methods
            .iter()
            .find(|p| p.method == Recipe::new(m))
            .and_then(|p| p.path.last().copied())
            .ok_or_else(|| crate::error::AihfError::Numerical(format!("{m:?} did not run")))
    };
    let (a, r) = (last(Method::Aihf)?, last(Method::Rlhf)?);
    let se = (a.kl_to_star.se.powi(2) + r.kl_to_star.se.powi(2)).sqrt();
    let z = (r.kl_to_star.mean - a.kl_to_star.mean) / se;
    let ranking: Vec<String> = rep
        .ranking
        .iter()
        .map(|(n, kl, se)| format!("{n} {kl:.3} ± {se:.3}"))
        .collect();
    let mut o = Outcome::new(
        z,
        Relation::AtLeast,
        2.0,
        format!(
            "(KL(π_RLHF‖π*) − KL(π_AIHF‖π*)) / se = ({:.3} − {:.3}) / {:.3}; final KL(π‖π*) by \
             method: {}; {} steps each, {} samples per REINFORCE step, seed {}",
            r.kl_to_star.mean,
            a.kl_to_star.mean,
            se,
            ranking.join(", "),
            cfg.steps,
            cfg.samples_per_prompt,
            cfg.seed
        ),
    )
    .with_details(serde_json::to_value(&rep).unwrap_or_default());
    if let Some(out) = &ctx.out_dir {
        let dir = out.join("neural").join("ground_truth");
        std::fs::create_dir_all(&dir).map_err(|e| crate::error::AihfError::Io {
            action: "cannot create folder",
            path: dir.clone(),
            source: e,
        })?;
        crate::io::write_json(&dir.join("report.json"), &rep)?;
        for f in groundtruth::figures(&rep, &dir)? {
            if f.extension().is_some_and(|e| e == "png") {
                o = o.with_figure(f.strip_prefix(out).map(PathBuf::from).unwrap_or(f));
            }
        }
    }
    Ok(o)
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
