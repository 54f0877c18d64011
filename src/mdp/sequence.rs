//! The sequence-level bridge (SPEC §2.6, paper (42)).
//!
//! Responses `y = (y_1..y_H)` over a vocabulary of `V` tokens form a prefix tree: the states
//! are the prefixes (levels `0..=H`), action `v` appends token `v` (deterministic), `γ = 1`,
//! horizon `H`, and the reward `R(y)` is paid on the last token. The token-level reference
//! `π_ref(v | prefix)` defines the sequence reference `π_ref(y) = Π_t π_ref(y_t | y_<t)`.
//! Token-level soft backward induction then gives, for every `y`,
//! `Π_t π*_t(y_t | y_<t) = π_ref(y) exp(R(y)/β) / Z` — the sequence-level Gibbs distribution.
//!
//! Sequences are indexed in base `V` with `y_1` most significant.

use super::bellman::backward_induction;
use super::{csr_from_entries, Mdp, MdpParts, Reward, Transitions};
use crate::error::{AihfError, Result};
use crate::math::lse;

/// Largest number of prefix-tree states built.
pub const MAX_TREE_STATES: usize = 2_000_000;

/// A prefix-tree MDP.
#[derive(Clone, Debug)]
pub struct PrefixTree {
    /// Vocabulary size `V` (actions per state).
    pub vocab: usize,
    /// Response length `H` (the MDP's horizon).
    pub horizon: usize,
    /// The prefix-tree MDP: `Σ_{t≤H} V^t` states, deterministic transitions, `γ = 1`.
    pub mdp: Mdp,
    /// First state index of each level `0..=H`.
    pub offsets: Vec<usize>,
    /// `log π_ref(y)` per full sequence.
    pub log_ref_seq: Vec<f64>,
    /// `R(y)` per full sequence.
    pub seq_reward: Vec<f64>,
}

/// Builds the prefix tree. `token_ref[node]` is `π_ref(·|prefix)` for the `Σ_{t<H} V^t` internal
/// nodes in level order (`None`: uniform); `seq_reward` has `V^H` entries.
pub fn prefix_tree(
    vocab: usize,
    horizon: usize,
    seq_reward: &[f64],
    token_ref: Option<&[Vec<f64>]>,
    beta: f64,
) -> Result<PrefixTree> {
    if vocab == 0 || horizon == 0 {
        return Err(AihfError::param(
            "vocab/horizon",
            format!("need V ≥ 1 and H ≥ 1, got V = {vocab}, H = {horizon}"),
        ));
    }
    let mut offsets = vec![0usize];
    let mut width = 1usize;
    for _ in 0..horizon {
        let next = offsets.last().copied().unwrap_or(0) + width;
        offsets.push(next);
        width = width
            .checked_mul(vocab)
            .filter(|&w| next + w <= MAX_TREE_STATES)
            .ok_or_else(|| {
                AihfError::param(
                    "vocab/horizon",
                    format!("the tree has more than {MAX_TREE_STATES} states"),
                )
            })?;
    }
    let n_leaves = width;
    let ns = offsets[horizon] + n_leaves;
    let n_internal = offsets[horizon];
    if seq_reward.len() != n_leaves {
        return Err(AihfError::param(
            "seq_reward",
            format!(
                "has {} entries, expected V^H = {n_leaves}",
                seq_reward.len()
            ),
        ));
    }
    let na = vocab;
    let mut entries = Vec::with_capacity(ns * na);
    let mut reward = vec![0.0; ns * na];
    for t in 0..=horizon {
        let level_width = offsets.get(t + 1).copied().unwrap_or(ns) - offsets[t];
        for p in 0..level_width {
            let s = offsets[t] + p;
            for v in 0..na {
                let succ = if t < horizon {
                    offsets[t + 1] + p * vocab + v
                } else {
                    s
                };
                entries.push((s, v, succ, 1.0));
                if t + 1 == horizon {
                    reward[s * na + v] = seq_reward[p * vocab + v];
                }
            }
        }
    }
    let reference = match token_ref {
        None => None,
        Some(tr) => {
            if tr.len() != n_internal || tr.iter().any(|x| x.len() != vocab) {
                return Err(AihfError::param(
                    "token_ref",
                    format!("expected {n_internal} rows of {vocab} probabilities"),
                ));
            }
            let mut p: Vec<f64> = tr.concat();
            p.extend(std::iter::repeat_n(1.0 / vocab as f64, n_leaves * vocab));
            Some(p)
        }
    };
    let mut initial = vec![0.0; ns];
    initial[0] = 1.0;
    let mdp = Mdp::new(MdpParts {
        n_states: ns,
        n_actions: na,
        transitions: Transitions::Sparse(csr_from_entries(ns, na, entries)?),
        reward: Reward::Tabular(reward),
        initial,
        gamma: 1.0,
        horizon: Some(horizon),
        reference,
        beta,
    })?;
    // Sequence reference log-probabilities.
    let lr = mdp.log_ref();
    let log_ref_seq = (0..n_leaves)
        .map(|y| {
            path(vocab, horizon, &offsets, y)
                .map(|(s, v)| lr[s * na + v])
                .sum()
        })
        .collect();
    Ok(PrefixTree {
        vocab,
        horizon,
        mdp,
        offsets,
        log_ref_seq,
        seq_reward: seq_reward.to_vec(),
    })
}

/// The `(state, token)` path of sequence `y` through the tree.
fn path(
    vocab: usize,
    horizon: usize,
    offsets: &[usize],
    y: usize,
) -> impl Iterator<Item = (usize, usize)> + '_ {
    (0..horizon).map(move |t| {
        let prefix = y / vocab.pow((horizon - t) as u32);
        let token = (y / vocab.pow((horizon - t - 1) as u32)) % vocab;
        (offsets[t] + prefix, token)
    })
}

impl PrefixTree {
    /// The sequence-level Gibbs distribution `log π*(y) = log π_ref(y) + R(y)/β − log Z`.
    pub fn gibbs_log_probs(&self) -> Vec<f64> {
        let beta = self.mdp.beta();
        let z: Vec<f64> = self
            .log_ref_seq
            .iter()
            .zip(&self.seq_reward)
            .map(|(l, r)| l + r / beta)
            .collect();
        let lz = lse(&z);
        z.into_iter().map(|x| x - lz).collect()
    }

    /// `Σ_t log π*_t(y_t | y_<t)` from token-level soft backward induction on the tree.
    pub fn token_level_log_probs(&self) -> Result<Vec<f64>> {
        let sol = backward_induction(&self.mdp, self.mdp.reward())?;
        let na = self.vocab;
        Ok((0..self.seq_reward.len())
            .map(|y| {
                path(self.vocab, self.horizon, &self.offsets, y)
                    .enumerate()
                    .map(|(t, (s, v))| sol.log_pi[t][s * na + v])
                    .sum()
            })
            .collect())
    }
}
