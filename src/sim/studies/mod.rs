//! The studies of SPEC §4, each computing a typed result that is written as JSON together with
//! the data of its figures (drawn by [`super::figures`] from that JSON alone).
//!
//! One file per study, each a unit struct implementing [`Study`] (run, figures, tables, notes):
//! [`Fig9`] (Example 2 / Figure 9), [`Authors`] (the authors' 3-action example), [`Sweep`] (the
//! A.2.3 variance claim), [`Situations`] (the two A.2.3 situations), [`Consistency`]. This module
//! holds what they share: cells and their tables, the results file, and `mc`, the one entry
//! point of every Monte Carlo run (computed, one shard of it, or replayed from merged shards), so
//! every study shards and merges ([`run_shard`], [`merge`]) without code of its own.

mod authors;
mod consistency;
mod fig9;
mod situations;
mod sweep;

pub use authors::{authors, Authors, AuthorsResult};
pub use consistency::{consistency, Consistency, ConsistencyResult, SlopeResult};
pub use fig9::{fig9, Fig9, Fig9Result};
pub use situations::{situations, SituationResult, Situations, SituationsResult};
pub use sweep::{sweep, Sweep, SweepResult, Verdict};

use super::engine::{self, Estimator, Failure, McConfig, McRun, Replication, Scenario};
use super::shard::{self, Block, CallInfo, Shard, Source};
use super::spec::{EstimatorSpec, Spec};
use super::summary::{reduce, CellStats};
use crate::error::Result;
use crate::plot::{BarChart, LineChart};
use crate::stats::Summary;
use crate::valid::Valid;
use serde::{Deserialize, Serialize};

/// How to run a study (from the command line or a claim).
#[derive(Clone, Debug)]
pub struct RunOpts {
    /// Worker threads for rayon; `None`: rayon's default (all cores).
    pub threads: Option<usize>,
    /// Whether to draw progress bars on stderr.
    pub progress: bool,
}

/// A figure's data: redrawable without recomputing.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Chart {
    /// A line chart (series against a numeric axis).
    Line(LineChart),
    /// A grouped bar chart.
    Bars(BarChart),
}

/// A named figure of a study (files `<study name>_<name>.png/.svg`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figure {
    /// Figure name, the suffix of the files `<study name>_<name>.png/.svg`.
    pub name: String,
    /// The chart's data.
    pub chart: Chart,
}

/// One cell of a study: a data-generating process and the statistics of every estimator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cell {
    /// The cell's label in tables and progress bars.
    pub label: String,
    /// Demonstrations `N`.
    pub demos: u64,
    /// Comparisons `k` drawn per unordered pair of the `n` responses.
    pub comparisons_per_pair: u64,
    /// Total comparisons `M = k · n(n−1)/2`.
    pub comparisons: u64,
    /// `N / M` (∞ when `M = 0`, serialised as null).
    pub ratio: f64,
    /// The true reward `r*` of the cell's `n` responses.
    pub truth_reward: Vec<f64>,
    /// The true policy `π* = softmax(r*/β)` (uniform reference) the estimators are scored against.
    pub truth_policy: Vec<f64>,
    /// Replications actually run in this cell.
    pub replications: usize,
    /// Seed of this cell (replication `k` uses `rep_seed(seed, k)`).
    pub seed: u64,
    /// Per-estimator statistics over the replications ([`reduce`]).
    pub stats: CellStats,
    /// Wall-clock seconds spent on this cell.
    pub elapsed_s: f64,
    /// Estimator solves in this cell (replications × estimators).
    pub solves: usize,
}

/// The results file of a study.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StudyResults {
    /// `aihf` crate version that computed the file.
    pub aihf_version: String,
    /// Kind of study: `fig9`, `authors`, `sweep`, `situations` or `consistency`.
    pub study: String,
    /// The study's name from its spec (the results file is `<name>.json`).
    pub name: String,
    /// The spec's master seed, from which every cell's seed derives.
    pub seed: u64,
    /// The spec as run (after command-line overrides).
    pub spec: Spec,
    /// The input files read, each with its FNV-1a hash ([`crate::io::input_record`]):
    /// `{"spec": {"path", "fnv1a", "bytes"}}` from `aihf sim FILE`; `null` when the study was
    /// run from a spec built in code or merged from shards (whose manifests hash the spec).
    #[serde(default)]
    pub inputs: serde_json::Value,
    /// Worker threads used (rayon).
    pub threads: usize,
    /// Wall-clock seconds of the whole study.
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
    /// Figures drawn from this JSON (redrawable without recomputing).
    pub figures: Vec<Figure>,
    /// Tables rendered as Markdown (`<name>_<table>.md`) from this JSON, like the figures.
    #[serde(default)]
    pub tables: Vec<Table>,
}

/// A table of a study (rendered to Markdown from the results JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Table {
    /// Table name, the suffix of the file `<study name>_<name>.md`.
    pub name: String,
    /// Title printed above the table.
    pub title: String,
    /// Column headings.
    pub header: Vec<String>,
    /// Rows of cells, each as wide as `header`.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// GitHub-flavoured Markdown (a `|` inside a cell, as in a label, is escaped).
    pub fn markdown(&self) -> String {
        let esc = |v: &[String]| -> String {
            v.iter()
                .map(|c| c.replace('|', "\\|"))
                .collect::<Vec<_>>()
                .join(" | ")
        };
        let mut s = format!(
            "## {}\n\n| {} |\n|{}\n",
            self.title,
            esc(&self.header),
            "---|".repeat(self.header.len())
        );
        for r in &self.rows {
            s.push_str(&format!("| {} |\n", esc(r)));
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

const ESTIMATOR_COLUMNS: [&str; 10] = [
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
];

fn estimator_row(e: &super::summary::EstimatorStats) -> Vec<String> {
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
}

/// The per-estimator summary table of a cell.
fn cell_table(name: &str, c: &Cell) -> Table {
    Table {
        name: name.into(),
        title: format!(
            "{}: N = {}, {} comparisons per pair, {} data sets (95% CIs)",
            c.label, c.demos, c.comparisons_per_pair, c.replications
        ),
        header: ESTIMATOR_COLUMNS.iter().map(|x| x.to_string()).collect(),
        rows: c.stats.estimators.iter().map(estimator_row).collect(),
    }
}

/// One table of every estimator of every cell (a `cell` column first): what a study whose own
/// table compares only some estimators adds, so every estimator of the spec is in a table.
fn cells_table(name: &str, title: &str, cells: &[Cell]) -> Table {
    let mut header = vec!["cell".to_string()];
    header.extend(ESTIMATOR_COLUMNS.iter().map(|x| x.to_string()));
    Table {
        name: name.into(),
        title: title.into(),
        header,
        rows: cells
            .iter()
            .flat_map(|c| {
                c.stats.estimators.iter().map(move |e| {
                    let mut r = vec![c.label.clone()];
                    r.extend(estimator_row(e));
                    r
                })
            })
            .collect(),
    }
}

/// Runs one cell.
#[allow(clippy::too_many_arguments)]
pub fn run_cell(
    label: &str,
    scn: &Valid<Scenario>,
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

/// How a study runs and where its replications come from (the options, and whether the
/// replications are computed, computed for one shard, or replayed from merged shards). Made
/// by this module's entry points; a [`Study`] passes it on to `run_cell_in` and `mc`.
pub struct Ctx<'a> {
    ro: &'a RunOpts,
    src: &'a Source,
}

/// One study of SPEC §4: its spec, its typed result (the results file's `body`) and what is
/// derived from that result alone — figures, tables, notes — so that the figures and tables of a
/// merged sharded run are those of the unsharded one. [`run_typed_with`] dispatches on [`Spec`]
/// through this trait; a study is one file of this module and one arm there.
pub trait Study {
    /// The study's checked spec (what one variant of [`Spec`] holds, a
    /// [`crate::valid::Valid`]), so an unchecked spec never runs.
    type Spec;
    /// The typed result, serialised as the results file's `body`.
    type Result: Serialize;
    /// Runs the study; every Monte Carlo run goes through `mc` with `cx` (shards and merge
    /// rely on it), and the sequence of runs depends on the spec alone.
    fn run(spec: &Self::Spec, cx: &Ctx) -> Result<Self::Result>;
    /// The figures' data (files `<name>_<figure>.png/.svg`).
    fn figures(r: &Self::Result) -> Vec<Figure>;
    /// The tables (file `<name>_tables.md`).
    fn tables(r: &Self::Result) -> Vec<Table>;
    /// Sentences on how things were measured and what the numbers say.
    fn notes(r: &Self::Result) -> Vec<String>;
    /// Estimator solves (replications × estimators, over all runs).
    fn solves(r: &Self::Result) -> usize;
}

/// Runs study `S` with every replication computed here (no shards).
fn compute<S: Study>(spec: &S::Spec, ro: &RunOpts) -> Result<S::Result> {
    S::run(
        spec,
        &Ctx {
            ro,
            src: &Source::Compute,
        },
    )
}

/// What a study's run contributes to its results file.
struct Outputs {
    typed: Typed,
    body: serde_json::Value,
    figures: Vec<Figure>,
    tables: Vec<Table>,
    notes: Vec<String>,
    solves: usize,
}

fn outputs<S: Study>(spec: &S::Spec, cx: &Ctx, typed: fn(S::Result) -> Typed) -> Result<Outputs> {
    let r = S::run(spec, cx)?;
    Ok(Outputs {
        body: to_value(&r)?,
        figures: S::figures(&r),
        tables: S::tables(&r),
        notes: S::notes(&r),
        solves: S::solves(&r),
        typed: typed(r),
    })
}

/// Every Monte Carlo run of every study goes through here: computed, computed for one shard
/// (the other replications are placeholders the shard never writes), or replayed from merged
/// shards after checking that the run is the one the shards recorded.
fn mc(cx: &Ctx, scn: &Valid<Scenario>, est: &[Estimator], cfg: &McConfig) -> Result<McRun> {
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
    scn: &Valid<Scenario>,
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
    /// Result of a `fig9` study.
    Fig9(Fig9Result),
    /// Result of an `authors` study.
    Authors(AuthorsResult),
    /// Result of a `sweep` study.
    Sweep(SweepResult),
    /// Result of a `situations` study.
    Situations(SituationsResult),
    /// Result of a `consistency` study.
    Consistency(ConsistencyResult),
}

/// Runs a checked spec.
pub fn run(spec: &Spec, ro: &RunOpts) -> Result<StudyResults> {
    Ok(run_typed(spec, ro)?.1)
}

/// Runs a spec and returns both the typed result and the results file.
pub fn run_typed(spec: &Spec, ro: &RunOpts) -> Result<(Typed, StudyResults)> {
    run_typed_with(spec, ro, &Source::Compute)
}

/// [`run_typed`] with the replications from `src` (see [`super::shard`]).
pub fn run_typed_with(spec: &Spec, ro: &RunOpts, src: &Source) -> Result<(Typed, StudyResults)> {
    let cx = Ctx { ro, src };
    let t0 = std::time::Instant::now();
    let o = match spec {
        Spec::Fig9(s) => outputs::<Fig9>(s, &cx, Typed::Fig9)?,
        Spec::Authors(s) => outputs::<Authors>(s, &cx, Typed::Authors)?,
        Spec::Sweep(s) => outputs::<Sweep>(s, &cx, Typed::Sweep)?,
        Spec::Situations(s) => outputs::<Situations>(s, &cx, Typed::Situations)?,
        Spec::Consistency(s) => outputs::<Consistency>(s, &cx, Typed::Consistency)?,
    };
    let elapsed_s = t0.elapsed().as_secs_f64();
    let threads = threads_used(ro);
    let res = StudyResults {
        aihf_version: env!("CARGO_PKG_VERSION").to_string(),
        study: spec.kind().into(),
        name: spec.name().into(),
        seed: spec.seed(),
        spec: spec.clone(),
        inputs: serde_json::Value::Null,
        threads,
        elapsed_s,
        solves: o.solves,
        wall_us_per_solve: 1e6 * elapsed_s / o.solves.max(1) as f64,
        core_us_per_solve: 1e6 * elapsed_s * threads as f64 / o.solves.max(1) as f64,
        body: o.body,
        notes: o.notes,
        figures: o.figures,
        tables: o.tables,
    };
    Ok((o.typed, res))
}

/// Runs shard `shard` of `spec` and writes its replications to `dir` (see [`super::shard`]);
/// returns the shard file's path.
pub fn run_shard(
    spec: &Spec,
    ro: &RunOpts,
    shard: Shard,
    dir: &std::path::Path,
) -> Result<std::path::PathBuf> {
    run_shard_with_inputs(spec, ro, shard, dir, serde_json::Value::Null)
}

/// [`run_shard`] recording the input files (the results' `inputs`) in the shard's manifest,
/// so that the merged results record them as the unsharded run does.
pub fn run_shard_with_inputs(
    spec: &Spec,
    ro: &RunOpts,
    shard: Shard,
    dir: &std::path::Path,
    inputs: serde_json::Value,
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
        inputs,
    };
    shard::write_shard(dir, &mut m, &payload)
}

/// Merges the shard files in `dirs` into the results of the unsharded run (identical except
/// for timing fields); returns them with the shard files read.
pub fn merge(
    dirs: &[std::path::PathBuf],
    ro: &RunOpts,
) -> Result<(StudyResults, Vec<std::path::PathBuf>)> {
    let (spec, src, files, inputs) = shard::load_for_merge(dirs)?;
    let (_, mut res) = run_typed_with(&spec, ro, &src)?;
    res.inputs = inputs;
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

fn finite_pts(pts: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    pts.into_iter()
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .collect()
}

fn fmt_ci(s: &Summary) -> String {
    format!("{:.4e} [{:.4e}, {:.4e}]", s.mean, s.lo, s.hi)
}
