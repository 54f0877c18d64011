//! The static (one-step) data set of SPEC §1: demonstration counts `N_i` and preference counts
//! `M_ij`, its JSON format, and the ground-truth samplers.
//!
//! # JSON format
//! ```json
//! {
//!   "n_actions": 3,
//!   "demonstrations": [12, 5, 0],            // or {"actions": [0, 0, 1, ...]}
//!   "preferences": [[0, 3, 1], [2, 0, 4], [0, 1, 0]],  // M[i][j] = times i preferred to j
//!                                            // or {"pairs": [[winner, loser], ...]}
//!   "meta": { ... }                          // optional, free-form (seed, ground truth...)
//! }
//! ```
//! Action indices are 0-based. Either source may be absent, `null` or empty. Counts must be
//! non-negative integers; the diagonal of the matrix must be zero; records are aggregated.

use crate::error::{AihfError, Result};
use rand::Rng;
use rand_distr::{Binomial, Distribution};
use serde_json::{json, Value};
use std::path::Path;

/// The largest number of actions: the preference counts are a dense `n × n` matrix of u64
/// (800 MB at this size).
pub const MAX_ACTIONS: usize = 10_000;

/// The largest count, and the largest total of counts: beyond 2^53 the estimators' f64
/// arithmetic is no longer exact on integers (and u64 totals could wrap).
pub const MAX_COUNT: u64 = 1 << 53;

/// Demonstration and preference counts over `n` actions.
#[derive(Clone, Debug, PartialEq)]
pub struct BanditData {
    n: usize,
    demos: Vec<u64>,
    /// Row-major `n × n`, `prefs[i*n + j] = M_ij`.
    prefs: Vec<u64>,
    /// Free-form metadata carried through files (seed, ground truth...).
    pub meta: Value,
}

/// One unordered pair `i < j` with its counts in both directions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairCount {
    pub i: usize,
    pub j: usize,
    /// `M_ij`: times `i` preferred to `j`.
    pub m_ij: u64,
    /// `M_ji`.
    pub m_ji: u64,
}

impl BanditData {
    /// Builds a data set from counts, checking shapes and the diagonal.
    pub fn new(n: usize, demos: Vec<u64>, prefs: Vec<Vec<u64>>) -> Result<Self> {
        if n == 0 {
            return Err(AihfError::data("n_actions", "must be at least 1"));
        }
        let demos = if demos.is_empty() { vec![0; n] } else { demos };
        if demos.len() != n {
            return Err(AihfError::data(
                "demonstrations",
                format!("has {} counts but n_actions = {n}", demos.len()),
            ));
        }
        let mut flat = vec![0u64; n * n];
        if !prefs.is_empty() {
            if prefs.len() != n {
                return Err(AihfError::data(
                    "preferences",
                    format!("has {} rows but n_actions = {n}", prefs.len()),
                ));
            }
            for (i, row) in prefs.iter().enumerate() {
                if row.len() != n {
                    return Err(AihfError::data(
                        format!("preferences[{i}]"),
                        format!("has {} entries but n_actions = {n}", row.len()),
                    ));
                }
                if row[i] != 0 {
                    return Err(AihfError::data(
                        format!("preferences[{i}][{i}]"),
                        format!("is {}: an action cannot be compared with itself", row[i]),
                    ));
                }
                flat[i * n..(i + 1) * n].copy_from_slice(row);
            }
        }
        Ok(BanditData {
            n,
            demos,
            prefs: flat,
            meta: Value::Null,
        })
    }

    /// An empty data set over `n` actions.
    pub fn empty(n: usize) -> Result<Self> {
        Self::new(n, vec![], vec![])
    }

    /// Number of actions.
    pub fn n_actions(&self) -> usize {
        self.n
    }

    /// Demonstration counts `N_i`.
    pub fn demos(&self) -> &[u64] {
        &self.demos
    }

    /// `N = Σ N_i`.
    pub fn n_demos(&self) -> u64 {
        self.demos.iter().sum()
    }

    /// `M_ij`.
    pub fn pref(&self, i: usize, j: usize) -> u64 {
        self.prefs[i * self.n + j]
    }

    /// Total number of comparisons `Σ M_ij`.
    pub fn n_comparisons(&self) -> u64 {
        self.prefs.iter().sum()
    }

    /// Wins `W_i = Σ_j M_ij`.
    pub fn wins(&self) -> Vec<u64> {
        (0..self.n)
            .map(|i| self.prefs[i * self.n..(i + 1) * self.n].iter().sum())
            .collect()
    }

    /// The compared unordered pairs (`n_ij > 0`), `i < j`.
    pub fn pairs(&self) -> Vec<PairCount> {
        let n = self.n;
        let mut out = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                let (a, b) = (self.prefs[i * n + j], self.prefs[j * n + i]);
                if a + b > 0 {
                    out.push(PairCount {
                        i,
                        j,
                        m_ij: a,
                        m_ji: b,
                    });
                }
            }
        }
        out
    }

    /// Adds `count` demonstrations of `action`.
    pub fn add_demos(&mut self, action: usize, count: u64) {
        self.demos[action] += count;
    }

    /// Adds `count` comparisons in which `winner` beat `loser`.
    pub fn add_prefs(&mut self, winner: usize, loser: usize, count: u64) {
        self.prefs[winner * self.n + loser] += count;
    }

    /// The same data without the preferences.
    pub fn demos_only(&self) -> Self {
        let mut d = self.clone();
        d.prefs.iter_mut().for_each(|x| *x = 0);
        d
    }

    /// The same data without the demonstrations.
    pub fn prefs_only(&self) -> Self {
        let mut d = self.clone();
        d.demos.iter_mut().for_each(|x| *x = 0);
        d
    }

    /// Parses the JSON format of the module documentation.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(text).map_err(|e| AihfError::Json {
            context: "data set".into(),
            source: e,
        })?;
        Self::from_value(&v)
    }

    /// Reads a data set file.
    pub fn from_file(path: &Path) -> Result<Self> {
        Self::from_value(&crate::io::read_json::<Value>(path)?)
    }

    /// Parses an already-decoded JSON value.
    pub fn from_value(v: &Value) -> Result<Self> {
        let obj = v
            .as_object()
            .ok_or_else(|| AihfError::data("top level", "expected a JSON object"))?;
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "n_actions" | "demonstrations" | "preferences" | "meta"
            ) {
                return Err(AihfError::data(
                    key.clone(),
                    "unknown key (expected n_actions, demonstrations, preferences, meta)",
                ));
            }
        }
        let n = match obj.get("n_actions") {
            Some(x) => count_of(x, "n_actions")? as usize,
            None => return Err(AihfError::data("n_actions", "missing")),
        };
        if n == 0 {
            return Err(AihfError::data("n_actions", "must be at least 1"));
        }
        if n > MAX_ACTIONS {
            return Err(AihfError::data(
                "n_actions",
                format!("{n} is too large for the dense count matrix (limit {MAX_ACTIONS})"),
            ));
        }
        let mut data = BanditData::empty(n)?;
        match obj.get("demonstrations") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                if !a.is_empty() {
                    if a.len() != n {
                        return Err(AihfError::data(
                            "demonstrations",
                            format!("has {} counts but n_actions = {n}", a.len()),
                        ));
                    }
                    for (i, x) in a.iter().enumerate() {
                        data.demos[i] = count_of(x, &format!("demonstrations[{i}]"))?;
                    }
                }
            }
            Some(Value::Object(o)) => {
                check_keys(o, &["actions"], "demonstrations")?;
                let acts = o.get("actions").and_then(Value::as_array).ok_or_else(|| {
                    AihfError::data(
                        "demonstrations.actions",
                        "expected an array of action indices",
                    )
                })?;
                for (k, x) in acts.iter().enumerate() {
                    let at = format!("demonstrations.actions[{k}]");
                    let a = index_of(x, &at, n)?;
                    data.demos[a] += 1;
                }
            }
            Some(_) => {
                return Err(AihfError::data(
                    "demonstrations",
                    "expected an array of counts or {\"actions\": [...]}",
                ))
            }
        }
        match obj.get("preferences") {
            None | Some(Value::Null) => {}
            Some(Value::Array(rows)) => {
                if !rows.is_empty() {
                    if rows.len() != n {
                        return Err(AihfError::data(
                            "preferences",
                            format!("has {} rows but n_actions = {n}", rows.len()),
                        ));
                    }
                    for (i, row) in rows.iter().enumerate() {
                        let row = row.as_array().ok_or_else(|| {
                            AihfError::data(
                                format!("preferences[{i}]"),
                                "expected an array of counts",
                            )
                        })?;
                        if row.len() != n {
                            return Err(AihfError::data(
                                format!("preferences[{i}]"),
                                format!("has {} entries but n_actions = {n}", row.len()),
                            ));
                        }
                        for (j, x) in row.iter().enumerate() {
                            let c = count_of(x, &format!("preferences[{i}][{j}]"))?;
                            if i == j && c != 0 {
                                return Err(AihfError::data(
                                    format!("preferences[{i}][{i}]"),
                                    format!("is {c}: an action cannot be compared with itself"),
                                ));
                            }
                            data.prefs[i * n + j] = c;
                        }
                    }
                }
            }
            Some(Value::Object(o)) => {
                check_keys(o, &["pairs"], "preferences")?;
                let pairs = o.get("pairs").and_then(Value::as_array).ok_or_else(|| {
                    AihfError::data(
                        "preferences.pairs",
                        "expected an array of [winner, loser] pairs",
                    )
                })?;
                for (k, p) in pairs.iter().enumerate() {
                    let at = format!("preferences.pairs[{k}]");
                    let p = p.as_array().filter(|p| p.len() == 2).ok_or_else(|| {
                        AihfError::data(at.clone(), "expected a pair [winner, loser]")
                    })?;
                    let w = index_of(&p[0], &format!("{at}[0]"), n)?;
                    let l = index_of(&p[1], &format!("{at}[1]"), n)?;
                    if w == l {
                        return Err(AihfError::data(
                            at,
                            format!("compares action {w} with itself"),
                        ));
                    }
                    data.prefs[w * n + l] += 1;
                }
            }
            Some(_) => {
                return Err(AihfError::data(
                    "preferences",
                    "expected a count matrix or {\"pairs\": [...]}",
                ))
            }
        }
        data.meta = obj.get("meta").cloned().unwrap_or(Value::Null);
        let total: u128 = data
            .demos
            .iter()
            .chain(&data.prefs)
            .map(|&c| u128::from(c))
            .sum();
        if total > u128::from(MAX_COUNT) {
            return Err(AihfError::data(
                "counts",
                format!("the counts add up to {total}, beyond the supported total 2^53"),
            ));
        }
        Ok(data)
    }

    /// The JSON form (count vector and count matrix).
    pub fn to_value(&self) -> Value {
        let n = self.n;
        let rows: Vec<Vec<u64>> = (0..n)
            .map(|i| self.prefs[i * n..(i + 1) * n].to_vec())
            .collect();
        let mut v = json!({
            "n_actions": n,
            "demonstrations": self.demos,
            "preferences": rows,
        });
        if !self.meta.is_null() {
            v["meta"] = self.meta.clone();
        }
        v
    }
}

fn check_keys(o: &serde_json::Map<String, Value>, allowed: &[&str], at: &str) -> Result<()> {
    for k in o.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(AihfError::data(
                format!("{at}.{k}"),
                format!("unknown key (expected {})", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

/// A non-negative integer count; floats with an integral value (`3.0`) are accepted.
fn count_of(x: &Value, at: &str) -> Result<u64> {
    if let Some(c) = x.as_u64() {
        if c > MAX_COUNT {
            return Err(AihfError::data(
                at,
                format!("{c} exceeds the largest supported count 2^53 (f64 stops being exact)"),
            ));
        }
        return Ok(c);
    }
    if let Some(c) = x.as_i64() {
        return Err(AihfError::data(
            at,
            format!("{c} is negative; counts must be >= 0"),
        ));
    }
    if let Some(f) = x.as_f64() {
        if f.fract() == 0.0 && (0.0..9.0e15).contains(&f) {
            return Ok(f as u64);
        }
        return Err(AihfError::data(
            at,
            format!("{f} is not a non-negative integer count"),
        ));
    }
    Err(AihfError::data(
        at,
        format!("expected a non-negative integer count, got {x}"),
    ))
}

fn index_of(x: &Value, at: &str, n: usize) -> Result<usize> {
    let i = x.as_u64().ok_or_else(|| {
        AihfError::data(at, format!("expected an action index in 0..{n}, got {x}"))
    })?;
    if (i as usize) >= n {
        return Err(AihfError::data(
            at,
            format!("action index {i} is out of range 0..{n}"),
        ));
    }
    Ok(i as usize)
}

/// Draws `count` demonstrations from `policy` (a distribution over actions; zero entries are
/// never drawn), by the conditional-binomial method for the multinomial.
pub fn sample_demos(policy: &[f64], count: u64, rng: &mut impl Rng) -> Vec<u64> {
    let mut out = vec![0u64; policy.len()];
    let mut left = count;
    let mut mass = 1.0f64;
    for (k, &p) in policy.iter().enumerate() {
        if left == 0 {
            break;
        }
        if k + 1 == policy.len() || mass <= 0.0 {
            out[k] = left;
            break;
        }
        let q = (p / mass).clamp(0.0, 1.0);
        let x = Binomial::new(left, q).map(|b| b.sample(rng)).unwrap_or(0);
        out[k] = x;
        left -= x;
        mass -= p;
    }
    out
}

/// Draws BTL comparisons: for each `(i, j, k)` in `pairs`, `k` comparisons of `i` against `j`,
/// `i` winning each with probability `σ(r_i − r_j)` — BTL on the reward itself, with no
/// temperature, at every `β` (SPEC §1.4; the policy of the same reward is `π0 exp(r/β)`).
/// Adds them to `data`.
pub fn sample_btl(
    data: &mut BanditData,
    reward: &[f64],
    pairs: &[(usize, usize, u64)],
    rng: &mut impl Rng,
) {
    for &(i, j, k) in pairs {
        let p = crate::math::sigmoid(reward[i] - reward[j]);
        let w = Binomial::new(k, p).map(|b| b.sample(rng)).unwrap_or(0);
        data.add_prefs(i, j, w);
        data.add_prefs(j, i, k - w);
    }
}

/// All pairs `i < j`, each with `k` comparisons.
pub fn all_pairs(n: usize, k: u64) -> Vec<(usize, usize, u64)> {
    let mut v = Vec::with_capacity(n * (n.saturating_sub(1)) / 2);
    for i in 0..n {
        for j in i + 1..n {
            v.push((i, j, k));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_to_the_same_counts() {
        let a = BanditData::from_json_str(
            r#"{"n_actions":3,"demonstrations":[2,1,0],"preferences":[[0,1,0],[0,0,2],[0,0,0]]}"#,
        )
        .unwrap();
        let b = BanditData::from_json_str(
            r#"{"n_actions":3,"demonstrations":{"actions":[0,1,0]},"preferences":{"pairs":[[0,1],[1,2],[1,2]]}}"#,
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.wins(), vec![1, 2, 0]);
    }

    #[test]
    fn rejects_bad_counts_with_their_location() {
        let e = BanditData::from_json_str(r#"{"n_actions":2,"demonstrations":[1,-1]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("demonstrations[1]") && e.contains("negative"),
            "{e}"
        );
        let e = BanditData::from_json_str(r#"{"n_actions":2,"demonstrations":[1,0.5]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("demonstrations[1]"), "{e}");
        let e = BanditData::from_json_str(r#"{"n_actions":2,"preferences":{"pairs":[[0,2]]}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("pairs[0][1]") && e.contains("out of range"),
            "{e}"
        );
    }
}
