//! Algorithm 1 (AIHF) on a discounted tabular MDP, SPEC §2.5.
//!
//! For `k = 0..K−1`:
//! 1. policy alignment `Q_{k+1} = T_{θ_k}^m Q_k` (`m` soft Bellman steps), `π_{k+1} = π_{Q_{k+1}}`;
//! 2. sample a demonstration `τ^E`, an agent trajectory `τ^A ∼ π_{k+1}` from `ρ` (stopping with
//!    probability `1−γ` after each step: its counts are unbiased for `d^{π_{k+1}}`), and a
//!    preference pair (a mini-batch of `B` of each);
//! 3. `g_k = (1/β)(Φ(τ^E) − Φ(τ^A)) + λ(1 − σ(R_{θ_k}(τ_w) − R_{θ_k}(τ_l)))(Φ(τ_w) − Φ(τ_l))`,
//!    `θ_{k+1} = θ_k + η g_k`, `η = α/√K` (or a constant `α`, the negative control).
//!
//! With `exact_metrics`, each iteration also records Theorem 4.1's two quantities:
//! `‖log π_{k+1} − log π_{θ_k}‖∞` (20a; `π_{θ_k}` by warm-started soft policy iteration to
//! `exact_tol`) and `‖∇L(θ_k)‖²` (20b; Lemma 4.1 with the exact occupancy, plus the BTL term
//! over the whole pair set). The hot loop (without the metrics) does not allocate.

use super::bellman::{self, ViOptions};
use super::irl::{self, sparse_dot, RewardModel, Sparse};
use super::occupancy;
use super::traj::{sample_action, Sampler};
use super::Mdp;
use crate::error::{check_nonneg, check_positive, AihfError, Result};
use crate::math::sigmoid;
use crate::valid::{Check, Valid};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The step-size rule.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StepRule {
    /// `η = α/√K` (Theorem 4.1).
    InvSqrtK,
    /// `η = α` whatever `K` (the negative control of the rate check).
    Constant,
}

/// Options of [`run`], which takes them checked ([`Check::checked`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Options {
    /// `K`.
    pub iterations: usize,
    /// `α`.
    pub alpha: f64,
    /// How the step size `η` follows from `α` and `K`.
    pub step: StepRule,
    /// `λ`, weight of the preference term.
    pub lambda: f64,
    /// Mini-batch size `B` (demonstrations, agent trajectories and pairs per iteration).
    pub batch: usize,
    /// Soft Bellman steps per iteration `m`.
    pub policy_steps: usize,
    /// Record the two Theorem 4.1 quantities each iteration (costly: an exact solve per step).
    pub exact_metrics: bool,
    /// Tolerance of the exact solves (certified bound on `‖V − V*‖∞`).
    pub exact_tol: f64,
    /// Cap on a sampled trajectory's length.
    pub max_len: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            iterations: 10_000,
            alpha: 1.0,
            step: StepRule::InvSqrtK,
            lambda: 1.0,
            batch: 1,
            policy_steps: 1,
            exact_metrics: false,
            exact_tol: crate::tol::VI_EXACT,
            max_len: 100_000,
        }
    }
}

impl Check for Options {
    /// Checks every option, once: [`run`] takes them as a [`Valid`].
    fn check(&self) -> Result<()> {
        if self.iterations == 0 {
            return Err(AihfError::param("iterations", "must be at least 1"));
        }
        check_positive("alpha", self.alpha)?;
        check_nonneg("lambda", self.lambda)?;
        check_positive("exact_tol", self.exact_tol)?;
        if self.batch == 0 {
            return Err(AihfError::param("batch", "must be at least 1"));
        }
        if self.policy_steps == 0 {
            return Err(AihfError::param("policy_steps", "must be at least 1"));
        }
        if self.max_len == 0 {
            return Err(AihfError::param("max_len", "must be at least 1"));
        }
        Ok(())
    }
}

impl Options {
    /// The step size `η`.
    pub fn eta(&self) -> f64 {
        match self.step {
            StepRule::InvSqrtK => self.alpha / (self.iterations as f64).sqrt(),
            StepRule::Constant => self.alpha,
        }
    }
}

/// Where demonstrations come from.
#[derive(Clone, Debug)]
pub enum Demos {
    /// A finite data set: each demonstration's discounted feature counts (`θ`-space); the
    /// algorithm draws them uniformly, and the exact objective uses their mean `d̂_E`.
    Dataset(Vec<Sparse>),
    /// Fresh trajectories from the expert policy (probabilities, flat), stopped with
    /// probability `1−γ` per step; the exact objective uses the expert's exact occupancy.
    Expert(Vec<f64>),
}

/// The data of a run.
#[derive(Clone, Debug)]
pub struct Data {
    /// The expert demonstrations (a finite data set or a live expert).
    pub demos: Demos,
    /// `d_E` (exact or empirical) in `(s,a)`-space, for the exact gradient.
    pub d_e: Vec<f64>,
    /// `Φ(τ_w) − Φ(τ_l)` per pair, `θ`-space.
    pub prefs: Vec<Sparse>,
}

impl Data {
    /// From demonstration trajectories (discounted counts) and preferences.
    pub fn from_trajectories(
        mdp: &Mdp,
        model: &RewardModel,
        demos: &[super::traj::Trajectory],
        prefs: &[super::traj::Preference],
    ) -> Result<Data> {
        if demos.is_empty() {
            return Err(AihfError::data("demonstrations", "no demonstrations"));
        }
        let (na, g) = (mdp.n_actions(), mdp.gamma());
        if let Some(t) = mdp.horizon() {
            // Steps t ≥ T are outside the finite-horizon model: d̂_E would not be an occupancy
            // and the gradient could not vanish at the truth.
            let long = |x: &super::traj::Trajectory| x.steps.len() > t;
            if let Some(k) = demos.iter().position(long) {
                return Err(AihfError::data(
                    format!("demonstrations line {}", k + 1),
                    format!(
                        "trajectory of length {} exceeds the horizon {t}",
                        demos[k].steps.len()
                    ),
                ));
            }
            if let Some(k) = prefs.iter().position(|p| long(&p.winner) || long(&p.loser)) {
                return Err(AihfError::data(
                    format!("preferences line {}", k + 1),
                    format!("a trajectory exceeds the horizon {t}"),
                ));
            }
        }
        let mut d_e = vec![0.0; mdp.n_sa()];
        let n = demos.len() as f64;
        let mut feats = Vec::with_capacity(demos.len());
        for t in demos {
            let c = t.discounted_counts(na, g);
            for &(sa, w) in &c {
                d_e[sa] += w / n;
            }
            feats.push(model.pullback_sparse(&c));
        }
        Ok(Data {
            demos: Demos::Dataset(feats),
            d_e,
            prefs: irl::pref_diffs(model, prefs, na, g),
        })
    }

    /// Demonstrations from the expert `log_pi_e` itself (population objective) and a pair set.
    pub fn from_expert(mdp: &Mdp, log_pi_e: &[f64], prefs: Vec<Sparse>) -> Result<Data> {
        Ok(Data {
            demos: Demos::Expert(log_pi_e.iter().map(|l| l.exp()).collect()),
            d_e: occupancy::discounted(mdp, log_pi_e)?,
            prefs,
        })
    }
}

/// What a run returns.
#[derive(Clone, Debug, Serialize)]
pub struct Trace {
    /// `θ_K`.
    pub theta: Vec<f64>,
    /// `Q_K` of the policy-alignment recursion.
    pub q: Vec<f64>,
    /// The step size used.
    pub eta: f64,
    /// Per iteration `‖log π_{k+1} − log π_{θ_k}‖∞` (empty without `exact_metrics`).
    pub e_pol: Vec<f64>,
    /// Per iteration `‖∇L(θ_k)‖²` (empty without `exact_metrics`).
    pub grad_sq: Vec<f64>,
    /// Wall time of the run (seconds).
    pub seconds: f64,
}

impl Trace {
    /// `(1/K) Σ_k e_pol` — (20a) for one run.
    pub fn mean_e_pol(&self) -> f64 {
        mean(&self.e_pol)
    }
    /// `(1/K) Σ_k ‖∇L‖²` — (20b) for one run.
    pub fn mean_grad_sq(&self) -> f64 {
        mean(&self.grad_sq)
    }
}

/// Step 3's preference term for one pair drawn from the data: `scale (1 − σ(R_θ(τ_w) −
/// R_θ(τ_l))) (Φ(τ_w) − Φ(τ_l))`, with `d = Φ(τ_w) − Φ(τ_l)` stored sparse.
fn add_pref_grad(prefs: &[Sparse], theta: &[f64], scale: f64, rng: &mut impl Rng, g: &mut [f64]) {
    let d = &prefs[rng.random_range(0..prefs.len())];
    let w = scale * (1.0 - sigmoid(sparse_dot(d, theta)));
    for &(i, x) in d {
        g[i] += w * x;
    }
}

/// Step 3's update `θ ← θ + η g`.
fn ascend(theta: &mut [f64], g: &[f64], eta: f64) {
    for (t, &gi) in theta.iter_mut().zip(g) {
        *t += eta * gi;
    }
}

/// A non-finite θ after the run is a divergence, reported as an error.
fn check_finite(theta: &[f64]) -> Result<()> {
    if theta.iter().any(|x| !x.is_finite()) {
        return Err(AihfError::Numerical(
            "Algorithm 1 diverged (non-finite θ); lower alpha".into(),
        ));
    }
    Ok(())
}

fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        f64::NAN
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

/// Rolls out from `ρ` under `pi` (probabilities), stopping with probability `1−γ` after each
/// step (capped at `max_len`), calling `visit(sa)` per step. No allocation.
#[inline]
fn rollout(
    mdp: &Mdp,
    sampler: &Sampler,
    pi: &[f64],
    max_len: usize,
    rng: &mut impl Rng,
    mut visit: impl FnMut(usize),
) {
    let (na, g) = (mdp.n_actions(), mdp.gamma());
    let mut s = sampler.initial_state(rng);
    for _ in 0..max_len {
        let a = sample_action(&pi[s * na..(s + 1) * na], rng);
        let sa = s * na + a;
        visit(sa);
        if rng.random::<f64>() >= g {
            break;
        }
        s = sampler.next_state(sa, rng);
    }
}

/// `max |a − b|` over entries where the reference policy is positive.
pub fn log_policy_gap(mdp: &Mdp, a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .zip(mdp.log_ref())
        .filter(|(_, l)| l.is_finite())
        .map(|((x, y), _)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Runs Algorithm 1 from `θ_0 = theta0` (default 0) and `Q_0 = 0`.
pub fn run(
    mdp: &Mdp,
    model: &RewardModel,
    data: &Data,
    opts: &Valid<Options>,
    theta0: Option<&[f64]>,
    rng: &mut impl Rng,
) -> Result<Trace> {
    if let Some(t) = mdp.horizon() {
        return run_finite(mdp, t, model, data, opts, theta0, rng);
    }
    let dim = model.dim();
    if let Demos::Dataset(d) = &data.demos {
        if d.is_empty() {
            return Err(AihfError::data("demonstrations", "no demonstrations"));
        }
    }
    let (ns, nsa, beta) = (mdp.n_states(), mdp.n_sa(), mdp.beta());
    let mut theta = match theta0 {
        Some(t) if t.len() == dim => t.to_vec(),
        Some(t) => {
            return Err(AihfError::param(
                "theta0",
                format!("has {} entries, the reward model has {dim}", t.len()),
            ))
        }
        None => vec![0.0; dim],
    };
    let t0 = std::time::Instant::now();
    let sampler = Sampler::new(mdp);
    let eta = opts.eta();
    let inv_b = 1.0 / opts.batch as f64;
    let use_prefs = opts.lambda > 0.0 && !data.prefs.is_empty();
    let mut r = model.reward(&theta);
    let mut q = vec![0.0; nsa];
    let mut v = vec![0.0; ns];
    bellman::soft_values(mdp, &q, &mut v);
    let mut pi = vec![0.0; nsa];
    let mut g = vec![0.0; dim];
    let mut e_pol = Vec::with_capacity(if opts.exact_metrics {
        opts.iterations
    } else {
        0
    });
    let mut grad_sq = Vec::with_capacity(e_pol.capacity());
    let mut exact_v: Option<Vec<f64>> = None;
    let mut log_pi_k = vec![0.0; nsa];
    let lr = mdp.log_ref();
    let na = mdp.n_actions();
    for _k in 0..opts.iterations {
        // 1. Policy alignment: Q_{k+1} = T_{θ_k}^m Q_k (v holds V_{Q_k}).
        for step in 0..opts.policy_steps {
            if step > 0 {
                bellman::soft_values(mdp, &q, &mut v);
            }
            bellman::q_from_v(mdp, &r, &v, &mut q);
        }
        bellman::soft_values(mdp, &q, &mut v);
        for (sa, p) in pi.iter_mut().enumerate() {
            *p = (lr[sa] + (q[sa] - v[sa / na]) / beta).exp();
        }
        if opts.exact_metrics {
            let sol = bellman::policy_iteration(
                mdp,
                &r,
                exact_v.as_deref(),
                &ViOptions {
                    tol: opts.exact_tol,
                    max_iter: 1_000_000,
                    ..ViOptions::default()
                },
            )?;
            bellman::log_policy_into(mdp, &q, &v, &mut log_pi_k);
            e_pol.push(log_policy_gap(mdp, &log_pi_k, &sol.log_pi));
            let d_pi = occupancy::discounted(mdp, &sol.log_pi)?;
            let diff: Vec<f64> = data
                .d_e
                .iter()
                .zip(&d_pi)
                .map(|(a, b)| (a - b) / beta)
                .collect();
            let mut grad = model.pullback(&diff);
            if opts.lambda > 0.0 {
                let (_, gb) = irl::btl(&data.prefs, &theta);
                for (x, y) in grad.iter_mut().zip(gb) {
                    *x += opts.lambda * y;
                }
            }
            grad_sq.push(grad.iter().map(|x| x * x).sum());
            exact_v = Some(sol.v);
        }
        // 2–3. Stochastic gradient g_k.
        g.iter_mut().for_each(|x| *x = 0.0);
        let w_demo = inv_b / beta;
        for _ in 0..opts.batch {
            match &data.demos {
                Demos::Dataset(list) => {
                    let d = &list[rng.random_range(0..list.len())];
                    for &(i, w) in d {
                        g[i] += w_demo * w;
                    }
                }
                Demos::Expert(pe) => {
                    rollout(mdp, &sampler, pe, opts.max_len, rng, |sa| {
                        model.add_grad(sa, w_demo, &mut g)
                    });
                }
            }
            rollout(mdp, &sampler, &pi, opts.max_len, rng, |sa| {
                model.add_grad(sa, -w_demo, &mut g)
            });
            if use_prefs {
                add_pref_grad(&data.prefs, &theta, opts.lambda * inv_b, rng, &mut g);
            }
        }
        ascend(&mut theta, &g, eta);
        model.reward_into(&theta, &mut r);
    }
    check_finite(&theta)?;
    Ok(Trace {
        theta,
        q,
        eta,
        e_pol,
        grad_sq,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Algorithm 1 on a finite-horizon MDP (SPEC §2.5, "finite horizon: length `T` with `γ^t`
/// weights"). The policy-alignment step applies the time-indexed soft Bellman operator once to
/// every layer, `Q_t ← r + γ P V_{Q_{t+1}}` (`V_T ≡ 0`; after `T` steps at a fixed `θ` this is
/// backward induction), agent trajectories have length `T` under `π_{k+1,t}`, and all feature
/// counts carry the weights `γ^t`. Demonstrations must be a data set. The exact metrics use
/// backward induction and the forward occupancy recursion; `e_pol` is the maximum over `t`.
fn run_finite(
    mdp: &Mdp,
    horizon: usize,
    model: &RewardModel,
    data: &Data,
    opts: &Valid<Options>,
    theta0: Option<&[f64]>,
    rng: &mut impl Rng,
) -> Result<Trace> {
    let dim = model.dim();
    let demos = match &data.demos {
        Demos::Dataset(d) if !d.is_empty() => d,
        Demos::Dataset(_) => return Err(AihfError::data("demonstrations", "no demonstrations")),
        Demos::Expert(_) => {
            return Err(AihfError::Mdp(
                "finite-horizon Algorithm 1 needs demonstrations as a data set".into(),
            ))
        }
    };
    let (ns, nsa, na, beta, g) = (
        mdp.n_states(),
        mdp.n_sa(),
        mdp.n_actions(),
        mdp.beta(),
        mdp.gamma(),
    );
    let mut theta = match theta0 {
        Some(t) if t.len() == dim => t.to_vec(),
        Some(t) => {
            return Err(AihfError::param(
                "theta0",
                format!("has {} entries, the reward model has {dim}", t.len()),
            ))
        }
        None => vec![0.0; dim],
    };
    let t0 = std::time::Instant::now();
    let sampler = Sampler::new(mdp);
    let eta = opts.eta();
    let inv_b = 1.0 / opts.batch as f64;
    let use_prefs = opts.lambda > 0.0 && !data.prefs.is_empty();
    let lr = mdp.log_ref();
    let mut r = model.reward(&theta);
    // Layers t = 0..T of Q and π; V has T + 1 layers with V_T ≡ 0.
    let mut q = vec![0.0; horizon * nsa];
    let mut v = vec![0.0; (horizon + 1) * ns];
    let mut pi = vec![0.0; horizon * nsa];
    let mut gvec = vec![0.0; dim];
    let mut e_pol = vec![];
    let mut grad_sq = vec![];
    let mut log_pi_k = vec![0.0; nsa];
    for _k in 0..opts.iterations {
        for _ in 0..opts.policy_steps {
            for t in 0..horizon {
                bellman::soft_values(
                    mdp,
                    &q[t * nsa..(t + 1) * nsa],
                    &mut v[t * ns..(t + 1) * ns],
                );
            }
            for t in 0..horizon {
                let (vl, ql) = (
                    &v[(t + 1) * ns..(t + 2) * ns],
                    &mut q[t * nsa..(t + 1) * nsa],
                );
                bellman::q_from_v(mdp, &r, vl, ql);
            }
        }
        for t in 0..horizon {
            let (ql, vl) = (&q[t * nsa..(t + 1) * nsa], &mut v[t * ns..(t + 1) * ns]);
            bellman::soft_values(mdp, ql, vl);
            for sa in 0..nsa {
                pi[t * nsa + sa] = (lr[sa] + (ql[sa] - vl[sa / na]) / beta).exp();
            }
        }
        if opts.exact_metrics {
            let sol = bellman::backward_induction(mdp, &r)?;
            let mut gap = 0.0f64;
            for t in 0..horizon {
                bellman::log_policy_into(
                    mdp,
                    &q[t * nsa..(t + 1) * nsa],
                    &v[t * ns..(t + 1) * ns],
                    &mut log_pi_k,
                );
                gap = gap.max(log_policy_gap(mdp, &log_pi_k, &sol.log_pi[t]));
            }
            e_pol.push(gap);
            let pis: Vec<&[f64]> = sol.log_pi.iter().map(Vec::as_slice).collect();
            let d_pi = occupancy::Occupancy::Finite(occupancy::finite(mdp, &pis)).total(g);
            let diff: Vec<f64> = data
                .d_e
                .iter()
                .zip(&d_pi)
                .map(|(a, b)| (a - b) / beta)
                .collect();
            let mut grad = model.pullback(&diff);
            if opts.lambda > 0.0 {
                let (_, gb) = irl::btl(&data.prefs, &theta);
                for (x, y) in grad.iter_mut().zip(gb) {
                    *x += opts.lambda * y;
                }
            }
            grad_sq.push(grad.iter().map(|x| x * x).sum());
        }
        gvec.iter_mut().for_each(|x| *x = 0.0);
        let w_demo = inv_b / beta;
        for _ in 0..opts.batch {
            for &(i, w) in &demos[rng.random_range(0..demos.len())] {
                gvec[i] += w_demo * w;
            }
            let mut s = sampler.initial_state(rng);
            let mut w = 1.0;
            for t in 0..horizon {
                let a = sample_action(&pi[t * nsa + s * na..t * nsa + (s + 1) * na], rng);
                let sa = s * na + a;
                model.add_grad(sa, -w_demo * w, &mut gvec);
                w *= g;
                if t + 1 < horizon {
                    s = sampler.next_state(sa, rng);
                }
            }
            if use_prefs {
                add_pref_grad(&data.prefs, &theta, opts.lambda * inv_b, rng, &mut gvec);
            }
        }
        ascend(&mut theta, &gvec, eta);
        model.reward_into(&theta, &mut r);
    }
    check_finite(&theta)?;
    Ok(Trace {
        theta,
        q: q[..nsa].to_vec(),
        eta,
        e_pol,
        grad_sq,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Distances between two stationary policies: `max_s TV(π(·|s), π'(·|s))` and the TV averaged
/// over states with weights `w` (normalised).
pub fn policy_distance(mdp: &Mdp, log_a: &[f64], log_b: &[f64], w: &[f64]) -> (f64, f64) {
    let na = mdp.n_actions();
    let wsum: f64 = w.iter().sum();
    let (mut mx, mut avg) = (0.0f64, 0.0);
    for (s, &ws) in w.iter().enumerate().take(mdp.n_states()) {
        let tv: f64 = 0.5
            * (s * na..(s + 1) * na)
                .map(|sa| (log_a[sa].exp() - log_b[sa].exp()).abs())
                .sum::<f64>();
        mx = mx.max(tv);
        avg += ws / wsum * tv;
    }
    (mx, avg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mdp::gen::{random_mdp, RandomMdp};
    use crate::mdp::traj::{self, Length};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// With `m = T` policy steps per iteration, finite-horizon policy alignment is exact
    /// backward induction for `θ_k`, so (20a)'s per-iteration gap is zero to round-off.
    #[test]
    fn finite_horizon_alignment_with_t_steps_is_exact() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let c = RandomMdp {
            horizon: Some(5),
            gamma: 0.95,
            ..RandomMdp::small(6, 3)
        };
        let m = random_mdp(&c, &mut rng).unwrap();
        let model = RewardModel::tabular(&m);
        let sol = bellman::backward_induction(&m, m.reward()).unwrap();
        let pis: Vec<Vec<f64>> = sol
            .log_pi
            .iter()
            .map(|l| l.iter().map(|x| x.exp()).collect())
            .collect();
        let refs: Vec<&[f64]> = pis.iter().map(Vec::as_slice).collect();
        let s = Sampler::new(&m);
        let demos: Vec<_> = (0..50)
            .map(|_| traj::sample(&m, &s, &refs, Length::Fixed(5), &mut rng))
            .collect();
        let prefs =
            traj::sample_preferences(&m, &s, &refs, Length::Fixed(5), m.reward(), 50, &mut rng);
        let data = Data::from_trajectories(&m, &model, &demos, &prefs).unwrap();
        let opts = Options {
            iterations: 200,
            policy_steps: 5,
            exact_metrics: true,
            ..Options::default()
        }
        .checked()
        .unwrap();
        let tr = run(&m, &model, &data, &opts, None, &mut rng).unwrap();
        let worst = tr.e_pol.iter().fold(0.0f64, |a, &b| a.max(b));
        assert!(
            worst <= 1e-12,
            "max_k ‖log π_(k+1) − log π_θk‖∞ = {worst:e} > 1e-12"
        );
    }

    /// On the population objective (expert demonstrations), Algorithm 1 moves the policy of
    /// `θ_K` towards the expert: its occupancy-weighted TV to `π_E` falls below a fifth of that
    /// of `θ_0 = 0` (the reference policy).
    #[test]
    fn discounted_run_approaches_the_expert() {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let c = RandomMdp {
            feature_dim: Some(3),
            reward_scale: 1.0,
            ..RandomMdp::small(5, 2)
        };
        let m = random_mdp(&c, &mut rng).unwrap();
        let model = RewardModel::linear(&m).unwrap();
        let expert = bellman::value_iteration(&m, m.reward(), None, &ViOptions::default()).unwrap();
        let data = Data::from_expert(&m, &expert.log_pi, vec![]).unwrap();
        let opts = Options {
            iterations: 5_000,
            alpha: 1.0,
            batch: 32,
            lambda: 0.0,
            ..Options::default()
        }
        .checked()
        .unwrap();
        let tr = run(&m, &model, &data, &opts, None, &mut rng).unwrap();
        let w = occupancy::discounted_states(&m, &expert.log_pi).unwrap();
        let learned =
            bellman::value_iteration(&m, &model.reward(&tr.theta), None, &ViOptions::default())
                .unwrap();
        let (_, d_k) = policy_distance(&m, &learned.log_pi, &expert.log_pi, &w);
        let (_, d_0) = policy_distance(&m, m.log_ref(), &expert.log_pi, &w);
        assert!(
            d_k < 0.2 * d_0,
            "TV to the expert: θ_0 {d_0:.4}, θ_K {d_k:.4}"
        );
    }
}
