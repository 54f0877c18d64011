//! Random MDPs for tests, claims, benches and the rate experiment.

use super::{csr_from_entries, Features, Mdp, MdpParts, Reward, Transitions};
use crate::error::Result;
use rand::seq::index::sample;
use rand::Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};

/// What [`random_mdp`] draws.
#[derive(Clone, Debug)]
pub struct RandomMdp {
    /// Number of states `S`.
    pub n_states: usize,
    /// Number of actions `A`.
    pub n_actions: usize,
    /// Successors per `(s, a)` (drawn without replacement, Dirichlet(1) weights).
    pub branching: usize,
    /// Store `P` sparse (CSR) rather than dense.
    pub sparse: bool,
    /// The discount `γ`.
    pub gamma: f64,
    /// A finite horizon `T`, or `None` for a discounted MDP.
    pub horizon: Option<usize>,
    /// The KL temperature `β > 0`.
    pub beta: f64,
    /// Standard deviation of tabular rewards.
    pub reward_scale: f64,
    /// `Some(k)`: a linear reward with `k` standard-normal features and `θ ∼ N(0, 1/k)`.
    pub feature_dim: Option<usize>,
    /// Draw `π0` from Dirichlet(1) per state instead of uniform.
    pub random_reference: bool,
}

impl RandomMdp {
    /// A small dense discounted MDP (`γ = 0.9`, `β = 1`, full support, N(0,1) rewards).
    pub fn small(n_states: usize, n_actions: usize) -> Self {
        RandomMdp {
            n_states,
            n_actions,
            branching: n_states,
            sparse: false,
            gamma: 0.9,
            horizon: None,
            beta: 1.0,
            reward_scale: 1.0,
            feature_dim: None,
            random_reference: false,
        }
    }
}

fn dirichlet(n: usize, rng: &mut impl Rng) -> Vec<f64> {
    let w: Vec<f64> = (0..n).map(|_| Exp1.sample(rng)).collect::<Vec<f64>>();
    let s: f64 = w.iter().sum();
    w.into_iter().map(|x| x / s).collect()
}

/// Draws an MDP.
pub fn random_mdp(c: &RandomMdp, rng: &mut impl Rng) -> Result<Mdp> {
    let (ns, na) = (c.n_states, c.n_actions);
    let nsa = ns * na;
    let b = c.branching.clamp(1, ns.max(1));
    let transitions = if c.sparse {
        let mut entries = Vec::with_capacity(nsa * b);
        for sa in 0..nsa {
            let succ = sample(rng, ns, b);
            let w = dirichlet(b, rng);
            for (j, p) in succ.iter().zip(w) {
                entries.push((sa / na, sa % na, j, p));
            }
        }
        Transitions::Sparse(csr_from_entries(ns, na, entries)?)
    } else {
        let mut p = vec![0.0; nsa * ns];
        for sa in 0..nsa {
            let succ = sample(rng, ns, b);
            let w = dirichlet(b, rng);
            for (j, q) in succ.iter().zip(w) {
                p[sa * ns + j] = q;
            }
        }
        Transitions::Dense(p)
    };
    let reward = match c.feature_dim {
        None => Reward::Tabular(
            (0..nsa)
                .map(|_| c.reward_scale * rng.sample::<f64, _>(StandardNormal))
                .collect(),
        ),
        Some(k) => Reward::Linear {
            features: Features {
                dim: k,
                phi: (0..nsa * k).map(|_| rng.sample(StandardNormal)).collect(),
            },
            theta: (0..k)
                .map(|_| rng.sample::<f64, _>(StandardNormal) / (k as f64).sqrt())
                .collect(),
        },
    };
    let initial = dirichlet(ns, rng);
    let reference = if c.random_reference {
        Some((0..ns).flat_map(|_| dirichlet(na, rng)).collect())
    } else {
        None
    };
    Mdp::new(MdpParts {
        n_states: ns,
        n_actions: na,
        transitions,
        reward,
        initial,
        gamma: c.gamma,
        horizon: c.horizon,
        reference,
        beta: c.beta,
    })
}
