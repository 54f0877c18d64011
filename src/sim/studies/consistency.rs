//! Consistency: TV to the truth against the data size `N + M`, log–log, with fitted slopes and
//! RLHF's bias floor.

use super::{
    build, cell_seed, cells_table, ci, compute, finite_pts, fmt_ci, run_cell_in, Cell, Chart, Ctx,
    Figure, RunOpts, Study, Table,
};
use crate::error::Result;
use crate::plot::{LineChart, Series, Style};
use crate::sim::engine::Scenario;
use crate::sim::spec::ConsistencySpec;
use crate::stats::{slope_fit, SlopeFit, Summary};
use crate::valid::{Check, Valid};
use serde::{Deserialize, Serialize};

/// Per-estimator fit of `log mean TV` on `log (N + M)`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SlopeResult {
    /// Estimator label.
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
    /// One cell per scale `m` (`N = m·N₀`, `k = m·k₀`), by increasing size.
    pub cells: Vec<Cell>,
    /// Total data sizes `N + M`.
    pub sizes: Vec<f64>,
    /// Per-estimator log–log fits of mean TV on `N + M`, in estimator order.
    pub slopes: Vec<SlopeResult>,
    /// `TV(π*, π_{2r*})`: RLHF's limit at β = 1 (SPEC §1.3).
    pub rlhf_floor: f64,
}

/// TV to the truth against data size.
pub fn consistency(s: &Valid<ConsistencySpec>, ro: &RunOpts) -> Result<ConsistencyResult> {
    compute::<Consistency>(s, ro)
}

/// The consistency study as a [`Study`].
pub struct Consistency;

impl Study for Consistency {
    type Spec = Valid<ConsistencySpec>;
    type Result = ConsistencyResult;

    fn run(s: &Valid<ConsistencySpec>, cx: &Ctx) -> Result<ConsistencyResult> {
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
            }
            .checked()?;
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
        let sharp =
            crate::math::softmax(&reward.iter().map(|r| 2.0 * r / s.beta).collect::<Vec<_>>());
        Ok(ConsistencyResult {
            cells,
            sizes,
            slopes,
            rlhf_floor: crate::math::tv(&truth, &sharp),
        })
    }

    fn figures(r: &ConsistencyResult) -> Vec<Figure> {
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
                key: None,
                lighten: 0.0,
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
                    name: "∝ 1/√(N+M)".into(),
                    points: finite_pts(vec![(x0, y0), (x1, y0 * (x1 / x0).powf(-0.5))]),
                    err: None,
                    style: Style::Dashed,
                    key: Some("reference".into()),
                    lighten: 0.0,
                });
            }
            series.push(Series {
                name: format!(
                    "RLHF limit: TV(π*, policy of reward 2r*) = {:.4}",
                    r.rlhf_floor
                ),
                points: finite_pts(vec![(x0, r.rlhf_floor), (x1, r.rlhf_floor)]),
                err: None,
                style: Style::Dashed,
                key: None,
                lighten: 0.0,
            });
        }
        vec![Figure {
            name: "tv_vs_size".into(),
            chart: Chart::Line(LineChart {
                title: "Consistency: mean TV(π*, estimate) against data size (log–log, 95% CI)"
                    .into(),
                x_label: "N + M (demonstrations + comparisons)".into(),
                y_label: "mean TV to the truth".into(),
                x_log: true,
                y_log: true,
                series,
                shade_x: vec![],
                shade_label: None,
                dodge: 0.06,
                wide: false,
            }),
        }]
    }

    fn tables(r: &ConsistencyResult) -> Vec<Table> {
        vec![
            Table {
                name: "slopes".into(),
                title: format!(
                "Slopes of log mean TV on log(N + M) (95% CI); RLHF's limit TV(π*, π_2r*) = {:.5}",
                r.rlhf_floor
            ),
                header: [
                    "estimator",
                    "slope (all sizes)",
                    "slope (last 3)",
                    "TV at the largest size",
                ]
                .iter()
                .map(|x| x.to_string())
                .collect(),
                rows: r
                    .slopes
                    .iter()
                    .map(|s| {
                        vec![
                            s.label.clone(),
                            format!("{:.3} [{:.3}, {:.3}]", s.all.slope, s.all.lo, s.all.hi),
                            format!("{:.3} [{:.3}, {:.3}]", s.tail.slope, s.tail.lo, s.tail.hi),
                            ci(&s.tv_last),
                        ]
                    })
                    .collect(),
            },
            cells_table(
                "estimators",
                "Every estimator at every size (95% CIs; statistics conditional on existence)",
                &r.cells,
            ),
        ]
    }

    fn notes(r: &ConsistencyResult) -> Vec<String> {
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

    fn solves(r: &ConsistencyResult) -> usize {
        r.cells.iter().map(|c| c.solves).sum()
    }
}
