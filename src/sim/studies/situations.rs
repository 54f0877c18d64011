//! The two situations of A.2.3 (more demonstrations than preferences, and the reverse): which
//! estimator is farthest from the truth?

use super::{
    build, cell_seed, cell_table, compute, fmt_ci, run_cell_in, Cell, Chart, Ctx, Figure, RunOpts,
    Study, Table, EXIST_NOTE,
};
use crate::bandit::Method;
use crate::error::Result;
use crate::plot::BarChart;
use crate::sim::engine::Scenario;
use crate::sim::spec::SituationsSpec;
use crate::sim::summary::PairedStats;
use crate::valid::{Check, Valid};
use serde::{Deserialize, Serialize};

/// One situation's outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SituationResult {
    /// The situation's name from the spec.
    pub name: String,
    /// The situation's cell: its data sizes and every estimator's statistics.
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
    /// One outcome per situation, in the spec's order.
    pub situations: Vec<SituationResult>,
}

/// The A.2.3 situations with the toolkit's instances.
pub fn situations(s: &Valid<SituationsSpec>, ro: &RunOpts) -> Result<SituationsResult> {
    compute::<Situations>(s, ro)
}

/// The A.2.3 situations as a [`Study`].
pub struct Situations;

impl Study for Situations {
    type Spec = Valid<SituationsSpec>;
    type Result = SituationsResult;

    fn run(s: &Valid<SituationsSpec>, cx: &Ctx) -> Result<SituationsResult> {
        let est = build(&s.estimators, s.beta);
        let mut out = vec![];
        for x in &s.situations {
            let scn = Scenario {
                reward: x.reward.clone(),
                beta: s.beta,
                demos: x.demos,
                covered: None,
                comparisons_per_pair: x.comparisons_per_pair,
            }
            .checked()?;
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

    fn figures(r: &SituationsResult) -> Vec<Figure> {
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
                title: "A.2.3 situations: mean TV(π*, estimate) over data sets (± 95% CI)".into(),
                y_label: "mean total variation to the truth".into(),
                categories: cats,
                groups,
            }),
        }]
    }

    fn tables(r: &SituationsResult) -> Vec<Table> {
        r.situations
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let mut t = cell_table(&format!("situation_{}", k + 1), &s.cell);
                t.title = format!(
                    "{} — farthest by mean TV: {}; excluding BTL: {}. {}",
                    s.name, s.farthest_tv, s.farthest_tv_excluding_preference_only, t.title
                );
                t
            })
            .collect()
    }

    fn notes(r: &SituationsResult) -> Vec<String> {
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

    fn solves(r: &SituationsResult) -> usize {
        r.situations.iter().map(|c| c.cell.solves).sum()
    }
}
