//! Sequential reductions of a Monte Carlo run: per-estimator bias, variance and MSE per
//! action, distances to the truth with confidence intervals, existence counts, and paired
//! comparisons between estimators on the same data sets.
//!
//! Definitions (`π̂_k` the estimate on replication `k`, `π*` the truth, over the `m`
//! replications on which the estimator exists):
//! - bias_i = mean_k π̂_{k,i} − π*_i; variance_i = sample variance (divisor `m − 1`);
//!   mse_i = mean_k (π̂_{k,i} − π*_i)² (= bias_i² + (m−1)/m · variance_i).
//! - total variance `V = Σ_i variance_i` (the trace of the covariance, `E‖π̂ − Eπ̂‖²`); its
//!   interval is the t interval of the per-replication terms `m/(m−1) · ‖π̂_k − π̄‖²`.
//! - total MSE `Σ_i mse_i = E‖π̂ − π*‖²`, with the t interval of `‖π̂_k − π*‖²`.
//! - TV(π*, π̂) per replication, mean with t interval.
//! - KL(π*‖π̂) is `+∞` whenever `π̂` puts zero mass on an action that `π*` charges (SFT and
//!   RLHF on uncovered actions). It is reported as the fraction of replications with infinite
//!   KL (Wilson interval) and the mean over the finite ones — never averaged with `∞`.
//!
//! Estimators that do not exist on a replication (`NoEstimator`) are counted per estimator
//! with example reasons, and so are other failures; the statistics are over the replications
//! on which the estimator exists, which is *conditional on existence* (said in the output).

use super::engine::{Failure, Replication};
use crate::math::{kl, tv};
use crate::stats::{paired, summarize, wilson, Proportion, Summary};
use serde::{Deserialize, Serialize};

/// Infinite-KL handling: fraction infinite and the mean of the finite values.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KlStats {
    /// Replications with `KL(π*‖π̂) = ∞` (π̂ zero where π* is not).
    pub infinite: Proportion,
    /// Summary over replications with finite KL.
    pub finite: Summary,
}

/// Everything reported for one estimator in one study cell.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EstimatorStats {
    /// The estimator's label in the spec (unique within the study).
    pub label: String,
    /// The estimator's method name (`sft`, `btl`, `aihf`, …).
    pub method: String,
    /// Replications attempted.
    pub attempted: usize,
    /// Replications on which the estimator exists and was solved.
    pub ok: usize,
    /// `NoEstimator` count (the estimator does not exist on the drawn data).
    pub no_estimator: usize,
    /// Other failures (solver errors): should be 0.
    pub other_failures: usize,
    /// Up to three distinct failure messages.
    pub failure_examples: Vec<String>,
    /// Existence rate `ok/attempted` with its Wilson interval.
    pub existence: Proportion,
    /// Per action: mean of π̂.
    pub mean: Vec<f64>,
    /// Per action: t interval of the mean (low, high).
    pub mean_ci: Vec<(f64, f64)>,
    /// Per action: standard deviation of π̂.
    pub sd: Vec<f64>,
    /// Per action: bias `mean_i − π*_i` of π̂ over the replications where it exists.
    pub bias: Vec<f64>,
    /// Per action: sample variance of π̂_i (`sd_i²`, unbiased `m − 1` denominator).
    pub variance: Vec<f64>,
    /// Per action: mean squared error `(1/m) Σ (π̂_i − π*_i)²`; `NaN` when no replication succeeded.
    pub mse: Vec<f64>,
    /// `Σ_i bias_i²`.
    pub bias_sq_total: f64,
    /// `Σ_i variance_i` with its interval.
    pub variance_total: Summary,
    /// `E‖π̂ − π*‖²` with its interval.
    pub mse_total: Summary,
    /// TV(π*, π̂).
    pub tv: Summary,
    /// KL(π*‖π̂).
    pub kl: KlStats,
    /// Mass on the uncovered actions (when the cell has any).
    pub uncovered_mass: Option<Summary>,
}

/// A paired comparison `A − B` over the replications where both exist.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PairedStats {
    /// Label of estimator `A`.
    pub a: String,
    /// Label of estimator `B` (after `A` in the study's estimator order).
    pub b: String,
    /// Replications where one of the two does not exist (excluded from the pairing).
    pub dropped: usize,
    /// TV(π*, π̂_A) − TV(π*, π̂_B).
    pub tv_diff: Summary,
    /// ‖π̂_A − π*‖² − ‖π̂_B − π*‖²: the MSE difference.
    pub mse_diff: Summary,
    /// `m/(m−1)(‖π̂_A − π̄_A‖² − ‖π̂_B − π̄_B‖²)` with both means over the common replications:
    /// the difference of total variances (its t interval is asymptotically valid).
    pub variance_diff: Summary,
}

/// The reduction of one cell.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CellStats {
    /// Per-estimator statistics, in the study's estimator order.
    pub estimators: Vec<EstimatorStats>,
    /// Paired comparisons `A − B` of every unordered pair of estimators, `A` before `B`.
    pub paired: Vec<PairedStats>,
}

fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Reduces the replications (sequentially, in replication order) for estimators `labels`.
pub fn reduce(
    reps: &[Replication],
    labels: &[(String, String)],
    truth: &[f64],
    uncovered: &[usize],
    level: f64,
) -> CellStats {
    let n = truth.len();
    let ne = labels.len();
    let mut estimators = Vec::with_capacity(ne);
    for (e, (label, method)) in labels.iter().enumerate() {
        let mut ok: Vec<&Vec<f64>> = vec![];
        let (mut no_est, mut other) = (0, 0);
        let mut examples: Vec<String> = vec![];
        for r in reps {
            match &r[e] {
                Ok(p) => ok.push(p),
                Err(f) => {
                    let msg = match f {
                        Failure::NoEstimator(m) => {
                            no_est += 1;
                            format!("does not exist: {m}")
                        }
                        Failure::Other(m) => {
                            other += 1;
                            format!("failed: {m}")
                        }
                    };
                    if examples.len() < 3 && !examples.contains(&msg) {
                        examples.push(msg);
                    }
                }
            }
        }
        let m = ok.len();
        let mut mean = vec![0.0; n];
        let mut mean_ci = vec![(f64::NAN, f64::NAN); n];
        let mut sd = vec![f64::NAN; n];
        let mut variance = vec![f64::NAN; n];
        let mut mse = vec![f64::NAN; n];
        for i in 0..n {
            let xs: Vec<f64> = ok.iter().map(|p| p[i]).collect();
            let s = summarize(&xs, level);
            mean[i] = s.mean;
            mean_ci[i] = (s.lo, s.hi);
            sd[i] = s.sd;
            variance[i] = s.sd * s.sd;
            mse[i] = if m > 0 {
                xs.iter().map(|x| (x - truth[i]).powi(2)).sum::<f64>() / m as f64
            } else {
                f64::NAN
            };
        }
        let bias: Vec<f64> = mean.iter().zip(truth).map(|(a, b)| a - b).collect();
        let corr = if m > 1 {
            m as f64 / (m - 1) as f64
        } else {
            f64::NAN
        };
        let dev: Vec<f64> = ok.iter().map(|p| corr * sq_dist(p, &mean)).collect();
        let err: Vec<f64> = ok.iter().map(|p| sq_dist(p, truth)).collect();
        let tvs: Vec<f64> = ok.iter().map(|p| tv(truth, p)).collect();
        let kls: Vec<f64> = ok.iter().map(|p| kl(truth, p)).collect();
        let finite: Vec<f64> = kls.iter().copied().filter(|x| x.is_finite()).collect();
        let uncovered_mass = (!uncovered.is_empty()).then(|| {
            let u: Vec<f64> = ok
                .iter()
                .map(|p| uncovered.iter().map(|&i| p[i]).sum())
                .collect();
            summarize(&u, level)
        });
        estimators.push(EstimatorStats {
            label: label.clone(),
            method: method.clone(),
            attempted: reps.len(),
            ok: m,
            no_estimator: no_est,
            other_failures: other,
            failure_examples: examples,
            existence: wilson(m, reps.len(), level),
            bias_sq_total: bias.iter().map(|b| b * b).sum(),
            mean,
            mean_ci,
            sd,
            bias,
            variance,
            mse,
            variance_total: summarize(&dev, level),
            mse_total: summarize(&err, level),
            tv: summarize(&tvs, level),
            kl: KlStats {
                infinite: wilson(m - finite.len(), m, level),
                finite: summarize(&finite, level),
            },
            uncovered_mass,
        });
    }
    let mut pairs = vec![];
    for a in 0..ne {
        for b in a + 1..ne {
            pairs.push(paired_stats(reps, a, b, labels, truth, level));
        }
    }
    CellStats {
        estimators,
        paired: pairs,
    }
}

fn paired_stats(
    reps: &[Replication],
    a: usize,
    b: usize,
    labels: &[(String, String)],
    truth: &[f64],
    level: f64,
) -> PairedStats {
    let n = truth.len();
    let both: Vec<(&Vec<f64>, &Vec<f64>)> = reps
        .iter()
        .filter_map(|r| match (&r[a], &r[b]) {
            (Ok(x), Ok(y)) => Some((x, y)),
            _ => None,
        })
        .collect();
    let m = both.len();
    let mut ma = vec![0.0; n];
    let mut mb = vec![0.0; n];
    for (x, y) in &both {
        for i in 0..n {
            ma[i] += x[i];
            mb[i] += y[i];
        }
    }
    if m > 0 {
        ma.iter_mut()
            .chain(mb.iter_mut())
            .for_each(|v| *v /= m as f64);
    }
    let corr = if m > 1 {
        m as f64 / (m - 1) as f64
    } else {
        f64::NAN
    };
    let tv_a: Vec<Option<f64>> = both.iter().map(|(x, _)| Some(tv(truth, x))).collect();
    let tv_b: Vec<Option<f64>> = both.iter().map(|(_, y)| Some(tv(truth, y))).collect();
    let e_a: Vec<Option<f64>> = both.iter().map(|(x, _)| Some(sq_dist(x, truth))).collect();
    let e_b: Vec<Option<f64>> = both.iter().map(|(_, y)| Some(sq_dist(y, truth))).collect();
    let v_a: Vec<Option<f64>> = both
        .iter()
        .map(|(x, _)| Some(corr * sq_dist(x, &ma)))
        .collect();
    let v_b: Vec<Option<f64>> = both
        .iter()
        .map(|(_, y)| Some(corr * sq_dist(y, &mb)))
        .collect();
    PairedStats {
        a: labels[a].0.clone(),
        b: labels[b].0.clone(),
        dropped: reps.len() - m,
        tv_diff: paired(&tv_a, &tv_b, level).0,
        mse_diff: paired(&e_a, &e_b, level).0,
        variance_diff: paired(&v_a, &v_b, level).0,
    }
}

impl CellStats {
    /// The statistics of the estimator labelled `label`.
    pub fn get(&self, label: &str) -> Option<&EstimatorStats> {
        self.estimators.iter().find(|e| e.label == label)
    }

    /// The paired comparison `a − b` (sign flipped when stored as `b − a`).
    pub fn pair(&self, a: &str, b: &str) -> Option<PairedStats> {
        if let Some(p) = self.paired.iter().find(|p| p.a == a && p.b == b) {
            return Some(p.clone());
        }
        self.paired.iter().find(|p| p.a == b && p.b == a).map(|p| {
            let flip = |s: &Summary| Summary {
                mean: -s.mean,
                lo: -s.hi,
                hi: -s.lo,
                ..*s
            };
            PairedStats {
                a: a.into(),
                b: b.into(),
                dropped: p.dropped,
                tv_diff: flip(&p.tv_diff),
                mse_diff: flip(&p.mse_diff),
                variance_diff: flip(&p.variance_diff),
            }
        })
    }
}

/// Columns of a study's tidy CSV (`<name>.csv` beside `<name>.json`; README, "study CSV").
pub const CSV_HEADER: [&str; 14] = [
    "cell_path",
    "cell",
    "demos",
    "comparisons_per_pair",
    "replications",
    "estimator",
    "method",
    "versus",
    "action",
    "statistic",
    "value",
    "ci_low",
    "ci_high",
    "n",
];

/// The tidy long form of a study's results JSON: one row per (cell, estimator, statistic[,
/// action]) of every cell found in the results' `body` (a cell is an object with `stats`,
/// `truth_policy` and `label`; `cell_path` is where it sits, e.g. `cells[3]`,
/// `situations[1].cell`), plus the per-estimator log–log slopes of a study that has them.
///
/// Statistics: per action `true_policy` (estimator `truth`), `mean` (with its t interval),
/// `sd`, `bias`, `variance`, `mse`; per estimator `existence` (Wilson interval, `n` =
/// attempted), `ok`, `no_estimator`, `other_failures`, `bias_sq_total`, `variance_total`,
/// `mse_total`, `tv`, `kl_infinite_fraction`, `kl_finite`, `uncovered_mass`; per pair
/// (`estimator` − `versus`) `tv_diff`, `mse_diff`, `variance_diff`; and `slope_all`,
/// `slope_tail` with their 95% intervals. NaN and ±∞ (JSON `null`) are empty fields.
/// Read from the JSON (like the figures), so `--redraw` rewrites it without recomputing.
pub fn long_rows(results: &serde_json::Value) -> Vec<Vec<String>> {
    let mut rows = vec![];
    if let Some(body) = results.get("body") {
        walk(body, String::new(), &mut rows);
    }
    rows
}

fn walk(v: &serde_json::Value, path: String, rows: &mut Vec<Vec<String>>) {
    use serde_json::Value;
    match v {
        Value::Object(o) => {
            if o.contains_key("stats") && o.contains_key("truth_policy") && o.contains_key("label")
            {
                cell_rows(v, &path, rows);
                return;
            }
            if let Some(Value::Array(sl)) = o.get("slopes") {
                for s in sl {
                    let label = s["label"].as_str().unwrap_or_default();
                    for (stat, key) in [("slope_all", "all"), ("slope_tail", "tail")] {
                        let f = &s[key];
                        rows.push(row(
                            &path,
                            None,
                            label,
                            "",
                            "",
                            None,
                            stat,
                            [&f["slope"], &f["lo"], &f["hi"]],
                            &f["points"],
                        ));
                    }
                }
            }
            for (k, x) in o {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(x, p, rows);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk(x, format!("{path}[{i}]"), rows);
            }
        }
        _ => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn row(
    path: &str,
    cell: Option<&serde_json::Value>,
    estimator: &str,
    method: &str,
    versus: &str,
    action: Option<usize>,
    statistic: &str,
    [value, lo, hi]: [&serde_json::Value; 3],
    n: &serde_json::Value,
) -> Vec<String> {
    use crate::io::csv_json;
    let c = |k: &str| cell.map_or(String::new(), |c| csv_json(&c[k]));
    vec![
        path.to_string(),
        c("label"),
        c("demos"),
        c("comparisons_per_pair"),
        c("replications"),
        estimator.to_string(),
        method.to_string(),
        versus.to_string(),
        action.map_or(String::new(), |a| a.to_string()),
        statistic.to_string(),
        csv_json(value),
        csv_json(lo),
        csv_json(hi),
        csv_json(n),
    ]
}

fn cell_rows(c: &serde_json::Value, path: &str, rows: &mut Vec<Vec<String>>) {
    use serde_json::Value;
    let null = Value::Null;
    let cell = Some(c);
    if let Some(t) = c["truth_policy"].as_array() {
        for (i, x) in t.iter().enumerate() {
            rows.push(row(
                path,
                cell,
                "truth",
                "truth",
                "",
                Some(i),
                "true_policy",
                [x, &null, &null],
                &null,
            ));
        }
    }
    for e in c["stats"]["estimators"].as_array().into_iter().flatten() {
        let label = e["label"].as_str().unwrap_or_default();
        let method = e["method"].as_str().unwrap_or_default();
        let ok = &e["ok"];
        let n_act = e["mean"].as_array().map_or(0, Vec::len);
        for i in 0..n_act {
            let ci = &e["mean_ci"][i];
            rows.push(row(
                path,
                cell,
                label,
                method,
                "",
                Some(i),
                "mean",
                [&e["mean"][i], &ci[0], &ci[1]],
                ok,
            ));
            for stat in ["sd", "bias", "variance", "mse"] {
                rows.push(row(
                    path,
                    cell,
                    label,
                    method,
                    "",
                    Some(i),
                    stat,
                    [&e[stat][i], &null, &null],
                    ok,
                ));
            }
        }
        let prop = |p: &Value| {
            [
                p["p"].clone(),
                p["lo"].clone(),
                p["hi"].clone(),
                p["n"].clone(),
            ]
        };
        let summ = |s: &Value| {
            [
                s["mean"].clone(),
                s["lo"].clone(),
                s["hi"].clone(),
                s["n"].clone(),
            ]
        };
        let mut totals: Vec<(&str, [Value; 4])> = vec![
            ("existence", prop(&e["existence"])),
            (
                "ok",
                [ok.clone(), Value::Null, Value::Null, e["attempted"].clone()],
            ),
            (
                "no_estimator",
                [
                    e["no_estimator"].clone(),
                    Value::Null,
                    Value::Null,
                    e["attempted"].clone(),
                ],
            ),
            (
                "other_failures",
                [
                    e["other_failures"].clone(),
                    Value::Null,
                    Value::Null,
                    e["attempted"].clone(),
                ],
            ),
            (
                "bias_sq_total",
                [
                    e["bias_sq_total"].clone(),
                    Value::Null,
                    Value::Null,
                    ok.clone(),
                ],
            ),
            ("variance_total", summ(&e["variance_total"])),
            ("mse_total", summ(&e["mse_total"])),
            ("tv", summ(&e["tv"])),
            ("kl_infinite_fraction", prop(&e["kl"]["infinite"])),
            ("kl_finite", summ(&e["kl"]["finite"])),
        ];
        if !e["uncovered_mass"].is_null() {
            totals.push(("uncovered_mass", summ(&e["uncovered_mass"])));
        }
        for (stat, [v, lo, hi, n]) in &totals {
            rows.push(row(
                path,
                cell,
                label,
                method,
                "",
                None,
                stat,
                [v, lo, hi],
                n,
            ));
        }
    }
    for p in c["stats"]["paired"].as_array().into_iter().flatten() {
        let (a, b) = (
            p["a"].as_str().unwrap_or_default(),
            p["b"].as_str().unwrap_or_default(),
        );
        for stat in ["tv_diff", "mse_diff", "variance_diff"] {
            let s = &p[stat];
            rows.push(row(
                path,
                cell,
                a,
                "",
                b,
                None,
                stat,
                [&s["mean"], &s["lo"], &s["hi"]],
                &s["n"],
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn hand_computed_bias_variance_mse_and_kl_handling() {
        let truth = [0.5, 0.5];
        let reps: Vec<Replication> = vec![
            vec![Ok(vec![0.6, 0.4]), Ok(vec![1.0, 0.0])],
            vec![Ok(vec![0.4, 0.6]), Err(Failure::NoEstimator("x".into()))],
            vec![Ok(vec![0.8, 0.2]), Ok(vec![0.5, 0.5])],
        ];
        let labels = vec![
            ("A".to_string(), "a".to_string()),
            ("B".to_string(), "b".to_string()),
        ];
        let c = reduce(&reps, &labels, &truth, &[], 0.95);
        let a = &c.estimators[0];
        // mean 0.6, bias 0.1, sample variance ((0)^2+(0.2)^2+(0.2)^2)/2 = 0.04
        assert_relative_eq!(a.mean[0], 0.6, epsilon = 1e-12);
        assert_relative_eq!(a.bias[0], 0.1, epsilon = 1e-12);
        assert_relative_eq!(a.variance[0], 0.04, epsilon = 1e-12);
        // mse_0 = (0.01 + 0.01 + 0.09)/3; identity mse = bias² + (m−1)/m var
        assert_relative_eq!(a.mse[0], 0.11 / 3.0, epsilon = 1e-12);
        assert_relative_eq!(a.mse[0], 0.01 + 2.0 / 3.0 * 0.04, epsilon = 1e-12);
        assert_relative_eq!(a.variance_total.mean, 0.08, epsilon = 1e-12);
        assert_relative_eq!(a.mse_total.mean, 2.0 * 0.11 / 3.0, epsilon = 1e-12);
        let b = &c.estimators[1];
        assert_eq!((b.ok, b.no_estimator, b.other_failures), (2, 1, 0));
        assert_eq!(
            b.kl.infinite.k, 1,
            "π̂ = (1, 0) has infinite KL to (0.5, 0.5)"
        );
        assert_relative_eq!(b.kl.finite.mean, 0.0, epsilon = 1e-12);
        let p = c.pair("A", "B").unwrap();
        assert_eq!((p.dropped, p.tv_diff.n), (1, 2));
        // TV: A {0.1, 0.3}, B {0.5, 0} → differences {−0.4, 0.3}
        assert_relative_eq!(p.tv_diff.mean, -0.05, epsilon = 1e-12);
        let q = c.pair("B", "A").unwrap();
        assert_relative_eq!(q.tv_diff.mean, 0.05, epsilon = 1e-12);
        assert_relative_eq!(q.tv_diff.lo, -p.tv_diff.hi, epsilon = 1e-12);
    }
}
