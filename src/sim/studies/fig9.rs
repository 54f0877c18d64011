//! Example 2 / Figure 9 (A.2.3): demonstrations cover only some actions; how much mass does
//! each estimator put on the uncovered ones?

use super::{
    build, cell_from, cell_table, compute, finite_pts, fmt_ci, mc, Cell, Chart, Ctx, Figure,
    RunOpts, Study, Table, EXIST_NOTE, KL_NOTE,
};
use crate::error::Result;
use crate::plot::{BarChart, LineChart, Series, Style};
use crate::sim::engine::{McConfig, Scenario};
use crate::sim::spec::Fig9Spec;
use serde::{Deserialize, Serialize};

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
    compute::<Fig9>(s, ro)
}

/// Example 2 / Figure 9 as a [`Study`].
pub struct Fig9;

impl Study for Fig9 {
    type Spec = Fig9Spec;
    type Result = Fig9Result;

    fn run(s: &Fig9Spec, cx: &Ctx) -> Result<Fig9Result> {
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

    fn figures(r: &Fig9Result) -> Vec<Figure> {
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
            key: None,
            lighten: 0.0,
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
                key: None,
                lighten: 0.0,
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
        shade_x: vec![],
        shade_label: None,
        dodge: 0.0,
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
            key: None,
            lighten: 0.0,
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
                    key: None,
                    lighten: 0.0,
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
            shade_x: vec![],
            shade_label: None,
            dodge: 0.0,
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

    fn tables(r: &Fig9Result) -> Vec<Table> {
        vec![cell_table("summary", &r.cell)]
    }

    fn notes(r: &Fig9Result) -> Vec<String> {
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

    fn solves(r: &Fig9Result) -> usize {
        r.cell.solves
    }
}
