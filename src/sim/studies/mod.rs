//! The studies of SPEC §4, each computing a typed result that is written as JSON together with
//! the data of its figures (drawn by [`super::figures`] from that JSON alone).

use super::engine::{self, Estimator, Failure, McConfig, McRun, Replication, Scenario};
use super::shard::{self, Block, CallInfo, Shard, Source};
use super::spec::{
    AuthorsSpec, ConsistencySpec, EstimatorSpec, Fig9Spec, SituationsSpec, Spec, SweepSpec,
};
use super::summary::{reduce, CellStats, PairedStats};
use crate::bandit::Method;
use crate::error::Result;
use crate::plot::{BarChart, LineChart, Series, Style};
use crate::stats::{slope_fit, SlopeFit, Summary};
use serde::{Deserialize, Serialize};

/// How to run a study (from the command line or a claim).
#[derive(Clone, Debug)]
pub struct RunOpts {
    pub threads: Option<usize>,
    pub progress: bool,
}

/// A figure's data: redrawable without recomputing.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Chart {
    Line(LineChart),
    Bars(BarChart),
}

/// A named figure of a study (files `<study name>_<name>.png/.svg`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub chart: Chart,
}

/// One cell of a study: a data-generating process and the statistics of every estimator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cell {
    pub label: String,
    /// Demonstrations `N`.
    pub demos: u64,
    pub comparisons_per_pair: u64,
    /// Total comparisons `M = k · n(n−1)/2`.
    pub comparisons: u64,
    /// `N / M` (∞ when `M = 0`, serialised as null).
    pub ratio: f64,
    pub truth_reward: Vec<f64>,
    pub truth_policy: Vec<f64>,
    pub replications: usize,
    /// Seed of this cell (replication `k` uses `rep_seed(seed, k)`).
    pub seed: u64,
    pub stats: CellStats,
    pub elapsed_s: f64,
    pub solves: usize,
}

/// The results file of a study.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StudyResults {
    /// `aihf` crate version that computed the file.
    pub aihf_version: String,
    pub study: String,
    pub name: String,
    pub seed: u64,
    /// The spec as run (after command-line overrides).
    pub spec: Spec,
    /// Worker threads used (rayon).
    pub threads: usize,
    pub elapsed_s: f64,
    /// Estimator solves (replications × estimators, over all cells).
    pub solves: usize,
    /// Wall-clock microseconds per solve (including data drawing).
    pub wall_us_per_solve: f64,
    /// Core-microseconds per solve (`wall × threads / solves`).
    pub core_us_per_solve: f64,
    /// Study-specific results.
    pub body: serde_json::Value,
    /// Sentences on how things were measured and what the numbers say.
    pub notes: Vec<String>,
    pub figures: Vec<Figure>,
    /// Tables rendered as Markdown (`<name>_<table>.md`) from this JSON, like the figures.
    #[serde(default)]
    pub tables: Vec<Table>,
}

/// A table of a study (rendered to Markdown from the results JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// GitHub-flavoured Markdown.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "## {}\n\n| {} |\n|{}\n",
            self.title,
            self.header.join(" | "),
            "---|".repeat(self.header.len())
        );
        for r in &self.rows {
            s.push_str(&format!("| {} |\n", r.join(" | ")));
        }
        s
    }
}

fn sci(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3e}")
    } else {
        "–".into()
    }
}

fn ci(s: &Summary) -> String {
    format!("{} [{}, {}]", sci(s.mean), sci(s.lo), sci(s.hi))
}

/// The per-estimator summary table of a cell.
fn cell_table(name: &str, c: &Cell) -> Table {
    Table {
        name: name.into(),
        title: format!(
            "{}: N = {}, {} comparisons per pair, {} data sets (95% CIs)",
            c.label, c.demos, c.comparisons_per_pair, c.replications
        ),
        header: [
            "estimator",
            "exists",
            "other failures",
            "Σ bias²",
            "Σ Var",
            "MSE E‖π̂−π*‖²",
            "TV(π*, π̂)",
            "KL = ∞",
            "KL (finite)",
            "uncovered mass",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect(),
        rows: c
            .stats
            .estimators
            .iter()
            .map(|e| {
                vec![
                    e.label.clone(),
                    format!("{}/{}", e.ok, e.attempted),
                    e.other_failures.to_string(),
                    sci(e.bias_sq_total),
                    ci(&e.variance_total),
                    ci(&e.mse_total),
                    ci(&e.tv),
                    format!("{}/{}", e.kl.infinite.k, e.kl.infinite.n),
                    sci(e.kl.finite.mean),
                    e.uncovered_mass.as_ref().map_or("–".into(), ci),
                ]
            })
            .collect(),
    }
}

fn tables_of(typed: &Typed) -> Vec<Table> {
    match typed {
        Typed::Fig9(r) => vec![cell_table("summary", &r.cell)],
        Typed::Authors(r) => {
            let mut v = vec![cell_table("first", &r.first), cell_table("full", &r.full)];
            let mut means = Table {
                name: "means".into(),
                title: format!("Mean ± sd of π̂ per action ({} repetitions); truth {:?}", r.full.replications,
                    r.full.truth_policy.iter().map(|x| (x * 1e4).round() / 1e4).collect::<Vec<_>>()),
                header: vec!["estimator".into(), "action".into(), "mean ± sd".into(), "95% CI of the mean".into()],
                rows: vec![],
            };
            for e in &r.full.stats.estimators {
                for i in 0..e.mean.len() {
                    means.rows.push(vec![e.label.clone(), (i + 1).to_string(),
                        format!("{:.4} ± {:.4}", e.mean[i], e.sd[i]),
                        format!("[{:.4}, {:.4}]", e.mean_ci[i].0, e.mean_ci[i].1)]);
                }
            }
            v.push(means);
            for (k, c) in r.size_sweep.iter().enumerate() {
                v.push(cell_table(&format!("size_{}", k + 1), c));
            }
            for (k, (_, c)) in r.w_sweep.iter().enumerate() {
                v.push(cell_table(&format!("w_{}", k + 1), c));
            }
            v
        }
        Typed::Sweep(r) => vec![Table {
            name: "verdicts".into(),
            title: "Where AIHF's total variance (and MSE) is below each single-source estimator's: paired 95% CI of the difference over the same data sets".into(),
            header: ["AIHF", "cell", "N/M", "vs", "Var diff", "variance", "MSE diff", "MSE", "dropped (non-existence)"]
                .iter().map(|x| x.to_string()).collect(),
            rows: r.table.iter().map(|t| vec![
                t.aihf.clone(), t.cell.clone(), sci(t.ratio), t.against.clone(), ci(&t.variance_diff),
                t.variance.clone(), ci(&t.mse_diff), t.mse.clone(), t.dropped.to_string(),
            ]).collect(),
        }],
        Typed::Situations(r) => r
            .situations
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let mut t = cell_table(&format!("situation_{}", k + 1), &s.cell);
                t.title = format!("{} — farthest by mean TV: {}; excluding BTL: {}. {}", s.name, s.farthest_tv,
                    s.farthest_tv_excluding_preference_only, t.title);
                t
            })
            .collect(),
        Typed::Consistency(r) => vec![Table {
            name: "slopes".into(),
            title: format!("Slopes of log mean TV on log(N + M) (95% CI); RLHF's limit TV(π*, π_2r*) = {:.5}", r.rlhf_floor),
            header: ["estimator", "slope (all sizes)", "slope (last 3)", "TV at the largest size"].iter().map(|x| x.to_string()).collect(),
            rows: r.slopes.iter().map(|s| vec![
                s.label.clone(),
                format!("{:.3} [{:.3}, {:.3}]", s.all.slope, s.all.lo, s.all.hi),
                format!("{:.3} [{:.3}, {:.3}]", s.tail.slope, s.tail.lo, s.tail.hi),
                ci(&s.tv_last),
            ]).collect(),
        }],
    }
}

/// Runs one cell.
#[allow(clippy::too_many_arguments)]
pub fn run_cell(
    label: &str,
    scn: &Scenario,
    est: &[Estimator],
    seed: u64,
    replications: usize,
    level: f64,
    ro: &RunOpts,
) -> Result<Cell> {
    let cx = Ctx {
        ro,
        src: &Source::Compute,
    };
    run_cell_in(&cx, label, scn, est, seed, replications, level)
}

/// How a study runs and where its replications come from.
struct Ctx<'a> {
    ro: &'a RunOpts,
    src: &'a Source,
}

/// Every Monte Carlo run of every study goes through here: computed, computed for one shard
/// (the other replications are placeholders the shard never writes), or replayed from merged
/// shards after checking that the run is the one the shards recorded.
fn mc(cx: &Ctx, scn: &Scenario, est: &[Estimator], cfg: &McConfig) -> Result<McRun> {
    match cx.src {
        Source::Compute => engine::run(scn, est, cfg),
        Source::Shard { shard, blocks } => {
            let range = shard.range(cfg.replications);
            let run = engine::run_range(scn, est, cfg, range.clone())?;
            let placeholder: Replication = est
                .iter()
                .map(|_| Err(Failure::Other("computed by another shard".into())))
                .collect();
            let mut all = vec![placeholder; cfg.replications];
            for (k, r) in range.clone().zip(&run.replications) {
                all[k] = r.clone();
            }
            let block = Block {
                call: CallInfo {
                    label: cfg.label.clone(),
                    seed: cfg.seed,
                    replications: cfg.replications,
                    estimators: est.len(),
                    start: range.start,
                    end: range.end,
                    elapsed_s: run.elapsed_s,
                },
                reps: run.replications,
            };
            blocks
                .lock()
                .map_err(|_| crate::error::AihfError::Numerical("shard state poisoned".into()))?
                .push(block);
            Ok(McRun {
                replications: all,
                elapsed_s: run.elapsed_s,
                solves: run.solves,
            })
        }
        Source::Replay { calls } => {
            let next = calls
                .lock()
                .map_err(|_| crate::error::AihfError::Numerical("shard state poisoned".into()))?
                .pop_front();
            let (info, reps, elapsed_s) = next.ok_or_else(|| {
                crate::error::AihfError::param(
                    "merge",
                    "the shards hold fewer Monte Carlo runs than the study makes",
                )
            })?;
            if info.label != cfg.label
                || info.seed != cfg.seed
                || info.replications != cfg.replications
                || info.estimators != est.len()
                || reps.len() != cfg.replications
            {
                return Err(crate::error::AihfError::param(
                    "merge",
                    format!(
                        "the shards recorded run `{}` (seed {}, {} replications), the study makes \
                         `{}` (seed {}, {} replications)",
                        info.label,
                        info.seed,
                        info.replications,
                        cfg.label,
                        cfg.seed,
                        cfg.replications
                    ),
                ));
            }
            Ok(McRun {
                replications: reps,
                elapsed_s,
                solves: cfg.replications * est.len(),
            })
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_cell_in(
    cx: &Ctx,
    label: &str,
    scn: &Scenario,
    est: &[Estimator],
    seed: u64,
    replications: usize,
    level: f64,
) -> Result<Cell> {
    let cfg = McConfig {
        replications,
        seed,
        threads: cx.ro.threads,
        progress: cx.ro.progress,
        label: label.to_string(),
    };
    let run = mc(cx, scn, est, &cfg)?;
    Ok(cell_from(
        label,
        scn,
        est,
        seed,
        &run.replications,
        level,
        run.elapsed_s,
        run.solves,
    ))
}

#[allow(clippy::too_many_arguments)]
fn cell_from(
    label: &str,
    scn: &Scenario,
    est: &[Estimator],
    seed: u64,
    reps: &[engine::Replication],
    level: f64,
    elapsed_s: f64,
    solves: usize,
) -> Cell {
    let labels: Vec<(String, String)> = est
        .iter()
        .map(|e| (e.label.clone(), e.method.name().to_string()))
        .collect();
    let truth = scn.true_policy();
    let n = truth.len() as u64;
    let m = scn.comparisons_per_pair * n * (n - 1) / 2;
    Cell {
        label: label.into(),
        demos: scn.demos,
        comparisons_per_pair: scn.comparisons_per_pair,
        comparisons: m,
        ratio: if m == 0 {
            f64::INFINITY
        } else {
            scn.demos as f64 / m as f64
        },
        truth_reward: scn.reward.clone(),
        truth_policy: truth.clone(),
        replications: reps.len(),
        seed,
        stats: reduce(reps, &labels, &truth, &scn.uncovered(), level),
        elapsed_s,
        solves,
    }
}

fn build(est: &[EstimatorSpec], beta: f64) -> Vec<Estimator> {
    est.iter().map(|e| e.build(beta)).collect()
}

/// A seed for a named cell, derived from the study seed.
pub fn cell_seed(seed: u64, label: &str) -> u64 {
    crate::verify::derive_seed(seed, label)
}

fn threads_used(ro: &RunOpts) -> usize {
    ro.threads.unwrap_or_else(rayon::current_num_threads)
}

/// The typed result of a study (what the claims read). Built once per study, so the size
/// difference between variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Typed {
    Fig9(Fig9Result),
    Authors(AuthorsResult),
    Sweep(SweepResult),
    Situations(SituationsResult),
    Consistency(ConsistencyResult),
}

/// Runs a validated spec.
pub fn run(spec: &Spec, ro: &RunOpts) -> Result<StudyResults> {
    Ok(run_typed(spec, ro)?.1)
}

/// Runs a spec and returns both the typed result and the results file.
pub fn run_typed(spec: &Spec, ro: &RunOpts) -> Result<(Typed, StudyResults)> {
    run_typed_with(spec, ro, &Source::Compute)
}

/// [`run_typed`] with the replications from `src` (see [`super::shard`]).
pub fn run_typed_with(spec: &Spec, ro: &RunOpts, src: &Source) -> Result<(Typed, StudyResults)> {
    spec.validate()?;
    let cx = Ctx { ro, src };
    let t0 = std::time::Instant::now();
    let (typed, body, figures, notes, solves) = match spec {
        Spec::Fig9(s) => {
            let r = fig9_in(s, &cx)?;
            let (b, f, n) = (to_value(&r)?, fig9_figures(&r), fig9_notes(&r));
            let solves = r.cell.solves;
            (Typed::Fig9(r), b, f, n, solves)
        }
        Spec::Authors(s) => {
            let r = authors_in(s, &cx)?;
            let (b, f, n) = (to_value(&r)?, authors_figures(&r), authors_notes(&r));
            let solves = r.solves;
            (Typed::Authors(r), b, f, n, solves)
        }
        Spec::Sweep(s) => {
            let r = sweep_in(s, &cx)?;
            let (b, f, n) = (to_value(&r)?, sweep_figures(&r), sweep_notes(&r));
            let solves = r.cells.iter().map(|c| c.solves).sum();
            (Typed::Sweep(r), b, f, n, solves)
        }
        Spec::Situations(s) => {
            let r = situations_in(s, &cx)?;
            let (b, f, n) = (to_value(&r)?, situations_figures(&r), situations_notes(&r));
            let solves = r.situations.iter().map(|c| c.cell.solves).sum();
            (Typed::Situations(r), b, f, n, solves)
        }
        Spec::Consistency(s) => {
            let r = consistency_in(s, &cx)?;
            let (b, f, n) = (
                to_value(&r)?,
                consistency_figures(&r),
                consistency_notes(&r),
            );
            let solves = r.cells.iter().map(|c| c.solves).sum();
            (Typed::Consistency(r), b, f, n, solves)
        }
    };
    let elapsed_s = t0.elapsed().as_secs_f64();
    let threads = threads_used(ro);
    let res = StudyResults {
        aihf_version: env!("CARGO_PKG_VERSION").to_string(),
        study: spec.kind().into(),
        name: spec.name().into(),
        seed: spec.seed(),
        spec: spec.clone(),
        threads,
        elapsed_s,
        solves,
        wall_us_per_solve: 1e6 * elapsed_s / solves.max(1) as f64,
        core_us_per_solve: 1e6 * elapsed_s * threads as f64 / solves.max(1) as f64,
        body,
        notes,
        figures,
        tables: tables_of(&typed),
    };
    Ok((typed, res))
}

/// Runs shard `shard` of `spec` and writes its replications to `dir` (see [`super::shard`]);
/// returns the shard file's path.
pub fn run_shard(
    spec: &Spec,
    ro: &RunOpts,
    shard: Shard,
    dir: &std::path::Path,
) -> Result<std::path::PathBuf> {
    let src = Source::shard(shard);
    run_typed_with(spec, ro, &src)?;
    let blocks = match src {
        Source::Shard { blocks, .. } => blocks
            .into_inner()
            .map_err(|_| crate::error::AihfError::Numerical("shard state poisoned".into()))?,
        _ => vec![],
    };
    let payload = shard::encode(&blocks)?;
    let mut m = shard::Manifest {
        format: shard::FORMAT.into(),
        kind: "sim".into(),
        aihf_version: env!("CARGO_PKG_VERSION").to_string(),
        spec_hash: shard::spec_hash(spec)?,
        spec: to_value(spec)?,
        name: spec.name().into(),
        seed: spec.seed(),
        shard,
        calls: blocks.into_iter().map(|b| b.call).collect(),
        threads: threads_used(ro),
        payload_bytes: 0,
        payload_fnv1a: String::new(),
    };
    shard::write_shard(dir, &mut m, &payload)
}

/// Merges the shard files in `dirs` into the results of the unsharded run (identical except
/// for timing fields); returns them with the shard files read.
pub fn merge(
    dirs: &[std::path::PathBuf],
    ro: &RunOpts,
) -> Result<(StudyResults, Vec<std::path::PathBuf>)> {
    let (spec, src, files) = shard::load_for_merge(dirs)?;
    let (_, res) = run_typed_with(&spec, ro, &src)?;
    if let Source::Replay { calls } = &src {
        let left = calls.lock().map(|c| c.len()).unwrap_or(0);
        if left > 0 {
            return Err(crate::error::AihfError::param(
                "merge",
                format!("the shards hold {left} Monte Carlo runs more than the study makes"),
            ));
        }
    }
    Ok((res, files))
}

fn to_value(x: &impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(x).map_err(|e| crate::error::AihfError::Json {
        context: "study results".into(),
        source: e,
    })
}

const KL_NOTE: &str = "KL(π*‖π̂) is +∞ when π̂ puts zero mass on an action π* charges (SFT and RLHF \
on uncovered actions): reported as the fraction of replications with infinite KL (Wilson \
interval) and the mean over the finite ones; TV is always finite.";

const EXIST_NOTE: &str = "Statistics of an estimator are over the replications on which it exists \
(conditional on existence); the number that did not exist is reported as no_estimator.";

// ---------------------------------------------------------------------------------------------
// (a) Example 2 / Figure 9

/// Result of the Figure 9 study.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fig9Result {
    pub cell: Cell,
    /// 0-based uncovered actions (the paper's 46–50).
    pub uncovered: Vec<usize>,
    /// True mass on them.
    pub truth_uncovered_mass: f64,
    /// The estimates on the first data set alone (the paper's Figure 9 shows one data set):
    /// `(label, policy)`, `None` where the estimator did not exist.
    pub first_data_set: Vec<(String, Option<Vec<f64>>)>,
}

/// Figure 9 (A.2.3, Example 2) over `replications` data sets.
pub fn fig9(s: &Fig9Spec, ro: &RunOpts) -> Result<Fig9Result> {
    fig9_in(
        s,
        &Ctx {
            ro,
            src: &Source::Compute,
        },
    )
}

fn fig9_in(s: &Fig9Spec, cx: &Ctx) -> Result<Fig9Result> {
    let reward = s.truth.reward(s.n_actions);
    let scn = Scenario {
        reward,
        beta: s.beta,
        demos: s.demos,
        covered: Some((0..s.covered).collect()),
        comparisons_per_pair: s.comparisons_per_pair,
    };
    let est = build(&s.estimators, s.beta);
    let cfg = McConfig {
        replications: s.replications,
        seed: s.seed,
        threads: cx.ro.threads,
        progress: cx.ro.progress,
        label: s.name.clone(),
    };
    let run = mc(cx, &scn, &est, &cfg)?;
    let first_data_set = est
        .iter()
        .zip(&run.replications[0])
        .map(|(e, p)| (e.label.clone(), p.as_ref().ok().cloned()))
        .collect();
    let cell = cell_from(
        &s.name,
        &scn,
        &est,
        s.seed,
        &run.replications,
        s.level,
        run.elapsed_s,
        run.solves,
    );
    let uncovered = scn.uncovered();
    let truth_uncovered_mass = uncovered.iter().map(|&i| cell.truth_policy[i]).sum();
    Ok(Fig9Result {
        cell,
        uncovered,
        truth_uncovered_mass,
        first_data_set,
    })
}

fn finite_pts(pts: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    pts.into_iter()
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .collect()
}

fn fig9_figures(r: &Fig9Result) -> Vec<Figure> {
    let c = &r.cell;
    let mut series = vec![Series {
        name: "truth π*".into(),
        points: c
            .truth_policy
            .iter()
            .enumerate()
            .map(|(i, p)| ((i + 1) as f64, *p))
            .collect(),
        err: None,
        style: Style::LinePoints,
    }];
    for e in &c.stats.estimators {
        let (pts, err): (Vec<_>, Vec<_>) = e
            .mean
            .iter()
            .zip(&e.mean_ci)
            .enumerate()
            .filter(|(_, (m, ci))| m.is_finite() && ci.0.is_finite() && ci.1.is_finite())
            .map(|(i, (m, ci))| (((i + 1) as f64, *m), *ci))
            .unzip();
        series.push(Series {
            name: format!("{} (mean, {} reps)", e.label, e.ok),
            points: pts,
            err: Some(err),
            style: Style::Points,
        });
    }
    let first_unc = r.uncovered.first().map_or(0, |i| i + 1);
    let policy = LineChart {
        title: format!(
            "Example 2 / Fig. 9: demonstrations cover actions 1–{}, N = {}, {} comparisons per pair",
            first_unc.saturating_sub(1),
            c.demos,
            c.comparisons_per_pair
        ),
        x_label: "action (1-based)".into(),
        y_label: "policy probability (mean over data sets, 95% CI)".into(),
        x_log: false,
        y_log: false,
        series,
    };
    let mut cats = vec!["truth".to_string()];
    let mut vals = vec![r.truth_uncovered_mass];
    let mut errs = vec![0.0];
    for e in &c.stats.estimators {
        if let Some(u) = &e.uncovered_mass {
            cats.push(e.label.clone());
            vals.push(if u.mean.is_finite() { u.mean } else { 0.0 });
            errs.push(if u.half_width().is_finite() {
                u.half_width()
            } else {
                0.0
            });
        }
    }
    let mass = BarChart {
        title: format!(
            "Mass on the uncovered actions {}–{} (mean ± 95% CI half-width)",
            first_unc,
            c.truth_policy.len()
        ),
        y_label: "Σ π̂ over uncovered actions".into(),
        categories: cats,
        groups: vec![("uncovered mass".into(), vals, Some(errs))],
    };
    let mut one = vec![Series {
        name: "truth π*".into(),
        points: c
            .truth_policy
            .iter()
            .enumerate()
            .map(|(i, p)| ((i + 1) as f64, *p))
            .collect(),
        err: None,
        style: Style::LinePoints,
    }];
    for (label, p) in &r.first_data_set {
        if let Some(p) = p {
            one.push(Series {
                name: label.clone(),
                points: finite_pts(
                    p.iter()
                        .enumerate()
                        .map(|(i, x)| ((i + 1) as f64, *x))
                        .collect(),
                ),
                err: None,
                style: Style::Points,
            });
        }
    }
    let one_chart = LineChart {
        title: format!(
            "Example 2 / Fig. 9 on one data set (as in the paper): actions 1–{} covered",
            first_unc.saturating_sub(1)
        ),
        x_label: "action (1-based)".into(),
        y_label: "policy probability".into(),
        x_log: false,
        y_log: false,
        series: one,
    };
    vec![
        Figure {
            name: "policy".into(),
            chart: Chart::Line(policy),
        },
        Figure {
            name: "one_data_set".into(),
            chart: Chart::Line(one_chart),
        },
        Figure {
            name: "uncovered_mass".into(),
            chart: Chart::Bars(mass),
        },
    ]
}

fn fmt_ci(s: &Summary) -> String {
    format!("{:.4e} [{:.4e}, {:.4e}]", s.mean, s.lo, s.hi)
}

fn fig9_notes(r: &Fig9Result) -> Vec<String> {
    let mut v = vec![format!(
        "true mass on uncovered actions {:?} (0-based) = {:.5}",
        r.uncovered, r.truth_uncovered_mass
    )];
    for e in &r.cell.stats.estimators {
        v.push(format!(
            "{}: uncovered mass {}, TV {}, KL infinite in {}/{} reps, KL(finite) mean {:.4e}, no_estimator {}, other failures {}",
            e.label,
            e.uncovered_mass.as_ref().map_or("-".into(), fmt_ci),
            fmt_ci(&e.tv),
            e.kl.infinite.k,
            e.kl.infinite.n,
            e.kl.finite.mean,
            e.no_estimator,
            e.other_failures
        ));
    }
    v.push(KL_NOTE.into());
    v.push(EXIST_NOTE.into());
    v
}

// ---------------------------------------------------------------------------------------------
// (b) The authors' 3-action example

/// Result of the authors' example.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthorsResult {
    /// The authors' 10 repetitions (the first `first_repetitions` data sets of the run).
    pub first: Cell,
    /// All repetitions.
    pub full: Cell,
    /// `(w, cell)` with SFT, BTL and normalized AIHF with demonstration weight `w`, on the same
    /// data sets as `full` (same seed), so differences between `w` are paired.
    pub w_sweep: Vec<(f64, Cell)>,
    /// Cells of the size sweep.
    pub size_sweep: Vec<Cell>,
    pub solves: usize,
}

/// The authors' public example and its extensions.
pub fn authors(s: &AuthorsSpec, ro: &RunOpts) -> Result<AuthorsResult> {
    authors_in(
        s,
        &Ctx {
            ro,
            src: &Source::Compute,
        },
    )
}

fn authors_in(s: &AuthorsSpec, cx: &Ctx) -> Result<AuthorsResult> {
    let scn = Scenario {
        reward: s.reward.clone(),
        beta: s.beta,
        demos: s.demos,
        covered: None,
        comparisons_per_pair: s.comparisons_per_pair,
    };
    let est = build(&s.estimators, s.beta);
    let cfg = McConfig {
        replications: s.replications,
        seed: s.seed,
        threads: cx.ro.threads,
        progress: cx.ro.progress,
        label: s.name.clone(),
    };
    let run = mc(cx, &scn, &est, &cfg)?;
    let k = s.first_repetitions;
    let first = cell_from(
        &format!("first {k} repetitions"),
        &scn,
        &est,
        s.seed,
        &run.replications[..k],
        s.level,
        f64::NAN,
        k * est.len(),
    );
    let full = cell_from(
        &format!("{} repetitions", s.replications),
        &scn,
        &est,
        s.seed,
        &run.replications,
        s.level,
        run.elapsed_s,
        run.solves,
    );
    let mut solves = run.solves;
    let mut w_sweep = vec![];
    for &w in &s.w_sweep {
        let es: Vec<Estimator> = [
            EstimatorSpec {
                method: Method::Sft,
                label: None,
                lambda: None,
                weighting: None,
                demo_weight: None,
                ridge: None,
            },
            EstimatorSpec {
                method: Method::Btl,
                label: None,
                lambda: None,
                weighting: None,
                demo_weight: None,
                ridge: None,
            },
            EstimatorSpec {
                method: Method::Aihf,
                label: None,
                lambda: None,
                weighting: Some(crate::bandit::Weighting::Normalized),
                demo_weight: Some(w),
                ridge: None,
            },
        ]
        .iter()
        .map(|e| e.build(s.beta))
        .collect();
        let c = run_cell_in(
            cx,
            &format!("w = {w}"),
            &scn,
            &es,
            s.seed,
            s.replications,
            s.level,
        )?;
        solves += c.solves;
        w_sweep.push((w, c));
    }
    let mut size_sweep = vec![];
    for &[d, kpp] in &s.size_sweep {
        let sc = Scenario {
            demos: d,
            comparisons_per_pair: kpp,
            ..scn.clone()
        };
        let label = format!("N = {d}, k = {kpp}");
        let c = run_cell_in(
            cx,
            &label,
            &sc,
            &est,
            cell_seed(s.seed, &label),
            s.replications,
            s.level,
        )?;
        solves += c.solves;
        size_sweep.push(c);
    }
    Ok(AuthorsResult {
        first,
        full,
        w_sweep,
        size_sweep,
        solves,
    })
}

fn bars_of(c: &Cell, title: String) -> BarChart {
    let n = c.truth_policy.len();
    let cats = (1..=n).map(|i| format!("action {i}")).collect();
    let mut groups = vec![("truth".to_string(), c.truth_policy.clone(), None)];
    for e in &c.stats.estimators {
        let sd: Vec<f64> =
            e.sd.iter()
                .map(|x| if x.is_finite() { *x } else { 0.0 })
                .collect();
        let m: Vec<f64> = e
            .mean
            .iter()
            .map(|x| if x.is_finite() { *x } else { 0.0 })
            .collect();
        groups.push((format!("{} ({} reps)", e.label, e.ok), m, Some(sd)));
    }
    BarChart {
        title,
        y_label: "policy probability (mean ± sd over repetitions)".into(),
        categories: cats,
        groups,
    }
}

fn authors_figures(r: &AuthorsResult) -> Vec<Figure> {
    let mut v = vec![
        Figure {
            name: "first".into(),
            chart: Chart::Bars(bars_of(
                &r.first,
                format!(
                    "Authors' 3-action example, their {} repetitions (N = {}, {} comparisons/pair)",
                    r.first.replications, r.first.demos, r.first.comparisons_per_pair
                ),
            )),
        },
        Figure {
            name: "full".into(),
            chart: Chart::Bars(bars_of(
                &r.full,
                format!(
                    "Authors' 3-action example, {} repetitions",
                    r.full.replications
                ),
            )),
        },
    ];
    if !r.w_sweep.is_empty() {
        let mut series: Vec<Series> = vec![];
        let labels: Vec<String> = r.w_sweep[0]
            .1
            .stats
            .estimators
            .iter()
            .map(|e| e.label.clone())
            .collect();
        for (k, l) in labels.iter().enumerate() {
            let (pts, err): (Vec<_>, Vec<_>) = r
                .w_sweep
                .iter()
                .map(|(w, c)| {
                    let e = &c.stats.estimators[k];
                    ((*w, e.mse_total.mean), (e.mse_total.lo, e.mse_total.hi))
                })
                .filter(|((x, y), (a, b))| {
                    x.is_finite() && y.is_finite() && a.is_finite() && b.is_finite()
                })
                .unzip();
            series.push(Series {
                name: l.clone(),
                points: pts,
                err: Some(err),
                style: if k == labels.len() - 1 {
                    Style::LinePoints
                } else {
                    Style::Dashed
                },
            });
        }
        v.push(Figure {
            name: "w_sweep".into(),
            chart: Chart::Line(LineChart {
                title: "Authors' example: MSE E‖π̂ − π*‖² against the demonstration weight w".into(),
                x_label: "w (normalized weighting)".into(),
                y_label: "MSE (95% CI)".into(),
                x_log: true,
                y_log: true,
                series,
            }),
        });
    }
    v
}

fn authors_notes(r: &AuthorsResult) -> Vec<String> {
    let mut v = vec![];
    for (name, c) in [("first", &r.first), ("full", &r.full)] {
        for e in &c.stats.estimators {
            v.push(format!(
                "{name} ({} reps) {}: mean {:?} sd {:?}; MSE {}; no_estimator {}",
                c.replications,
                e.label,
                e.mean
                    .iter()
                    .map(|x| (x * 1e4).round() / 1e4)
                    .collect::<Vec<_>>(),
                e.sd.iter()
                    .map(|x| (x * 1e4).round() / 1e4)
                    .collect::<Vec<_>>(),
                fmt_ci(&e.mse_total),
                e.no_estimator
            ));
        }
    }
    v.push(format!("truth π* = {:?}", r.full.truth_policy));
    for (w, c) in &r.w_sweep {
        let parts: Vec<String> = c
            .stats
            .estimators
            .iter()
            .map(|e| format!("{} MSE {}", e.label, fmt_ci(&e.mse_total)))
            .collect();
        v.push(format!("w = {w}: {}", parts.join("; ")));
    }
    for c in &r.size_sweep {
        let parts: Vec<String> = c
            .stats
            .estimators
            .iter()
            .map(|e| {
                format!(
                    "{} MSE {} Var {:.4e} (no_estimator {})",
                    e.label,
                    fmt_ci(&e.mse_total),
                    e.variance_total.mean,
                    e.no_estimator
                )
            })
            .collect();
        v.push(format!("{}: {}", c.label, parts.join("; ")));
    }
    v.push(EXIST_NOTE.into());
    v
}

// ---------------------------------------------------------------------------------------------
// (c) The variance sweep

/// Where AIHF's variance (or MSE) stands against one single-source estimator in one cell.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    /// The AIHF estimator compared.
    pub aihf: String,
    pub cell: String,
    pub demos: u64,
    pub comparisons_per_pair: u64,
    pub ratio: f64,
    pub against: String,
    /// `Var(AIHF) − Var(other)` (paired, over common replications).
    pub variance_diff: Summary,
    /// "below" (CI entirely < 0), "above" (> 0) or "indistinguishable".
    pub variance: String,
    pub mse_diff: Summary,
    pub mse: String,
    /// Replications excluded because one of the two did not exist.
    pub dropped: usize,
}

fn verdict(s: &Summary) -> String {
    if s.hi < 0.0 {
        "below".into()
    } else if s.lo > 0.0 {
        "above".into()
    } else {
        "indistinguishable".into()
    }
}

/// Result of the variance sweep.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepResult {
    pub cells: Vec<Cell>,
    /// AIHF against each single-source estimator (SFT, BTL), per cell.
    pub table: Vec<Verdict>,
    /// Label of the primary AIHF estimator (the first with method `aihf`): the claim's.
    pub aihf: String,
    /// Labels of every AIHF estimator in the table (the primary first).
    pub aihf_all: Vec<String>,
    /// Labels of the single-source estimators.
    pub single_source: Vec<String>,
}

/// The A.2.3 variance claim over a grid of `N` and comparisons per pair.
pub fn sweep(s: &SweepSpec, ro: &RunOpts) -> Result<SweepResult> {
    sweep_in(
        s,
        &Ctx {
            ro,
            src: &Source::Compute,
        },
    )
}

fn sweep_in(s: &SweepSpec, cx: &Ctx) -> Result<SweepResult> {
    let reward = s.truth.reward(s.n_actions);
    let est = build(&s.estimators, s.beta);
    let mut cells = vec![];
    for &k in &s.comparisons_per_pair {
        for &d in &s.demos {
            if d == 0 && k == 0 {
                continue;
            }
            let scn = Scenario {
                reward: reward.clone(),
                beta: s.beta,
                demos: d,
                covered: None,
                comparisons_per_pair: k,
            };
            let label = format!("N={d},k={k}");
            cells.push(run_cell_in(
                cx,
                &label,
                &scn,
                &est,
                cell_seed(s.seed, &label),
                s.replications,
                s.level,
            )?);
        }
    }
    let aihf_all: Vec<String> = est
        .iter()
        .filter(|e| e.method == Method::Aihf)
        .map(|e| e.label.clone())
        .collect();
    let aihf = aihf_all.first().cloned().unwrap_or_default();
    let single_source: Vec<String> = est
        .iter()
        .filter(|e| matches!(e.method, Method::Sft | Method::Btl))
        .map(|e| e.label.clone())
        .collect();
    let mut table = vec![];
    for a in &aihf_all {
        for c in &cells {
            for o in &single_source {
                if let Some(p) = c.stats.pair(a, o) {
                    table.push(verdict_of(a, c, o, &p));
                }
            }
        }
    }
    Ok(SweepResult {
        cells,
        table,
        aihf,
        aihf_all,
        single_source,
    })
}

fn verdict_of(aihf: &str, c: &Cell, other: &str, p: &PairedStats) -> Verdict {
    Verdict {
        aihf: aihf.into(),
        cell: c.label.clone(),
        demos: c.demos,
        comparisons_per_pair: c.comparisons_per_pair,
        ratio: c.ratio,
        against: other.into(),
        variance_diff: p.variance_diff,
        variance: verdict(&p.variance_diff),
        mse_diff: p.mse_diff,
        mse: verdict(&p.mse_diff),
        dropped: p.dropped,
    }
}

fn sweep_figures(r: &SweepResult) -> Vec<Figure> {
    let mut ks: Vec<u64> = r.cells.iter().map(|c| c.comparisons_per_pair).collect();
    ks.dedup();
    let labels: Vec<String> = r.cells.first().map_or(vec![], |c| {
        c.stats.estimators.iter().map(|e| e.label.clone()).collect()
    });
    let mut figs = vec![];
    for &k in &ks {
        let cells: Vec<&Cell> = r
            .cells
            .iter()
            .filter(|c| c.comparisons_per_pair == k)
            .collect();
        let series = labels
            .iter()
            .enumerate()
            .map(|(j, l)| {
                let (pts, err): (Vec<_>, Vec<_>) = cells
                    .iter()
                    .map(|c| {
                        let e = &c.stats.estimators[j];
                        (
                            (c.ratio, e.mse_total.mean),
                            (e.mse_total.lo.max(e.mse_total.mean * 1e-3), e.mse_total.hi),
                        )
                    })
                    .filter(|((x, y), (a, b))| {
                        x.is_finite() && y.is_finite() && *y > 0.0 && a.is_finite() && b.is_finite()
                    })
                    .unzip();
                Series {
                    name: l.clone(),
                    points: pts,
                    err: Some(err),
                    style: Style::LinePoints,
                }
            })
            .collect();
        figs.push(Figure {
            name: format!("mse_k{k}"),
            chart: Chart::Line(LineChart {
                title: format!("MSE E‖π̂ − π*‖² against N/M, {k} comparisons per pair (N varies)"),
                x_label: "N / M (demonstrations per comparison)".into(),
                y_label: "MSE (95% CI; conditional on existence)".into(),
                x_log: true,
                y_log: true,
                series,
            }),
        });
    }
    // AIHF's variance relative to each single-source estimator, against the ratio.
    for (ai, aihf) in r.aihf_all.iter().enumerate() {
        let mut series = vec![];
        for o in &r.single_source {
            for &k in &ks {
                let pts: Vec<(f64, f64)> = r
                    .cells
                    .iter()
                    .filter(|c| c.comparisons_per_pair == k)
                    .filter_map(|c| {
                        let a = c.stats.get(aihf)?.variance_total.mean;
                        let other = c.stats.get(o)?;
                        // A single source that rarely exists (BTL at k = 1 exists only on cyclic
                        // outcomes, and is then uniform with variance 0) has no meaningful ratio.
                        (other.existence.p >= 0.5)
                            .then_some((c.ratio, a / other.variance_total.mean))
                    })
                    .collect();
                series.push(Series {
                    name: format!("Var({aihf})/Var({o}), k={k}"),
                    points: finite_pts(pts),
                    err: None,
                    style: if o.contains("SFT") {
                        Style::LinePoints
                    } else {
                        Style::Dashed
                    },
                });
            }
        }
        series.push(Series {
            name: "ratio 1".into(),
            points: {
                let xs: Vec<f64> = r
                    .cells
                    .iter()
                    .map(|c| c.ratio)
                    .filter(|x| x.is_finite() && *x > 0.0)
                    .collect();
                let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                finite_pts(vec![(lo, 1.0), (hi, 1.0)])
            },
            err: None,
            style: Style::Dashed,
        });
        figs.push(Figure {
            name: if ai == 0 {
                "variance_ratio".into()
            } else {
                format!("variance_ratio_{}", ai + 1)
            },
            chart: Chart::Line(LineChart {
                title: format!(
                "Var({aihf}) / Var(single source) (< 1: lower; cells where it exists < 50% omitted)"
            ),
                x_label: "N / M (demonstrations per comparison)".into(),
                y_label: "Var(AIHF) / Var(single source)".into(),
                x_log: true,
                y_log: true,
                series,
            }),
        });
    }
    figs
}

fn sweep_notes(r: &SweepResult) -> Vec<String> {
    let mut v = vec![format!(
        "Variance = trace of the covariance of π̂ (Σ_i Var π̂_i); paired difference Var({}) − Var(other) over the replications where both exist; verdict 'below' when the whole 95% CI is < 0.",
        r.aihf
    )];
    for t in &r.table {
        v.push(format!(
            "{} {} vs {}: variance {} (diff {}), MSE {} (diff {}), dropped {}",
            t.aihf,
            t.cell,
            t.against,
            t.variance,
            fmt_ci(&t.variance_diff),
            t.mse,
            fmt_ci(&t.mse_diff),
            t.dropped
        ));
    }
    v.push(EXIST_NOTE.into());
    v
}

// ---------------------------------------------------------------------------------------------
// (d) The two A.2.3 situations

/// One situation's outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SituationResult {
    pub name: String,
    pub cell: Cell,
    /// Estimator with the largest mean TV to the truth.
    pub farthest_tv: String,
    /// Estimator with the largest MSE.
    pub farthest_mse: String,
    /// Paired TV difference farthest − runner-up.
    pub margin_tv: Option<PairedStats>,
    /// Estimators by mean TV, farthest first.
    pub ranking_tv: Vec<(String, f64)>,
    /// Farthest by mean TV among the estimators that use demonstrations (all but BTL).
    pub farthest_tv_excluding_preference_only: String,
}

/// Result of the situations study.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SituationsResult {
    pub situations: Vec<SituationResult>,
}

/// The A.2.3 situations with the toolkit's instances.
pub fn situations(s: &SituationsSpec, ro: &RunOpts) -> Result<SituationsResult> {
    situations_in(
        s,
        &Ctx {
            ro,
            src: &Source::Compute,
        },
    )
}

fn situations_in(s: &SituationsSpec, cx: &Ctx) -> Result<SituationsResult> {
    let est = build(&s.estimators, s.beta);
    let mut out = vec![];
    for x in &s.situations {
        let scn = Scenario {
            reward: x.reward.clone(),
            beta: s.beta,
            demos: x.demos,
            covered: None,
            comparisons_per_pair: x.comparisons_per_pair,
        };
        let cell = run_cell_in(
            cx,
            &x.name,
            &scn,
            &est,
            cell_seed(s.seed, &x.name),
            s.replications,
            s.level,
        )?;
        let mut by_tv: Vec<(String, f64)> = cell
            .stats
            .estimators
            .iter()
            .filter(|e| e.tv.mean.is_finite())
            .map(|e| (e.label.clone(), e.tv.mean))
            .collect();
        by_tv.sort_by(|a, b| b.1.total_cmp(&a.1));
        let farthest_tv = by_tv.first().map(|x| x.0.clone()).unwrap_or_default();
        let farthest_mse = cell
            .stats
            .estimators
            .iter()
            .filter(|e| e.mse_total.mean.is_finite())
            .max_by(|a, b| a.mse_total.mean.total_cmp(&b.mse_total.mean))
            .map(|e| e.label.clone())
            .unwrap_or_default();
        let margin_tv = if by_tv.len() > 1 {
            cell.stats.pair(&by_tv[0].0, &by_tv[1].0)
        } else {
            None
        };
        let farthest_tv_excluding_preference_only = by_tv
            .iter()
            .find(|(l, _)| {
                cell.stats
                    .get(l)
                    .is_some_and(|e| e.method != Method::Btl.name())
            })
            .map(|x| x.0.clone())
            .unwrap_or_default();
        out.push(SituationResult {
            name: x.name.clone(),
            cell,
            farthest_tv,
            farthest_mse,
            margin_tv,
            ranking_tv: by_tv,
            farthest_tv_excluding_preference_only,
        });
    }
    Ok(SituationsResult { situations: out })
}

fn situations_figures(r: &SituationsResult) -> Vec<Figure> {
    let cats: Vec<String> = r.situations.iter().map(|s| s.name.clone()).collect();
    let labels: Vec<String> = r.situations.first().map_or(vec![], |s| {
        s.cell
            .stats
            .estimators
            .iter()
            .map(|e| e.label.clone())
            .collect()
    });
    let groups = labels
        .iter()
        .enumerate()
        .map(|(j, l)| {
            let vals = r
                .situations
                .iter()
                .map(|s| {
                    let m = s.cell.stats.estimators[j].tv.mean;
                    if m.is_finite() {
                        m
                    } else {
                        0.0
                    }
                })
                .collect();
            let errs = r
                .situations
                .iter()
                .map(|s| {
                    let h = s.cell.stats.estimators[j].tv.half_width();
                    if h.is_finite() {
                        h
                    } else {
                        0.0
                    }
                })
                .collect();
            (l.clone(), vals, Some(errs))
        })
        .collect();
    vec![Figure {
        name: "tv".into(),
        chart: Chart::Bars(BarChart {
            title: "A.2.3 situations: mean TV(π*, π̂) over data sets (± 95% CI)".into(),
            y_label: "mean total variation to the truth".into(),
            categories: cats,
            groups,
        }),
    }]
}

fn situations_notes(r: &SituationsResult) -> Vec<String> {
    let mut v = vec![];
    for s in &r.situations {
        v.push(format!(
            "{} (N = {}, k = {}): farthest by mean TV = {}, by MSE = {}; excluding the preference-only BTL: {}",
            s.name,
            s.cell.demos,
            s.cell.comparisons_per_pair,
            s.farthest_tv,
            s.farthest_mse,
            s.farthest_tv_excluding_preference_only
        ));
        for e in &s.cell.stats.estimators {
            v.push(format!(
                "  {}: TV {}, MSE {}, no_estimator {}",
                e.label,
                fmt_ci(&e.tv),
                fmt_ci(&e.mse_total),
                e.no_estimator
            ));
        }
        if let Some(m) = &s.margin_tv {
            v.push(format!(
                "  TV({}) − TV({}) paired: {}",
                m.a,
                m.b,
                fmt_ci(&m.tv_diff)
            ));
        }
    }
    v.push(EXIST_NOTE.into());
    v
}

// ---------------------------------------------------------------------------------------------
// (e) Consistency

/// Per-estimator fit of `log mean TV` on `log (N + M)`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SlopeResult {
    pub label: String,
    /// All sizes.
    pub all: SlopeFit,
    /// The last three sizes (where a bias floor shows as a slope near 0).
    pub tail: SlopeFit,
    /// Mean TV at the largest size.
    pub tv_last: Summary,
}

/// Result of the consistency study.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConsistencyResult {
    pub cells: Vec<Cell>,
    /// Total data sizes `N + M`.
    pub sizes: Vec<f64>,
    pub slopes: Vec<SlopeResult>,
    /// `TV(π*, π_{2r*})`: RLHF's limit at β = 1 (SPEC §1.3).
    pub rlhf_floor: f64,
}

/// TV to the truth against data size.
pub fn consistency(s: &ConsistencySpec, ro: &RunOpts) -> Result<ConsistencyResult> {
    consistency_in(
        s,
        &Ctx {
            ro,
            src: &Source::Compute,
        },
    )
}

fn consistency_in(s: &ConsistencySpec, cx: &Ctx) -> Result<ConsistencyResult> {
    let reward = s.truth.reward(s.n_actions);
    let est = build(&s.estimators, s.beta);
    let mut cells = vec![];
    for &m in &s.scales {
        let scn = Scenario {
            reward: reward.clone(),
            beta: s.beta,
            demos: s.base_demos * m,
            covered: None,
            comparisons_per_pair: s.base_comparisons_per_pair * m,
        };
        let label = format!("scale {m}");
        cells.push(run_cell_in(
            cx,
            &label,
            &scn,
            &est,
            cell_seed(s.seed, &label),
            s.replications,
            s.level,
        )?);
    }
    let sizes: Vec<f64> = cells
        .iter()
        .map(|c| (c.demos + c.comparisons) as f64)
        .collect();
    let lx: Vec<f64> = sizes.iter().map(|x| x.ln()).collect();
    let mut slopes = vec![];
    for (j, e) in est.iter().enumerate() {
        let ly: Vec<f64> = cells
            .iter()
            .map(|c| c.stats.estimators[j].tv.mean.ln())
            .collect();
        let t = lx.len().saturating_sub(3);
        slopes.push(SlopeResult {
            label: e.label.clone(),
            all: slope_fit(&lx, &ly, s.level),
            tail: slope_fit(&lx[t..], &ly[t..], s.level),
            tv_last: cells
                .last()
                .map_or(Summary::empty(), |c| c.stats.estimators[j].tv),
        });
    }
    let truth = crate::math::softmax(&reward.iter().map(|r| r / s.beta).collect::<Vec<_>>());
    let sharp = crate::math::softmax(&reward.iter().map(|r| 2.0 * r / s.beta).collect::<Vec<_>>());
    Ok(ConsistencyResult {
        cells,
        sizes,
        slopes,
        rlhf_floor: crate::math::tv(&truth, &sharp),
    })
}

fn consistency_figures(r: &ConsistencyResult) -> Vec<Figure> {
    let mut series = vec![];
    for (j, sl) in r.slopes.iter().enumerate() {
        let (pts, err): (Vec<_>, Vec<_>) = r
            .cells
            .iter()
            .zip(&r.sizes)
            .map(|(c, x)| {
                let t = &c.stats.estimators[j].tv;
                ((*x, t.mean), (t.lo.max(t.mean * 1e-3), t.hi))
            })
            .filter(|((x, y), (a, b))| {
                x.is_finite() && y.is_finite() && a.is_finite() && b.is_finite()
            })
            .unzip();
        series.push(Series {
            name: format!(
                "{} (slope {:.3} [{:.3}, {:.3}])",
                sl.label, sl.all.slope, sl.all.lo, sl.all.hi
            ),
            points: pts,
            err: Some(err),
            style: Style::LinePoints,
        });
    }
    if let (Some(&x0), Some(&x1)) = (r.sizes.first(), r.sizes.last()) {
        // n^{-1/2} reference through the first AIHF point (or the first series).
        let j = r
            .slopes
            .iter()
            .position(|s| s.label.contains("AIHF"))
            .unwrap_or(0);
        if let Some(c0) = r.cells.first() {
            let y0 = c0.stats.estimators[j].tv.mean;
            series.push(Series {
                name: "∝ (N+M)^(-1/2)".into(),
                points: finite_pts(vec![(x0, y0), (x1, y0 * (x1 / x0).powf(-0.5))]),
                err: None,
                style: Style::Dashed,
            });
        }
        series.push(Series {
            name: format!("RLHF limit TV(π*, π_2r*) = {:.4}", r.rlhf_floor),
            points: finite_pts(vec![(x0, r.rlhf_floor), (x1, r.rlhf_floor)]),
            err: None,
            style: Style::Dashed,
        });
    }
    vec![Figure {
        name: "tv_vs_size".into(),
        chart: Chart::Line(LineChart {
            title: "Consistency: mean TV(π*, π̂) against data size (log–log, 95% CI)".into(),
            x_label: "N + M (demonstrations + comparisons)".into(),
            y_label: "mean TV to the truth".into(),
            x_log: true,
            y_log: true,
            series,
        }),
    }]
}

fn consistency_notes(r: &ConsistencyResult) -> Vec<String> {
    let mut v = vec![format!(
        "RLHF's limit at β = 1 is π_(2r*) (SPEC §1.3): TV(π*, π_(2r*)) = {:.5}",
        r.rlhf_floor
    )];
    for s in &r.slopes {
        v.push(format!(
            "{}: slope of log mean TV on log(N+M) over all sizes {:.3} [{:.3}, {:.3}], over the last 3 {:.3} [{:.3}, {:.3}]; TV at the largest size {}",
            s.label, s.all.slope, s.all.lo, s.all.hi, s.tail.slope, s.tail.lo, s.tail.hi, fmt_ci(&s.tv_last)
        ));
    }
    v
}
