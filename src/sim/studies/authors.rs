//! The authors' public 3-action example: their 10 repetitions, then many, with sweeps of the
//! demonstration weight `w` and of the data sizes.

use super::{
    build, cell_from, cell_seed, cell_table, compute, fmt_ci, mc, run_cell_in, Cell, Chart, Ctx,
    Figure, RunOpts, Study, Table, EXIST_NOTE,
};
use crate::bandit::Method;
use crate::error::Result;
use crate::plot::{BarChart, LineChart, Series, Style};
use crate::sim::engine::{Estimator, McConfig, Scenario};
use crate::sim::spec::{AuthorsSpec, EstimatorSpec};
use crate::valid::{Check, Valid};
use serde::{Deserialize, Serialize};

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
    /// Estimator solves of the whole study: the main run (`full`, of which `first` is a prefix)
    /// plus both sweeps.
    pub solves: usize,
}

/// The authors' public example and its extensions.
pub fn authors(s: &Valid<AuthorsSpec>, ro: &RunOpts) -> Result<AuthorsResult> {
    compute::<Authors>(s, ro)
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

/// The authors' 3-action example as a [`Study`].
pub struct Authors;

impl Study for Authors {
    type Spec = Valid<AuthorsSpec>;
    type Result = AuthorsResult;

    fn run(s: &Valid<AuthorsSpec>, cx: &Ctx) -> Result<AuthorsResult> {
        let scn = Scenario {
            reward: s.reward.clone(),
            beta: s.beta,
            demos: s.demos,
            covered: None,
            comparisons_per_pair: s.comparisons_per_pair,
        }
        .checked()?;
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
                    ref_smoothing: None,
                },
                EstimatorSpec {
                    method: Method::Btl,
                    label: None,
                    lambda: None,
                    weighting: None,
                    demo_weight: None,
                    ridge: None,
                    ref_smoothing: None,
                },
                EstimatorSpec {
                    method: Method::Aihf,
                    label: None,
                    lambda: None,
                    weighting: Some(crate::bandit::Weighting::Normalized),
                    demo_weight: Some(w),
                    ridge: None,
                    ref_smoothing: None,
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
                ..Scenario::clone(&scn)
            }
            .checked()?;
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

    fn figures(r: &AuthorsResult) -> Vec<Figure> {
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
                    key: None,
                    lighten: 0.0,
                });
            }
            v.push(Figure {
                name: "w_sweep".into(),
                chart: Chart::Line(LineChart {
                    title:
                        "Authors' example: MSE E‖estimate − π*‖² against the demonstration weight w"
                            .into(),
                    x_label: "w (normalized weighting)".into(),
                    y_label: "MSE (95% CI)".into(),
                    x_log: true,
                    y_log: true,
                    series,
                    shade_x: vec![],
                    shade_label: None,
                    dodge: 0.04,
                    wide: false,
                }),
            });
        }
        v
    }

    fn tables(r: &AuthorsResult) -> Vec<Table> {
        let mut v = vec![cell_table("first", &r.first), cell_table("full", &r.full)];
        let mut means = Table {
            name: "means".into(),
            title: format!(
                "Mean ± sd of π̂ per action ({} repetitions); truth {:?}",
                r.full.replications,
                r.full
                    .truth_policy
                    .iter()
                    .map(|x| (x * 1e4).round() / 1e4)
                    .collect::<Vec<_>>()
            ),
            header: vec![
                "estimator".into(),
                "action".into(),
                "mean ± sd".into(),
                "95% CI of the mean".into(),
            ],
            rows: vec![],
        };
        for e in &r.full.stats.estimators {
            for i in 0..e.mean.len() {
                means.rows.push(vec![
                    e.label.clone(),
                    (i + 1).to_string(),
                    format!("{:.4} ± {:.4}", e.mean[i], e.sd[i]),
                    format!("[{:.4}, {:.4}]", e.mean_ci[i].0, e.mean_ci[i].1),
                ]);
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

    fn notes(r: &AuthorsResult) -> Vec<String> {
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

    fn solves(r: &AuthorsResult) -> usize {
        r.solves
    }
}
