//! The A.2.3 variance claim: AIHF against the single-source estimators over a grid of
//! demonstration and preference sizes.

use super::{
    build, cell_seed, cells_table, ci, compute, finite_pts, fmt_ci, run_cell_in, sci, Cell, Chart,
    Ctx, Figure, RunOpts, Study, Table, EXIST_NOTE,
};
use crate::bandit::Method;
use crate::error::Result;
use crate::plot::{LineChart, Series, Style};
use crate::sim::engine::Scenario;
use crate::sim::spec::SweepSpec;
use crate::sim::summary::PairedStats;
use crate::stats::Summary;
use crate::valid::{Check, Valid};
use serde::{Deserialize, Serialize};

/// Where AIHF's variance (or MSE) stands against one single-source estimator in one cell.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    /// The AIHF estimator compared.
    pub aihf: String,
    /// Label of the cell (`N=<demos>,k=<comparisons per pair>`).
    pub cell: String,
    /// Demonstrations `N` in the cell.
    pub demos: u64,
    /// Comparisons `k` per unordered pair of responses in the cell.
    pub comparisons_per_pair: u64,
    /// `N / M` of the cell (`∞` when `M = 0`, serialised as null).
    pub ratio: f64,
    /// Label of the single-source estimator (SFT or BTL) AIHF is compared with.
    pub against: String,
    /// `Var(AIHF) − Var(other)` (paired, over common replications).
    pub variance_diff: Summary,
    /// "below" (CI entirely < 0), "above" (> 0), "indistinguishable" or "undefined" (NaN CI).
    pub variance: String,
    /// `MSE(AIHF) − MSE(other)` (paired, over common replications).
    pub mse_diff: Summary,
    /// Verdict on `mse_diff`, with the same four values as `variance`.
    pub mse: String,
    /// Replications excluded because one of the two did not exist.
    pub dropped: usize,
}

/// Variance ratios above this are drawn at it, marked as off the scale.
const OFF_SCALE: f64 = 1000.0;

/// "1 comparison per pair", "10 comparisons per pair".
fn per_pair(k: u64) -> String {
    format!("{k} comparison{} per pair", if k == 1 { "" } else { "s" })
}

/// The style key of an estimator label (its own label when it names no known estimator).
fn style_key(label: &str) -> String {
    crate::plot::style::estimator_key(label)
        .unwrap_or(label)
        .to_string()
}

fn verdict(s: &Summary) -> String {
    // A NaN interval (too few common replications) decides nothing: say so.
    if !(s.lo.is_finite() && s.hi.is_finite()) {
        "undefined".into()
    } else if s.hi < 0.0 {
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
    /// Every cell of the grid, by comparisons per pair then `N` (the empty cell `N = k = 0` skipped).
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
pub fn sweep(s: &Valid<SweepSpec>, ro: &RunOpts) -> Result<SweepResult> {
    compute::<Sweep>(s, ro)
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

/// The variance sweep as a [`Study`].
pub struct Sweep;

impl Study for Sweep {
    type Spec = Valid<SweepSpec>;
    type Result = SweepResult;

    fn run(s: &Valid<SweepSpec>, cx: &Ctx) -> Result<SweepResult> {
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
                }
                .checked()?;
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

    fn figures(r: &SweepResult) -> Vec<Figure> {
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
                            x.is_finite()
                                && y.is_finite()
                                && *y > 0.0
                                && a.is_finite()
                                && b.is_finite()
                        })
                        .unzip();
                    Series {
                        name: l.clone(),
                        points: pts,
                        err: Some(err),
                        style: Style::LinePoints,
                        key: None,
                        lighten: 0.0,
                    }
                })
                .collect();
            figs.push(Figure {
                name: format!("mse_k{k}"),
                chart: Chart::Line(LineChart {
                    title: format!(
                        "MSE E‖estimate − π*‖² against N/M, {} (N varies)",
                        per_pair(k)
                    ),
                    x_label: "N / M (demonstrations per comparison)".into(),
                    y_label: "MSE (95% CI; conditional on existence)".into(),
                    x_log: true,
                    y_log: true,
                    series,
                    shade_x: vec![],
                    shade_label: None,
                    // Five estimators side by side at each N/M (log10 units).
                    dodge: 0.1,
                    wide: false,
                }),
            });
        }
        // AIHF's variance relative to each single-source estimator, against the ratio, with the
        // interval of the paired difference the verdict is read from, scaled by Var(other):
        // 1 + (Var(AIHF) − Var(other)) / Var(other). Every cell is drawn (also where the other
        // estimator rarely exists); the cells whose verdict is not "below" are ringed: they are
        // the ones that decide the claim.
        let xs: Vec<f64> = r
            .cells
            .iter()
            .map(|c| c.ratio)
            .filter(|x| x.is_finite() && *x > 0.0)
            .collect();
        let (xlo, xhi) = (
            xs.iter().copied().fold(f64::INFINITY, f64::min),
            xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        );
        for (ai, aihf) in r.aihf_all.iter().enumerate() {
            // The bottom of the axis: a third of the smallest ratio.
            let floor = r
                .table
                .iter()
                .filter(|t| t.aihf == *aihf)
                .filter_map(|t| {
                    let v = r
                        .cells
                        .iter()
                        .find(|c| c.label == t.cell)?
                        .stats
                        .get(&t.against)?
                        .variance_total
                        .mean;
                    let y = 1.0 + t.variance_diff.mean / v;
                    (y.is_finite() && y > 0.0).then_some(y / 3.0)
                })
                .fold(1.0, f64::min);
            let mut series = vec![];
            let mut ringed = vec![];
            let mut off = vec![];
            for o in &r.single_source {
                for (ki, &k) in ks.iter().enumerate() {
                    let mut pts = vec![];
                    let mut err = vec![];
                    for t in r.table.iter().filter(|t| {
                        t.aihf == *aihf && t.against == *o && t.comparisons_per_pair == k
                    }) {
                        let Some(other) = r
                            .cells
                            .iter()
                            .find(|c| c.label == t.cell)
                            .and_then(|c| c.stats.get(o))
                        else {
                            continue;
                        };
                        let v = other.variance_total.mean;
                        let d = &t.variance_diff;
                        let y = 1.0 + d.mean / v;
                        if !(t.ratio.is_finite() && t.ratio > 0.0 && y.is_finite() && y > 0.0) {
                            continue;
                        }
                        if y > OFF_SCALE {
                            // BTL at k = 1 exists only on cyclic outcomes, and is then uniform
                            // with variance ≈ 0: a ratio of 1e28 says nothing but "above".
                            off.push((t.ratio, OFF_SCALE));
                            if t.variance != "below" {
                                ringed.push((t.ratio, OFF_SCALE));
                            }
                            continue;
                        }
                        // A lower end at or below 0 (the ratio cannot be negative) is drawn
                        // down to the bottom of the axis.
                        let lo = (1.0 + d.lo / v).max(floor);
                        let hi = (1.0 + d.hi / v).min(OFF_SCALE);
                        pts.push((t.ratio, y));
                        err.push((lo, if hi.is_finite() { hi } else { y }));
                        if t.variance != "below" {
                            ringed.push((t.ratio, y));
                        }
                    }
                    series.push(Series {
                        err: Some(err),
                        key: Some(style_key(o)),
                        lighten: 0.7 * ki as f64 / ks.len().saturating_sub(1).max(1) as f64,
                        ..Series::new(format!("vs {o}, {}", per_pair(k)), pts, Style::LinePoints)
                    });
                }
            }
            if !off.is_empty() {
                series.push(Series {
                    key: Some("off-scale".into()),
                    ..Series::new(
                        format!(
                            "ratio above {} (Var(other) ≈ 0: it rarely exists), drawn at {}",
                            OFF_SCALE, OFF_SCALE
                        ),
                        off,
                        Style::Points,
                    )
                });
            }
            series.push(Series {
                key: Some("highlight".into()),
                ..Series::new(
                    format!(
                        "ringed: not significantly below (decides the verdict, {} cells)",
                        ringed.len()
                    ),
                    ringed,
                    Style::Points,
                )
            });
            series.push(Series {
                key: Some("reference".into()),
                ..Series::new(
                    "ratio 1",
                    finite_pts(vec![(xlo, 1.0), (xhi, 1.0)]),
                    Style::Dashed,
                )
            });
            figs.push(Figure {
                name: if ai == 0 {
                    "variance_ratio".into()
                } else {
                    format!("variance_ratio_{}", ai + 1)
                },
                chart: Chart::Line(LineChart::new(
                    format!("Var({aihf}) / Var(single source): paired 95% CI, every cell"),
                    "N / M (demonstrations per comparison)",
                    format!(
                        "Var({aihf}) / Var(other) (< 1: AIHF lower; bars at the bottom reach 0)"
                    ),
                    (true, true),
                    series,
                )),
            });
        }
        figs
    }

    fn tables(r: &SweepResult) -> Vec<Table> {
        vec![Table {
            name: "verdicts".into(),
            title: "Where AIHF's total variance (and MSE) is below each single-source estimator's: paired 95% CI of the difference over the same data sets".into(),
            header: ["AIHF", "cell", "N/M", "vs", "Var diff", "variance", "MSE diff", "MSE", "dropped (non-existence)"]
                .iter().map(|x| x.to_string()).collect(),
            rows: r.table.iter().map(|t| vec![
                t.aihf.clone(), t.cell.clone(), sci(t.ratio), t.against.clone(), ci(&t.variance_diff),
                t.variance.clone(), ci(&t.mse_diff), t.mse.clone(), t.dropped.to_string(),
            ]).collect(),
        }, cells_table(
            "estimators",
            "Every estimator in every cell (95% CIs; statistics conditional on existence)",
            &r.cells,
        )]
    }

    fn notes(r: &SweepResult) -> Vec<String> {
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

    fn solves(r: &SweepResult) -> usize {
        r.cells.iter().map(|c| c.solves).sum()
    }
}
