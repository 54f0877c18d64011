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
//!                                            // or {"counts": [[winner, loser, count], ...]}
//!   "meta": { ... }                          // optional, free-form (seed, ground truth...)
//! }
//! ```
//! `meta` is free-form except two documented keys, which `aihf sample` writes and `aihf bandit`
//! reads ([`meta_truth`]) to report each estimate's distance to the truth: `true_reward` (one
//! finite number per action) and `true_policy` (a distribution over the actions).
//! Action indices are 0-based. Either source may be absent, `null` or empty. Counts must be
//! non-negative integers; the diagonal of the matrix must be zero; records (and repeated
//! `counts` triplets) are aggregated.
//!
//! # Representation
//! Preference counts are stored sparsely — one entry per compared unordered pair, in rows
//! sorted by the pair's smaller index — so memory and every pass over the data are
//! `O(n + compared pairs)`, never `O(n²)`: 10^5 actions with 10^7 comparisons fit in a few
//! hundred MB. Files are parsed by a typed streaming pass (no JSON tree; [`BanditData::from_json_str`]);
//! anything that pass does not accept is re-parsed by the general path, which produces the
//! located error messages (`demonstrations[1]: -4 is negative`).

use crate::error::{AihfError, Result};
use rand::Rng;
use rand_distr::{Binomial, Distribution};
use serde_json::{json, Value};
use std::path::Path;

/// The ground truth a data file carries in its `meta` (written by `aihf sample`): the documented
/// keys `meta.true_reward` (the reward `r*`, one number per action) and `meta.true_policy` (the
/// policy `π* = softmax(r*/β)` at the sampling temperature `meta.beta`).
#[derive(Clone, Debug, PartialEq)]
pub struct MetaTruth {
    /// The true policy the estimates are compared with.
    pub policy: Vec<f64>,
    /// Where it comes from (`meta.true_reward at β = 2`, or `meta.true_policy`).
    pub source: String,
    /// The true reward, when the file carries it.
    pub reward: Option<Vec<f64>>,
}

/// The truth of `meta` for a fit at temperature `beta` over `n` actions: `softmax(r*/β)` from
/// `meta.true_reward` when present (at the fit's `β`, which is `meta.true_policy` when the fit
/// uses the sampling `β`), else `meta.true_policy` as written. `None` when `meta` carries neither;
/// a malformed entry (wrong length, not finite numbers, a policy that is not a distribution) is
/// an error naming the key.
pub fn meta_truth(meta: &Value, beta: f64, n: usize) -> Result<Option<MetaTruth>> {
    let vec_of = |key: &str| -> Result<Option<Vec<f64>>> {
        let Some(v) = meta.get(key).filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let arr = v.as_array().ok_or_else(|| {
            AihfError::data(format!("meta.{key}"), "expected an array of numbers")
        })?;
        if arr.len() != n {
            return Err(AihfError::data(
                format!("meta.{key}"),
                format!("has {} entries but n_actions = {n}", arr.len()),
            ));
        }
        arr.iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_f64().filter(|x| x.is_finite()).ok_or_else(|| {
                    AihfError::data(
                        format!("meta.{key}[{i}]"),
                        format!("{x} is not a finite number"),
                    )
                })
            })
            .collect::<Result<Vec<f64>>>()
            .map(Some)
    };
    if let Some(r) = vec_of("true_reward")? {
        let z: Vec<f64> = r.iter().map(|x| x / beta).collect();
        return Ok(Some(MetaTruth {
            policy: crate::math::softmax(&z),
            source: format!("softmax(meta.true_reward / β) at β = {beta}"),
            reward: Some(r),
        }));
    }
    if let Some(p) = vec_of("true_policy")? {
        let s: f64 = p.iter().sum();
        if p.iter().any(|&x| x < 0.0) || (s - 1.0).abs() > crate::tol::STOCHASTIC {
            return Err(AihfError::data(
                "meta.true_policy",
                format!("is not a probability vector (sums to {s})"),
            ));
        }
        return Ok(Some(MetaTruth {
            policy: p,
            source: "meta.true_policy".into(),
            reward: None,
        }));
    }
    Ok(None)
}

/// The largest number of actions. Indices are stored as `u32`, and each action costs a
/// (possibly empty) row of the sparse count table.
pub const MAX_ACTIONS: usize = 10_000_000;

/// Up to this many actions [`BanditData::to_value`] writes the dense count matrix (readable,
/// and what files written before the sparse form contain); above it, `{"counts": [...]}`
/// triplets, whose size is the number of compared pairs.
pub const DENSE_JSON_MAX: usize = 200;

/// The largest count, and the largest total of counts: beyond 2^53 the estimators' f64
/// arithmetic is no longer exact on integers (and u64 totals could wrap).
pub const MAX_COUNT: u64 = 1 << 53;

/// One compared pair `(a, j)`, `a < j`, in row `a` of the sparse table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    j: u32,
    /// `M_aj`: times `a` preferred to `j`.
    ab: u64,
    /// `M_ja`.
    ba: u64,
}

/// Demonstration and preference counts over `n` actions.
#[derive(Clone, Debug, PartialEq)]
pub struct BanditData {
    n: usize,
    demos: Vec<u64>,
    /// `rows[a]`: the pairs `(a, j)` with `a < j` and `n_aj > 0`, sorted by `j`.
    rows: Vec<Vec<Entry>>,
    /// Free-form metadata carried through files (seed, ground truth...).
    pub meta: Value,
}

/// One unordered pair `i < j` with its counts in both directions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairCount {
    /// The smaller action index of the pair (0-based).
    pub i: usize,
    /// The larger action index of the pair (0-based), `j > i`.
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
        let mut data = BanditData {
            n,
            demos,
            rows: vec![Vec::new(); n],
            meta: Value::Null,
        };
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
            }
            for (i, row) in prefs.iter().enumerate() {
                for (j, &c) in row.iter().enumerate() {
                    data.add_prefs(i, j, c);
                }
            }
        }
        Ok(data)
    }

    /// Builds a data set from `(winner, loser, count)` records (aggregated; zero counts are
    /// ignored) in `O(n + records)`, without any `n × n` work: the constructor for large,
    /// sparse data.
    pub fn from_records(
        n: usize,
        demos: Vec<u64>,
        records: impl IntoIterator<Item = (usize, usize, u64)>,
    ) -> Result<Self> {
        let data = Self::new(n, demos, vec![])?;
        let records = records.into_iter();
        // (winner, loser, count), 16 bytes (indices are `u32` in the table too).
        let mut kept: Vec<(u32, u32, u64)> = Vec::with_capacity(records.size_hint().0);
        for (k, (w, l, c)) in records.enumerate() {
            if w >= n || l >= n {
                return Err(AihfError::data(
                    format!("preferences record {k}"),
                    format!("action index {} is out of range 0..{n}", w.max(l)),
                ));
            }
            if w == l {
                return Err(AihfError::data(
                    format!("preferences record {k}"),
                    format!("compares action {w} with itself"),
                ));
            }
            if c != 0 {
                kept.push((w as u32, l as u32, c));
            }
        }
        Ok(data.with_records(kept))
    }

    /// `self` (without preferences) with the `(winner, loser, count)` records added, each
    /// within `0..n` and comparing two different actions (checked by the caller; zero counts
    /// are skipped). Two stable counting-sort passes, no comparison sort: the records are
    /// bucketed by the larger action of their pair, then dealt to the rows of their smaller
    /// action in that order, so every row comes out sorted by `j` with repeats adjacent
    /// (merged as they arrive). `O(n + records)`.
    fn with_records(mut self, mut records: Vec<(u32, u32, u64)>) -> Self {
        let n = self.n;
        let larger = |r: &(u32, u32, u64)| r.0.max(r.1) as usize;
        let mut per_row = vec![0usize; n];
        for &(w, l, _) in &records {
            per_row[w.min(l) as usize] += 1;
        }
        for (row, &len) in self.rows.iter_mut().zip(&per_row) {
            row.reserve_exact(len);
        }
        let order: Vec<u32> = if u32::try_from(records.len()).is_ok() {
            let mut by_j = vec![0usize; n + 1];
            for r in &records {
                by_j[larger(r) + 1] += 1;
            }
            for b in 0..n {
                by_j[b + 1] += by_j[b];
            }
            // The order as 4-byte positions (a quarter of the records' memory to fault in).
            let mut order = vec![0u32; records.len()];
            for (k, r) in records.iter().enumerate() {
                let slot = &mut by_j[larger(r)];
                order[*slot] = k as u32;
                *slot += 1;
            }
            order
        } else {
            // Over 2^32 records (64 GB of them): the same order by a stable sort.
            records.sort_by_key(larger);
            vec![]
        };
        let deal = |rows: &mut [Vec<Entry>], (w, l, c): (u32, u32, u64)| {
            if c == 0 {
                return;
            }
            let (a, b) = (w.min(l), w.max(l));
            let row = &mut rows[a as usize];
            let (ab, ba) = if w < l { (c, 0) } else { (0, c) };
            match row.last_mut() {
                Some(last) if last.j == b => {
                    last.ab = last.ab.saturating_add(ab);
                    last.ba = last.ba.saturating_add(ba);
                }
                _ => row.push(Entry { j: b, ab, ba }),
            }
        };
        if order.is_empty() {
            records.into_iter().for_each(|r| deal(&mut self.rows, r));
        } else {
            order
                .into_iter()
                .for_each(|k| deal(&mut self.rows, records[k as usize]));
        }
        self
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

    /// `M_ij` (`O(log deg)`).
    pub fn pref(&self, i: usize, j: usize) -> u64 {
        if i == j {
            return 0;
        }
        let (a, b) = (i.min(j), i.max(j) as u32);
        let row = &self.rows[a];
        match row.binary_search_by_key(&b, |e| e.j) {
            Ok(k) if i < j => row[k].ab,
            Ok(k) => row[k].ba,
            Err(_) => 0,
        }
    }

    /// Total number of comparisons `Σ M_ij`.
    pub fn n_comparisons(&self) -> u64 {
        let mut t = 0;
        self.for_each_pair(|p| t += p.m_ij + p.m_ji);
        t
    }

    /// Number of compared unordered pairs (`n_ij > 0`).
    pub fn n_pairs(&self) -> usize {
        self.rows.iter().map(Vec::len).sum()
    }

    /// Wins `W_i = Σ_j M_ij`.
    pub fn wins(&self) -> Vec<u64> {
        let mut w = vec![0u64; self.n];
        self.for_each_pair(|p| {
            w[p.i] += p.m_ij;
            w[p.j] += p.m_ji;
        });
        w
    }

    /// The compared unordered pairs (`n_ij > 0`), `i < j`, in `(i, j)` order, without
    /// allocating.
    pub fn pair_iter(&self) -> impl Iterator<Item = PairCount> + Clone + '_ {
        self.rows.iter().enumerate().flat_map(|(i, row)| {
            row.iter().map(move |e| PairCount {
                i,
                j: e.j as usize,
                m_ij: e.ab,
                m_ji: e.ba,
            })
        })
    }

    /// Calls `f` on every compared unordered pair (`n_ij > 0`), `i < j`, in `(i, j)` order
    /// (the fastest traversal: two plain loops).
    pub fn for_each_pair(&self, mut f: impl FnMut(PairCount)) {
        for (i, row) in self.rows.iter().enumerate() {
            for e in row {
                f(PairCount {
                    i,
                    j: e.j as usize,
                    m_ij: e.ab,
                    m_ji: e.ba,
                });
            }
        }
    }

    /// The compared unordered pairs (`n_ij > 0`), `i < j`, in `(i, j)` order.
    pub fn pairs(&self) -> Vec<PairCount> {
        let mut out = Vec::with_capacity(self.n_pairs());
        self.for_each_pair(|p| out.push(p));
        out
    }

    /// Adds `count` demonstrations of `action`.
    pub fn add_demos(&mut self, action: usize, count: u64) {
        self.demos[action] += count;
    }

    /// Adds `count` comparisons in which `winner` beat `loser` (`O(deg)`; appending in
    /// `(i, j)` order is `O(1)`).
    pub fn add_prefs(&mut self, winner: usize, loser: usize, count: u64) {
        self.add_pair(winner, loser, count, 0);
    }

    /// Adds the comparisons of one pair in both directions: `m_ij` wins of `i` over `j` and
    /// `m_ji` of `j` over `i` — the same data as `add_prefs(i, j, m_ij)` then
    /// `add_prefs(j, i, m_ji)`, with one search of the row instead of two.
    pub fn add_pair(&mut self, i: usize, j: usize, m_ij: u64, m_ji: u64) {
        let (a, b, ab, ba) = if i < j {
            (i, j as u32, m_ij, m_ji)
        } else {
            (j, i as u32, m_ji, m_ij)
        };
        if ab == 0 && ba == 0 {
            return;
        }
        let row = &mut self.rows[a];
        let pos = match row.last() {
            Some(e) if e.j < b => row.len(),
            None => 0,
            _ => row.partition_point(|e| e.j < b),
        };
        if pos < row.len() && row[pos].j == b {
            row[pos].ab += ab;
            row[pos].ba += ba;
        } else {
            row.insert(pos, Entry { j: b, ab, ba });
        }
    }

    /// Reserves room for every pair `i < j` (before adding counts for all pairs, as the
    /// samplers do), so rows are allocated once.
    pub fn reserve_all_pairs(&mut self) {
        let n = self.n;
        for (a, row) in self.rows.iter_mut().enumerate() {
            row.reserve_exact(n - 1 - a);
        }
    }

    /// The same data without the preferences.
    pub fn demos_only(&self) -> Self {
        BanditData {
            n: self.n,
            demos: self.demos.clone(),
            rows: vec![Vec::new(); self.n],
            meta: self.meta.clone(),
        }
    }

    /// The same data without the demonstrations.
    pub fn prefs_only(&self) -> Self {
        let mut d = self.clone();
        d.demos.iter_mut().for_each(|x| *x = 0);
        d
    }

    /// Parses the JSON format of the module documentation.
    pub fn from_json_str(text: &str) -> Result<Self> {
        if let Ok(d) = fast::parse(text.as_bytes()) {
            return Ok(d);
        }
        let v: Value = serde_json::from_str(text).map_err(|e| AihfError::Json {
            context: "data set".into(),
            source: e,
        })?;
        Self::from_value(&v)
    }

    /// Reads a data set file.
    pub fn from_file(path: &Path) -> Result<Self> {
        Self::from_text(&crate::io::read_input(path)?, path)
    }

    /// Parses the contents `text` of the data set file `path` (named in errors).
    pub fn from_text(text: &str, path: &Path) -> Result<Self> {
        Self::from_bytes(text.as_bytes(), path)
    }

    /// Parses the raw contents `bytes` of the data set file `path` (named in errors); text that
    /// is not UTF-8 is refused as [`crate::io::read_input`] refuses it.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        // The scan accepts ASCII outside strings and hands strings to serde_json, which checks
        // their UTF-8: what it accepts is valid text.
        if let Ok(d) = fast::parse(bytes) {
            return Ok(d);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| crate::io::not_utf8(path))?;
        let v: Value = serde_json::from_str(text).map_err(|e| AihfError::Json {
            context: path.display().to_string(),
            source: e,
        })?;
        Self::from_value(&v)
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
                format!("{n} is too large (limit {MAX_ACTIONS})"),
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
                            data.add_prefs(i, j, c);
                        }
                    }
                }
            }
            Some(Value::Object(o)) if o.contains_key("counts") => {
                check_keys(o, &["counts"], "preferences")?;
                let recs = o.get("counts").and_then(Value::as_array).ok_or_else(|| {
                    AihfError::data(
                        "preferences.counts",
                        "expected an array of [winner, loser, count] triplets",
                    )
                })?;
                for (k, p) in recs.iter().enumerate() {
                    let at = format!("preferences.counts[{k}]");
                    let p = p.as_array().filter(|p| p.len() == 3).ok_or_else(|| {
                        AihfError::data(at.clone(), "expected a triplet [winner, loser, count]")
                    })?;
                    let w = index_of(&p[0], &format!("{at}[0]"), n)?;
                    let l = index_of(&p[1], &format!("{at}[1]"), n)?;
                    let c = count_of(&p[2], &format!("{at}[2]"))?;
                    if w == l {
                        return Err(AihfError::data(
                            at,
                            format!("compares action {w} with itself"),
                        ));
                    }
                    add_checked(&mut data, w, l, c, &at)?;
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
                    data.add_prefs(w, l, 1);
                }
            }
            Some(_) => {
                return Err(AihfError::data(
                    "preferences",
                    "expected a count matrix, {\"pairs\": [...]} or {\"counts\": [...]}",
                ))
            }
        }
        data.meta = obj.get("meta").cloned().unwrap_or(Value::Null);
        data.check_total()?;
        Ok(data)
    }

    /// Refuses totals beyond [`MAX_COUNT`].
    fn check_total(&self) -> Result<()> {
        let total: u128 = self
            .demos
            .iter()
            .map(|&c| u128::from(c))
            .chain(
                self.pair_iter()
                    .map(|p| u128::from(p.m_ij) + u128::from(p.m_ji)),
            )
            .sum();
        if total > u128::from(MAX_COUNT) {
            return Err(AihfError::data(
                "counts",
                format!("the counts add up to {total}, beyond the supported total 2^53"),
            ));
        }
        Ok(())
    }

    /// The JSON form: the count vector, and the dense count matrix up to [`DENSE_JSON_MAX`]
    /// actions, `{"counts": [[winner, loser, count], ...]}` above.
    pub fn to_value(&self) -> Value {
        let n = self.n;
        let prefs = if n <= DENSE_JSON_MAX {
            let mut rows = vec![vec![0u64; n]; n];
            for p in self.pair_iter() {
                rows[p.i][p.j] = p.m_ij;
                rows[p.j][p.i] = p.m_ji;
            }
            json!(rows)
        } else {
            let mut recs = Vec::with_capacity(2 * self.n_pairs());
            for p in self.pair_iter() {
                if p.m_ij > 0 {
                    recs.push([p.i as u64, p.j as u64, p.m_ij]);
                }
                if p.m_ji > 0 {
                    recs.push([p.j as u64, p.i as u64, p.m_ji]);
                }
            }
            json!({ "counts": recs })
        };
        let mut v = json!({
            "n_actions": n,
            "demonstrations": self.demos,
            "preferences": prefs,
        });
        if !self.meta.is_null() {
            v["meta"] = self.meta.clone();
        }
        v
    }
}

/// `add_prefs` for a user-given count, refusing a sum beyond [`MAX_COUNT`].
fn add_checked(data: &mut BanditData, w: usize, l: usize, c: u64, at: &str) -> Result<()> {
    let now = data.pref(w, l);
    if now.saturating_add(c) > MAX_COUNT {
        return Err(AihfError::data(
            at,
            format!("the counts of {w} over {l} add up beyond the supported total 2^53"),
        ));
    }
    data.add_prefs(w, l, c);
    Ok(())
}

/// The typed streaming parse of a data file: no JSON tree, records aggregated as they are
/// read. It accepts exactly the well-formed files; anything else (a negative count, `3.0`, an
/// index out of range, ...) is an `Err(())` and the caller re-parses through
/// [`BanditData::from_value`], whose messages locate the problem.
mod fast {
    use super::{BanditData, MAX_ACTIONS, MAX_COUNT};
    use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    #[derive(Default)]
    enum Demos {
        #[default]
        None,
        Counts(Vec<u64>),
        Actions(Vec<u64>),
    }

    #[derive(Default)]
    enum Prefs {
        #[default]
        None,
        Matrix(Vec<Vec<u64>>),
        Pairs(Vec<[u64; 2]>),
        Counts(Vec<[u64; 3]>),
        /// `(winner, loser, count)`, as the hand scan reads either of the two above.
        Records(Vec<(u32, u32, u64)>),
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct File {
        n_actions: u64,
        #[serde(default)]
        demonstrations: Demos,
        #[serde(default)]
        preferences: Prefs,
        #[serde(default)]
        meta: serde_json::Value,
    }

    fn seq<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
        mut s: A,
    ) -> std::result::Result<Vec<T>, A::Error> {
        let mut v = Vec::with_capacity(s.size_hint().unwrap_or(0));
        while let Some(x) = s.next_element::<T>()? {
            v.push(x);
        }
        Ok(v)
    }

    impl<'de> Deserialize<'de> for Demos {
        fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Demos;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("counts or {\"actions\": [...]}")
                }
                fn visit_unit<E: de::Error>(self) -> std::result::Result<Demos, E> {
                    Ok(Demos::None)
                }
                fn visit_seq<A: SeqAccess<'de>>(
                    self,
                    s: A,
                ) -> std::result::Result<Demos, A::Error> {
                    Ok(Demos::Counts(seq(s)?))
                }
                fn visit_map<A: MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> std::result::Result<Demos, A::Error> {
                    let mut out = None;
                    while let Some(k) = m.next_key::<String>()? {
                        if k != "actions" || out.is_some() {
                            return Err(de::Error::custom("unexpected key"));
                        }
                        out = Some(m.next_value::<Vec<u64>>()?);
                    }
                    out.map(Demos::Actions)
                        .ok_or_else(|| de::Error::custom("missing actions"))
                }
            }
            d.deserialize_any(V)
        }
    }

    impl<'de> Deserialize<'de> for Prefs {
        fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Prefs;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a count matrix, {\"pairs\": [...]} or {\"counts\": [...]}")
                }
                fn visit_unit<E: de::Error>(self) -> std::result::Result<Prefs, E> {
                    Ok(Prefs::None)
                }
                fn visit_seq<A: SeqAccess<'de>>(
                    self,
                    s: A,
                ) -> std::result::Result<Prefs, A::Error> {
                    Ok(Prefs::Matrix(seq(s)?))
                }
                fn visit_map<A: MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> std::result::Result<Prefs, A::Error> {
                    let mut out = None;
                    while let Some(k) = m.next_key::<String>()? {
                        if out.is_some() {
                            return Err(de::Error::custom("unexpected key"));
                        }
                        out = Some(match k.as_str() {
                            "pairs" => Prefs::Pairs(m.next_value()?),
                            "counts" => Prefs::Counts(m.next_value()?),
                            _ => return Err(de::Error::custom("unexpected key")),
                        });
                    }
                    out.ok_or_else(|| de::Error::custom("missing pairs or counts"))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// The blanks JSON allows between tokens; runs of spaces (a pretty-printed file's
    /// indentation, four bytes in five of `aihf sample`'s files) eight bytes at a time.
    #[inline(always)]
    fn blanks(b: &[u8], i: &mut usize) {
        // Most tokens of a compact file follow no blank at all.
        if b.get(*i).is_some_and(|&c| c > b' ') {
            return;
        }
        blank_run(b, i);
    }

    /// Skips the blanks at `i` (sixteen bytes at a time where the CPU has SSE2, every x86-64
    /// does; eight spaces at a time elsewhere).
    fn blank_run(b: &[u8], i: &mut usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{
                __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
                _mm_set1_epi8,
            };
            while let Some(w) = b.get(*i..*i + 16) {
                // SAFETY: SSE2 is part of x86-64, and `w` is 16 readable bytes (an unaligned
                // load is allowed).
                let mask = unsafe {
                    let v = _mm_loadu_si128(w.as_ptr().cast::<__m128i>());
                    let is = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
                    let blank = _mm_or_si128(
                        _mm_or_si128(is(b' '), is(b'\n')),
                        _mm_or_si128(is(b'\r'), is(b'\t')),
                    );
                    !(_mm_movemask_epi8(blank) as u32) & 0xffff
                };
                if mask != 0 {
                    *i += mask.trailing_zeros() as usize;
                    return;
                }
                *i += 16;
            }
        }
        const SPACES: u64 = 0x2020_2020_2020_2020;
        while let Some(&c) = b.get(*i) {
            match c {
                b' ' => {
                    while let Some(w) = b.get(*i..*i + 8) {
                        let x = u64::from_le_bytes(w.try_into().expect("8 bytes")) ^ SPACES;
                        if x != 0 {
                            // The first non-space byte of the eight.
                            *i += (x.trailing_zeros() / 8) as usize;
                            break;
                        }
                        *i += 8;
                    }
                    while b.get(*i) == Some(&b' ') {
                        *i += 1;
                    }
                }
                b'\n' | b'\t' | b'\r' => *i += 1,
                _ => return,
            }
        }
    }

    /// The byte `c`, after blanks.
    #[inline(always)]
    fn token(b: &[u8], i: &mut usize, c: u8) -> Option<()> {
        blanks(b, i);
        (b.get(*i) == Some(&c)).then(|| *i += 1)
    }

    /// An unsigned integer as JSON writes it (no sign, fraction, exponent or leading zero),
    /// within `u64`.
    #[inline(always)]
    fn number(b: &[u8], i: &mut usize) -> Option<u64> {
        blanks(b, i);
        let start = *i;
        let mut v: u64 = 0;
        while let Some(&d) = b.get(*i) {
            let d = d.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            // Cannot wrap within 19 digits (10^19 < 2^64), checked below.
            v = v.wrapping_mul(10).wrapping_add(u64::from(d));
            *i += 1;
        }
        let digits = *i - start;
        // Longer numbers (up to u64::MAX's 20 digits) are left to serde_json.
        (digits > 0 && digits <= 19 && !(digits > 1 && b[start] == b'0')).then_some(v)
    }

    /// A string without escapes (an object key), its bytes between the quotes.
    fn key<'a>(b: &'a [u8], i: &mut usize) -> Option<&'a [u8]> {
        token(b, i, b'"')?;
        let start = *i;
        while *b.get(*i)? != b'"' {
            if b[*i] == b'\\' {
                return None;
            }
            *i += 1;
        }
        *i += 1;
        Some(&b[start..*i - 1])
    }

    /// A JSON array whose elements `elem` reads (blanks allowed), with room reserved for
    /// `capacity` of them.
    #[inline(always)]
    fn array<T>(
        b: &[u8],
        i: &mut usize,
        capacity: usize,
        mut elem: impl FnMut(&[u8], &mut usize) -> Option<T>,
    ) -> Option<Vec<T>> {
        token(b, i, b'[')?;
        let mut out = Vec::with_capacity(capacity);
        blanks(b, i);
        if b.get(*i) == Some(&b']') {
            *i += 1;
            return Some(out);
        }
        loop {
            out.push(elem(b, i)?);
            blanks(b, i);
            match b.get(*i) {
                Some(b',') => *i += 1,
                Some(b']') => {
                    *i += 1;
                    return Some(out);
                }
                _ => return None,
            }
        }
    }

    /// An array of `[winner, loser]` (`K = 2`, count 1) or `[winner, loser, count]` (`K = 3`)
    /// records of unsigned integers (blanks allowed), read straight into the table's record
    /// form; `None` (the general path) for an index beyond `u32`.
    fn records<const K: usize>(b: &[u8], i: &mut usize) -> Option<Vec<(u32, u32, u64)>> {
        // A record takes at least 2K + 2 bytes (`[1,2],`).
        let capacity = b.len().saturating_sub(*i) / (2 * K + 2);
        array(b, i, capacity, |b, i| {
            token(b, i, b'[')?;
            let w = u32::try_from(number(b, i)?).ok()?;
            token(b, i, b',')?;
            let l = u32::try_from(number(b, i)?).ok()?;
            let c = if K == 3 {
                token(b, i, b',')?;
                number(b, i)?
            } else {
                1
            };
            token(b, i, b']')?;
            Some((w, l, c))
        })
    }

    /// An array of unsigned integers.
    fn list(b: &[u8], i: &mut usize) -> Option<Vec<u64>> {
        array(b, i, 0, number)
    }

    /// The text of the JSON value at `i` (its extent only: brackets matched, strings and
    /// their escapes skipped), for `serde_json` to parse and validate.
    fn raw<'a>(b: &'a [u8], i: &mut usize) -> Option<&'a [u8]> {
        blanks(b, i);
        let start = *i;
        let mut depth = 0usize;
        loop {
            let c = *b.get(*i)?;
            match c {
                b'"' => {
                    *i += 1;
                    loop {
                        match *b.get(*i)? {
                            b'\\' => *i += 2,
                            b'"' => break,
                            _ => *i += 1,
                        }
                    }
                    *i += 1;
                }
                b'[' | b'{' => {
                    depth += 1;
                    *i += 1;
                }
                b']' | b'}' if depth == 0 => break,
                b']' | b'}' => {
                    depth -= 1;
                    *i += 1;
                }
                b',' if depth == 0 => break,
                _ => *i += 1,
            }
            if depth == 0 && matches!(c, b'"' | b']' | b'}') {
                break;
            }
        }
        Some(&b[start..*i])
    }

    /// The file read directly from its text, for the shapes data sets take in practice:
    /// `n_actions`, a `demonstrations` array and `{"pairs": …}` or `{"counts": …}`
    /// preferences are read by hand (the bulk of a large file: several times faster than
    /// element by element through serde), `meta` and any other shape of the two are handed
    /// to `serde_json` as raw text. `None` on anything else (an unknown or repeated key, an
    /// escaped key, a number that is not an unsigned integer, ...): the caller then parses
    /// the whole file with `serde_json`.
    pub(super) fn scan(b: &[u8]) -> Option<File> {
        let mut i = 0;
        token(b, &mut i, b'{')?;
        let (mut n_actions, mut demos, mut prefs, mut meta) = (None, None, None, None);
        blanks(b, &mut i);
        if b.get(i) == Some(&b'}') {
            i += 1;
        } else {
            loop {
                let k = key(b, &mut i)?;
                token(b, &mut i, b':')?;
                blanks(b, &mut i);
                match k {
                    b"n_actions" if n_actions.is_none() => n_actions = Some(number(b, &mut i)?),
                    b"demonstrations" if demos.is_none() => {
                        demos = Some(if b.get(i) == Some(&b'[') {
                            Demos::Counts(list(b, &mut i)?)
                        } else {
                            serde_json::from_slice(raw(b, &mut i)?).ok()?
                        })
                    }
                    b"preferences" if prefs.is_none() => {
                        prefs = Some(if b.get(i) == Some(&b'{') {
                            i += 1;
                            let p = match key(b, &mut i)? {
                                b"pairs" => {
                                    token(b, &mut i, b':')?;
                                    Prefs::Records(records::<2>(b, &mut i)?)
                                }
                                b"counts" => {
                                    token(b, &mut i, b':')?;
                                    Prefs::Records(records::<3>(b, &mut i)?)
                                }
                                _ => return None,
                            };
                            token(b, &mut i, b'}')?;
                            p
                        } else {
                            serde_json::from_slice(raw(b, &mut i)?).ok()?
                        })
                    }
                    b"meta" if meta.is_none() => {
                        meta = Some(serde_json::from_slice(raw(b, &mut i)?).ok()?)
                    }
                    _ => return None,
                }
                blanks(b, &mut i);
                match b.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        blanks(b, &mut i);
        (i == b.len()).then_some(())?;
        Some(File {
            n_actions: n_actions?,
            demonstrations: demos.unwrap_or_default(),
            preferences: prefs.unwrap_or_default(),
            meta: meta.unwrap_or_default(),
        })
    }

    /// An action index as the table stores it.
    fn narrow(x: u64) -> std::result::Result<u32, ()> {
        u32::try_from(x).map_err(|_| ())
    }

    /// The data set of `(winner, loser, count)` records; what [`BanditData::from_records`]
    /// refuses (an index out of range, an action compared with itself) and counts beyond
    /// [`MAX_COUNT`] go to the general path, which names them.
    fn with_records(
        n: usize,
        demos: Vec<u64>,
        r: Vec<(u32, u32, u64)>,
    ) -> std::result::Result<BanditData, ()> {
        if r.iter()
            .any(|&(w, l, c)| w == l || w as usize >= n || l as usize >= n || c > MAX_COUNT)
        {
            return Err(());
        }
        Ok(BanditData::new(n, demos, vec![])
            .map_err(|_| ())?
            .with_records(r))
    }

    /// The typed parse; `Err(())` sends the caller to the general path.
    pub(super) fn parse(bytes: &[u8]) -> std::result::Result<BanditData, ()> {
        let f = match scan(bytes) {
            Some(f) => f,
            None => serde_json::from_slice::<File>(bytes).map_err(|_| ())?,
        };
        let n = f.n_actions as usize;
        if n == 0 || n > MAX_ACTIONS || f.n_actions > MAX_COUNT {
            return Err(());
        }
        let idx = |x: u64| -> std::result::Result<usize, ()> {
            if (x as usize) < n && x < u64::from(u32::MAX) {
                Ok(x as usize)
            } else {
                Err(())
            }
        };
        let mut demos = vec![0u64; n];
        match f.demonstrations {
            Demos::None => {}
            Demos::Counts(c) if c.is_empty() => {}
            Demos::Counts(c) => {
                if c.len() != n || c.iter().any(|&x| x > MAX_COUNT) {
                    return Err(());
                }
                demos = c;
            }
            Demos::Actions(a) => {
                for x in a {
                    demos[idx(x)?] += 1;
                }
            }
        }
        let data = match f.preferences {
            Prefs::None => BanditData::new(n, demos, vec![]).map_err(|_| ())?,
            Prefs::Matrix(m) if m.is_empty() => {
                BanditData::new(n, demos, vec![]).map_err(|_| ())?
            }
            Prefs::Matrix(m) => {
                if m.iter().flatten().any(|&x| x > MAX_COUNT) {
                    return Err(());
                }
                BanditData::new(n, demos, m).map_err(|_| ())?
            }
            Prefs::Pairs(p) => with_records(
                n,
                demos,
                p.into_iter()
                    .map(|[w, l]| Ok((narrow(w)?, narrow(l)?, 1)))
                    .collect::<std::result::Result<_, ()>>()?,
            )?,
            Prefs::Counts(c) => with_records(
                n,
                demos,
                c.into_iter()
                    .map(|[w, l, k]| Ok((narrow(w)?, narrow(l)?, k)))
                    .collect::<std::result::Result<_, ()>>()?,
            )?,
            Prefs::Records(r) => with_records(n, demos, r)?,
        };
        let mut data = data;
        if data
            .pair_iter()
            .any(|p| p.m_ij > MAX_COUNT || p.m_ji > MAX_COUNT)
        {
            return Err(());
        }
        data.check_total().map_err(|_| ())?;
        data.meta = f.meta;
        Ok(data)
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
        let w = btl_law(reward, i, j, k).map_or(0, |b| b.sample(rng));
        data.add_pair(i, j, w, k - w);
    }
}

/// The law of `i`'s wins in `k` BTL comparisons against `j`, `Binomial(k, σ(r_i − r_j))`;
/// `None` when it does not exist (then `i` never wins).
fn btl_law(reward: &[f64], i: usize, j: usize, k: u64) -> Option<Binomial> {
    Binomial::new(k, crate::math::sigmoid(reward[i] - reward[j])).ok()
}

/// [`sample_btl`] prepared once for a fixed reward and pair list: the binomial law of every
/// pair is set up once and reused for every data set drawn (a simulation draws thousands from
/// the same truth). Draws are identical to [`sample_btl`]'s from the same generator.
#[derive(Clone, Debug)]
pub struct BtlSampler {
    /// `(i, j, k, law of i's wins)`; `None` when the law does not exist (then `i` never wins).
    pairs: Vec<(usize, usize, u64, Option<Binomial>)>,
}

impl BtlSampler {
    /// Prepares the laws `Binomial(k, σ(r_i − r_j))` of the pairs `(i, j, k)`.
    pub fn new(reward: &[f64], pairs: &[(usize, usize, u64)]) -> Self {
        let pairs = pairs
            .iter()
            .map(|&(i, j, k)| (i, j, k, btl_law(reward, i, j, k)))
            .collect();
        BtlSampler { pairs }
    }

    /// Draws every pair's comparisons and adds them to `data`.
    pub fn sample(&self, data: &mut BanditData, rng: &mut impl Rng) {
        for (i, j, k, law) in &self.pairs {
            let w = law.as_ref().map_or(0, |b| b.sample(rng));
            data.add_pair(*i, *j, w, k - w);
        }
    }
}

/// One data set from a truth (SPEC §4; the sampler of the studies and of `aihf sample`):
/// `demos` demonstrations from `demo_policy`, then `per_pair`
/// BTL comparisons of every pair `i < j` in `(i, j)` order (see [`Sampler`], which sets the
/// laws up once for many draws).
pub fn draw(
    reward: &[f64],
    demo_policy: &[f64],
    demos: u64,
    per_pair: u64,
    rng: &mut impl Rng,
) -> Result<BanditData> {
    Sampler::new(reward, demo_policy.to_vec(), demos, per_pair).draw(rng)
}

/// The data-generating process of [`draw`] set up once for many draws: the demonstration law
/// and every pair's binomial law (a simulation draws thousands of data sets from one truth).
#[derive(Clone, Debug)]
pub struct Sampler {
    n: usize,
    demo_policy: Vec<f64>,
    demos: u64,
    btl: Option<BtlSampler>,
}

impl Sampler {
    /// Prepares [`draw`]`(reward, demo_policy, demos, per_pair, ·)`.
    pub fn new(reward: &[f64], demo_policy: Vec<f64>, demos: u64, per_pair: u64) -> Self {
        let n = reward.len();
        let btl = (per_pair > 0).then(|| BtlSampler::new(reward, &all_pairs(n, per_pair)));
        Sampler {
            n,
            demo_policy,
            demos,
            btl,
        }
    }

    /// Draws one data set: the demonstrations, then every pair's comparisons in `(i, j)` order.
    pub fn draw(&self, rng: &mut impl Rng) -> Result<BanditData> {
        let mut data = BanditData::empty(self.n)?;
        if self.btl.is_some() {
            data.reserve_all_pairs();
        }
        let counts = sample_demos(&self.demo_policy, self.demos, rng);
        for (i, c) in counts.into_iter().enumerate() {
            data.add_demos(i, c);
        }
        if let Some(btl) = &self.btl {
            btl.sample(&mut data, rng);
        }
        Ok(data)
    }
}

/// Adds `count` BTL comparisons on uniformly random pairs `i ≠ j` (each ordered pair equally
/// likely) to `data`, `i` winning with probability `σ(r_i − r_j)`.
pub fn sample_random_pairs(
    data: &mut BanditData,
    reward: &[f64],
    count: u64,
    rng: &mut impl Rng,
) -> Result<()> {
    let n = reward.len();
    if count > 0 && n < 2 {
        return Err(AihfError::param(
            "random_comparisons",
            "needs at least 2 actions",
        ));
    }
    for _ in 0..count {
        let i = rng.random_range(0..n);
        let mut j = rng.random_range(0..n - 1);
        if j >= i {
            j += 1;
        }
        sample_btl(data, reward, &[(i, j, 1)], rng);
    }
    Ok(())
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

    #[test]
    fn the_three_preference_forms_and_both_parsers_agree() {
        // Counts as a matrix, as records and as (repeated) triplets; each through the typed
        // streaming parse and through the general path (a JSON tree): one data set.
        let texts = [
            r#"{"n_actions":4,"preferences":[[0,2,0,1],[1,0,0,0],[0,3,0,0],[0,0,0,0]]}"#,
            r#"{"n_actions":4,"preferences":{"pairs":[[0,1],[2,1],[0,1],[1,0],[2,1],[0,3],[2,1]]}}"#,
            r#"{"n_actions":4,"preferences":{"counts":[[2,1,2],[0,1,2],[1,0,1],[0,3,1],[2,1,1],[3,2,0]]}}"#,
        ];
        let first = BanditData::from_json_str(texts[0]).unwrap();
        for t in texts {
            let fast = super::fast::parse(t.as_bytes()).unwrap();
            let v: Value = serde_json::from_str(t).unwrap();
            let slow = BanditData::from_value(&v).unwrap();
            assert_eq!(fast, slow, "{t}");
            assert_eq!(fast, first, "{t}");
        }
        assert_eq!(first.pref(0, 1), 2);
        assert_eq!(first.pref(1, 0), 1);
        assert_eq!(first.pref(2, 1), 3);
        assert_eq!(first.pref(3, 0), 0);
        assert_eq!(first.n_pairs(), 3);
        assert_eq!(first.wins(), vec![3, 1, 3, 0]);
    }

    #[test]
    fn large_sparse_data_round_trips_through_triplets() {
        // 1,000 actions (above DENSE_JSON_MAX): written as triplets, read back equal; storage
        // is per compared pair (no n × n array).
        let n = 1000;
        let recs: Vec<(usize, usize, u64)> = (0..5000)
            .map(|k| ((k * 7919) % n, (k * 104_729 + 1) % n, 1 + (k % 3) as u64))
            .filter(|(w, l, _)| w != l)
            .collect();
        let d = BanditData::from_records(n, vec![], recs.clone()).unwrap();
        let total: u64 = recs.iter().map(|r| r.2).sum();
        assert_eq!(d.n_comparisons(), total);
        assert!(d.n_pairs() <= recs.len());
        let v = d.to_value();
        assert!(v["preferences"].get("counts").is_some());
        let back = BanditData::from_value(&v).unwrap();
        assert_eq!(back, d);
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(BanditData::from_json_str(&text).unwrap(), d);
        // Added one by one in any order, the same table.
        let mut e = BanditData::empty(n).unwrap();
        for &(w, l, c) in recs.iter().rev() {
            e.add_prefs(w, l, c);
        }
        assert_eq!(e, d);
    }

    /// The hand scan of the typed parse reads exactly what `serde_json` reads through the
    /// typed `File`, on every shape a data file takes — pretty or compact, any key order,
    /// demonstrations as counts or actions or `null`, the three preference forms, `meta` with
    /// brackets, quotes and escapes inside strings — and declines (`None`, so that serde
    /// decides) what it does not accept.
    #[test]
    fn the_hand_scan_reads_what_serde_reads() {
        let meta =
            r#"{"note": "a ] } [ { , \" \\ \n string", "true_reward": [0.5, -1e-3], "x": null}"#;
        let bodies = [
            r#""n_actions": 3, "demonstrations": [4, 0, 2], "preferences": {"counts": [[0, 1, 2], [2, 1, 7]]}"#.to_string(),
            r#""preferences": {"pairs": [[0,1],[1,2],[0,1]]}, "n_actions": 3"#.to_string(),
            r#""n_actions": 3, "demonstrations": {"actions": [2, 2, 0]}, "preferences": [[0,1,0],[0,0,3],[1,0,0]]"#.to_string(),
            r#""n_actions": 3, "demonstrations": null, "preferences": null"#.to_string(),
            r#""n_actions": 3, "demonstrations": [], "preferences": {"counts": []}"#.to_string(),
            format!(r#""n_actions": 3, "meta": {meta}, "preferences": {{"counts": [[1, 0, 3]]}}"#),
            format!(r#""meta": {meta}, "n_actions": 2"#),
        ];
        for body in &bodies {
            let compact = format!("{{{body}}}");
            let v: Value = serde_json::from_str(&compact).unwrap();
            for text in [compact.clone(), serde_json::to_string_pretty(&v).unwrap()] {
                let want = BanditData::from_value(&v).unwrap();
                assert!(super::fast::scan(text.as_bytes()).is_some(), "{text}");
                assert_eq!(super::fast::parse(text.as_bytes()).unwrap(), want, "{text}");
                assert_eq!(BanditData::from_json_str(&text).unwrap().meta, want.meta);
            }
        }
        // Declined by the scan, decided by serde (accepted or refused as before).
        for t in [
            r#"{"n_actions": 2, "n_actions": 2}"#,
            r#"{"n_\u0061ctions": 2}"#,
            r#"{"n_actions": 2, "demonstrations": [1, 01]}"#,
            r#"{"n_actions": 2, "demonstrations": [1.5, 1]}"#,
            r#"{"n_actions": 2, "preferences": {"counts": [[0, 1]]}}"#,
            r#"{"n_actions": 2, "preferences": {"pairs": [[0, 1, 1]]}}"#,
            r#"{"n_actions": 2, "preferences": {"counts": [[0, 1, 18446744073709551616]]}}"#,
            r#"{"n_actions": 2} x"#,
            r#"{"n_actions": 2, "meta": {"a": [1, 2}}"#,
            r#"{"n_actions": 2,}"#,
        ] {
            assert!(super::fast::scan(t.as_bytes()).is_none(), "{t}");
        }
        assert_eq!(
            BanditData::from_json_str(r#"{"n_\u0061ctions": 2}"#)
                .unwrap()
                .n_actions(),
            2
        );
    }

    #[test]
    fn the_typed_parse_defers_every_bad_file_to_the_located_errors() {
        for t in [
            r#"{"n_actions":2,"demonstrations":[1,-1]}"#,
            r#"{"n_actions":2,"preferences":{"counts":[[0,1,-2]]}}"#,
            r#"{"n_actions":2,"preferences":{"counts":[[0,0,2]]}}"#,
            r#"{"n_actions":2,"preferences":{"pairs":[[0,5]]}}"#,
            r#"{"n_actions":2,"extra":1}"#,
        ] {
            assert!(super::fast::parse(t.as_bytes()).is_err(), "{t}");
            assert!(BanditData::from_json_str(t).is_err(), "{t}");
        }
        let e = BanditData::from_json_str(r#"{"n_actions":2,"preferences":{"counts":[[0,1,-2]]}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("preferences.counts[0][2]") && e.contains("negative"),
            "{e}"
        );
        // Integral floats are accepted (by the general path).
        let d = BanditData::from_json_str(r#"{"n_actions":2,"demonstrations":[3.0,1]}"#).unwrap();
        assert_eq!(d.demos(), &[3, 1]);
    }
}
