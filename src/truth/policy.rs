//! Time-indexed Markov policies `π_t(v|u)` over a vocabulary of `V` tokens, `t = 0..H−1` (step `t`
//! draws `y_{t+1}` given `y_t`, `y_0` the prompt's last token), stored so that `V = 4096`,
//! `H = 256` fits in memory (SPEC §3.1–§3.2).
//!
//! Every policy here is a *tilted base chain*
//!
//! ```text
//! π_t(v|u) = B_t(v|u) · exp(θ(u,v) + a_{t+1}(v) − a_t(u)),
//! a_H ≡ 0,   a_t(u) = log Σ_v B_t(v|u) exp(θ(u,v) + a_{t+1}(v)),
//! ```
//!
//! with a sparse log-tilt `θ` on a bigram pattern (`θ = w/β` for the policy `π_w ∝ π_ref e^{R_w/β}`
//! of a reward `w`; SPEC §3.1's recursion with `a = V/β`) and a base `B_t` that is, row by row,
//! either the reference `π_ref(v|u)` (uniform or a dense bigram table) or an *explicit* sparse row
//! (an empirical conditional, a loaded table). So:
//! - `π_w` (`irl`, `btl`, `aihf`, `π*`): reference base, `θ = w/β`;
//! - `π_SFT`: explicit rows where the demonstrations visit `(t, u)`, the reference elsewhere, `θ = 0`;
//! - RLHF against `π_SFT`: `π_SFT` tilted by `θ = w_P/β`;
//! - a loaded `[H][V][V]` table: explicit rows everywhere.
//!
//! With a uniform reference a reference row is "the reference except on the support of `θ`", so
//! each of the passes below costs `O(V + nnz)` per step: the off-support part of a row is
//! `e^{a_{t+1}(v) − a_t(u)}/V`, rank one across rows, and is summed once per step.
//! Two primitives carry everything: `push` (`x ↦ xᵀ P_t`, forward marginals) and `pull`
//! (`x ↦ P_t x`, backward expectations); the chain-rule KL and the covariance–vector product
//! (the Hessian of the demonstration likelihood) are built from them.

use crate::error::{AihfError, Result};
use crate::markov::{MarkovTask, Reference};
use crate::math::lse;
use rand::Rng;
use serde_json::Value;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// Largest `H·V²` written or read as a dense `[H][V][V]` table (about 1.6 GB of JSON).
pub const MAX_TABLE_CELLS: usize = 100_000_000;

/// Largest `V·(H+1)` of a policy (the three `f64` level tables it keeps; as in `markov`).
pub const MAX_LEVEL_CELLS: usize = crate::markov::MAX_VALUE_CELLS;

/// Below this a max-shifted dot product may be dominated by underflowed terms; the row is then
/// redone as a log-sum-exp (as in `markov`).
const UNDERFLOW_GUARD: f64 = 1e-200;

/// A set of bigrams `(u, v)` in compressed rows (sorted columns): the support of a reward class.
#[derive(Clone, Debug, PartialEq)]
pub struct Bigrams {
    vocab: usize,
    row_ptr: Vec<usize>,
    cols: Vec<usize>,
}

impl Bigrams {
    /// The set of the given pairs (duplicates merged); every id must be below `vocab`.
    pub fn new(vocab: usize, pairs: impl IntoIterator<Item = (usize, usize)>) -> Result<Self> {
        let mut p: Vec<(usize, usize)> = pairs.into_iter().collect();
        if let Some(&(u, v)) = p.iter().find(|&&(u, v)| u >= vocab || v >= vocab) {
            return Err(AihfError::data(
                format!("bigram ({u}, {v})"),
                format!("token id out of range 0..{vocab}"),
            ));
        }
        p.sort_unstable();
        p.dedup();
        let mut row_ptr = vec![0usize; vocab + 1];
        for &(u, _) in &p {
            row_ptr[u + 1] += 1;
        }
        for u in 0..vocab {
            row_ptr[u + 1] += row_ptr[u];
        }
        Ok(Bigrams {
            vocab,
            row_ptr,
            cols: p.into_iter().map(|x| x.1).collect(),
        })
    }

    /// All `V²` bigrams.
    pub fn full(vocab: usize) -> Self {
        Bigrams {
            vocab,
            row_ptr: (0..=vocab).map(|u| u * vocab).collect(),
            cols: (0..vocab).flat_map(|_| 0..vocab).collect(),
        }
    }

    /// The support of a task's reward.
    pub fn of_task(task: &MarkovTask) -> Self {
        // The entries are valid and sorted by construction of the task.
        Bigrams::new(task.vocab(), task.reward_entries().map(|(u, v, _)| (u, v)))
            .expect("a task's reward entries are in range")
    }

    /// Vocabulary size.
    pub fn vocab(&self) -> usize {
        self.vocab
    }
    /// Number of bigrams.
    pub fn len(&self) -> usize {
        self.cols.len()
    }
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.cols.is_empty()
    }
    /// Positions of row `u`'s bigrams (indices into a value vector aligned with this set).
    pub fn range(&self, u: usize) -> Range<usize> {
        self.row_ptr[u]..self.row_ptr[u + 1]
    }
    /// Row `u`'s columns, sorted.
    pub fn row(&self, u: usize) -> &[usize] {
        &self.cols[self.range(u)]
    }
    /// Position of `(u, v)`, if present.
    pub fn index(&self, u: usize, v: usize) -> Option<usize> {
        let r = self.range(u);
        self.cols[r.clone()]
            .binary_search(&v)
            .ok()
            .map(|k| r.start + k)
    }
    /// `(position, u, v)` for every bigram, row-major.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        (0..self.vocab).flat_map(move |u| self.range(u).map(move |k| (k, u, self.cols[k])))
    }
    /// The counts `φ(y) = Σ_t [ (y_{t−1}, y_t) = (u, v) ]` of a response after `y_0`, added
    /// (times `weight`) into `out` (aligned with this set). Bigrams off the set are ignored.
    pub fn add_features(&self, y0: usize, y: &[usize], weight: f64, out: &mut [f64]) {
        let mut u = y0;
        for &v in y {
            if let Some(k) = self.index(u, v) {
                out[k] += weight;
            }
            u = v;
        }
    }
    /// Sparse `φ(y)`: `(position, count)` sorted by position.
    pub fn features(&self, y0: usize, y: &[usize]) -> Vec<(usize, f64)> {
        let mut ks: Vec<usize> = Vec::new();
        let mut u = y0;
        for &v in y {
            if let Some(k) = self.index(u, v) {
                ks.push(k);
            }
            u = v;
        }
        ks.sort_unstable();
        let mut out: Vec<(usize, f64)> = Vec::with_capacity(ks.len());
        for k in ks {
            match out.last_mut() {
                Some((j, c)) if *j == k => *c += 1.0,
                _ => out.push((k, 1.0)),
            }
        }
        out
    }
}

/// Explicit sparse rows of one step: row `u` is `cols[row_ptr[u]..row_ptr[u+1]]` with
/// log-probabilities `logp` (normalised); an empty row means "use the reference".
#[derive(Clone, Debug, PartialEq)]
pub struct ExplicitRows {
    row_ptr: Vec<usize>,
    cols: Vec<usize>,
    logp: Vec<f64>,
}

impl ExplicitRows {
    /// From `(u, v, weight)` triples with positive weights; each row is normalised.
    fn from_weights(vocab: usize, mut entries: Vec<(usize, usize, f64)>) -> Self {
        entries.sort_unstable_by_key(|e| (e.0, e.1));
        let mut merged: Vec<(usize, usize, f64)> = Vec::with_capacity(entries.len());
        for e in entries {
            match merged.last_mut() {
                Some(m) if (m.0, m.1) == (e.0, e.1) => m.2 += e.2,
                _ => merged.push(e),
            }
        }
        let mut row_ptr = vec![0usize; vocab + 1];
        for e in &merged {
            row_ptr[e.0 + 1] += 1;
        }
        for u in 0..vocab {
            row_ptr[u + 1] += row_ptr[u];
        }
        let mut logp = vec![0.0; merged.len()];
        for u in 0..vocab {
            let r = row_ptr[u]..row_ptr[u + 1];
            let s: f64 = merged[r.clone()].iter().map(|e| e.2).sum();
            for k in r {
                logp[k] = (merged[k].2 / s).ln();
            }
        }
        ExplicitRows {
            row_ptr,
            cols: merged.iter().map(|e| e.1).collect(),
            logp,
        }
    }

    fn row(&self, u: usize) -> Option<(&[usize], &[f64])> {
        let r = self.row_ptr[u]..self.row_ptr[u + 1];
        (!r.is_empty()).then(|| (&self.cols[r.clone()], &self.logp[r]))
    }

    /// Number of rows with data.
    fn rows_with_data(&self) -> usize {
        self.row_ptr.windows(2).filter(|w| w[1] > w[0]).count()
    }
}

/// One row of `B_t`.
enum BaseRow<'a> {
    Explicit(&'a [usize], &'a [f64]),
    Uniform,
    Bigram(&'a [f64]),
}

/// A time-indexed Markov policy (see the module documentation). Cheap to clone (shared tables).
#[derive(Clone, Debug)]
pub struct MarkovPolicy {
    vocab: usize,
    horizon: usize,
    y0: usize,
    reference: Arc<Reference>,
    explicit: Option<Arc<Vec<ExplicitRows>>>,
    pattern: Arc<Bigrams>,
    theta: Arc<Vec<f64>>,
    /// `e^θ − 1` per pattern entry.
    theta_m1: Arc<Vec<f64>>,
    /// `e^θ` per pattern entry.
    exp_theta: Arc<Vec<f64>>,
    /// `e^{amax_{t+1} − a_t(u)}/V` at `t·V + u`, `t = 0..H−1`: a uniform row is
    /// `π_t(v|u) = rowscale_t(u) · scaled_{t+1}(v) · e^{θ(u,v)}`.
    rowscale: Vec<f64>,
    /// `ln V`.
    ln_v: f64,
    /// `a_t(u)` at `t·V + u`, `t = 0..=H`.
    a: Vec<f64>,
    /// `max_v a_t(v)` per level.
    amax: Vec<f64>,
    /// `e^{a_t(v) − amax_t}` at `t·V + v`.
    scaled: Vec<f64>,
    /// `Σ_v scaled` per level.
    total: Vec<f64>,
}

fn check_shape(vocab: usize, horizon: usize, y0: usize) -> Result<()> {
    if vocab == 0 {
        return Err(AihfError::param("vocab", "need V ≥ 1, got 0"));
    }
    if horizon == 0 {
        return Err(AihfError::param("horizon", "need H ≥ 1, got 0"));
    }
    if y0 >= vocab {
        return Err(AihfError::param(
            "y0",
            format!("token id {y0} out of range 0..{vocab}"),
        ));
    }
    let cells = vocab
        .checked_mul(horizon + 1)
        .filter(|&c| c <= MAX_LEVEL_CELLS)
        .ok_or_else(|| {
            AihfError::param(
                "vocab/horizon",
                format!("V·(H+1) exceeds {MAX_LEVEL_CELLS} cells"),
            )
        })?;
    let _ = cells;
    Ok(())
}

impl MarkovPolicy {
    /// The tilted base chain `B_t(v|u) e^{θ(u,v) + a_{t+1}(v) − a_t(u)}`: `reference` is the base
    /// wherever `explicit` (one entry per step) has no row; `theta` is aligned with `pattern`.
    pub fn new(
        horizon: usize,
        y0: usize,
        reference: Arc<Reference>,
        explicit: Option<Arc<Vec<ExplicitRows>>>,
        pattern: Arc<Bigrams>,
        theta: Vec<f64>,
    ) -> Result<Self> {
        let vocab = pattern.vocab();
        check_shape(vocab, horizon, y0)?;
        if let Reference::Bigram(t) = &*reference {
            if t.len() != vocab * vocab {
                return Err(AihfError::param(
                    "reference",
                    format!("bigram table has {} entries, expected V·V", t.len()),
                ));
            }
        }
        if theta.len() != pattern.len() {
            return Err(AihfError::param(
                "theta",
                format!("{} values for {} bigrams", theta.len(), pattern.len()),
            ));
        }
        if let Some(k) = theta.iter().position(|x| !x.is_finite()) {
            let (_, u, v) = pattern.iter().nth(k).unwrap_or((k, 0, 0));
            return Err(AihfError::Numerical(format!(
                "log-tilt θ({u}, {v}) = {} is not finite",
                theta[k]
            )));
        }
        if let Some(e) = &explicit {
            if e.len() != horizon || e.iter().any(|r| r.row_ptr.len() != vocab + 1) {
                return Err(AihfError::param(
                    "explicit",
                    format!("need {horizon} steps of {vocab} rows"),
                ));
            }
        }
        let n = vocab;
        let mut p = MarkovPolicy {
            vocab,
            horizon,
            y0,
            reference,
            explicit,
            pattern,
            theta_m1: Arc::new(theta.iter().map(|x| x.exp_m1()).collect()),
            exp_theta: Arc::new(theta.iter().map(|x| x.exp()).collect()),
            rowscale: vec![0.0; n * horizon],
            theta: Arc::new(theta),
            ln_v: (n as f64).ln(),
            a: vec![0.0; n * (horizon + 1)],
            amax: vec![0.0; horizon + 1],
            scaled: vec![0.0; n * (horizon + 1)],
            total: vec![0.0; horizon + 1],
        };
        p.backward()?;
        Ok(p)
    }

    /// The reference chain itself (`θ = 0` on an empty pattern).
    pub fn reference_policy(
        vocab: usize,
        horizon: usize,
        y0: usize,
        reference: Arc<Reference>,
    ) -> Result<Self> {
        let pattern = Arc::new(Bigrams::new(vocab, std::iter::empty())?);
        Self::new(horizon, y0, reference, None, pattern, Vec::new())
    }

    /// `π_w ∝ π_ref e^{R_w/β}` for a reward `w` aligned with `pattern` (SPEC §3.2).
    pub fn of_reward(
        horizon: usize,
        y0: usize,
        reference: Arc<Reference>,
        pattern: Arc<Bigrams>,
        w: &[f64],
        beta: f64,
    ) -> Result<Self> {
        crate::error::check_positive("beta", beta)?;
        Self::new(
            horizon,
            y0,
            reference,
            None,
            pattern,
            w.iter().map(|x| x / beta).collect(),
        )
    }

    /// The task's exact optimum `π*` (independent of [`MarkovTask`]'s own recursion, which the
    /// tests compare with).
    pub fn star(task: &MarkovTask) -> Result<Self> {
        let pattern = Arc::new(Bigrams::of_task(task));
        let w: Vec<f64> = task.reward_entries().map(|e| e.2).collect();
        Self::of_reward(
            task.horizon(),
            task.y0(),
            Arc::new(task.reference().clone()),
            pattern,
            &w,
            task.beta(),
        )
    }

    /// The time-indexed empirical conditionals `count_t(u,v)/count_t(u)` of `responses` (weights
    /// optional, default one each), `reference` on rows with no data; tilted by `theta` on
    /// `pattern`. Returns the policy and the number of `(t, u)` rows that have data.
    pub fn empirical(
        vocab: usize,
        horizon: usize,
        y0: usize,
        reference: Arc<Reference>,
        responses: &[Vec<usize>],
    ) -> Result<(Self, usize)> {
        check_shape(vocab, horizon, y0)?;
        let mut per_t: Vec<Vec<(usize, usize, f64)>> = vec![Vec::new(); horizon];
        for (i, y) in responses.iter().enumerate() {
            check_response(vocab, horizon, y).map_err(|e| prefix(e, &format!("response {i}")))?;
            let mut u = y0;
            for (t, &v) in y.iter().enumerate() {
                per_t[t].push((u, v, 1.0));
                u = v;
            }
        }
        let rows: Vec<ExplicitRows> = per_t
            .into_iter()
            .map(|e| ExplicitRows::from_weights(vocab, e))
            .collect();
        let with_data = rows.iter().map(|r| r.rows_with_data()).sum();
        let pattern = Arc::new(Bigrams::new(vocab, std::iter::empty())?);
        let p = Self::new(
            horizon,
            y0,
            reference,
            Some(Arc::new(rows)),
            pattern,
            Vec::new(),
        )?;
        Ok((p, with_data))
    }

    /// This policy's base (reference and explicit rows) tilted by a new `θ` on `pattern`.
    pub fn retilt(&self, pattern: Arc<Bigrams>, theta: Vec<f64>) -> Result<Self> {
        Self::new(
            self.horizon,
            self.y0,
            self.reference.clone(),
            self.explicit.clone(),
            pattern,
            theta,
        )
    }

    /// A dense table `table[(t·V + u)·V + v] = π_t(v|u)` as explicit rows. Rows must be
    /// distributions (within [`crate::tol::STOCHASTIC`], then renormalised); `at` names the source.
    pub fn from_table(
        vocab: usize,
        horizon: usize,
        y0: usize,
        table: &[f64],
        at: &str,
    ) -> Result<Self> {
        check_shape(vocab, horizon, y0)?;
        if table.len() != horizon * vocab * vocab {
            return Err(AihfError::data(
                at,
                format!(
                    "{} entries, expected H·V·V = {horizon}·{vocab}·{vocab}",
                    table.len()
                ),
            ));
        }
        let mut rows = Vec::with_capacity(horizon);
        for t in 0..horizon {
            let mut entries = Vec::new();
            for u in 0..vocab {
                let row = &table[(t * vocab + u) * vocab..(t * vocab + u + 1) * vocab];
                if let Some(v) = row.iter().position(|p| !(p.is_finite() && *p >= 0.0)) {
                    return Err(AihfError::data(
                        format!("{at}[{t}][{u}][{v}]"),
                        format!("probability must be finite and ≥ 0, got {}", row[v]),
                    ));
                }
                let s: f64 = row.iter().sum();
                if (s - 1.0).abs() > crate::tol::STOCHASTIC {
                    return Err(AihfError::data(
                        format!("{at}[{t}][{u}]"),
                        format!(
                            "sums to {s}, not 1 (tolerance {:e})",
                            crate::tol::STOCHASTIC
                        ),
                    ));
                }
                entries.extend(
                    row.iter()
                        .enumerate()
                        .filter(|(_, p)| **p > 0.0)
                        .map(|(v, p)| (u, v, *p)),
                );
            }
            rows.push(ExplicitRows::from_weights(vocab, entries));
        }
        let pattern = Arc::new(Bigrams::new(vocab, std::iter::empty())?);
        Self::new(
            horizon,
            y0,
            Arc::new(Reference::Uniform),
            Some(Arc::new(rows)),
            pattern,
            Vec::new(),
        )
    }

    /// Vocabulary size `V`.
    pub fn vocab(&self) -> usize {
        self.vocab
    }
    /// Horizon `H`.
    pub fn horizon(&self) -> usize {
        self.horizon
    }
    /// The context token `y_0`.
    pub fn y0(&self) -> usize {
        self.y0
    }
    /// The reference of the rows without explicit data.
    pub fn reference(&self) -> &Arc<Reference> {
        &self.reference
    }
    /// The tilt's bigram pattern.
    pub fn pattern(&self) -> &Arc<Bigrams> {
        &self.pattern
    }
    /// The log-tilt `θ`, aligned with [`Self::pattern`].
    pub fn theta(&self) -> &[f64] {
        &self.theta
    }
    /// `a_t(u)` (`a_0(y_0)` is `log E_B[e^{Θ(y)}]`, the log-normaliser of the tilt).
    pub fn log_norm(&self, t: usize, u: usize) -> f64 {
        self.a[t * self.vocab + u]
    }

    fn base_row(&self, t: usize, u: usize) -> BaseRow<'_> {
        if let Some(e) = &self.explicit {
            if let Some((c, l)) = e[t].row(u) {
                return BaseRow::Explicit(c, l);
            }
        }
        match &*self.reference {
            Reference::Uniform => BaseRow::Uniform,
            Reference::Bigram(tab) => BaseRow::Bigram(&tab[u * self.vocab..(u + 1) * self.vocab]),
        }
    }

    fn theta_at(&self, u: usize, v: usize) -> f64 {
        self.pattern.index(u, v).map_or(0.0, |k| self.theta[k])
    }

    fn level(&self, t: usize) -> &[f64] {
        &self.a[t * self.vocab..(t + 1) * self.vocab]
    }

    fn scaled_level(&self, t: usize) -> &[f64] {
        &self.scaled[t * self.vocab..(t + 1) * self.vocab]
    }

    fn fill_scaled(&mut self, t: usize) {
        let n = self.vocab;
        let lv = &self.a[t * n..(t + 1) * n];
        let m = lv.iter().fold(f64::NEG_INFINITY, |x, &y| x.max(y));
        self.amax[t] = m;
        let mut s = 0.0;
        for (o, &x) in self.scaled[t * n..(t + 1) * n].iter_mut().zip(lv) {
            *o = (x - m).exp();
            s += *o;
        }
        self.total[t] = s;
    }

    /// The backward recursion for `a`.
    fn backward(&mut self) -> Result<()> {
        let n = self.vocab;
        self.fill_scaled(self.horizon);
        for t in (0..self.horizon).rev() {
            let mut out = vec![0.0; n];
            let mut terms = Vec::new();
            for (u, o) in out.iter_mut().enumerate() {
                *o = self.row_log_norm(t, u, &mut terms);
            }
            if let Some(u) = out.iter().position(|x| !x.is_finite()) {
                return Err(AihfError::Numerical(format!(
                    "log-normaliser a_{t}({u}) = {} is not finite (a row with no mass?)",
                    out[u]
                )));
            }
            self.a[t * n..(t + 1) * n].copy_from_slice(&out);
            let m = self.amax[t + 1] - self.ln_v;
            for (r, a) in self.rowscale[t * n..(t + 1) * n].iter_mut().zip(&out) {
                *r = (m - a).exp();
            }
            self.fill_scaled(t);
        }
        Ok(())
    }

    /// `a_t(u) = log Σ_v B_t(v|u) e^{θ(u,v) + a_{t+1}(v)}` from level `t + 1`.
    fn row_log_norm(&self, t: usize, u: usize, terms: &mut Vec<f64>) -> f64 {
        let n = self.vocab;
        let next = self.level(t + 1);
        let amax = self.amax[t + 1];
        let scaled = self.scaled_level(t + 1);
        let total = self.total[t + 1];
        let cols = self.pattern.row(u);
        let th = &self.theta[self.pattern.range(u)];
        terms.clear();
        match self.base_row(t, u) {
            BaseRow::Explicit(c, l) => {
                terms.extend(
                    c.iter()
                        .zip(l)
                        .map(|(&v, &lp)| lp + self.theta_at(u, v) + next[v]),
                );
                lse(terms)
            }
            BaseRow::Uniform => {
                let et = &self.exp_theta[self.pattern.range(u)];
                let (mut support, mut tilted) = (0.0, 0.0);
                for (&v, &e) in cols.iter().zip(et) {
                    support += scaled[v];
                    tilted += scaled[v] * e;
                }
                if support <= 0.5 * total {
                    // Positive terms only: full relative accuracy, no exp per entry.
                    let sum = (total - support) + tilted;
                    if sum.is_finite() && sum > 0.0 {
                        return amax + sum.ln() - self.ln_v;
                    }
                }
                let log_rest = if support <= 0.5 * total {
                    amax + (total - support).ln()
                } else {
                    let z: Vec<f64> = complement(cols, n).flat_map(|r| next[r].to_vec()).collect();
                    lse(&z)
                };
                terms.push(log_rest);
                terms.extend(cols.iter().zip(th).map(|(&v, &x)| next[v] + x));
                lse(terms) - (n as f64).ln()
            }
            BaseRow::Bigram(p) => {
                let dot: f64 = complement(cols, n)
                    .map(|r| {
                        p[r.clone()]
                            .iter()
                            .zip(&scaled[r])
                            .map(|(x, y)| x * y)
                            .sum::<f64>()
                    })
                    .sum();
                let log_rest = if dot >= UNDERFLOW_GUARD {
                    amax + dot.ln()
                } else {
                    let z: Vec<f64> = complement(cols, n)
                        .flat_map(|r| r.map(|v| p[v].ln() + next[v]))
                        .collect();
                    lse(&z)
                };
                terms.push(log_rest);
                terms.extend(cols.iter().zip(th).map(|(&v, &x)| p[v].ln() + next[v] + x));
                lse(terms)
            }
        }
    }

    /// `log B_t(v|u)`.
    fn log_base(&self, t: usize, u: usize, v: usize) -> f64 {
        match self.base_row(t, u) {
            BaseRow::Explicit(c, l) => c.binary_search(&v).map_or(f64::NEG_INFINITY, |k| l[k]),
            BaseRow::Uniform => -self.ln_v,
            BaseRow::Bigram(p) => p[v].ln(),
        }
    }

    /// `π_t(v|u)` for entry `k = (u, v)` of the policy's own pattern (uniform rows: products of
    /// cached factors, no exp).
    fn entry_prob(&self, t: usize, u: usize, k: usize) -> f64 {
        if let BaseRow::Uniform = self.base_row(t, u) {
            let v = self.pattern.cols[k];
            let n = self.vocab;
            let base = self.rowscale[t * n + u] * self.scaled[(t + 1) * n + v];
            let p = base * self.exp_theta[k];
            // A subnormal `base` has lost its relative precision (a very strong tilt).
            if base >= f64::MIN_POSITIVE && p.is_finite() && p > 1e-250 {
                return p;
            }
        }
        self.entry_log_step(t, u, k).exp()
    }

    /// `log π_t(v|u)` for entry `k = (u, v)` of the policy's own pattern (no search for `θ`).
    fn entry_log_step(&self, t: usize, u: usize, k: usize) -> f64 {
        let v = self.pattern.cols[k];
        let lb = match self.base_row(t, u) {
            BaseRow::Explicit(c, l) => c.binary_search(&v).map_or(f64::NEG_INFINITY, |j| l[j]),
            BaseRow::Uniform => -self.ln_v,
            BaseRow::Bigram(p) => p[v].ln(),
        };
        if lb == f64::NEG_INFINITY {
            return lb;
        }
        lb + self.theta[k] + self.a[(t + 1) * self.vocab + v] - self.a[t * self.vocab + u]
    }

    /// `log π_t(v|u)`, `t = 0..H−1` (`−∞` off the base's support). Panics on indices out of
    /// range, like slice indexing.
    pub fn log_step(&self, t: usize, u: usize, v: usize) -> f64 {
        let lb = self.log_base(t, u, v);
        if lb == f64::NEG_INFINITY {
            return lb;
        }
        lb + self.theta_at(u, v) + self.a[(t + 1) * self.vocab + v] - self.a[t * self.vocab + u]
    }

    /// `log π(y) = Σ_t log π_t(y_{t+1}|y_t)` of a response (`H` ids below `V`).
    pub fn log_prob(&self, y: &[usize]) -> Result<f64> {
        check_response(self.vocab, self.horizon, y)?;
        let mut u = self.y0;
        let mut s = 0.0;
        for (t, &v) in y.iter().enumerate() {
            s += self.log_step(t, u, v);
            u = v;
        }
        Ok(s)
    }

    /// `log π(y) − log B(y) = Θ(y) − a_0(y_0)`: the density of the policy with respect to its
    /// base, finite even where the base gives `y` zero mass (the DPO ratio `π/π_SFT` of a policy
    /// of the class `π_SFT e^{R/β}`).
    pub fn log_ratio_to_base(&self, y: &[usize]) -> Result<f64> {
        check_response(self.vocab, self.horizon, y)?;
        let mut u = self.y0;
        let mut s = -self.a[self.y0];
        for &v in y {
            s += self.theta_at(u, v);
            u = v;
        }
        Ok(s)
    }

    /// An exact draw `y ∼ π`.
    pub fn sample(&self, rng: &mut impl Rng) -> Vec<usize> {
        let mut y = Vec::with_capacity(self.horizon);
        let mut u = self.y0;
        let mut buf = Vec::new();
        for t in 0..self.horizon {
            u = self.draw(t, u, rng, &mut buf);
            y.push(u);
        }
        y
    }

    fn draw(&self, t: usize, u: usize, rng: &mut impl Rng, buf: &mut Vec<f64>) -> usize {
        let n = self.vocab;
        buf.clear();
        match self.base_row(t, u) {
            BaseRow::Explicit(c, _) => {
                buf.extend(c.iter().map(|&v| self.log_step(t, u, v).exp()));
                c[draw_weighted(buf, rng)]
            }
            BaseRow::Bigram(_) => {
                buf.extend((0..n).map(|v| self.log_step(t, u, v).exp()));
                draw_weighted(buf, rng)
            }
            BaseRow::Uniform => {
                let cols = self.pattern.row(u);
                buf.extend(cols.iter().map(|&v| self.log_step(t, u, v).exp()));
                let p_support: f64 = buf.iter().sum();
                if cols.len() == n {
                    return cols[draw_weighted(buf, rng)];
                }
                let mut x: f64 = rng.random();
                if x < p_support {
                    for (k, p) in buf.iter().enumerate() {
                        if x < *p {
                            return cols[k];
                        }
                        x -= p;
                    }
                }
                // The complement ∝ e^{a_{t+1}(v)}: rejection from the whole level when the
                // support holds at most half of it (acceptance ≥ 1/2), else directly.
                let scaled = self.scaled_level(t + 1);
                let support: f64 = cols.iter().map(|&v| scaled[v]).sum();
                if support <= 0.5 * self.total[t + 1] {
                    loop {
                        let v = draw_weighted_cached(scaled, self.total[t + 1], rng);
                        if cols.binary_search(&v).is_err() {
                            return v;
                        }
                    }
                }
                let idx: Vec<usize> = complement(cols, n).flatten().collect();
                buf.clear();
                buf.extend(idx.iter().map(|&v| scaled[v]));
                idx[draw_weighted(buf, rng)]
            }
        }
    }

    /// `y = xᵀ P_t`, `y(v) = Σ_u x(u) π_t(v|u)`.
    pub fn push(&self, t: usize, x: &[f64]) -> Vec<f64> {
        let n = self.vocab;
        let mut y = vec![0.0; n];
        let mut coef = 0.0;
        let scaled = self.scaled_level(t + 1);
        for (u, &xu) in x.iter().enumerate() {
            if xu == 0.0 {
                continue;
            }
            match self.base_row(t, u) {
                BaseRow::Explicit(c, _) => {
                    for &v in c {
                        y[v] += xu * self.log_step(t, u, v).exp();
                    }
                }
                BaseRow::Bigram(_) => {
                    for (v, o) in y.iter_mut().enumerate() {
                        *o += xu * self.log_step(t, u, v).exp();
                    }
                }
                BaseRow::Uniform => {
                    let s = xu * self.rowscale[t * n + u];
                    coef += s;
                    for k in self.pattern.range(u) {
                        let v = self.pattern.cols[k];
                        y[v] += xu * self.uniform_excess(t, u, k, scaled[v]);
                    }
                }
            }
        }
        if coef != 0.0 {
            for (o, s) in y.iter_mut().zip(scaled) {
                *o += coef * s;
            }
        }
        y
    }

    /// On a uniform row, entry `k = (u, v)`'s probability above the untilted share:
    /// `π_t(v|u) − ρ_t(u) s_{t+1}(v) = ρ_t(u) s_{t+1}(v) (e^{θ_k} − 1)` (`ρ` the row scale, `s`
    /// the scaled next level). The cached product is exact while it is finite; at a very strong
    /// tilt (`θ` beyond ~700, a frontier's far end) `e^{θ}` overflows while `ρ` underflows, and
    /// the product is `0 · ∞`: then it is taken as `π_t(v|u) − ρ s` from the log-space step.
    fn uniform_excess(&self, t: usize, u: usize, k: usize, scaled_v: f64) -> f64 {
        let base = self.rowscale[t * self.vocab + u] * scaled_v;
        let m1 = self.theta_m1[k];
        // A subnormal `base` has lost its relative precision: log space then too.
        if base >= f64::MIN_POSITIVE && m1.is_finite() {
            let e = base * m1;
            if e.is_finite() {
                return e;
            }
        }
        self.entry_log_step(t, u, k).exp() - base
    }

    /// `z = P_t x`, `z(u) = Σ_v π_t(v|u) x(v)`, for every `u`.
    pub fn pull(&self, t: usize, x: &[f64]) -> Vec<f64> {
        let n = self.vocab;
        let scaled = self.scaled_level(t + 1);
        let sx: f64 = scaled.iter().zip(x).map(|(s, v)| s * v).sum();
        (0..n)
            .map(|u| match self.base_row(t, u) {
                BaseRow::Explicit(c, _) => {
                    c.iter().map(|&v| self.log_step(t, u, v).exp() * x[v]).sum()
                }
                BaseRow::Bigram(_) => (0..n).map(|v| self.log_step(t, u, v).exp() * x[v]).sum(),
                BaseRow::Uniform => {
                    let corr: f64 = self
                        .pattern
                        .range(u)
                        .map(|k| {
                            let v = self.pattern.cols[k];
                            self.uniform_excess(t, u, k, scaled[v]) * x[v]
                        })
                        .sum();
                    self.rowscale[t * n + u] * sx + corr
                }
            })
            .collect()
    }

    /// The forward marginals `μ_t(u) = P(y_t = u)`, `t = 0..=H`, at `t·V + u` (`μ_0 = δ_{y_0}`).
    pub fn marginals(&self) -> Vec<f64> {
        let n = self.vocab;
        let mut mu = vec![0.0; n * (self.horizon + 1)];
        mu[self.y0] = 1.0;
        for t in 0..self.horizon {
            let next = self.push(t, &mu[t * n..(t + 1) * n]);
            mu[(t + 1) * n..(t + 2) * n].copy_from_slice(&next);
        }
        mu
    }

    /// `E_π[φ]` on `pattern`: `Σ_t μ_{t}(u) π_t(v|u)` for each bigram `(u, v)` of it.
    pub fn expected_features(&self, mu: &[f64], pattern: &Bigrams) -> Vec<f64> {
        let n = self.vocab;
        let own = std::ptr::eq(pattern, &*self.pattern) || *pattern == *self.pattern;
        let mut out = vec![0.0; pattern.len()];
        for t in 0..self.horizon {
            let m = &mu[t * n..(t + 1) * n];
            for (u, &mu_u) in m.iter().enumerate() {
                if mu_u == 0.0 {
                    continue;
                }
                for k in pattern.range(u) {
                    let p = if own {
                        self.entry_prob(t, u, k)
                    } else {
                        self.log_step(t, u, pattern.cols[k]).exp()
                    };
                    out[k] += mu_u * p;
                }
            }
        }
        out
    }

    /// `E_π[R_w] = ⟨w, E_π[φ]⟩` for a reward `w` aligned with `pattern` (the true reward
    /// `E_π[r*]` with a task's support and weights).
    pub fn expected_reward(&self, mu: &[f64], pattern: &Bigrams, w: &[f64]) -> f64 {
        self.expected_features(mu, pattern)
            .iter()
            .zip(w)
            .map(|(e, w)| e * w)
            .sum()
    }

    /// `Cov_π[φ] δ` on this policy's own pattern, for a direction `δ` of the log-tilt: the
    /// derivative of `E_{π_θ}[φ]` along `δ`, by one tangent backward and one tangent forward
    /// pass (`O(H(V + nnz))` with a uniform reference). `mu` from [`Self::marginals`].
    pub fn cov_times(&self, mu: &[f64], delta: &[f64]) -> Vec<f64> {
        self.cov_times_with(mu, &self.step_probs(), delta)
    }

    /// `π_t(v|u)` for every step `t` and every bigram `k = (u, v)` of the policy's own pattern,
    /// at `t·|pattern| + k`: what [`Self::cov_times_with`] and [`Self::features_from`] reuse.
    pub fn step_probs(&self) -> Vec<f64> {
        let nnz = self.pattern.len();
        let mut out = vec![0.0; nnz * self.horizon];
        for t in 0..self.horizon {
            let o = &mut out[t * nnz..(t + 1) * nnz];
            for u in 0..self.vocab {
                for k in self.pattern.range(u) {
                    o[k] = self.entry_prob(t, u, k);
                }
            }
        }
        out
    }

    /// `E_π[φ]` on the policy's own pattern from [`Self::step_probs`].
    pub fn features_from(&self, mu: &[f64], probs: &[f64]) -> Vec<f64> {
        let (n, nnz) = (self.vocab, self.pattern.len());
        let mut out = vec![0.0; nnz];
        for t in 0..self.horizon {
            let m = &mu[t * n..(t + 1) * n];
            let pr = &probs[t * nnz..(t + 1) * nnz];
            for (u, &mu_u) in m.iter().enumerate() {
                if mu_u != 0.0 {
                    for k in self.pattern.range(u) {
                        out[k] += mu_u * pr[k];
                    }
                }
            }
        }
        out
    }

    /// [`Self::cov_times`] with the step probabilities precomputed.
    pub fn cov_times_with(&self, mu: &[f64], probs: &[f64], delta: &[f64]) -> Vec<f64> {
        let n = self.vocab;
        let h = self.horizon;
        let pat = &*self.pattern;
        let nnz = pat.len();
        // Tangent of a: ȧ_t(u) = Σ_v π_t(v|u) (δ(u,v) + ȧ_{t+1}(v)).
        let mut adot = vec![0.0; n * (h + 1)];
        for t in (0..h).rev() {
            let pr = &probs[t * nnz..(t + 1) * nnz];
            let mut z = self.pull(t, &adot[(t + 1) * n..(t + 2) * n]);
            for (u, zu) in z.iter_mut().enumerate() {
                for k in pat.range(u) {
                    *zu += pr[k] * delta[k];
                }
            }
            adot[t * n..(t + 1) * n].copy_from_slice(&z);
        }
        // Forward: x_t = μ̇_t − μ_t ȧ_t; μ̇_{t+1} = x_tᵀP_t + ȧ_{t+1} μ_{t+1} + Σ_u μ_t π δ.
        let mut out = vec![0.0; nnz];
        let mut mudot = vec![0.0; n];
        for t in 0..h {
            let pr = &probs[t * nnz..(t + 1) * nnz];
            let m = &mu[t * n..(t + 1) * n];
            let ad = &adot[t * n..(t + 1) * n];
            let adn = &adot[(t + 1) * n..(t + 2) * n];
            let x: Vec<f64> = (0..n).map(|u| mudot[u] - m[u] * ad[u]).collect();
            let mut next = self.push(t, &x);
            let mn = &mu[(t + 1) * n..(t + 2) * n];
            for v in 0..n {
                next[v] += adn[v] * mn[v];
            }
            for u in 0..n {
                if m[u] == 0.0 && x[u] == 0.0 {
                    continue;
                }
                for k in pat.range(u) {
                    let v = pat.cols[k];
                    let p = pr[k];
                    out[k] += x[u] * p + m[u] * p * (delta[k] + adn[v]);
                    next[v] += m[u] * p * delta[k];
                }
            }
            mudot = next;
        }
        out
    }

    /// Exact `KL(self ‖ q)` between two chains from the same `y_0` by the chain rule
    /// `Σ_t Σ_u μ_t(u) KL(P_t(·|u) ‖ Q_t(·|u))` (SPEC §3.2); `+∞` when `q` gives zero mass where
    /// `self` does not. `mu` are `self`'s marginals.
    pub fn kl_to(&self, mu: &[f64], q: &MarkovPolicy) -> Result<f64> {
        if (q.vocab, q.horizon, q.y0) != (self.vocab, self.horizon, self.y0) {
            return Err(AihfError::param(
                "policy",
                format!(
                    "KL between chains of (V, H, y0) = ({}, {}, {}) and ({}, {}, {})",
                    self.vocab, self.horizon, self.y0, q.vocab, q.horizon, q.y0
                ),
            ));
        }
        let n = self.vocab;
        let same_ref = match (&*self.reference, &*q.reference) {
            (Reference::Uniform, Reference::Uniform) => true,
            (Reference::Bigram(_), Reference::Bigram(_)) => {
                Arc::ptr_eq(&self.reference, &q.reference)
            }
            _ => false,
        };
        let same_pattern = Arc::ptr_eq(&self.pattern, &q.pattern) || *self.pattern == *q.pattern;
        // Rows on the reference (not explicit) in both chains: only then is `pull` needed.
        let any_ref_rows = |p: &MarkovPolicy, t: usize| {
            p.explicit
                .as_ref()
                .is_none_or(|e| e[t].rows_with_data() < n)
        };
        let mut kl = 0.0;
        for t in 0..self.horizon {
            let m = &mu[t * n..(t + 1) * n];
            let d_next: Vec<f64> = self
                .level(t + 1)
                .iter()
                .zip(q.level(t + 1))
                .map(|(a, b)| a - b)
                .collect();
            let pulled = if same_ref && any_ref_rows(self, t) && any_ref_rows(q, t) {
                Some(self.pull(t, &d_next))
            } else {
                None
            };
            for (u, &mu_u) in m.iter().enumerate() {
                if mu_u == 0.0 {
                    continue;
                }
                let row = match (self.base_row(t, u), q.base_row(t, u)) {
                    (BaseRow::Explicit(c, _), _) => {
                        let mut s = 0.0;
                        for &v in c {
                            let lp = self.log_step(t, u, v);
                            if lp == f64::NEG_INFINITY {
                                continue;
                            }
                            let lq = q.log_step(t, u, v);
                            if lq == f64::NEG_INFINITY {
                                return Ok(f64::INFINITY);
                            }
                            s += lp.exp() * (lp - lq);
                        }
                        s
                    }
                    (_, BaseRow::Explicit(..)) => self.dense_row_kl(t, u, q),
                    _ if same_ref => {
                        let mut s = pulled.as_ref().map_or(0.0, |p| p[u])
                            - (self.a[t * n + u] - q.a[t * n + u]);
                        for k in self.pattern.range(u) {
                            let p = self.entry_prob(t, u, k);
                            s += p * self.theta[k];
                            if same_pattern {
                                s -= p * q.theta[k];
                            }
                        }
                        if !same_pattern {
                            for k in q.pattern.range(u) {
                                let v = q.pattern.cols[k];
                                s -= self.log_step(t, u, v).exp() * q.theta[k];
                            }
                        }
                        s
                    }
                    _ => self.dense_row_kl(t, u, q),
                };
                if row == f64::INFINITY {
                    return Ok(row);
                }
                kl += mu_u * row;
            }
        }
        if kl.is_nan() {
            return Err(AihfError::Numerical(
                "KL by the chain rule is NaN (a probability overflowed)".into(),
            ));
        }
        // Round-off can leave −1e-16 for two equal chains.
        Ok(kl.max(0.0))
    }

    fn dense_row_kl(&self, t: usize, u: usize, q: &MarkovPolicy) -> f64 {
        let mut s = 0.0;
        for v in 0..self.vocab {
            let lp = self.log_step(t, u, v);
            if lp == f64::NEG_INFINITY {
                continue;
            }
            let lq = q.log_step(t, u, v);
            if lq == f64::NEG_INFINITY {
                return f64::INFINITY;
            }
            s += lp.exp() * (lp - lq);
        }
        s
    }

    /// Number of `(t, u)` rows with explicit data (the rest use the reference).
    pub fn explicit_rows(&self) -> usize {
        self.explicit
            .as_ref()
            .map_or(0, |e| e.iter().map(|r| r.rows_with_data()).sum())
    }

    /// The dense table `π_t(v|u)` at `(t·V + u)·V + v` (refused above [`MAX_TABLE_CELLS`]).
    pub fn to_table(&self) -> Result<Vec<f64>> {
        let n = self.vocab;
        let cells = self.horizon as u128 * (n as u128) * (n as u128);
        if cells > MAX_TABLE_CELLS as u128 {
            return Err(AihfError::param(
                "policy",
                format!(
                    "H·V² = {cells} cells exceed {MAX_TABLE_CELLS}: too large for a dense table"
                ),
            ));
        }
        let mut out = Vec::with_capacity(cells as usize);
        for t in 0..self.horizon {
            for u in 0..n {
                out.extend((0..n).map(|v| self.log_step(t, u, v).exp()));
            }
        }
        Ok(out)
    }
}

fn prefix(e: AihfError, at: &str) -> AihfError {
    match e {
        AihfError::Data { at: a, reason } => AihfError::data(format!("{at}: {a}"), reason),
        other => other,
    }
}

/// Checks that `y` has `H` token ids below `V`.
pub fn check_response(vocab: usize, horizon: usize, y: &[usize]) -> Result<()> {
    if y.len() != horizon {
        return Err(AihfError::data(
            "response",
            format!("has {} tokens, the horizon is H = {horizon}", y.len()),
        ));
    }
    if let Some(i) = y.iter().position(|&v| v >= vocab) {
        return Err(AihfError::data(
            format!("token {i} of the response"),
            format!("id {} out of range 0..{vocab}", y[i]),
        ));
    }
    Ok(())
}

/// The pieces of `0..vocab` between the sorted columns `cols`.
fn complement(cols: &[usize], vocab: usize) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut start = 0;
    cols.iter()
        .map(Some)
        .chain(std::iter::once(None))
        .filter_map(move |c| {
            let end = c.copied().unwrap_or(vocab);
            let r = start..end;
            start = end + 1;
            (!r.is_empty()).then_some(r)
        })
}

fn draw_weighted(weights: &[f64], rng: &mut impl Rng) -> usize {
    let total: f64 = weights.iter().sum();
    draw_weighted_cached(weights, total, rng)
}

fn draw_weighted_cached(weights: &[f64], total: f64, rng: &mut impl Rng) -> usize {
    let mut x = rng.random::<f64>() * total;
    let mut last = 0;
    for (i, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            if x < w {
                return i;
            }
            x -= w;
            last = i;
        }
    }
    last
}

/// Writes policies as `{"y0": y0, "vocab": V, "horizon": H, "policies": {name: [H][V][V]}}`
/// (`policy[t][u][v] = π_t(v|u)`), streamed to `path` and renamed into place (streamed to
/// standard output when `path` is `-`).
pub fn write_policies(path: &Path, policies: &[(&str, &MarkovPolicy)]) -> Result<()> {
    use std::io::Write;
    let Some((_, first)) = policies.first() else {
        return Err(AihfError::param("policies", "nothing to write"));
    };
    let io_err = |e: std::io::Error| AihfError::Io {
        action: "cannot write",
        path: path.to_path_buf(),
        source: e,
    };
    let stdout = crate::io::is_stdio(path);
    let tmp = crate::io::tmp_path(path);
    let sink: Box<dyn Write> = if stdout {
        Box::new(std::io::stdout().lock())
    } else {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        Box::new(std::fs::File::create(&tmp).map_err(io_err)?)
    };
    let mut w = std::io::BufWriter::new(sink);
    let res = (|| -> Result<()> {
        write!(
            w,
            "{{\"y0\": {}, \"vocab\": {}, \"horizon\": {}, \"policies\": {{",
            first.y0, first.vocab, first.horizon
        )
        .map_err(io_err)?;
        for (i, (name, p)) in policies.iter().enumerate() {
            let n = p.vocab;
            let cells = p.horizon as u128 * (n as u128) * (n as u128);
            if cells > MAX_TABLE_CELLS as u128 {
                return Err(AihfError::param(
                    "policy-out",
                    format!("H·V² = {cells} cells exceed {MAX_TABLE_CELLS}: too large to write"),
                ));
            }
            write!(w, "{}\n{:?}: [", if i > 0 { "," } else { "" }, name).map_err(io_err)?;
            for t in 0..p.horizon {
                write!(w, "{}[", if t > 0 { "," } else { "" }).map_err(io_err)?;
                for u in 0..n {
                    write!(w, "{}[", if u > 0 { "," } else { "" }).map_err(io_err)?;
                    for v in 0..n {
                        if v > 0 {
                            write!(w, ",").map_err(io_err)?;
                        }
                        // serde_json's shortest round-trip form (exponents for tiny values).
                        serde_json::to_writer(&mut w, &p.log_step(t, u, v).exp()).map_err(|e| {
                            AihfError::Json {
                                context: path.display().to_string(),
                                source: e,
                            }
                        })?;
                    }
                    write!(w, "]").map_err(io_err)?;
                }
                write!(w, "]").map_err(io_err)?;
            }
            write!(w, "]").map_err(io_err)?;
        }
        writeln!(w, "}}}}").map_err(io_err)?;
        w.flush().map_err(io_err)?;
        Ok(())
    })();
    drop(w);
    match res {
        Ok(()) if stdout => Ok(()),
        Err(e) if stdout => Err(e),
        Ok(()) => std::fs::rename(&tmp, path).map_err(io_err),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Reads one policy from a `--policy-out` file: a bare `[H][V][V]` array, `{"policy": [...]}`, or
/// `{"policies": {name: [...]}}` (then `name` picks one; it may be omitted when there is only
/// one). `y0`, `V` and `H` come from the task; every row must be a distribution.
pub fn read_policy(
    path: &Path,
    name: Option<&str>,
    vocab: usize,
    horizon: usize,
    y0: usize,
) -> Result<MarkovPolicy> {
    let file = path.display().to_string();
    let text = crate::io::read_input(path)?;
    let v: Value = serde_json::from_str(&text).map_err(|e| AihfError::Json {
        context: file.clone(),
        source: e,
    })?;
    let (arr, key) = match &v {
        Value::Array(_) => (&v, "policy".to_string()),
        Value::Object(o) => match (o.get("policy"), o.get("policies")) {
            (Some(p), _) => (p, "policy".to_string()),
            (None, Some(Value::Object(m))) => {
                let k = match name {
                    Some(k) => k.to_string(),
                    None if m.len() == 1 => m.keys().next().cloned().unwrap_or_default(),
                    None => {
                        return Err(AihfError::data(
                            format!("{file}: `policies`"),
                            format!(
                                "holds {} policies ({}); name one",
                                m.len(),
                                m.keys().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        ))
                    }
                };
                let p = m.get(&k).ok_or_else(|| {
                    AihfError::data(format!("{file}: `policies`"), format!("no policy `{k}`"))
                })?;
                (p, format!("policies.{k}"))
            }
            _ => {
                return Err(AihfError::data(
                    &file,
                    "expected an [H][V][V] array, or an object with `policy` or `policies`",
                ))
            }
        },
        _ => {
            return Err(AihfError::data(
                &file,
                "expected an [H][V][V] array or an object",
            ))
        }
    };
    let at = format!("{file}: {key}");
    let shape_err = |path: String, what: String| AihfError::data(format!("{at}{path}"), what);
    let ts = arr
        .as_array()
        .ok_or_else(|| shape_err(String::new(), "not an array".into()))?;
    if ts.len() != horizon {
        return Err(shape_err(
            String::new(),
            format!(
                "has {} steps, the task's horizon is H = {horizon}",
                ts.len()
            ),
        ));
    }
    let mut table = Vec::with_capacity(horizon * vocab * vocab);
    for (t, rows) in ts.iter().enumerate() {
        let rows = rows
            .as_array()
            .filter(|r| r.len() == vocab)
            .ok_or_else(|| shape_err(format!("[{t}]"), format!("must be {vocab} rows")))?;
        for (u, row) in rows.iter().enumerate() {
            let row = row.as_array().filter(|r| r.len() == vocab).ok_or_else(|| {
                shape_err(
                    format!("[{t}][{u}]"),
                    format!("must be {vocab} probabilities"),
                )
            })?;
            for (w, x) in row.iter().enumerate() {
                table.push(x.as_f64().ok_or_else(|| {
                    shape_err(format!("[{t}][{u}][{w}]"), format!("{x} is not a number"))
                })?);
            }
        }
    }
    MarkovPolicy::from_table(vocab, horizon, y0, &table, &at)
}
