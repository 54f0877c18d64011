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
use crate::valid::{Check, Valid};
use serde::{Deserialize, Serialize};

/// Result of the Figure 9 study.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fig9Result {
    /// The single cell of the Figure 9 reproduction: sizes, truth and every estimator's statistics.
    pub cell: Cell,
    /// 0-based uncovered actions (the paper's 46–50).
    pub uncovered: Vec<usize>,
    /// True mass on them.
    pub truth_uncovered_mass: f64,
    /// The estimates on the first data set alone (the paper's Figure 9 shows one data set):
    /// `(label, policy)`, `None` where the estimator did not exist.
    pub first_data_set: Vec<(String, Option<Vec<f64>>)>,
    /// The ground truth in words (`"Gaussian ground truth r* ∼ N(0, 1) i.i.d. (seed 7)"`), for the figures'
    /// titles; empty in results written before it was recorded.
    #[serde(default)]
    pub truth: String,
}

/// "1 comparison per pair", "200 comparisons per pair".
fn per_pair(k: u64) -> String {
    format!("{k} comparison{} per pair", if k == 1 { "" } else { "s" })
}

/// The shaded x bands (1-based actions, ± 0.5) of the uncovered actions, and their legend label.
fn uncovered_bands(uncovered: &[usize]) -> (Vec<(f64, f64)>, Option<String>) {
    let mut bands: Vec<(f64, f64)> = vec![];
    for &i in uncovered {
        let x = (i + 1) as f64;
        match bands.last_mut() {
            Some(b) if (b.1 - (x - 0.5)).abs() < 1e-9 => b.1 = x + 0.5,
            _ => bands.push((x - 0.5, x + 0.5)),
        }
    }
    let label = (!bands.is_empty()).then(|| {
        format!(
            "uncovered action{} (no demonstrations)",
            if uncovered.len() == 1 { "" } else { "s" }
        )
    });
    (bands, label)
}

/// The ground truth in words, for titles: it names the kind (Gaussian, linear, explicit).
pub fn describe_truth(t: &crate::sim::spec::Truth) -> String {
    use crate::sim::spec::Truth;
    match t {
        Truth::Gaussian { seed } => {
            format!("Gaussian ground truth r* ∼ N(0, 1) i.i.d. (seed {seed})")
        }
        Truth::Linear { slope } => format!("linear ground truth r*(i) = {slope}·i"),
        Truth::Explicit { .. } => "explicit ground truth r*".into(),
    }
}

/// Figure 9 (A.2.3, Example 2) over `replications` data sets.
pub fn fig9(s: &Valid<Fig9Spec>, ro: &RunOpts) -> Result<Fig9Result> {
    compute::<Fig9>(s, ro)
}

/// Example 2 / Figure 9 as a [`Study`].
pub struct Fig9;

impl Study for Fig9 {
    type Spec = Valid<Fig9Spec>;
    type Result = Fig9Result;

    fn run(s: &Valid<Fig9Spec>, cx: &Ctx) -> Result<Fig9Result> {
        let reward = s.truth.reward(s.n_actions);
        let scn = Scenario {
            reward,
            beta: s.beta,
            demos: s.demos,
            covered: Some((0..s.covered).collect()),
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
            truth: describe_truth(&s.truth),
        })
    }

    fn figures(r: &Fig9Result) -> Vec<Figure> {
        let c = &r.cell;
        let truth = || {
            Series::new(
                "truth π*",
                c.truth_policy
                    .iter()
                    .enumerate()
                    .map(|(i, p)| ((i + 1) as f64, *p))
                    .collect(),
                Style::LinePoints,
            )
        };
        let mut series = vec![truth()];
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
                err: Some(err),
                ..Series::new(
                    format!("{} (mean of {} data sets)", e.label, e.ok),
                    pts,
                    Style::Points,
                )
            });
        }
        // Are all intervals too short to show beside a marker (below 1% of the y range, about
        // 5 pixels)? Then the axis says so rather than leave the reader looking for them.
        let top = c.truth_policy.iter().copied().fold(0.0, f64::max);
        let narrow = series
            .iter()
            .flat_map(|s| s.err.iter().flatten())
            .all(|e| e.1 - e.0 < 0.01 * top);
        let first_unc = r.uncovered.first().map_or(0, |i| i + 1);
        let (shade_x, shade_label) = uncovered_bands(&r.uncovered);
        let truth_words = if r.truth.is_empty() {
            String::new()
        } else {
            format!(", {}", r.truth)
        };
        let policy = LineChart {
            shade_x: shade_x.clone(),
            shade_label: shade_label.clone(),
            // Four estimators side by side within each action (spacing 1), so that none hides
            // another's interval (AIHF and BTL nearly coincide on the uncovered actions).
            dodge: 0.9,
            wide: true,
            ..LineChart::new(
                format!(
                    "Fig. 9 (Example 2){truth_words}: N = {} demonstrations on actions 1–{}, {}",
                    c.demos,
                    first_unc.saturating_sub(1),
                    per_pair(c.comparisons_per_pair)
                ),
                "action (1-based)",
                if narrow {
                    "mean policy probability (95% CIs narrower than markers)"
                } else {
                    "mean policy probability over data sets (95% CI)"
                },
                (false, false),
                series,
            )
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
                "Mass on the uncovered actions {}–{}{truth_words} (mean ± 95% CI)",
                first_unc,
                c.truth_policy.len()
            ),
            y_label: "estimated probability of the uncovered actions".into(),
            categories: cats,
            groups: vec![("uncovered mass".into(), vals, Some(errs))],
        };
        let mut one = vec![truth()];
        for (label, p) in &r.first_data_set {
            if let Some(p) = p {
                one.push(Series::new(
                    label.clone(),
                    finite_pts(
                        p.iter()
                            .enumerate()
                            .map(|(i, x)| ((i + 1) as f64, *x))
                            .collect(),
                    ),
                    Style::Points,
                ));
            }
        }
        let one_chart = LineChart {
            shade_x,
            shade_label,
            wide: true,
            dodge: 0.8,
            ..LineChart::new(
                format!(
                    "Fig. 9 on one data set (as in the paper){truth_words}: actions 1–{} covered",
                    first_unc.saturating_sub(1)
                ),
                "action (1-based)",
                "policy probability",
                (false, false),
                one,
            )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::spec::SpecFile;
    use crate::valid::Check;

    fn run(text: &str) -> Fig9Result {
        let SpecFile::Fig9(mut s) = SpecFile::from_toml_str(text).expect("spec") else {
            panic!("not a fig9 spec");
        };
        s.replications = 8;
        fig9(
            &s.checked().expect("a valid spec"),
            &RunOpts {
                threads: Some(1),
                progress: false,
            },
        )
        .expect("fig9")
    }

    #[test]
    fn fig9_chart_json_shades_the_uncovered_actions_and_names_the_truth() {
        for (text, truth) in [
            (include_str!("../../../sims/fig9_gaussian.toml"), "gaussian"),
            (include_str!("../../../sims/fig9_linear.toml"), "linear"),
        ] {
            let r = run(text);
            let figs = Fig9::figures(&r);
            // The figures are drawn from their JSON: check the JSON, and that it reads back.
            let json = serde_json::to_value(&figs).expect("json");
            let back: Vec<Figure> = serde_json::from_value(json.clone()).expect("read back");
            assert_eq!(back.len(), figs.len());
            for name in ["policy", "one_data_set"] {
                let f = json
                    .as_array()
                    .and_then(|a| a.iter().find(|f| f["name"] == name))
                    .unwrap_or_else(|| panic!("no figure {name}"));
                let title = f["chart"]["title"].as_str().unwrap_or_default();
                assert!(
                    title.to_lowercase().contains(truth),
                    "{name} title {title:?} does not name the {truth} truth"
                );
                // Actions 46–50 (1-based) uncovered: one band from 45.5 to 50.5.
                let band = &f["chart"]["shade_x"];
                assert_eq!(band.as_array().map(Vec::len), Some(1), "{name}: {band}");
                let (a, b) = (band[0][0].as_f64(), band[0][1].as_f64());
                assert!(
                    a.is_some_and(|a| (a - 45.5).abs() < 1e-12)
                        && b.is_some_and(|b| (b - 50.5).abs() < 1e-12),
                    "{name}: band {band}"
                );
                assert!(f["chart"]["shade_label"].is_string());
            }
            let policy = &json[0]["chart"];
            assert!(policy["dodge"].as_f64().is_some_and(|d| d > 0.0));
        }
    }

    #[test]
    fn uncovered_bands_merge_runs_of_actions() {
        let (b, l) = uncovered_bands(&[2, 3, 4, 7]);
        assert_eq!(b, vec![(2.5, 5.5), (7.5, 8.5)]);
        assert_eq!(l.as_deref(), Some("uncovered actions (no demonstrations)"));
        assert_eq!(uncovered_bands(&[]), (vec![], None));
        assert_eq!(per_pair(1), "1 comparison per pair");
        assert_eq!(per_pair(200), "200 comparisons per pair");
    }
}
