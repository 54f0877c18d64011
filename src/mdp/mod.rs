//! Tabular MDPs (SPEC §2): the validated [`Mdp`] type and its JSON format.
//!
//! Layout: states `s ∈ 0..S`, actions `a ∈ 0..A`; every `(s, a)` table is flat with index
//! `s·A + a`; dense transitions are `P[(s·A + a)·S + s']`, a contiguous `(S·A) × S` row-major
//! matrix, so one soft Bellman sweep is a matrix–vector product.
//!
//! # JSON format
//! ```json
//! {
//!   "transitions": [[[0.9, 0.1], [0.2, 0.8]], [[1.0, 0.0], [0.5, 0.5]]],
//!   "reward": [[0.0, 1.0], [0.5, 0.0]],
//!   "initial": [1.0, 0.0],
//!   "gamma": 0.9,
//!   "beta": 1.0
//! }
//! ```
//! - `transitions`: nested `[s][a][s']`, or a sparse list of `[s, a, s', p]` entries
//!   (duplicates are added; a sparse file must give every `(s, a)` at least one entry);
//! - `reward`: `[s][a]`, or instead `features` `[s][a][k]` with `theta` `[k]` (`r = φᵀθ`);
//! - `initial`: `ρ`, one entry per state (this fixes `S`);
//! - `gamma`: `[0, 1)` without a horizon, `[0, 1]` with one;
//! - `horizon` (optional): a finite horizon `T ≥ 1` (time-indexed values, `V_T ≡ 0`);
//! - `reference` (optional): `π0` as `[s][a]`, default uniform;
//! - `beta` (optional): the temperature `β > 0`, default 1.
//!
//! Rows of `P`, `ρ` and `π0` must sum to one within [`tol::STOCHASTIC`]; they are then
//! renormalised exactly, so that the operator of §2.1 is exactly a contraction.

/// Largest `S` solved by a dense LU factorisation (`O(S³)`; 2000 states take about a second):
/// the occupancy system and the policy-evaluation solve of [`bellman`] both switch to an
/// iteration above it.
pub const DENSE_SOLVE_MAX: usize = 2000;

pub mod algorithm1;
pub mod bellman;
pub mod claims;
pub mod fit;
pub mod gen;
pub mod irl;
pub mod occupancy;
pub mod rates;
pub mod report;
pub mod sequence;
pub mod traj;

use crate::error::{AihfError, Result};
use crate::tol;
use serde_json::{json, Value};
use std::path::Path;

/// Compressed sparse rows of `P`, one row per `(s, a)`.
#[derive(Clone, Debug)]
pub struct Csr {
    /// `row_ptr[sa]..row_ptr[sa+1]` indexes the entries of row `sa`.
    pub row_ptr: Vec<usize>,
    /// Successor states.
    pub col: Vec<u32>,
    /// Probabilities.
    pub val: Vec<f64>,
}

/// Transition probabilities, dense or sparse.
#[derive(Clone, Debug)]
pub enum Transitions {
    /// `P[(s·A + a)·S + s']`.
    Dense(Vec<f64>),
    /// One sparse row per `(s, a)`.
    Sparse(Csr),
}

/// A linear reward model `r(s,a) = φ(s,a)ᵀθ`.
#[derive(Clone, Debug)]
pub struct Features {
    /// Number of features `k`.
    pub dim: usize,
    /// `φ[(s·A + a)·k + j]`.
    pub phi: Vec<f64>,
}

/// The reward as given.
#[derive(Clone, Debug)]
pub enum Reward {
    /// `r(s,a)`, flat `s·A + a`.
    Tabular(Vec<f64>),
    /// `r = φᵀθ`.
    Linear {
        /// The feature map `φ(s,a) ∈ ℝᵏ`.
        features: Features,
        /// The parameter `θ ∈ ℝᵏ`.
        theta: Vec<f64>,
    },
}

/// Everything needed to build an [`Mdp`]; checked by [`Mdp::new`].
#[derive(Clone, Debug)]
pub struct MdpParts {
    /// Number of states `S`.
    pub n_states: usize,
    /// Number of actions `A` (the same in every state).
    pub n_actions: usize,
    /// `P(s'|s,a)`; every row must be a distribution.
    pub transitions: Transitions,
    /// The reward `r(s,a)`, tabular or linear.
    pub reward: Reward,
    /// The initial distribution `ρ` over states.
    pub initial: Vec<f64>,
    /// The discount `γ`: in `[0, 1)` without a horizon, `[0, 1]` with one.
    pub gamma: f64,
    /// A finite horizon `T ≥ 1`, or `None` for an infinite discounted MDP.
    pub horizon: Option<usize>,
    /// `π0(a|s)` flat; `None` is uniform.
    pub reference: Option<Vec<f64>>,
    /// The KL temperature `β > 0`.
    pub beta: f64,
}

/// A validated tabular MDP with a KL-regularisation reference `π0` and temperature `β`.
///
/// # Example
///
/// Parse a 2-state, 2-action MDP and solve it for its own reward; every row of the
/// soft-optimal policy `π*(·|s)` is a distribution:
///
/// ```
/// use aihf::mdp::{bellman, Mdp};
///
/// let mdp = Mdp::from_json_str(
///     r#"{
///         "transitions": [[[0.9, 0.1], [0.2, 0.8]], [[1.0, 0.0], [0.5, 0.5]]],
///         "reward": [[0.0, 1.0], [0.5, 0.0]],
///         "initial": [1.0, 0.0],
///         "gamma": 0.9,
///         "beta": 1.0
///     }"#,
/// )?;
/// assert_eq!((mdp.n_states(), mdp.n_actions()), (2, 2));
///
/// let sol = bellman::solve(&mdp, mdp.reward(), 1e-10)?;
/// let log_pi = sol.log_pis()[0]; // one policy: the MDP is discounted
/// for s in 0..mdp.n_states() {
///     let row = &log_pi[s * mdp.n_actions()..(s + 1) * mdp.n_actions()];
///     let total: f64 = row.iter().map(|l| l.exp()).sum();
///     assert!((total - 1.0).abs() < 1e-12);
/// }
/// # Ok::<(), aihf::error::AihfError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Mdp {
    n_states: usize,
    n_actions: usize,
    trans: Transitions,
    reward: Vec<f64>,
    features: Option<Features>,
    theta: Option<Vec<f64>>,
    initial: Vec<f64>,
    gamma: f64,
    horizon: Option<usize>,
    log_ref: Vec<f64>,
    beta: f64,
}

fn mdp_err(msg: impl Into<String>) -> AihfError {
    AihfError::Mdp(msg.into())
}

/// Checks that `row` is a distribution (entries finite, ≥ 0, sum within tolerance) and
/// renormalises it. `what` names the row in messages.
fn check_distribution(row: &mut [f64], what: &dyn Fn() -> String) -> Result<()> {
    let mut sum = 0.0;
    for (i, &p) in row.iter().enumerate() {
        if !p.is_finite() {
            return Err(mdp_err(format!("{}: entry {i} is {p}, not finite", what())));
        }
        if p < 0.0 {
            return Err(mdp_err(format!("{}: entry {i} is negative ({p})", what())));
        }
        sum += p;
    }
    if (sum - 1.0).abs() > tol::STOCHASTIC {
        return Err(mdp_err(format!(
            "{} sums to {}, not 1 (tolerance {:e})",
            what(),
            (sum * 1e12).round() / 1e12,
            tol::STOCHASTIC
        )));
    }
    for p in row.iter_mut() {
        *p /= sum;
    }
    Ok(())
}

impl Mdp {
    /// Validates and builds an MDP (SPEC §2: rows of `P`, `ρ`, `π0` are distributions, entries
    /// finite, `β > 0`, `γ ∈ [0,1)` or `[0,1]` with a horizon, horizon ≥ 1).
    pub fn new(parts: MdpParts) -> Result<Mdp> {
        let MdpParts {
            n_states: ns,
            n_actions: na,
            transitions,
            reward,
            mut initial,
            gamma,
            horizon,
            reference,
            beta,
        } = parts;
        if ns == 0 || na == 0 {
            return Err(mdp_err(format!(
                "need at least one state and one action, got {ns} states and {na} actions"
            )));
        }
        if !(beta.is_finite() && beta > 0.0) {
            return Err(mdp_err(format!("beta must be finite and > 0, got {beta}")));
        }
        if horizon == Some(0) {
            return Err(mdp_err("horizon must be at least 1, got 0"));
        }
        let gamma_ok = match horizon {
            None => gamma.is_finite() && (0.0..1.0).contains(&gamma),
            Some(_) => gamma.is_finite() && (0.0..=1.0).contains(&gamma),
        };
        if !gamma_ok {
            return Err(mdp_err(match horizon {
                None => format!("gamma must be in [0, 1) without a horizon, got {gamma}"),
                Some(_) => format!("gamma must be in [0, 1] with a horizon, got {gamma}"),
            }));
        }
        let nsa = ns * na;
        let trans = match transitions {
            Transitions::Dense(mut p) => {
                if p.len() != nsa * ns {
                    return Err(mdp_err(format!(
                        "dense transitions have {} entries, expected S·A·S = {}·{}·{} = {}",
                        p.len(),
                        ns,
                        na,
                        ns,
                        nsa * ns
                    )));
                }
                for sa in 0..nsa {
                    let (s, a) = (sa / na, sa % na);
                    check_distribution(&mut p[sa * ns..(sa + 1) * ns], &|| {
                        format!("row (s={s}, a={a}) of P")
                    })?;
                }
                Transitions::Dense(p)
            }
            Transitions::Sparse(mut c) => {
                if c.row_ptr.len() != nsa + 1
                    || c.col.len() != c.val.len()
                    || c.row_ptr.last().copied() != Some(c.col.len())
                    || c.row_ptr.windows(2).any(|w| w[0] > w[1])
                {
                    return Err(mdp_err(format!(
                        "sparse transitions: malformed CSR (expected {} rows)",
                        nsa
                    )));
                }
                if let Some(&bad) = c.col.iter().find(|&&j| j as usize >= ns) {
                    return Err(mdp_err(format!(
                        "sparse transitions: successor state {bad} out of range 0..{ns}"
                    )));
                }
                for sa in 0..nsa {
                    let (s, a) = (sa / na, sa % na);
                    let (lo, hi) = (c.row_ptr[sa], c.row_ptr[sa + 1]);
                    check_distribution(&mut c.val[lo..hi], &|| format!("row (s={s}, a={a}) of P"))?;
                }
                Transitions::Sparse(c)
            }
        };
        let (reward, features, theta) = match reward {
            Reward::Tabular(r) => {
                if r.len() != nsa {
                    return Err(mdp_err(format!(
                        "reward has {} entries, expected S·A = {nsa}",
                        r.len()
                    )));
                }
                if let Some(i) = r.iter().position(|x| !x.is_finite()) {
                    return Err(mdp_err(format!(
                        "reward (s={}, a={}) is {}, not finite",
                        i / na,
                        i % na,
                        r[i]
                    )));
                }
                (r, None, None)
            }
            Reward::Linear { features, theta } => {
                let k = features.dim;
                if k == 0 || features.phi.len() != nsa * k {
                    return Err(mdp_err(format!(
                        "features have {} entries, expected S·A·k = {}·{}·{}",
                        features.phi.len(),
                        ns,
                        na,
                        k
                    )));
                }
                if theta.len() != k {
                    return Err(mdp_err(format!(
                        "theta has {} entries but features have dimension {k}",
                        theta.len()
                    )));
                }
                if let Some(i) = features.phi.iter().position(|x| !x.is_finite()) {
                    return Err(mdp_err(format!(
                        "feature {} of (s={}, a={}) is not finite",
                        i % k,
                        i / k / na,
                        (i / k) % na
                    )));
                }
                if let Some(i) = theta.iter().position(|x| !x.is_finite()) {
                    return Err(mdp_err(format!("theta[{i}] is {}, not finite", theta[i])));
                }
                let r = linear_reward(&features, &theta);
                (r, Some(features), Some(theta))
            }
        };
        if initial.len() != ns {
            return Err(mdp_err(format!(
                "initial distribution has {} entries, expected {ns} states",
                initial.len()
            )));
        }
        check_distribution(&mut initial, &|| "initial distribution rho".to_string())?;
        let log_ref = match reference {
            None => vec![-(na as f64).ln(); nsa],
            Some(mut p) => {
                if p.len() != nsa {
                    return Err(mdp_err(format!(
                        "reference has {} entries, expected S·A = {nsa}",
                        p.len()
                    )));
                }
                for s in 0..ns {
                    check_distribution(&mut p[s * na..(s + 1) * na], &|| {
                        format!("row s={s} of the reference policy pi0")
                    })?;
                }
                p.iter().map(|&x| x.ln()).collect()
            }
        };
        Ok(Mdp {
            n_states: ns,
            n_actions: na,
            trans,
            reward,
            features,
            theta,
            initial,
            gamma,
            horizon,
            log_ref,
            beta,
        })
    }

    /// Number of states `S`.
    pub fn n_states(&self) -> usize {
        self.n_states
    }
    /// Number of actions `A`.
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }
    /// `S·A`.
    pub fn n_sa(&self) -> usize {
        self.n_states * self.n_actions
    }
    /// Discount `γ`.
    pub fn gamma(&self) -> f64 {
        self.gamma
    }
    /// Temperature `β`.
    pub fn beta(&self) -> f64 {
        self.beta
    }
    /// Finite horizon `T`, if any.
    pub fn horizon(&self) -> Option<usize> {
        self.horizon
    }
    /// Initial distribution `ρ`.
    pub fn initial(&self) -> &[f64] {
        &self.initial
    }
    /// `log π0(a|s)`, flat (`-∞` where `π0 = 0`).
    pub fn log_ref(&self) -> &[f64] {
        &self.log_ref
    }
    /// The reward `r(s,a)` (evaluated `φᵀθ` for a linear reward).
    pub fn reward(&self) -> &[f64] {
        &self.reward
    }
    /// The linear reward's features, if the reward was given as features.
    pub fn features(&self) -> Option<&Features> {
        self.features.as_ref()
    }
    /// The linear reward's `θ`, if any.
    pub fn theta(&self) -> Option<&[f64]> {
        self.theta.as_deref()
    }
    /// The transitions.
    pub fn transitions(&self) -> &Transitions {
        &self.trans
    }
    /// Number of stored transition entries (`S·A·S` when dense).
    pub fn nnz(&self) -> usize {
        match &self.trans {
            Transitions::Dense(p) => p.len(),
            Transitions::Sparse(c) => c.val.len(),
        }
    }

    /// The same MDP with another tabular reward (checked: length and finiteness).
    pub fn with_reward(&self, r: Vec<f64>) -> Result<Mdp> {
        if r.len() != self.n_sa() {
            return Err(mdp_err(format!(
                "reward has {} entries, expected S·A = {}",
                r.len(),
                self.n_sa()
            )));
        }
        if let Some(i) = r.iter().position(|x| !x.is_finite()) {
            return Err(mdp_err(format!("reward entry {i} is {}, not finite", r[i])));
        }
        let mut m = self.clone();
        m.reward = r;
        m.theta = None;
        Ok(m)
    }

    /// `out[sa] = Σ_{s'} P(s'|sa) v(s')` for the rows `sa ∈ rows` (`out` is indexed from the
    /// first row of the range).
    #[inline]
    pub fn expect_rows(&self, v: &[f64], rows: std::ops::Range<usize>, out: &mut [f64]) {
        let ns = self.n_states;
        match &self.trans {
            Transitions::Dense(p) => {
                for (o, sa) in out.iter_mut().zip(rows) {
                    *o = dot(&p[sa * ns..(sa + 1) * ns], v);
                }
            }
            Transitions::Sparse(c) => {
                for (o, sa) in out.iter_mut().zip(rows) {
                    let (lo, hi) = (c.row_ptr[sa], c.row_ptr[sa + 1]);
                    let mut acc = 0.0;
                    for (&j, &p) in c.col[lo..hi].iter().zip(&c.val[lo..hi]) {
                        acc += p * v[j as usize];
                    }
                    *o = acc;
                }
            }
        }
    }

    /// `out[s'] = Σ_{sa} x(sa) P(s'|sa)` (the transpose product, for occupancies).
    pub fn expect_transpose(&self, x: &[f64], out: &mut [f64]) {
        let ns = self.n_states;
        out.iter_mut().for_each(|o| *o = 0.0);
        match &self.trans {
            Transitions::Dense(p) => {
                for (sa, &w) in x.iter().enumerate() {
                    if w != 0.0 {
                        for (o, &q) in out.iter_mut().zip(&p[sa * ns..(sa + 1) * ns]) {
                            *o += w * q;
                        }
                    }
                }
            }
            Transitions::Sparse(c) => {
                for (sa, &w) in x.iter().enumerate() {
                    for k in c.row_ptr[sa]..c.row_ptr[sa + 1] {
                        out[c.col[k] as usize] += w * c.val[k];
                    }
                }
            }
        }
    }

    /// The non-zero entries `(s', p)` of row `sa`.
    pub fn row(&self, sa: usize) -> Vec<(usize, f64)> {
        let ns = self.n_states;
        match &self.trans {
            Transitions::Dense(p) => p[sa * ns..(sa + 1) * ns]
                .iter()
                .enumerate()
                .filter(|(_, &q)| q > 0.0)
                .map(|(j, &q)| (j, q))
                .collect(),
            Transitions::Sparse(c) => (c.row_ptr[sa]..c.row_ptr[sa + 1])
                .filter(|&k| c.val[k] > 0.0)
                .map(|k| (c.col[k] as usize, c.val[k]))
                .collect(),
        }
    }

    /// Parses the JSON format of the module documentation.
    pub fn from_json_str(text: &str) -> Result<Mdp> {
        let v: Value = serde_json::from_str(text).map_err(|e| AihfError::Json {
            context: "MDP".into(),
            source: e,
        })?;
        Mdp::from_value(&v)
    }

    /// Reads an MDP file.
    pub fn from_file(path: &Path) -> Result<Mdp> {
        Mdp::from_value(&crate::io::read_json::<Value>(path)?)
    }

    /// Builds from a parsed JSON value ([`MdpFile`], then [`Mdp::try_from`]); errors name the
    /// JSON path, and unknown keys are refused.
    pub fn from_value(v: &Value) -> Result<Mdp> {
        let file: MdpFile = serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            if path == "." {
                mdp_err(inner)
            } else {
                mdp_err(format!("{path}: {inner}"))
            }
        })?;
        Mdp::try_from(file)
    }

    /// The JSON form (dense nested arrays, or the sparse list).
    pub fn to_value(&self) -> Value {
        let (ns, na) = (self.n_states, self.n_actions);
        let rows = |x: &[f64]| -> Vec<Vec<f64>> { x.chunks(na).map(<[f64]>::to_vec).collect() };
        let transitions = match &self.trans {
            Transitions::Dense(p) => json!(p
                .chunks(ns * na)
                .map(|blk| blk.chunks(ns).map(<[f64]>::to_vec).collect::<Vec<_>>())
                .collect::<Vec<_>>()),
            Transitions::Sparse(c) => {
                let mut e = vec![];
                for sa in 0..ns * na {
                    for k in c.row_ptr[sa]..c.row_ptr[sa + 1] {
                        e.push(json!([sa / na, sa % na, c.col[k], c.val[k]]));
                    }
                }
                Value::Array(e)
            }
        };
        let mut o = json!({
            "transitions": transitions,
            "initial": self.initial,
            "gamma": self.gamma,
            "beta": self.beta,
            "reference": rows(&self.log_ref.iter().map(|l| l.exp()).collect::<Vec<_>>()),
        });
        match (&self.features, &self.theta) {
            (Some(f), Some(th)) => {
                o["features"] = json!(f
                    .phi
                    .chunks(na * f.dim)
                    .map(|blk| blk.chunks(f.dim).map(<[f64]>::to_vec).collect::<Vec<_>>())
                    .collect::<Vec<_>>());
                o["theta"] = json!(th);
            }
            _ => o["reward"] = json!(rows(&self.reward)),
        }
        if let Some(h) = self.horizon {
            o["horizon"] = json!(h);
        }
        o
    }
}

/// `r = Φθ` for a linear reward.
pub fn linear_reward(f: &Features, theta: &[f64]) -> Vec<f64> {
    f.phi.chunks(f.dim).map(|row| dot(row, theta)).collect()
}

/// Builds CSR rows from `(s, a, s', p)` entries (duplicates added). Every `(s, a)` needs an
/// entry.
pub fn csr_from_entries(
    ns: usize,
    na: usize,
    mut entries: Vec<(usize, usize, usize, f64)>,
) -> Result<Csr> {
    entries.sort_by_key(|e| (e.0 * na + e.1, e.2));
    let nsa = ns * na;
    let mut row_ptr = vec![0usize; nsa + 1];
    let mut col: Vec<u32> = Vec::with_capacity(entries.len());
    let mut val: Vec<f64> = Vec::with_capacity(entries.len());
    let mut last: Option<(usize, usize)> = None;
    for (s, a, j, p) in entries {
        let sa = s * na + a;
        if last == Some((sa, j)) {
            *val.last_mut().expect("an entry was pushed") += p;
            continue;
        }
        last = Some((sa, j));
        col.push(j as u32);
        val.push(p);
        row_ptr[sa + 1] += 1;
    }
    for sa in 0..nsa {
        if row_ptr[sa + 1] == 0 {
            return Err(mdp_err(format!(
                "row (s={}, a={}) of P has no entries (sums to 0, tolerance {:e})",
                sa / na,
                sa % na,
                tol::STOCHASTIC
            )));
        }
        row_ptr[sa + 1] += row_ptr[sa];
    }
    Ok(Csr { row_ptr, col, val })
}

/// `Σ a_i b_i` with eight independent accumulators, so that the loop vectorises (the dense
/// sweep is a stream of these dot products).
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// The MDP file format (see the module docs), as read: shapes and domains are checked once, by
/// [`TryFrom<MdpFile> for Mdp`](Mdp::try_from), with the JSON path of every offending entry.
/// Unknown keys are refused (a misspelt `"Beta"` is an error, not a silent `β = 1`).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdpFile {
    /// `[s][a][s']`, or a sparse list of `[s, a, s', p]` (told apart by the first entry).
    pub transitions: Vec<Value>,
    /// `[s][a]` (or `features` with `theta`).
    #[serde(default)]
    pub reward: Option<Vec<Vec<f64>>>,
    /// `φ(s,a)` as `[s][a][k]`.
    #[serde(default)]
    pub features: Option<Vec<Value>>,
    /// `θ`, `[k]`.
    #[serde(default)]
    pub theta: Option<Vec<f64>>,
    /// `ρ`, one entry per state.
    pub initial: Vec<f64>,
    /// The discount.
    pub gamma: f64,
    /// A finite horizon `T ≥ 1`.
    #[serde(default)]
    pub horizon: Option<u64>,
    /// `π0` as `[s][a]` (default uniform).
    #[serde(default)]
    pub reference: Option<Vec<Vec<f64>>>,
    /// `β > 0` (default 1).
    #[serde(default)]
    pub beta: Option<f64>,
}

impl TryFrom<MdpFile> for Mdp {
    type Error = AihfError;

    /// Checks shapes (every error names the JSON path) and builds the validated [`Mdp`].
    fn try_from(f: MdpFile) -> Result<Mdp> {
        let initial = f.initial;
        let ns = initial.len();
        // Reward fixes A.
        let (reward, na) = match (f.reward, f.features) {
            (Some(rows), _) => {
                if rows.len() != ns {
                    return Err(mdp_err(format!(
                        "reward has {} rows but initial has {ns} states",
                        rows.len()
                    )));
                }
                let na = rows.first().map_or(0, Vec::len);
                for (s, row) in rows.iter().enumerate() {
                    if row.len() != na {
                        return Err(mdp_err(format!(
                            "reward[{s}] has {} actions, reward[0] has {na}",
                            row.len()
                        )));
                    }
                }
                (Reward::Tabular(rows.concat()), na)
            }
            (None, Some(rows)) => {
                let theta = f
                    .theta
                    .ok_or_else(|| mdp_err("`features` given without `theta`"))?;
                if rows.len() != ns {
                    return Err(mdp_err(format!(
                        "features has {} rows but initial has {ns} states",
                        rows.len()
                    )));
                }
                let mut phi = vec![];
                let mut na = None;
                for (s, row) in rows.iter().enumerate() {
                    let m = matrix(row, &format!("features[{s}]"))?;
                    if *na.get_or_insert(m.len()) != m.len() {
                        return Err(mdp_err(format!("features[{s}] has {} actions", m.len())));
                    }
                    for (a, x) in m.iter().enumerate() {
                        if x.len() != theta.len() {
                            return Err(mdp_err(format!(
                                "features[{s}][{a}] has {} entries, theta has {}",
                                x.len(),
                                theta.len()
                            )));
                        }
                        phi.extend_from_slice(x);
                    }
                }
                let dim = theta.len();
                (
                    Reward::Linear {
                        features: Features { dim, phi },
                        theta,
                    },
                    na.unwrap_or(0),
                )
            }
            (None, None) => {
                return Err(mdp_err(
                    "missing field `reward` (or `features` with `theta`)",
                ))
            }
        };
        let ta = &f.transitions;
        let sparse =
            matches!(ta.first(), Some(Value::Array(x)) if x.first().is_some_and(Value::is_number));
        let transitions = if sparse || ta.is_empty() {
            let mut entries = Vec::with_capacity(ta.len());
            for (i, e) in ta.iter().enumerate() {
                let path = format!("transitions[{i}]");
                let x = num_vec(e, &path)?;
                if x.len() != 4 {
                    return Err(mdp_err(format!(
                        "{path}: a sparse entry is [s, a, s', p], got {} numbers",
                        x.len()
                    )));
                }
                let idx = |k: usize, n: usize, what: &str| -> Result<usize> {
                    let y = x[k];
                    if y.fract() != 0.0 || y < 0.0 || y >= n as f64 {
                        Err(mdp_err(format!("{path}: {what} {y} out of range 0..{n}")))
                    } else {
                        Ok(y as usize)
                    }
                };
                entries.push((
                    idx(0, ns, "state")?,
                    idx(1, na, "action")?,
                    idx(2, ns, "successor")?,
                    x[3],
                ));
            }
            Transitions::Sparse(csr_from_entries(ns, na, entries)?)
        } else {
            if ta.len() != ns {
                return Err(mdp_err(format!(
                    "transitions has {} rows but initial has {ns} states",
                    ta.len()
                )));
            }
            let mut p = Vec::with_capacity(ns * na * ns);
            for (s, row) in ta.iter().enumerate() {
                let m = matrix(row, &format!("transitions[{s}]"))?;
                if m.len() != na {
                    return Err(mdp_err(format!(
                        "transitions[{s}] has {} actions, the reward has {na}",
                        m.len()
                    )));
                }
                for (a, x) in m.iter().enumerate() {
                    if x.len() != ns {
                        return Err(mdp_err(format!(
                            "transitions[{s}][{a}] has {} successors, expected {ns} states",
                            x.len()
                        )));
                    }
                    p.extend_from_slice(x);
                }
            }
            Transitions::Dense(p)
        };
        let reference = match f.reference {
            None => None,
            Some(rows) => {
                if rows.len() != ns || rows.iter().any(|x| x.len() != na) {
                    return Err(mdp_err(format!(
                        "reference must be [s][a] with {ns} rows of {na} actions"
                    )));
                }
                Some(rows.concat())
            }
        };
        Mdp::new(MdpParts {
            n_states: ns,
            n_actions: na,
            transitions,
            reward,
            initial,
            gamma: f.gamma,
            horizon: f.horizon.map(|h| h as usize),
            reference,
            beta: f.beta.unwrap_or(1.0),
        })
    }
}

fn arr<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>> {
    v.as_array()
        .ok_or_else(|| mdp_err(format!("{path} must be an array")))
}

fn num(v: &Value, path: &str) -> Result<f64> {
    v.as_f64()
        .ok_or_else(|| mdp_err(format!("{path} must be a number, got {v}")))
}

fn num_vec(v: &Value, path: &str) -> Result<Vec<f64>> {
    arr(v, path)?
        .iter()
        .enumerate()
        .map(|(i, x)| num(x, &format!("{path}[{i}]")))
        .collect()
}

fn matrix(v: &Value, path: &str) -> Result<Vec<Vec<f64>>> {
    arr(v, path)?
        .iter()
        .enumerate()
        .map(|(i, x)| num_vec(x, &format!("{path}[{i}]")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"transitions": [[[0.9, 0.1], [0.2, 0.8]], [[1.0, 0.0], [0.5, 0.5]]],
        "reward": [[0.0, 1.0], [0.5, 0.0]], "initial": [1.0, 0.0], "gamma": 0.9}"#;

    #[test]
    fn parses_dense_and_round_trips() {
        let m = Mdp::from_json_str(GOOD).unwrap();
        assert_eq!((m.n_states(), m.n_actions()), (2, 2));
        let back = Mdp::from_value(&m.to_value()).unwrap();
        assert_eq!(back.reward(), m.reward());
    }

    #[test]
    fn sparse_equals_dense() {
        let sp = r#"{"transitions": [[0,0,0,0.9],[0,0,1,0.1],[0,1,0,0.2],[0,1,1,0.8],[1,0,0,1.0],[1,1,0,0.25],[1,1,0,0.25],[1,1,1,0.5]],
            "reward": [[0.0, 1.0], [0.5, 0.0]], "initial": [1.0, 0.0], "gamma": 0.9}"#;
        let a = Mdp::from_json_str(GOOD).unwrap();
        let b = Mdp::from_json_str(sp).unwrap();
        let v = [0.3, -1.7];
        let (mut x, mut y) = ([0.0; 4], [0.0; 4]);
        a.expect_rows(&v, 0..4, &mut x);
        b.expect_rows(&v, 0..4, &mut y);
        for k in 0..4 {
            approx::assert_relative_eq!(x[k], y[k], epsilon = 1e-15);
        }
    }

    #[test]
    fn bad_row_names_row_and_sum() {
        let bad = GOOD.replace("[0.2, 0.8]", "[0.2, 0.77]");
        let e = Mdp::from_json_str(&bad).unwrap_err().to_string();
        assert!(e.contains("row (s=0, a=1) of P sums to 0.97"), "{e}");
        assert!(e.contains("tolerance"), "{e}");
    }

    /// Bad input built in code (NaN cannot be written in JSON): each case is a typed
    /// `AihfError::Mdp` naming the problem.
    #[test]
    fn bad_parts_are_typed_errors() {
        let base = || MdpParts {
            n_states: 2,
            n_actions: 1,
            transitions: Transitions::Dense(vec![0.5, 0.5, 1.0, 0.0]),
            reward: Reward::Tabular(vec![0.0, 1.0]),
            initial: vec![1.0, 0.0],
            gamma: 0.9,
            horizon: None,
            reference: None,
            beta: 1.0,
        };
        let cases: Vec<(MdpParts, &str)> = vec![
            (
                MdpParts {
                    transitions: Transitions::Dense(vec![f64::NAN, 0.5, 1.0, 0.0]),
                    ..base()
                },
                "row (s=0, a=0) of P: entry 0 is NaN",
            ),
            (
                MdpParts {
                    reward: Reward::Tabular(vec![0.0, f64::NAN]),
                    ..base()
                },
                "reward (s=1, a=0) is NaN",
            ),
            (
                MdpParts {
                    initial: vec![f64::NAN, 1.0],
                    ..base()
                },
                "initial distribution rho: entry 0 is NaN",
            ),
            (
                MdpParts {
                    gamma: f64::NAN,
                    ..base()
                },
                "gamma must be in [0, 1)",
            ),
            (
                MdpParts {
                    beta: f64::NAN,
                    ..base()
                },
                "beta must be finite and > 0",
            ),
            (
                MdpParts {
                    beta: -1.0,
                    ..base()
                },
                "beta must be finite and > 0, got -1",
            ),
            (
                MdpParts {
                    gamma: 1.5,
                    horizon: Some(3),
                    ..base()
                },
                "gamma must be in [0, 1] with a horizon",
            ),
            (
                MdpParts {
                    horizon: Some(0),
                    ..base()
                },
                "horizon must be at least 1",
            ),
            (
                MdpParts {
                    reference: Some(vec![1.0, 0.5]),
                    ..base()
                },
                "row s=1 of the reference policy pi0 sums to 0.5",
            ),
            (
                MdpParts {
                    transitions: Transitions::Dense(vec![0.5, 0.5, 1.0]),
                    ..base()
                },
                "dense transitions have 3 entries",
            ),
            (
                MdpParts {
                    n_states: 0,
                    ..base()
                },
                "need at least one state",
            ),
        ];
        for (parts, want) in cases {
            match Mdp::new(parts) {
                Err(AihfError::Mdp(msg)) => assert!(msg.contains(want), "{msg:?} lacks {want:?}"),
                other => panic!("expected an MDP error containing {want:?}, got {other:?}"),
            }
        }
    }
}
