//! Trajectories: sampling from a policy, discounted feature counts, and the JSONL files of
//! `aihf mdp sample` / `aihf mdp train`.
//!
//! Files (one JSON object per line; blank lines are skipped):
//! - demonstrations: `{"steps": [[s0, a0], [s1, a1], ...]}`;
//! - preferences: `{"winner": [[s, a], ...], "loser": [[s, a], ...]}`.
//!
//! Lines written by `aihf mdp sample` also carry `"seed"` and `"index"`.

use super::Mdp;
use crate::error::{AihfError, Result};
use rand::Rng;
use serde_json::{json, Value};
use std::path::Path;

/// A state–action sequence `(s_0, a_0), (s_1, a_1), ...`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trajectory {
    /// The `(s_t, a_t)` pairs in time order (0-based indices).
    pub steps: Vec<(usize, usize)>,
}

/// A trajectory preference `τ_w ≻ τ_l`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preference {
    /// The preferred trajectory `τ_w`.
    pub winner: Trajectory,
    /// The other trajectory `τ_l`.
    pub loser: Trajectory,
}

impl Trajectory {
    /// Discounted counts `Σ_t γ^t e_{(s_t, a_t)}` as sparse `(sa, weight)` pairs (indices
    /// merged).
    pub fn discounted_counts(&self, n_actions: usize, gamma: f64) -> Vec<(usize, f64)> {
        let mut out: Vec<(usize, f64)> = Vec::with_capacity(self.steps.len());
        let mut w = 1.0;
        for &(s, a) in &self.steps {
            out.push((s * n_actions + a, w));
            w *= gamma;
        }
        merge_sparse(out)
    }

    /// Discounted return `R(τ) = Σ_t γ^t r(s_t, a_t)` (SPEC §2.4).
    pub fn discounted_return(&self, r: &[f64], n_actions: usize, gamma: f64) -> f64 {
        let mut w = 1.0;
        let mut total = 0.0;
        for &(s, a) in &self.steps {
            total += w * r[s * n_actions + a];
            w *= gamma;
        }
        total
    }
}

/// Sorts and merges duplicate indices of a sparse vector.
pub fn merge_sparse(mut v: Vec<(usize, f64)>) -> Vec<(usize, f64)> {
    v.sort_by_key(|e| e.0);
    let mut out: Vec<(usize, f64)> = Vec::with_capacity(v.len());
    for (i, w) in v {
        match out.last_mut() {
            Some(last) if last.0 == i => last.1 += w,
            _ => out.push((i, w)),
        }
    }
    out
}

/// Cumulative tables for drawing successors and initial states without allocation.
#[derive(Clone, Debug)]
pub struct Sampler {
    ptr: Vec<usize>,
    cdf: Vec<f64>,
    succ: Vec<u32>,
    init_cdf: Vec<f64>,
}

#[inline]
fn pick(cdf: &[f64], u: f64) -> usize {
    // Linear scan: rows are short (sparse successors or a handful of actions).
    for (k, &c) in cdf.iter().enumerate() {
        if u < c {
            return k;
        }
    }
    cdf.len() - 1
}

impl Sampler {
    /// Builds the tables of `mdp`'s non-zero transitions.
    pub fn new(mdp: &Mdp) -> Sampler {
        let mut ptr = vec![0];
        let (mut cdf, mut succ) = (vec![], vec![]);
        for sa in 0..mdp.n_sa() {
            let mut c = 0.0;
            for (j, p) in mdp.row(sa) {
                c += p;
                cdf.push(c);
                succ.push(j as u32);
            }
            ptr.push(cdf.len());
        }
        let mut c = 0.0;
        let init_cdf = mdp
            .initial()
            .iter()
            .map(|p| {
                c += p;
                c
            })
            .collect();
        Sampler {
            ptr,
            cdf,
            succ,
            init_cdf,
        }
    }

    /// `s' ∼ P(·|sa)`.
    #[inline]
    pub fn next_state(&self, sa: usize, rng: &mut impl Rng) -> usize {
        let (lo, hi) = (self.ptr[sa], self.ptr[sa + 1]);
        let u: f64 = rng.random::<f64>() * self.cdf[hi - 1];
        self.succ[lo + pick(&self.cdf[lo..hi], u)] as usize
    }

    /// `s_0 ∼ ρ`.
    #[inline]
    pub fn initial_state(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.random::<f64>() * self.init_cdf[self.init_cdf.len() - 1];
        pick(&self.init_cdf, u)
    }
}

/// `a ∼ π(·|s)` from a row of probabilities.
#[inline]
pub fn sample_action(pi_row: &[f64], rng: &mut impl Rng) -> usize {
    let total: f64 = pi_row.iter().sum();
    let mut u: f64 = rng.random::<f64>() * total;
    for (a, &p) in pi_row.iter().enumerate() {
        if u < p {
            return a;
        }
        u -= p;
    }
    pi_row.iter().rposition(|&p| p > 0.0).unwrap_or(0)
}

/// How long a sampled trajectory is.
#[derive(Clone, Copy, Debug)]
pub enum Length {
    /// Exactly this many steps.
    Fixed(usize),
    /// Stop after each step with probability `1−γ` (the counts are then an unbiased estimate of
    /// the discounted occupancy, SPEC §2.5); capped at `max` steps.
    Geometric {
        /// The cap on the number of steps.
        max: usize,
    },
}

/// Samples a trajectory from `ρ` under `pi` (probabilities, one table per time step; the last
/// is reused once the steps run out, so one table serves a stationary policy).
pub fn sample(
    mdp: &Mdp,
    sampler: &Sampler,
    pi: &[&[f64]],
    len: Length,
    rng: &mut impl Rng,
) -> Trajectory {
    let na = mdp.n_actions();
    let mut s = sampler.initial_state(rng);
    let mut steps = vec![];
    let cap = match len {
        Length::Fixed(n) => n,
        Length::Geometric { max } => max,
    };
    for t in 0..cap {
        let p = pi[t.min(pi.len() - 1)];
        let a = sample_action(&p[s * na..(s + 1) * na], rng);
        steps.push((s, a));
        if let Length::Geometric { .. } = len {
            if rng.random::<f64>() >= mdp.gamma() {
                break;
            }
        }
        s = sampler.next_state(s * na + a, rng);
    }
    Trajectory { steps }
}

fn steps_json(t: &Trajectory) -> Value {
    json!(t.steps.iter().map(|&(s, a)| [s, a]).collect::<Vec<_>>())
}

/// One JSONL line for a demonstration.
pub fn demo_line(t: &Trajectory, seed: u64, index: usize) -> String {
    json!({"seed": seed, "index": index, "steps": steps_json(t)}).to_string()
}

/// One JSONL line for a preference.
pub fn pref_line(p: &Preference, seed: u64, index: usize) -> String {
    json!({"seed": seed, "index": index, "winner": steps_json(&p.winner), "loser": steps_json(&p.loser)})
        .to_string()
}

fn parse_steps(
    v: Option<&Value>,
    field: &str,
    at: &str,
    ns: usize,
    na: usize,
) -> Result<Trajectory> {
    let arr = v
        .and_then(Value::as_array)
        .ok_or_else(|| AihfError::data(at, format!("missing array field `{field}`")))?;
    let mut steps = Vec::with_capacity(arr.len());
    for (t, st) in arr.iter().enumerate() {
        let pair = st.as_array().filter(|p| p.len() == 2).ok_or_else(|| {
            AihfError::data(at, format!("{field}[{t}] must be a pair [state, action]"))
        })?;
        let get = |k: usize, n: usize, what: &str| -> Result<usize> {
            match pair[k].as_u64() {
                Some(x) if (x as usize) < n => Ok(x as usize),
                _ => Err(AihfError::data(
                    at,
                    format!("{field}[{t}]: {what} {} out of range 0..{n}", pair[k]),
                )),
            }
        };
        steps.push((get(0, ns, "state")?, get(1, na, "action")?));
    }
    if steps.is_empty() {
        return Err(AihfError::data(at, format!("`{field}` is empty")));
    }
    Ok(Trajectory { steps })
}

fn read_lines(path: &Path) -> Result<Vec<(usize, Value)>> {
    let text = crate::io::read_input(path)?;
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{} line {}", path.display(), i + 1);
        let v: Value = serde_json::from_str(line)
            .map_err(|e| AihfError::data(&at, format!("not JSON: {e}")))?;
        out.push((i + 1, v));
    }
    Ok(out)
}

/// Parses demonstration lines (`at` prefixes the line number in messages).
pub fn parse_demos(text: &str, at: &str, mdp: &Mdp) -> Result<Vec<Trajectory>> {
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let loc = format!("{at} line {}", i + 1);
        let v: Value = serde_json::from_str(line)
            .map_err(|e| AihfError::data(&loc, format!("not JSON: {e}")))?;
        out.push(parse_steps(
            v.get("steps"),
            "steps",
            &loc,
            mdp.n_states(),
            mdp.n_actions(),
        )?);
    }
    Ok(out)
}

/// Reads a demonstrations JSONL file, checking every state and action against `mdp`.
pub fn read_demos(path: &Path, mdp: &Mdp) -> Result<Vec<Trajectory>> {
    read_lines(path)?
        .into_iter()
        .map(|(n, v)| {
            let at = format!("{} line {n}", path.display());
            parse_steps(
                v.get("steps"),
                "steps",
                &at,
                mdp.n_states(),
                mdp.n_actions(),
            )
        })
        .collect()
}

/// Reads a preferences JSONL file.
pub fn read_prefs(path: &Path, mdp: &Mdp) -> Result<Vec<Preference>> {
    read_lines(path)?
        .into_iter()
        .map(|(n, v)| {
            let at = format!("{} line {n}", path.display());
            Ok(Preference {
                winner: parse_steps(
                    v.get("winner"),
                    "winner",
                    &at,
                    mdp.n_states(),
                    mdp.n_actions(),
                )?,
                loser: parse_steps(
                    v.get("loser"),
                    "loser",
                    &at,
                    mdp.n_states(),
                    mdp.n_actions(),
                )?,
            })
        })
        .collect()
}

/// `n` trajectory pairs drawn from `pi`, labelled by BTL on the discounted return under `r`:
/// `P(τ_1 ≻ τ_2) = σ(R(τ_1) − R(τ_2))` (SPEC §2.4).
pub fn sample_preferences(
    mdp: &Mdp,
    sampler: &Sampler,
    pi: &[&[f64]],
    len: Length,
    r: &[f64],
    n: usize,
    rng: &mut impl Rng,
) -> Vec<Preference> {
    (0..n)
        .map(|_| {
            let t1 = sample(mdp, sampler, pi, len, rng);
            let t2 = sample(mdp, sampler, pi, len, rng);
            let d = t1.discounted_return(r, mdp.n_actions(), mdp.gamma())
                - t2.discounted_return(r, mdp.n_actions(), mdp.gamma());
            if rng.random::<f64>() < crate::math::sigmoid(d) {
                Preference {
                    winner: t1,
                    loser: t2,
                }
            } else {
                Preference {
                    winner: t2,
                    loser: t1,
                }
            }
        })
        .collect()
}
