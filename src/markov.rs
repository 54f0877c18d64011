//! The Markov task at LLM scale (SPEC §3.1): an exact ground truth for sequence-level alignment
//! with a vocabulary in the thousands and responses of hundreds of tokens.
//!
//! The reward is additive over positions, `r*(x, y) = Σ_{t=1}^{H} w(y_{t−1}, y_t)` with `y_0` the
//! last prompt token, and the reference is a bigram model `π_ref(v|u)` (uniform as a special
//! case). The sequence-level optimum `π*(y) ∝ π_ref(y) exp(r*(y)/β)` (SPEC §2.6, paper (42)) is
//! then a time-inhomogeneous Markov chain, computed exactly by the backward soft value recursion
//!
//! ```text
//! V_H ≡ 0,   Q_t(u,v) = w(u,v) + V_{t+1}(v),
//! V_t(u) = β log Σ_v π_ref(v|u) exp(Q_t(u,v)/β),
//! π*_t(v|u) = π_ref(v|u) exp((Q_t(u,v) − V_t(u))/β),      t = 0..H−1,
//! ```
//!
//! where step `t` draws `y_{t+1}` given `y_t`. Telescoping gives, for every response `y`,
//! `log π*(y) = log π_ref(y) + r*(y)/β − V_0(y_0)/β`, and `V_0(y_0) = max_π E_π[r*] − β KL(π‖π_ref)`.
//!
//! `w` is sparse (zero off a list of entries), so with a uniform reference one step costs
//! `O(V + nnz)` instead of `O(V²)`:
//! `Σ_v (1/V) e^{Q/β} = (1/V) [Σ_{v ∉ N(u)} e^{V_{t+1}(v)/β} + Σ_{v ∈ N(u)} e^{(w(u,v)+V_{t+1}(v))/β}]`,
//! where `N(u)` is row `u`'s support and the first sum is the total minus the support's share
//! (after subtracting `max_v V_{t+1}(v)`). That subtraction is only used when it cannot cancel
//! (the support holds at most half of the total); otherwise the complement is summed directly in
//! log space. A dense bigram reference costs `O(V²)` per step: a dot product on the
//! max-shifted scale, falling back to a log-sum-exp when that underflows.

use crate::error::{check_positive, AihfError, Result};
use crate::math::lse;
use crate::stats::{summarize, Summary};
use crate::tol;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use std::ops::Range;

/// Largest `V·(H+1)`: the solved task keeps three `f64` tables of that many cells (3 GiB here).
pub const MAX_VALUE_CELLS: usize = 1 << 27;

/// Largest `V^H` that [`MarkovTask::brute_force_log_probs_star`] enumerates.
pub const MAX_ENUMERATION: usize = 1_000_000;

/// Below this, a max-shifted dot product `Σ_v π_ref(v|u) e^{a(v) − max a}` may be dominated by
/// terms that underflowed (each below `~1e-308`, at most `V` of them), so the row is redone as a
/// log-sum-exp. Above it, underflowed terms change the sum by less than `V · 1e-308 / 1e-200`.
const UNDERFLOW_GUARD: f64 = 1e-200;

/// The reference model `π_ref(v|u)`.
#[derive(Clone, Debug)]
pub enum Reference {
    /// `π_ref(v|u) = 1/V` for every `u`: the `O(V + nnz)` path.
    Uniform,
    /// A dense row-stochastic `V × V` table, row `u` (the previous token) first:
    /// `table[u·V + v] = π_ref(v|u)`. Zeros are allowed (π* is zero there too).
    Bigram(Vec<f64>),
}

/// Monte Carlo estimates for a policy `π_φ` given by samples and their log-probabilities.
#[derive(Clone, Copy, Debug)]
pub struct PolicyEstimates {
    /// `KL(π_φ‖π*) = E_φ[log π_φ(y) − log π*(y)]`.
    pub kl_to_star: Summary,
    /// `E_φ[r*(y)]`.
    pub true_reward: Summary,
    /// `KL(π_φ‖π_ref) = E_φ[log π_φ(y) − log π_ref(y)]`.
    pub kl_to_ref: Summary,
}

/// The Markov task and its exact solution (SPEC §3.1). Validated and solved at construction.
#[derive(Clone, Debug)]
pub struct MarkovTask {
    vocab: usize,
    horizon: usize,
    beta: f64,
    y0: usize,
    /// CSR reward: row `u`'s entries are `cols[row_ptr[u]..row_ptr[u+1]]` (sorted) and `weights`.
    row_ptr: Vec<usize>,
    cols: Vec<usize>,
    weights: Vec<f64>,
    reference: Reference,
    /// `V_t(u)` at `t·V + u`, `t = 0..=H`.
    values: Vec<f64>,
    /// `max_v V_t(v)/β`, `t = 0..=H`.
    amax: Vec<f64>,
    /// `e^{V_t(v)/β − amax_t}` at `t·V + v`.
    scaled: Vec<f64>,
    /// Running sums of `scaled` within each `t` (uniform-reference sampling).
    cum: Vec<f64>,
}

/// The pieces of `0..vocab` between the sorted columns `cols`: the complement of a row's support.
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

impl MarkovTask {
    /// Builds and solves the task. `reward` lists `(u, v, w(u, v))` (each pair at most once;
    /// `w` is zero elsewhere); `y0 < vocab` is the last prompt token. Rows of a bigram reference
    /// must sum to one within [`tol::STOCHASTIC`] and are then renormalised exactly.
    pub fn new(
        vocab: usize,
        horizon: usize,
        beta: f64,
        y0: usize,
        reward: &[(usize, usize, f64)],
        reference: Reference,
    ) -> Result<Self> {
        if vocab == 0 {
            return Err(AihfError::param("vocab", "need V ≥ 1, got 0"));
        }
        if horizon == 0 {
            return Err(AihfError::param("horizon", "need H ≥ 1, got 0"));
        }
        check_positive("beta", beta)?;
        if y0 >= vocab {
            return Err(AihfError::param(
                "y0",
                format!("token id {y0} out of range 0..{vocab}"),
            ));
        }
        let cells = vocab
            .checked_mul(horizon + 1)
            .ok_or_else(|| AihfError::param("vocab/horizon", "V·(H+1) overflows"))?;
        if cells > MAX_VALUE_CELLS {
            return Err(AihfError::param(
                "vocab/horizon",
                format!(
                    "V·(H+1) = {cells} value cells exceed {MAX_VALUE_CELLS} (three f64 tables of \
                     that size are kept)"
                ),
            ));
        }
        let mut entries: Vec<(usize, usize, f64)> = Vec::with_capacity(reward.len());
        for (i, &(u, v, w)) in reward.iter().enumerate() {
            let at = format!("reward entry {i} ({u}, {v})");
            if u >= vocab || v >= vocab {
                return Err(AihfError::data(
                    at,
                    format!("token id out of range 0..{vocab}"),
                ));
            }
            if !w.is_finite() {
                return Err(AihfError::data(
                    at,
                    format!("weight must be finite, got {w}"),
                ));
            }
            entries.push((u, v, w));
        }
        entries.sort_by_key(|&(u, v, _)| (u, v));
        if let Some(d) = entries
            .windows(2)
            .find(|p| (p[0].0, p[0].1) == (p[1].0, p[1].1))
        {
            return Err(AihfError::data(
                format!("reward entry ({}, {})", d[0].0, d[0].1),
                "given more than once",
            ));
        }
        let mut row_ptr = vec![0usize; vocab + 1];
        for &(u, _, _) in &entries {
            row_ptr[u + 1] += 1;
        }
        for u in 0..vocab {
            row_ptr[u + 1] += row_ptr[u];
        }
        let cols = entries.iter().map(|e| e.1).collect();
        let weights = entries.iter().map(|e| e.2).collect();
        let reference = match reference {
            Reference::Uniform => Reference::Uniform,
            Reference::Bigram(mut table) => {
                if Some(table.len()) != vocab.checked_mul(vocab) {
                    return Err(AihfError::param(
                        "reference",
                        format!(
                            "bigram table has {} entries, expected V·V = {vocab}·{vocab}",
                            table.len()
                        ),
                    ));
                }
                for (u, row) in table.chunks_mut(vocab).enumerate() {
                    if let Some(v) = row.iter().position(|p| !(p.is_finite() && *p >= 0.0)) {
                        return Err(AihfError::data(
                            format!("reference row {u}, column {v}"),
                            format!("probability must be finite and ≥ 0, got {}", row[v]),
                        ));
                    }
                    let s: f64 = row.iter().sum();
                    if (s - 1.0).abs() > tol::STOCHASTIC {
                        return Err(AihfError::data(
                            format!("reference row {u}"),
                            format!("sums to {s}, not 1 (tolerance {:e})", tol::STOCHASTIC),
                        ));
                    }
                    row.iter_mut().for_each(|p| *p /= s);
                }
                Reference::Bigram(table)
            }
        };
        let mut task = MarkovTask {
            vocab,
            horizon,
            beta,
            y0,
            row_ptr,
            cols,
            weights,
            reference,
            values: vec![0.0; vocab * (horizon + 1)],
            amax: vec![0.0; horizon + 1],
            scaled: vec![0.0; vocab * (horizon + 1)],
            cum: vec![0.0; vocab * (horizon + 1)],
        };
        task.solve()?;
        Ok(task)
    }

    /// A random task with a uniform reference, `β = 1`, `y_0 = 0` and `nnz_per_row` nonzero
    /// rewards per row at distinct random columns, each `scale · N(0, 1)`; see [`Self::random_with`].
    pub fn random(
        vocab: usize,
        horizon: usize,
        nnz_per_row: usize,
        scale: f64,
        seed: u64,
    ) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Self::random_with(
            vocab,
            horizon,
            nnz_per_row,
            scale,
            1.0,
            Reference::Uniform,
            &mut rng,
        )
    }

    /// A random task with the given `β` and reference, `y_0 = 0`, and `nnz_per_row` rewards per
    /// row at distinct uniformly drawn columns, each `scale · N(0, 1)`.
    pub fn random_with(
        vocab: usize,
        horizon: usize,
        nnz_per_row: usize,
        scale: f64,
        beta: f64,
        reference: Reference,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if nnz_per_row > vocab {
            return Err(AihfError::param(
                "nnz_per_row",
                format!("{nnz_per_row} exceeds the vocabulary size {vocab}"),
            ));
        }
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(AihfError::param(
                "scale",
                format!("must be finite and ≥ 0, got {scale}"),
            ));
        }
        let mut reward = Vec::with_capacity(vocab * nnz_per_row);
        for u in 0..vocab {
            for v in rand::seq::index::sample(rng, vocab, nnz_per_row) {
                reward.push((u, v, scale * rng.sample::<f64, _>(StandardNormal)));
            }
        }
        Self::new(vocab, horizon, beta, 0, &reward, reference)
    }

    /// A random bigram table (row `u` first): entries `exp(N(0,1))`, each zero with probability
    /// `zero_prob` (one entry per row is kept positive), rows normalised.
    pub fn random_bigram_table(vocab: usize, zero_prob: f64, rng: &mut impl Rng) -> Vec<f64> {
        let mut table = Vec::with_capacity(vocab * vocab);
        for _ in 0..vocab {
            let keep = rng.random_range(0..vocab);
            let mut row: Vec<f64> = (0..vocab)
                .map(|v| {
                    let x: f64 = rng.sample::<f64, _>(StandardNormal).exp();
                    if v != keep && rng.random::<f64>() < zero_prob {
                        0.0
                    } else {
                        x
                    }
                })
                .collect();
            let s: f64 = row.iter().sum();
            row.iter_mut().for_each(|p| *p /= s);
            table.extend(row);
        }
        table
    }

    /// Vocabulary size `V`.
    pub fn vocab(&self) -> usize {
        self.vocab
    }
    /// Horizon `H` (response length).
    pub fn horizon(&self) -> usize {
        self.horizon
    }
    /// Temperature `β`.
    pub fn beta(&self) -> f64 {
        self.beta
    }
    /// The first-token context `y_0`.
    pub fn y0(&self) -> usize {
        self.y0
    }
    /// Number of nonzero reward entries.
    pub fn nnz(&self) -> usize {
        self.cols.len()
    }
    /// The reference model.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// The soft value `V_t(u)`, `t = 0..=H`.
    ///
    /// The index accessors (`value`, `w`, `log_ref`, `log_star`) panic on indices out of range,
    /// like slice indexing; responses from outside go through the checked `&[usize]` methods.
    pub fn value(&self, t: usize, u: usize) -> f64 {
        self.values[t * self.vocab + u]
    }

    /// `V_0(y_0) = max_π E_π[r*] − β KL(π‖π_ref) = β log E_{π_ref}[e^{r*/β}]`.
    pub fn optimal_objective(&self) -> f64 {
        self.value(0, self.y0)
    }

    /// `w(u, v)` (zero off the listed entries).
    pub fn w(&self, u: usize, v: usize) -> f64 {
        let r = self.row_ptr[u]..self.row_ptr[u + 1];
        match self.cols[r.clone()].binary_search(&v) {
            Ok(k) => self.weights[r.start + k],
            Err(_) => 0.0,
        }
    }

    /// The nonzero reward entries `(u, v, w(u, v))`, sorted by `(u, v)`.
    pub fn reward_entries(&self) -> impl Iterator<Item = (usize, usize, f64)> + '_ {
        (0..self.vocab).flat_map(move |u| {
            let (cols, ws) = self.row(u);
            cols.iter().zip(ws).map(move |(&v, &w)| (u, v, w))
        })
    }

    /// `log π_ref(v|u)`.
    pub fn log_ref(&self, u: usize, v: usize) -> f64 {
        match &self.reference {
            Reference::Uniform => -(self.vocab as f64).ln(),
            Reference::Bigram(t) => t[u * self.vocab + v].ln(),
        }
    }

    /// `log π*_t(v|u) = log π_ref(v|u) + (w(u,v) + V_{t+1}(v) − V_t(u))/β`, `t = 0..H−1`.
    pub fn log_star(&self, t: usize, u: usize, v: usize) -> f64 {
        let lr = self.log_ref(u, v);
        if lr == f64::NEG_INFINITY {
            return lr;
        }
        lr + (self.w(u, v) + self.value(t + 1, v) - self.value(t, u)) / self.beta
    }

    fn row(&self, u: usize) -> (&[usize], &[f64]) {
        let r = self.row_ptr[u]..self.row_ptr[u + 1];
        (&self.cols[r.clone()], &self.weights[r])
    }

    /// Fills `amax[t]`, `scaled` and `cum` of level `t` from `values` of level `t`.
    fn fill_scaled(&mut self, t: usize) {
        let n = self.vocab;
        let inv_beta = 1.0 / self.beta;
        let vals = &self.values[t * n..(t + 1) * n];
        let m = vals.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b)) * inv_beta;
        self.amax[t] = m;
        let mut acc = 0.0;
        let scaled = &mut self.scaled[t * n..(t + 1) * n];
        let cum = &mut self.cum[t * n..(t + 1) * n];
        for ((x, e), c) in vals.iter().zip(scaled).zip(cum) {
            *e = (x * inv_beta - m).exp();
            acc += *e;
            *c = acc;
        }
    }

    /// The backward recursion of SPEC §3.1.
    fn solve(&mut self) -> Result<()> {
        let n = self.vocab;
        let h = self.horizon;
        self.fill_scaled(h);
        for t in (0..h).rev() {
            let next = t + 1;
            let a: Vec<f64> = self.values[next * n..(next + 1) * n]
                .iter()
                .map(|x| x / self.beta)
                .collect();
            let amax = self.amax[next];
            let scaled = &self.scaled[next * n..(next + 1) * n];
            let total = self.cum[(next + 1) * n - 1];
            let this = &self;
            let mut out = vec![0.0; n];
            out.par_iter_mut()
                .enumerate()
                .for_each_init(Vec::new, |terms, (u, out)| {
                    *out = this.row_value(u, &a, amax, scaled, total, terms);
                });
            if let Some(u) = out.iter().position(|x| !x.is_finite()) {
                return Err(AihfError::Numerical(format!(
                    "soft value V_{t}({u}) = {} is not finite",
                    out[u]
                )));
            }
            self.values[t * n..next * n].copy_from_slice(&out);
            self.fill_scaled(t);
        }
        Ok(())
    }

    /// `V_t(u)` from `a = V_{t+1}/β`, `scaled = e^{a − amax}` and `total = Σ scaled`.
    fn row_value(
        &self,
        u: usize,
        a: &[f64],
        amax: f64,
        scaled: &[f64],
        total: f64,
        terms: &mut Vec<f64>,
    ) -> f64 {
        let n = self.vocab;
        let (cols, ws) = self.row(u);
        terms.clear();
        match &self.reference {
            Reference::Uniform => {
                let support: f64 = cols.iter().map(|&v| scaled[v]).sum();
                // total ≥ 1 (its largest term is e^0); the difference keeps full relative
                // accuracy while it is at least half of it.
                let log_rest = if support <= 0.5 * total {
                    amax + (total - support).ln()
                } else {
                    let z: Vec<f64> = complement(cols, n).flat_map(|r| a[r].to_vec()).collect();
                    lse(&z)
                };
                terms.push(log_rest);
                terms.extend(cols.iter().zip(ws).map(|(&v, &w)| a[v] + w / self.beta));
                self.beta * (lse(terms) - (n as f64).ln())
            }
            Reference::Bigram(table) => {
                let p = &table[u * n..(u + 1) * n];
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
                        .flat_map(|r| r.map(|v| p[v].ln() + a[v]))
                        .collect();
                    lse(&z)
                };
                terms.push(log_rest);
                terms.extend(
                    cols.iter()
                        .zip(ws)
                        .map(|(&v, &w)| p[v].ln() + a[v] + w / self.beta),
                );
                self.beta * lse(terms)
            }
        }
    }

    /// Checks that `y` is a response: `H` token ids below `V`.
    fn check_response(&self, y: &[usize]) -> Result<()> {
        if y.len() != self.horizon {
            return Err(AihfError::data(
                "response",
                format!(
                    "has {} tokens, the horizon is H = {}",
                    y.len(),
                    self.horizon
                ),
            ));
        }
        if let Some(i) = y.iter().position(|&v| v >= self.vocab) {
            return Err(AihfError::data(
                format!("token {i} of the response"),
                format!("id {} out of range 0..{}", y[i], self.vocab),
            ));
        }
        Ok(())
    }

    /// `(y_{t}, y_{t+1})` for `t = 0..H−1`, with `y_0` the context.
    fn transitions<'a>(&self, y: &'a [usize]) -> impl Iterator<Item = (usize, usize)> + 'a {
        std::iter::once(self.y0)
            .chain(y.iter().copied())
            .zip(y.iter().copied())
    }

    /// Exact `log π*(y|x) = Σ_t log π*_t(y_{t+1}|y_t)` (`−∞` where `π_ref` is zero).
    pub fn log_prob_star(&self, y: &[usize]) -> Result<f64> {
        self.check_response(y)?;
        Ok(self
            .transitions(y)
            .enumerate()
            .map(|(t, (u, v))| self.log_star(t, u, v))
            .sum())
    }

    /// `log π_ref(y|x) = Σ_t log π_ref(y_{t+1}|y_t)`.
    pub fn log_prob_ref(&self, y: &[usize]) -> Result<f64> {
        self.check_response(y)?;
        Ok(self.transitions(y).map(|(u, v)| self.log_ref(u, v)).sum())
    }

    /// `r*(y) = Σ_t w(y_t, y_{t+1})`.
    pub fn true_reward(&self, y: &[usize]) -> Result<f64> {
        self.check_response(y)?;
        Ok(self.transitions(y).map(|(u, v)| self.w(u, v)).sum())
    }

    /// An exact draw from `π*`.
    pub fn sample_star(&self, rng: &mut impl Rng) -> Vec<usize> {
        let mut buf = Vec::new();
        let mut y = Vec::with_capacity(self.horizon);
        let mut u = self.y0;
        for t in 0..self.horizon {
            u = self.draw_star(t, u, rng, &mut buf);
            y.push(u);
        }
        y
    }

    /// An exact draw from `π_ref`.
    pub fn sample_ref(&self, rng: &mut impl Rng) -> Vec<usize> {
        let mut y = Vec::with_capacity(self.horizon);
        let mut u = self.y0;
        for _ in 0..self.horizon {
            u = match &self.reference {
                Reference::Uniform => rng.random_range(0..self.vocab),
                Reference::Bigram(table) => {
                    draw_weighted(&table[u * self.vocab..(u + 1) * self.vocab], rng)
                }
            };
            y.push(u);
        }
        y
    }

    /// Draws `v ∼ π*_t(·|u)`.
    fn draw_star(&self, t: usize, u: usize, rng: &mut impl Rng, buf: &mut Vec<f64>) -> usize {
        let n = self.vocab;
        let (cols, ws) = self.row(u);
        let next = t + 1;
        let a = |v: usize| self.values[next * n + v] / self.beta;
        let b = self.value(t, u) / self.beta;
        match &self.reference {
            Reference::Uniform => {
                // Mass of each support column, then the complement ∝ e^{a(v)}.
                let ln_n = (n as f64).ln();
                buf.clear();
                buf.extend(
                    cols.iter()
                        .zip(ws)
                        .map(|(&v, &w)| (a(v) + w / self.beta - b - ln_n).exp()),
                );
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
                let scaled = &self.scaled[next * n..(next + 1) * n];
                let cum = &self.cum[next * n..(next + 1) * n];
                let total = cum[n - 1];
                let support: f64 = cols.iter().map(|&v| scaled[v]).sum();
                if support <= 0.5 * total {
                    // Rejection from the level's e^{a} distribution: acceptance ≥ 1/2.
                    loop {
                        let x = rng.random::<f64>() * total;
                        let v = cum.partition_point(|&c| c <= x).min(n - 1);
                        if cols.binary_search(&v).is_err() && scaled[v] > 0.0 {
                            return v;
                        }
                    }
                }
                let idx: Vec<usize> = complement(cols, n).flatten().collect();
                let z: Vec<f64> = idx.iter().map(|&v| a(v)).collect();
                let m = z.iter().fold(f64::NEG_INFINITY, |p, &q| p.max(q));
                buf.clear();
                buf.extend(z.iter().map(|x| (x - m).exp()));
                idx[draw_weighted(buf, rng)]
            }
            Reference::Bigram(table) => {
                let p = &table[u * n..(u + 1) * n];
                let scaled = &self.scaled[next * n..(next + 1) * n];
                let c = (self.amax[next] - b).exp();
                buf.clear();
                if c.is_finite() && c <= 1.0 / UNDERFLOW_GUARD {
                    buf.extend(p.iter().zip(scaled).map(|(x, y)| x * y * c));
                } else {
                    buf.extend((0..n).map(|v| (p[v].ln() + a(v) - b).exp()));
                }
                for (&v, &w) in cols.iter().zip(ws) {
                    buf[v] = (p[v].ln() + a(v) + w / self.beta - b).exp();
                }
                draw_weighted(buf, rng)
            }
        }
    }

    /// `log π*(y)` for every `y ∈ {0..V}^H` by enumeration, `log π_ref(y) + r*(y)/β − log Z`,
    /// independent of the recursion. Index `y` in base `V`, `y_1` most significant.
    pub fn brute_force_log_probs_star(&self) -> Result<Vec<f64>> {
        let count = self.enumeration_size()?;
        let z: Vec<f64> = (0..count)
            .map(|i| {
                let y = self.decode(i);
                let lr = self.log_prob_ref(&y)?;
                Ok(lr + self.true_reward(&y)? / self.beta)
            })
            .collect::<Result<_>>()?;
        let lz = lse(&z);
        Ok(z.into_iter().map(|x| x - lz).collect())
    }

    /// `V^H` when it is at most [`MAX_ENUMERATION`].
    pub fn enumeration_size(&self) -> Result<usize> {
        (0..self.horizon)
            .try_fold(1usize, |acc, _| {
                acc.checked_mul(self.vocab)
                    .filter(|&c| c <= MAX_ENUMERATION)
            })
            .ok_or_else(|| {
                AihfError::param(
                    "vocab/horizon",
                    format!("V^H exceeds {MAX_ENUMERATION}: too many sequences to enumerate"),
                )
            })
    }

    /// The response with base-`V` index `i` (`y_1` most significant).
    pub fn decode(&self, mut i: usize) -> Vec<usize> {
        let mut y = vec![0; self.horizon];
        for slot in y.iter_mut().rev() {
            *slot = i % self.vocab;
            i /= self.vocab;
        }
        y
    }

    /// Unbiased Monte Carlo estimates, with standard errors and `level` t intervals, of
    /// `KL(π_φ‖π*)`, `E_φ[r*]` and `KL(π_φ‖π_ref)` from i.i.d. samples `y_k ∼ π_φ` and their
    /// log-probabilities `log π_φ(y_k)`. Note `E_φ[r*] − β KL(π_φ‖π_ref) = V_0(y_0) − β KL(π_φ‖π*)`.
    pub fn estimate_policy(
        &self,
        samples: &[Vec<usize>],
        log_probs: &[f64],
        level: f64,
    ) -> Result<PolicyEstimates> {
        if samples.len() != log_probs.len() {
            return Err(AihfError::param(
                "log_probs",
                format!(
                    "{} log-probabilities for {} samples",
                    log_probs.len(),
                    samples.len()
                ),
            ));
        }
        if samples.len() < 2 {
            return Err(AihfError::param(
                "samples",
                format!(
                    "need at least 2 for a standard error, got {}",
                    samples.len()
                ),
            ));
        }
        let mut kl_star = Vec::with_capacity(samples.len());
        let mut reward = Vec::with_capacity(samples.len());
        let mut kl_ref = Vec::with_capacity(samples.len());
        for (k, (y, &lp)) in samples.iter().zip(log_probs).enumerate() {
            // Not required to be ≤ 0: a float32 policy's log-probability of a near-certain
            // response may round slightly above zero.
            if !lp.is_finite() {
                return Err(AihfError::data(
                    format!("log_probs[{k}]"),
                    format!("a sampled response's log-probability must be finite, got {lp}"),
                ));
            }
            self.check_response(y)
                .map_err(|e| AihfError::data(format!("sample {k}"), e.to_string()))?;
            kl_star.push(lp - self.log_prob_star(y)?);
            reward.push(self.true_reward(y)?);
            kl_ref.push(lp - self.log_prob_ref(y)?);
        }
        Ok(PolicyEstimates {
            kl_to_star: summarize(&kl_star, level),
            true_reward: summarize(&reward, level),
            kl_to_ref: summarize(&kl_ref, level),
        })
    }
}

/// Index drawn with probability proportional to the non-negative `weights` (inverse CDF,
/// normalised by their actual sum so round-off cannot fall off the end).
fn draw_weighted(weights: &[f64], rng: &mut impl Rng) -> usize {
    let total: f64 = weights.iter().sum();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complement_segments() {
        let segs: Vec<_> = complement(&[0, 2, 3, 6], 8).collect();
        assert_eq!(segs, vec![1..2, 4..6, 7..8]);
        let segs: Vec<_> = complement(&[], 3).collect();
        assert_eq!(segs, vec![0..3]);
        assert_eq!(complement(&[0, 1], 2).count(), 0);
    }

    #[test]
    fn markov_rows_of_pi_star_sum_to_one() {
        let task = MarkovTask::random(50, 6, 5, 2.0, 1).unwrap();
        for t in 0..6 {
            for u in [0, 17, 49] {
                let s: f64 = (0..50).map(|v| task.log_star(t, u, v).exp()).sum();
                assert!((s - 1.0).abs() < tol::MARKOV_ROW_SUM, "t={t} u={u}: {s}");
            }
        }
    }
}
