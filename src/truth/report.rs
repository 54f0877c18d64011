//! What `aihf truth estimate` reports: each estimator's exact distances to the truth (SPEC §3.2).

use super::data::{read_records, Records, TaskSpec};
use super::estimate::{Estimator, Fit, Method, Options, RefKind, Support, METHODS};
use super::policy::{write_policies, Bigrams, MarkovPolicy};
use crate::error::{AihfError, Result};
use crate::io::input_record;
use crate::markov::MarkovTask;
use crate::method::MethodSet;
use serde_json::{json, Map, Value};
use std::path::Path;
use std::time::Instant;

/// Largest `H·V²` for which the JSON carries each policy table (the issue's `10^6`).
pub const PRINT_TABLE_CELLS: usize = 1_000_000;

/// Exact scores of a policy against the task (SPEC §3.2).
#[derive(Clone, Copy, Debug)]
pub struct Scores {
    /// `KL(π̂‖π*)`, chain rule.
    pub kl_to_star: f64,
    /// `KL(π*‖π̂)`; `+∞` where `π̂` has zeros that `π*` visits.
    pub kl_star_to: f64,
    /// `E_π̂[r*]`.
    pub true_reward: f64,
    /// `KL(π̂‖π_ref)`.
    pub kl_to_ref: f64,
}

/// The truth a policy is scored against: `π*`, its marginals, `π_ref` and `r*`.
pub struct Truth {
    /// The task's optimal policy `π*` (exact, SPEC §3.1).
    pub star: MarkovPolicy,
    /// Forward marginals `μ_t(u)` of `π*` at `t·V + u`, `t = 0..=H` (for `KL(π*‖π̂)`).
    pub star_mu: Vec<f64>,
    /// The task's reference policy `π_ref`.
    pub reference: MarkovPolicy,
    /// The bigrams `(u, v)` where the true reward `r*` is nonzero.
    pub support: Bigrams,
    /// The true reward's values on `support`, in its order (`r*(u, v) = w`).
    pub w: Vec<f64>,
}

impl Truth {
    /// Solves `π*` of `task`.
    pub fn new(task: &MarkovTask) -> Result<Self> {
        let star = MarkovPolicy::star(task)?;
        let star_mu = star.marginals();
        let reference = MarkovPolicy::reference_policy(
            task.vocab(),
            task.horizon(),
            task.y0(),
            star.reference().clone(),
        )?;
        Ok(Truth {
            star,
            star_mu,
            reference,
            support: Bigrams::of_task(task),
            w: task.reward_entries().map(|e| e.2).collect(),
        })
    }

    /// Exact scores of `p`.
    pub fn score(&self, p: &MarkovPolicy) -> Result<Scores> {
        let mu = p.marginals();
        Ok(Scores {
            kl_to_star: p.kl_to(&mu, &self.star)?,
            kl_star_to: self.star.kl_to(&self.star_mu, p)?,
            true_reward: p.expected_reward(&mu, &self.support, &self.w),
            kl_to_ref: p.kl_to(&mu, &self.reference)?,
        })
    }
}

/// A number for JSON: `null` for `±∞`/NaN.
pub fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

fn fit_json(f: &Fit, s: &Scores, table: bool) -> Result<Value> {
    let mut m = Map::new();
    if table {
        let p = &f.policy;
        let (h, v) = (p.horizon(), p.vocab());
        let t = p.to_table()?;
        let nested: Vec<Vec<&[f64]>> = (0..h)
            .map(|i| {
                (0..v)
                    .map(|u| &t[(i * v + u) * v..(i * v + u + 1) * v])
                    .collect()
            })
            .collect();
        m.insert("policy".into(), json!(nested));
    }
    m.insert("kl_to_star".into(), num(s.kl_to_star));
    m.insert("kl_star_to".into(), num(s.kl_star_to));
    m.insert("true_reward".into(), num(s.true_reward));
    m.insert("kl_to_ref".into(), num(s.kl_to_ref));
    m.insert("objective".into(), num(f.objective));
    m.insert("grad_norm".into(), num(f.grad_norm));
    m.insert("iterations".into(), json!(f.iterations));
    m.insert("cg_iterations".into(), json!(f.cg_iterations));
    m.insert("seconds".into(), json!(f.seconds));
    if let Some(n) = &f.note {
        m.insert("note".into(), json!(n));
    }
    Ok(Value::Object(m))
}

/// The result of [`estimate`]: the JSON report and the solved policies.
pub struct EstimateReport {
    /// The report written by `aihf truth estimate`: task, data sizes, `π*`'s scores and, under `methods`, each estimator's scores or `{"error"}`.
    pub json: Value,
    /// The estimators that exist on the data, solved, in the order they appear in `json`.
    pub fits: Vec<Fit>,
}

/// Checks `--rlhf-reference`: it applies only when `rlhf` or `dpo` is listed (`all` reports
/// both references).
pub fn check_reference(methods: &MethodSet, reference: Option<RefKind>) -> Result<()> {
    let uses = methods.lists(Method::Rlhf) || methods.lists(Method::Dpo);
    if reference.is_some() && !uses {
        return Err(AihfError::param(
            "rlhf-reference",
            "applies only to --method rlhf or dpo (`all` reports both references)",
        ));
    }
    Ok(())
}

/// The name a method's fit carries: `rlhf`/`dpo` with their reference (`rlhf_sft`).
fn fit_name(m: Method, reference: RefKind) -> String {
    match m {
        Method::Rlhf | Method::Dpo => format!("{}_{}", m.name(), reference.name()),
        _ => m.name().to_string(),
    }
}

/// Solves `methods`: `all` is [`Estimator::all`] (`rlhf` and `dpo` with both references); a
/// single method that does not exist is the error; in a longer list it is that entry's error.
fn solve(
    est: &Estimator,
    methods: &MethodSet,
    reference: RefKind,
) -> Result<Vec<(String, Result<Fit>)>> {
    let list = methods.resolve(METHODS)?;
    if *methods == MethodSet::All {
        return Ok(est.all());
    }
    if let [m] = list[..] {
        let f = est.fit(m, reference)?;
        return Ok(vec![(f.name.clone(), Ok(f))]);
    }
    Ok(list
        .into_iter()
        .map(|m| (fit_name(m, reference), est.fit(m, reference)))
        .collect())
}

/// Solves `methods` ([`METHODS`] for `all`; then `rlhf` and `dpo` with both references) and
/// scores each against the truth. A method that does not exist on the data appears as
/// `{"error": "..."}` when several were asked for, and is the error for a single method; a
/// method this layer does not solve is an [`AihfError::Param`].
pub fn estimate(
    task: &MarkovTask,
    records: &Records,
    opts: Options,
    methods: &MethodSet,
    reference: RefKind,
) -> Result<EstimateReport> {
    let t0 = Instant::now();
    let est = Estimator::new(task, records, opts)?;
    let truth = Truth::new(task)?;
    let results = solve(&est, methods, reference)?;
    let cells = task.horizon() as u128 * (task.vocab() as u128).pow(2);
    let table = cells <= PRINT_TABLE_CELLS as u128;
    let mut by_name = Map::new();
    let mut fits = Vec::new();
    use rayon::prelude::*;
    let scores: Vec<Option<Result<Scores>>> = results
        .par_iter()
        .map(|(_, r)| r.as_ref().ok().map(|f| truth.score(&f.policy)))
        .collect();
    for ((name, r), s) in results.into_iter().zip(scores) {
        match r {
            Ok(f) => {
                let s = s.expect("scored every fit")?;
                by_name.insert(name, fit_json(&f, &s, table)?);
                fits.push(f);
            }
            Err(e) => {
                by_name.insert(name, json!({"error": e.to_string()}));
            }
        }
    }
    let star = truth.score(&truth.star)?;
    let support = match opts.support {
        Support::Task => "task (oracle sparsity: the reward class is the true reward's support)",
        Support::Full => "full (all V² bigrams)",
    };
    let json = json!({
        "task": {"vocab": task.vocab(), "horizon": task.horizon(), "beta": task.beta(),
                 "y0": task.y0(), "nnz": task.nnz()},
        "n_demos": records.demos.len(),
        "n_prefs": records.prefs.len(),
        "support": support,
        "support_size": est.pattern().len(),
        "lambda": opts.lambda,
        "ridge": opts.ridge,
        "rlhf_reference": match methods { MethodSet::All => "both", _ => reference.name() },
        "policy_tables": table,
        "star": {"true_reward": star.true_reward, "kl_to_ref": star.kl_to_ref,
                 "optimal_objective": task.optimal_objective()},
        "methods": Value::Object(by_name),
        "seconds": t0.elapsed().as_secs_f64(),
    });
    Ok(EstimateReport { json, fits })
}

/// The files and settings of one `aihf truth estimate` run.
#[derive(Clone, Debug)]
pub struct EstimateRequest<'a> {
    /// `task.json` (`-`: standard input).
    pub task: &'a Path,
    /// `demos.jsonl`, if any.
    pub demos: Option<&'a Path>,
    /// `prefs.jsonl`, if any.
    pub prefs: Option<&'a Path>,
    /// The estimators' options.
    pub options: Options,
    /// The methods to solve.
    pub methods: &'a MethodSet,
    /// The reference of `rlhf`/`dpo` when one of them is listed (default `π_SFT`).
    pub reference: Option<RefKind>,
    /// Where to write every solved policy as `[H][V][V]` JSON (`-`: standard output).
    pub policy_out: Option<&'a Path>,
}

/// Runs `aihf truth estimate`: checks the reference option, reads the task and data, solves
/// and scores ([`estimate`]), writes the policies, and records in the JSON the command's wall
/// time (`total_seconds`, reading and writing included), every input file hashed (`inputs`)
/// and the method set asked for (`method`).
pub fn estimate_files(req: &EstimateRequest) -> Result<EstimateReport> {
    check_reference(req.methods, req.reference)?;
    let t0 = Instant::now();
    let task = TaskSpec::read(req.task)?.task()?;
    let records = read_records(&task, req.demos, req.prefs)?;
    let reference = req.reference.unwrap_or(RefKind::Sft);
    let mut rep = estimate(&task, &records, req.options, req.methods, reference)?;
    if let Some(path) = req.policy_out {
        let named: Vec<(&str, &MarkovPolicy)> = rep
            .fits
            .iter()
            .map(|f| (f.name.as_str(), &f.policy))
            .collect();
        write_policies(path, &named)?;
    }
    rep.json["total_seconds"] = json!(t0.elapsed().as_secs_f64());
    rep.json["inputs"] = json!({
        "task": input_record(req.task)?,
        "demos": req.demos.map(input_record).transpose()?,
        "prefs": req.prefs.map(input_record).transpose()?,
    });
    rep.json["method"] = json!(req.methods.to_string());
    Ok(rep)
}

/// `x` to six decimals, `∞` for JSON `null`.
fn cell(v: &Value) -> String {
    match v.as_f64() {
        Some(x) => format!("{x:.6}"),
        None => "∞".to_string(),
    }
}

/// The lines of the `truth estimate` table from its JSON report: the settings, one row per
/// method (in the JSON's order) and `π*`'s scores.
pub fn estimate_table(j: &Value) -> Vec<String> {
    let mut lines = vec![
        format!(
            "V = {}, H = {}, N = {}, M = {}, support: {} ({} bigrams), λ = {}, ridge = {}",
            j["task"]["vocab"],
            j["task"]["horizon"],
            j["n_demos"],
            j["n_prefs"],
            j["support"].as_str().unwrap_or(""),
            j["support_size"],
            j["lambda"],
            j["ridge"]
        ),
        format!(
            "{:<10} {:>12} {:>12} {:>12} {:>12} {:>6} {:>9}",
            "method", "KL(π̂‖π*)", "KL(π*‖π̂)", "E[r*]", "KL(π̂‖ref)", "iters", "seconds"
        ),
    ];
    for (name, r) in j["methods"].as_object().into_iter().flatten() {
        lines.push(match r.get("error") {
            Some(e) => format!("{name:<10} error: {}", e.as_str().unwrap_or("")),
            None => format!(
                "{:<10} {:>12} {:>12} {:>12} {:>12} {:>6} {:>9.3}",
                name,
                cell(&r["kl_to_star"]),
                cell(&r["kl_star_to"]),
                cell(&r["true_reward"]),
                cell(&r["kl_to_ref"]),
                r["iterations"],
                r["seconds"].as_f64().unwrap_or(f64::NAN)
            ),
        });
    }
    lines.push(format!(
        "π*: E[r*] = {}, KL(π*‖ref) = {}; total {:.3} s",
        cell(&j["star"]["true_reward"]),
        cell(&j["star"]["kl_to_ref"]),
        j["total_seconds"].as_f64().unwrap_or(f64::NAN)
    ));
    lines
}

/// Tidy CSV forms of the truth commands' results (README, "truth CSV"): the file written beside
/// each results JSON, and `truth estimate --csv`. NaN and ±∞ (JSON `null`) are empty fields.
pub mod csv {
    use super::super::klstudy::KlStudy;
    use super::super::score::{KlEstimates, MeanSe, ScoreReport};
    use super::super::study::StudyResults;
    use crate::io::{csv_json, csv_num};
    use serde_json::Value;

    /// Columns of `truth estimate --csv`: one row per method.
    pub const ESTIMATE_HEADER: [&str; 12] = [
        "method",
        "lambda",
        "ridge",
        "kl_to_star",
        "kl_star_to",
        "true_reward",
        "kl_to_ref",
        "objective",
        "grad_norm",
        "iterations",
        "seconds",
        "error",
    ];

    /// The rows of `truth estimate --csv` from its JSON report (`methods` in report order).
    pub fn estimate_rows(j: &Value) -> Vec<Vec<String>> {
        let mut rows = vec![];
        for (name, r) in j["methods"].as_object().into_iter().flatten() {
            let mut row = vec![name.clone(), csv_json(&j["lambda"]), csv_json(&j["ridge"])];
            // The per-method columns are the header's, between the settings and `error`.
            for k in &ESTIMATE_HEADER[3..ESTIMATE_HEADER.len() - 1] {
                row.push(csv_json(&r[*k]));
            }
            row.push(r["error"].as_str().unwrap_or_default().to_string());
            rows.push(row);
        }
        rows
    }

    /// Columns of a truth study's `<name>.csv`: one row per size × method × statistic.
    pub const STUDY_HEADER: [&str; 11] = [
        "demos",
        "comparisons",
        "method",
        "statistic",
        "mean",
        "sd",
        "ci_low",
        "ci_high",
        "n",
        "failures",
        "dropped",
    ];

    /// The rows of a truth study's CSV: `kl_to_star` (`KL(π̂‖π*)`) and `minus_aihf`
    /// (`KL(π̂‖π*) − KL(π̂_AIHF‖π*)`, paired) per size and method.
    pub fn study_rows(res: &StudyResults) -> Vec<Vec<String>> {
        let f = |x: Option<f64>| x.map_or(String::new(), csv_num);
        let mut rows = vec![];
        for s in &res.sizes {
            for (m, r) in &s.methods {
                for (stat, st) in [("kl_to_star", &r.kl_to_star), ("minus_aihf", &r.minus_aihf)] {
                    rows.push(vec![
                        s.size.demos.to_string(),
                        s.size.comparisons.to_string(),
                        m.clone(),
                        stat.into(),
                        f(st.mean),
                        f(st.sd),
                        f(st.lo),
                        f(st.hi),
                        st.n.to_string(),
                        r.failures.to_string(),
                        r.dropped.to_string(),
                    ]);
                }
            }
        }
        rows
    }

    /// Columns of `score.csv`: one row per quantity and estimator (`k1`, `k3`, `k3_token_sum`
    /// for Monte Carlo estimates with their standard error; `exact` for exact numbers).
    pub const SCORE_HEADER: [&str; 5] = ["quantity", "estimator", "mean", "se", "n"];

    /// The rows of `score.csv`.
    pub fn score_rows(r: &ScoreReport) -> Vec<Vec<String>> {
        let n = r.n.to_string();
        let mut rows = vec![];
        let mut ms = |q: &str, e: &str, x: &MeanSe, n: &str| {
            rows.push(vec![
                q.into(),
                e.into(),
                csv_num(x.mean),
                csv_num(x.se),
                n.into(),
            ]);
        };
        let mut kls = |q: &str, k: &KlEstimates| {
            ms(q, "k1", &k.k1, &n);
            ms(q, "k3", &k.k3, &n);
            if let Some(t) = &k.k3_token_sum {
                ms(q, "k3_token_sum", t, &n);
            }
        };
        kls("kl_to_star", &r.kl_to_star);
        kls("kl_to_ref", &r.kl_to_ref);
        if let Some(k) = r.to_estimate.as_ref().and_then(|t| t.kl.as_ref()) {
            kls("kl_to_estimate", k);
        }
        let mut ms = |q: &str, e: &str, x: &MeanSe, n: &str| {
            rows.push(vec![
                q.into(),
                e.into(),
                csv_num(x.mean),
                csv_num(x.se),
                n.into(),
            ]);
        };
        ms("true_reward", "mean", &r.true_reward, &n);
        ms(
            "regularised_suboptimality",
            "mean",
            &r.regularised_suboptimality,
            &n,
        );
        ms(
            "win_rate_vs_star",
            "mean",
            &r.win_rate_vs_star,
            &r.star_samples.to_string(),
        );
        let mut exact = |q: &str, x: f64| {
            rows.push(vec![
                q.into(),
                "exact".into(),
                csv_num(x),
                String::new(),
                String::new(),
            ]);
        };
        exact("beta", r.beta);
        exact("optimal_objective", r.optimal_objective);
        exact("star_kl_to_ref", r.star_kl_to_ref);
        exact("star_true_reward", r.star_true_reward);
        if let Some(t) = &r.to_estimate {
            exact("estimator_kl_to_star", t.estimator_kl_to_star);
            exact(
                "zero_probability_samples",
                t.zero_probability_samples as f64,
            );
        }
        rows
    }

    /// Columns of `kl_study.csv`: one row per (target, estimator, n, statistic), then the
    /// gradient estimators (`target` = `gradient`, `n` empty).
    pub const KL_STUDY_HEADER: [&str; 6] =
        ["target", "exact", "estimator", "n", "statistic", "value"];

    /// The rows of `kl_study.csv`.
    pub fn kl_study_rows(s: &KlStudy) -> Vec<Vec<String>> {
        let mut rows = vec![];
        for t in &s.targets {
            for e in &t.estimators {
                for r in &e.rows {
                    for (stat, v) in [
                        ("bias", r.bias),
                        ("bias_se", r.bias_se),
                        ("sd", r.sd),
                        ("rmse", r.rmse),
                    ] {
                        rows.push(vec![
                            t.target.clone(),
                            csv_num(t.exact),
                            e.name.clone(),
                            r.n.to_string(),
                            stat.into(),
                            csv_num(v),
                        ]);
                    }
                }
                for (stat, v) in [
                    ("per_sample_variance", e.per_sample_variance),
                    ("max_abs_z", e.max_abs_z),
                ] {
                    rows.push(vec![
                        t.target.clone(),
                        csv_num(t.exact),
                        e.name.clone(),
                        String::new(),
                        stat.into(),
                        csv_num(v),
                    ]);
                }
            }
        }
        for g in &s.gradients {
            for (stat, v) in [
                ("relative_bias", g.relative_bias),
                ("cosine", g.cosine),
                ("variance", g.variance),
            ] {
                rows.push(vec![
                    "gradient".into(),
                    String::new(),
                    g.name.clone(),
                    String::new(),
                    stat.into(),
                    csv_num(v),
                ]);
            }
        }
        rows
    }
}
