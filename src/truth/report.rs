//! What `aihf truth estimate` reports: each estimator's exact distances to the truth (SPEC §3.2).

use super::data::Records;
use super::estimate::{Estimator, Fit, Method, Options, RefKind, Support};
use super::policy::{Bigrams, MarkovPolicy};
use crate::error::Result;
use crate::markov::MarkovTask;
use serde_json::{json, Map, Value};
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
    pub star: MarkovPolicy,
    pub star_mu: Vec<f64>,
    pub reference: MarkovPolicy,
    pub support: Bigrams,
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
    m.insert("seconds".into(), json!(f.seconds));
    if let Some(n) = &f.note {
        m.insert("note".into(), json!(n));
    }
    Ok(Value::Object(m))
}

/// The result of [`estimate`]: the JSON report and the solved policies.
pub struct EstimateReport {
    pub json: Value,
    pub fits: Vec<Fit>,
}

/// Solves `method` (every method when `None`; then `rlhf` and `dpo` with both references) and
/// scores each against the truth. A method that does not exist on the data appears as
/// `{"error": "..."}` under `all`, and is an error for a single method.
pub fn estimate(
    task: &MarkovTask,
    records: &Records,
    opts: Options,
    method: Option<Method>,
    reference: RefKind,
) -> Result<EstimateReport> {
    let t0 = Instant::now();
    let est = Estimator::new(task, records, opts)?;
    let truth = Truth::new(task)?;
    let results: Vec<(String, Result<Fit>)> = match method {
        None => est.all(),
        Some(m) => {
            let f = est.fit(m, reference)?;
            vec![(f.name.clone(), Ok(f))]
        }
    };
    let cells = task.horizon() as u128 * (task.vocab() as u128).pow(2);
    let table = cells <= PRINT_TABLE_CELLS as u128;
    let mut methods = Map::new();
    let mut fits = Vec::new();
    for (name, r) in results {
        match r {
            Ok(f) => {
                let s = truth.score(&f.policy)?;
                methods.insert(name, fit_json(&f, &s, table)?);
                fits.push(f);
            }
            Err(e) => {
                methods.insert(name, json!({"error": e.to_string()}));
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
        "rlhf_reference": match method { None => "both", Some(_) => reference.name() },
        "policy_tables": table,
        "star": {"true_reward": star.true_reward, "kl_to_ref": star.kl_to_ref,
                 "optimal_objective": task.optimal_objective()},
        "methods": Value::Object(methods),
        "seconds": t0.elapsed().as_secs_f64(),
    });
    Ok(EstimateReport { json, fits })
}
