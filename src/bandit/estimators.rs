//! The estimators of SPEC §1, each a function `(data, options) -> Result<Fit>`.

use super::existence::{check_aihf, check_btl, check_connected, check_reference, fmt_set};
use super::problem::{HessOp, Objective, WPair};
use super::{Fit, Method, Normalization, Options, Weighting};
use crate::data::BanditData;
use crate::error::{AihfError, Result};
use crate::math::{log_sigmoid, lse, tv};
use crate::tol;

/// Solves `method` on `data`; a method this layer does not solve ([`super::METHODS`]) is an
/// [`AihfError::Param`].
///
/// ```
/// use aihf::bandit::{fit, Method, Options};
/// use aihf::data::BanditData;
/// // Three actions: demonstrations of actions 0 and 1, action 2 only wins comparisons.
/// let data = BanditData::from_json_str(
///     r#"{"n_actions": 3, "demonstrations": [6, 3, 0],
///         "preferences": [[0, 2, 1], [3, 0, 2], [4, 3, 0]]}"#,
/// )?;
/// let sft = fit(Method::Sft, &data, &Options::default())?;
/// assert!((sft.policy[0] - 6.0 / 9.0).abs() < 1e-12); // N_i / N (SPEC §1.1)
/// assert_eq!(sft.policy[2], 0.0); // no demonstrations, no mass
/// // AIHF gives the undemonstrated action mass because it wins comparisons (SPEC §1.4).
/// let aihf = fit(Method::Aihf, &data, &Options::default())?;
/// assert!(aihf.policy[2] > 0.05);
/// assert!((aihf.policy.iter().sum::<f64>() - 1.0).abs() < 1e-12);
/// # Ok::<(), aihf::AihfError>(())
/// ```
pub fn fit(method: Method, data: &BanditData, opts: &Options) -> Result<Fit> {
    match method {
        Method::Sft => sft(data, opts),
        Method::Btl => btl(data, opts),
        Method::Rlhf => rlhf(data, opts),
        Method::Aihf => aihf(data, opts),
        Method::Dpo => dpo(data, opts),
        Method::Ipo => ipo(data, opts),
        Method::DirectAihf => direct_aihf(data, opts),
        Method::Spin => spin(data, opts),
        Method::SelfPlayAihf => self_play_aihf(data, opts),
        Method::Irl => Err(Method::Irl.unsupported(super::METHODS)),
    }
}

/// Normalises a reward vector (`-∞` entries become `None`).
pub fn normalize(r: &[f64], norm: Normalization) -> Result<Vec<Option<f64>>> {
    let shift = match norm {
        Normalization::MeanZero => crate::math::mean_finite(r),
        Normalization::Reference(k) => {
            if !r[k].is_finite() {
                return Err(AihfError::param(
                    "normalization",
                    format!("reference action {k} has reward −∞ under this estimator"),
                ));
            }
            r[k]
        }
    };
    Ok(r.iter()
        .map(|&x| x.is_finite().then_some(x - shift))
        .collect())
}

fn finish(
    method: Method,
    log_policy: Vec<f64>,
    reward: &[f64],
    objective: f64,
    grad_norm: f64,
    iterations: usize,
    opts: &Options,
) -> Result<Fit> {
    if !objective.is_finite() {
        return Err(non_finite(method));
    }
    let (policy, reward) = finish_point(method, &log_policy, reward, opts)?;
    Ok(Fit {
        method,
        policy,
        reward,
        log_policy,
        objective,
        grad_norm,
        iterations,
    })
}

/// `π̂ = exp(log π̂)`, checked finite, and the normalised reward.
fn finish_point(
    method: Method,
    log_policy: &[f64],
    reward: &[f64],
    opts: &Options,
) -> Result<(Vec<f64>, Vec<Option<f64>>)> {
    let policy: Vec<f64> = log_policy.iter().map(|l| l.exp()).collect();
    if policy.iter().any(|p| !p.is_finite()) {
        return Err(non_finite(method));
    }
    Ok((policy, normalize(reward, opts.normalization)?))
}

fn non_finite(method: Method) -> AihfError {
    AihfError::Numerical(format!("{}: non-finite policy or objective", method.name()))
}

/// The policy and the normalised reward of `method` on `data` — [`fit`]'s `policy` and
/// `reward` — without the objective's value, for callers that never read it (the simulation
/// studies): BTL and AIHF skip the final pass over the pairs that computes the maximised
/// likelihood; every other method is [`fit`]. `aihf_start` is [`aihf_from`]'s start.
pub fn fit_point(
    method: Method,
    data: &BanditData,
    opts: &Options,
    aihf_start: Option<&[f64]>,
) -> Result<(Vec<f64>, Vec<Option<f64>>)> {
    match method {
        Method::Btl => {
            prepare(data, opts)?;
            let obj = btl_objective(data, opts)?;
            let sol = obj.solve_point(obj.logit_start(), tol::GRAD_REL, "BTL")?;
            let lp = policy_of(&opts.log_pi0(data.n_actions()), &sol.u, opts.beta);
            finish_point(method, &lp, &sol.u, opts)
        }
        Method::Aihf => {
            let (obj, u0) = aihf_setup(data, opts, aihf_start)?;
            let sol = obj.solve_point(u0, tol::GRAD_REL, "AIHF")?;
            finish_point(method, &obj.log_policy(&sol.u), &sol.u, opts)
        }
        m => fit(m, data, opts).map(|f| (f.policy, f.reward)),
    }
}

fn prepare(data: &BanditData, opts: &Options) -> Result<()> {
    opts.validate(data.n_actions())
}

/// `log π_SFT = log(N_i/N)`; error when `N = 0`.
pub fn log_sft(data: &BanditData, estimator: &str) -> Result<Vec<f64>> {
    let n = data.n_demos();
    if n == 0 {
        return Err(AihfError::NoEstimator {
            estimator: estimator.into(),
            reason: "there are no demonstrations (N = 0)".into(),
            witness: (0..data.n_actions()).collect(),
        });
    }
    let ln = (n as f64).ln();
    Ok(data
        .demos()
        .iter()
        .map(|&c| {
            if c == 0 {
                f64::NEG_INFINITY
            } else {
                (c as f64).ln() - ln
            }
        })
        .collect())
}

/// SFT (SPEC §1.1, (22)–(27)): `π_SFT = N_i/N`, `r^D_i = β log(π_SFT(i)/π0(i))` + const.
pub fn sft(data: &BanditData, opts: &Options) -> Result<Fit> {
    prepare(data, opts)?;
    let n = data.n_actions();
    let lp = log_sft(data, "SFT")?;
    let l0 = opts.log_pi0(n);
    let reward: Vec<f64> = lp
        .iter()
        .zip(&l0)
        .map(|(l, z)| opts.beta * (l - z))
        .collect();
    let objective: f64 = data
        .demos()
        .iter()
        .zip(&lp)
        .filter(|(c, _)| **c > 0)
        .map(|(&c, l)| c as f64 * l)
        .sum();
    // Stationarity residual of (22): N_i − N π_i, divided by β.
    let nn = data.n_demos() as f64;
    let grad_norm = data
        .demos()
        .iter()
        .zip(&lp)
        .map(|(&c, l)| ((c as f64 - nn * l.exp()) / opts.beta).powi(2))
        .sum::<f64>()
        .sqrt();
    finish(Method::Sft, lp, &reward, objective, grad_norm, 0, opts)
}

fn pref_pairs(data: &BanditData, scale: f64, per_pair_mean: bool) -> Vec<WPair> {
    let mut out = Vec::with_capacity(data.n_pairs());
    data.for_each_pair(|p| {
        let f = if per_pair_mean {
            scale / (p.m_ij + p.m_ji) as f64
        } else {
            scale
        };
        out.push(WPair {
            i: p.i as u32,
            j: p.j as u32,
            c_ij: p.m_ij as f64 * f,
            c_ji: p.m_ji as f64 * f,
        });
    });
    out
}

/// The BTL likelihood of `data` in the solver's form, once a maximiser exists (or `ρ > 0`).
fn btl_objective(data: &BanditData, opts: &Options) -> Result<Objective> {
    if opts.ridge == 0.0 {
        check_btl(data, "BTL")?;
    }
    Ok(Objective {
        n: data.n_actions(),
        a: vec![],
        log_pi0: vec![],
        t: 1.0,
        pairs: pref_pairs(data, 1.0, false),
        s: 1.0,
        ridge: opts.ridge,
    })
}

/// The BTL reward `r^P` (SPEC §1.2): the solution of the BTL likelihood, mean zero.
pub fn btl_reward(data: &BanditData, opts: &Options) -> Result<super::problem::Solution> {
    let obj = btl_objective(data, opts)?;
    obj.solve(obj.logit_start(), tol::GRAD_REL, "BTL")
}

fn policy_of(log_pi0: &[f64], r: &[f64], beta: f64) -> Vec<f64> {
    let z: Vec<f64> = log_pi0.iter().zip(r).map(|(l, x)| l + x / beta).collect();
    let m = lse(&z);
    z.into_iter().map(|x| x - m).collect()
}

/// BTL reward model (SPEC §1.2); its policy is `π_{r^P} ∝ π0 exp(r^P/β)`.
pub fn btl(data: &BanditData, opts: &Options) -> Result<Fit> {
    prepare(data, opts)?;
    let sol = btl_reward(data, opts)?;
    let lp = policy_of(&opts.log_pi0(data.n_actions()), &sol.u, opts.beta);
    finish(
        Method::Btl,
        lp,
        &sol.u,
        sol.value,
        sol.grad_norm,
        sol.iterations,
        opts,
    )
}

/// RLHF (SPEC §1.3, (33)): `π_RLHF ∝ π_SFT exp(r^P/β)`; the objective is
/// `E_π[r^P] − β KL(π ‖ π_SFT)`.
pub fn rlhf(data: &BanditData, opts: &Options) -> Result<Fit> {
    prepare(data, opts)?;
    let n = data.n_actions();
    let ls = log_sft(data, "RLHF")?;
    let sol = btl_reward(data, opts).map_err(|e| rename(e, "RLHF"))?;
    let lp = policy_of(&ls, &sol.u, opts.beta);
    let l0 = opts.log_pi0(n);
    let reward: Vec<f64> = lp
        .iter()
        .zip(&l0)
        .map(|(l, z)| opts.beta * (l - z))
        .collect();
    let mut objective = 0.0;
    for i in 0..n {
        if lp[i].is_finite() {
            let p = lp[i].exp();
            objective += p * sol.u[i] - opts.beta * p * (lp[i] - ls[i]);
        }
    }
    finish(
        Method::Rlhf,
        lp,
        &reward,
        objective,
        sol.grad_norm,
        sol.iterations,
        opts,
    )
}

fn rename(e: AihfError, estimator: &str) -> AihfError {
    match e {
        AihfError::NoEstimator {
            reason, witness, ..
        } => AihfError::NoEstimator {
            estimator: estimator.into(),
            reason,
            witness,
        },
        e => e,
    }
}

/// The AIHF objective of SPEC §1.4 for `data` and `opts`, in the solver's form.
pub fn aihf_objective(data: &BanditData, opts: &Options) -> Objective {
    let n = data.n_actions();
    let nn = data.n_demos() as f64;
    // SPEC §1.4: the preference term is σ(r_i − r_j) at every β (β' = 1 unless overridden).
    let beta_p = opts.beta_pref.unwrap_or(1.0);
    let (a, pairs) = match opts.weighting {
        Weighting::Counts => (
            data.demos().iter().map(|&c| c as f64).collect(),
            pref_pairs(data, opts.lambda, false),
        ),
        Weighting::Normalized => (
            data.demos()
                .iter()
                .map(|&c| {
                    if nn > 0.0 {
                        opts.demo_weight * c as f64 / nn
                    } else {
                        0.0
                    }
                })
                .collect(),
            pref_pairs(data, opts.lambda, true),
        ),
    };
    let pairs = if opts.lambda == 0.0 { vec![] } else { pairs };
    Objective {
        n,
        a,
        log_pi0: opts.log_pi0(n),
        t: opts.beta,
        pairs,
        s: 1.0 / beta_p,
        ridge: opts.ridge,
    }
}

/// A starting point for AIHF: the SFT reward on covered actions, smoothed (Newton then needs
/// only a few steps).
fn aihf_start(data: &BanditData, opts: &Options) -> Vec<f64> {
    let n = data.n_actions();
    let nn = data.n_demos() as f64;
    let l0 = opts.log_pi0(n);
    data.demos()
        .iter()
        .zip(&l0)
        .map(|(&c, z)| opts.beta * (((c as f64 + 0.5) / (nn + 0.5 * n as f64)).ln() - z))
        .collect()
}

/// AIHF (SPEC §1.4, (5), (35)–(36)): `argmax_r Σ N_i log π_r(i) + λ Σ M_ij log σ(r_i − r_j)`
/// with `π_r ∝ π0 exp(r/β)`, in the `counts` weighting, or the per-source means in the
/// `normalized` weighting. The preference term carries no `β` (SPEC §1.4's one convention), so
/// `N = 0 ⇒ r^A = r^P` and AIHF is consistent for data drawn at any `β`.
pub fn aihf(data: &BanditData, opts: &Options) -> Result<Fit> {
    aihf_from(data, opts, None)
}

/// [`aihf`] started from `start` (a reward vector, e.g. BTL's on the same data; `None`: the
/// smoothed SFT reward). The maximiser does not depend on the start; the iterations do.
pub fn aihf_from(data: &BanditData, opts: &Options, start: Option<&[f64]>) -> Result<Fit> {
    let (obj, u0) = aihf_setup(data, opts, start)?;
    let sol = obj.solve(u0, tol::GRAD_REL, "AIHF")?;
    let lp = obj.log_policy(&sol.u);
    finish(
        Method::Aihf,
        lp,
        &sol.u,
        sol.value,
        sol.grad_norm,
        sol.iterations,
        opts,
    )
}

/// AIHF's objective once a maximiser exists (or `ρ > 0`), and its starting point: `start` when
/// it is a finite vector of the right length, else [`aihf_start`].
fn aihf_setup(
    data: &BanditData,
    opts: &Options,
    start: Option<&[f64]>,
) -> Result<(Objective, Vec<f64>)> {
    prepare(data, opts)?;
    if opts.ridge == 0.0 {
        check_aihf(data, opts.lambda, "AIHF")?;
    }
    let u0 = match start {
        Some(s) if s.len() == data.n_actions() && s.iter().all(|x| x.is_finite()) => s.to_vec(),
        _ => aihf_start(data, opts),
    };
    Ok((aihf_objective(data, opts), u0))
}

/// `log π_ref` of the DPO family: `dpo_reference`, else `π_SFT` (smoothed by `ref_smoothing`).
pub fn dpo_log_ref(data: &BanditData, opts: &Options, estimator: &str) -> Result<Vec<f64>> {
    let n = data.n_actions();
    let l = match (&opts.dpo_reference, opts.ref_smoothing) {
        (Some(r), _) => r.iter().map(|p| p.ln()).collect(),
        (None, Some(eps)) => {
            let nn = data.n_demos() as f64 + n as f64 * eps;
            data.demos()
                .iter()
                .map(|&c| ((c as f64 + eps) / nn).ln())
                .collect()
        }
        (None, None) => log_sft(data, estimator).map_err(|_| AihfError::NoEstimator {
            estimator: estimator.into(),
            reason: "π_ref = π_SFT needs demonstrations (N = 0); pass --ref-smoothing ε".into(),
            witness: (0..n).collect(),
        })?,
    };
    check_reference(&l, estimator)?;
    Ok(l)
}

/// The DPO-family objective: `u = θ − log π_ref`, pairs weighted by `c`, scale `β`,
/// demonstrations `a` on `π_θ = softmax(log π_ref + u)`.
fn direct_objective(
    log_ref: Vec<f64>,
    a: Vec<f64>,
    pairs: Vec<WPair>,
    opts: &Options,
) -> Objective {
    Objective {
        n: log_ref.len(),
        a,
        log_pi0: log_ref,
        t: 1.0,
        pairs,
        s: opts.beta,
        ridge: opts.ridge,
    }
}

fn direct_fit(
    method: Method,
    obj: &Objective,
    sol: super::problem::Solution,
    opts: &Options,
) -> Result<Fit> {
    let lp = obj.log_policy(&sol.u);
    // Implied reward β log(π_θ/π_ref) (+ const) = β u.
    let reward: Vec<f64> = sol.u.iter().map(|x| opts.beta * x).collect();
    finish(
        method,
        lp,
        &reward,
        -sol.value,
        sol.grad_norm,
        sol.iterations,
        opts,
    )
}

/// DPO (SPEC §1.5, (10)): `min_θ −Σ M_ij log σ(β(h_i − h_j))`; tabular optimum
/// `π_ref exp(r^P/β)`.
pub fn dpo(data: &BanditData, opts: &Options) -> Result<Fit> {
    prepare(data, opts)?;
    let lr = dpo_log_ref(data, opts, "DPO")?;
    if opts.ridge == 0.0 {
        check_btl(data, "DPO")?;
    }
    let obj = direct_objective(lr, vec![], pref_pairs(data, 1.0, false), opts);
    let sol = obj.solve(vec![0.0; data.n_actions()], tol::GRAD_REL, "DPO")?;
    direct_fit(Method::Dpo, &obj, sol, opts)
}

/// IPO (Azar et al. 2023): `min_θ Σ M_ij (h_i − h_j − 1/(2τ))²`. A quadratic: the normal
/// equations are the Laplacian system `Σ_j n_ij (h_i − h_j) = (W_i − L_i)/(2τ)`, unique up to
/// a constant iff the undirected comparison graph is connected.
pub fn ipo(data: &BanditData, opts: &Options) -> Result<Fit> {
    prepare(data, opts)?;
    let n = data.n_actions();
    let lr = dpo_log_ref(data, opts, "IPO")?;
    if opts.ridge == 0.0 {
        if data.n_comparisons() == 0 {
            return Err(AihfError::NoEstimator {
                estimator: "IPO".into(),
                reason: "there are no preference comparisons".into(),
                witness: (0..n).collect(),
            });
        }
        check_connected(data, "IPO")?;
    }
    let b = 1.0 / (2.0 * opts.ipo_tau);
    let pairs = data.pairs();
    // Loss L(u) = Σ M_ij (u_i − u_j − b)² + (ρ/2)‖u‖²; ∇ = 2 n_ij d − 2b(M_ij − M_ji) + ρu.
    let lap: Vec<(usize, usize, f64)> = pairs
        .iter()
        .map(|p| (p.i, p.j, 2.0 * (p.m_ij + p.m_ji) as f64))
        .collect();
    let kappa = if opts.ridge > 0.0 { 0.0 } else { 1.0 };
    let h = HessOp::laplacian(n, &lap, opts.ridge, kappa);
    let mut rhs = vec![0.0; n];
    for p in &pairs {
        let f = 2.0 * b * (p.m_ij as f64 - p.m_ji as f64);
        rhs[p.i] += f;
        rhs[p.j] -= f;
    }
    let u = h
        .solve(&rhs, 1e-14)
        .ok_or_else(|| AihfError::Numerical("IPO: the Laplacian system is singular".into()))?;
    let loss_and_grad = |u: &[f64]| {
        let mut loss = 0.5 * opts.ridge * u.iter().map(|x| x * x).sum::<f64>();
        let mut g: Vec<f64> = u.iter().map(|x| opts.ridge * x).collect();
        for p in &pairs {
            let d = u[p.i] - u[p.j];
            loss += p.m_ij as f64 * (d - b).powi(2) + p.m_ji as f64 * (-d - b).powi(2);
            let f = 2.0 * (p.m_ij + p.m_ji) as f64 * d - 2.0 * b * (p.m_ij as f64 - p.m_ji as f64);
            g[p.i] += f;
            g[p.j] -= f;
        }
        (loss, g.iter().map(|x| x * x).sum::<f64>().sqrt())
    };
    let (loss, grad_norm) = loss_and_grad(&u);
    let scale = (data.n_comparisons() as f64).max(1.0) * b.max(1.0);
    if grad_norm.is_nan() || grad_norm > tol::GRAD_REL * scale * 1e2 {
        return Err(AihfError::NotConverged {
            solver: "IPO (Laplacian solve)".into(),
            grad_norm,
            tol: tol::GRAD_REL * scale * 1e2,
            iterations: 1,
        });
    }
    let z: Vec<f64> = lr.iter().zip(&u).map(|(l, x)| l + x).collect();
    let m = lse(&z);
    let lp: Vec<f64> = z.into_iter().map(|x| x - m).collect();
    let reward: Vec<f64> = u.iter().map(|x| opts.beta * x).collect();
    finish(Method::Ipo, lp, &reward, loss, grad_norm, 1, opts)
}

/// Direct AIHF / RPO (SPEC §1.5): `min_θ −α Σ N_i log π_θ(i) − Σ M_ij log σ(β(h_i − h_j))`.
pub fn direct_aihf(data: &BanditData, opts: &Options) -> Result<Fit> {
    prepare(data, opts)?;
    let lr = dpo_log_ref(data, opts, "Direct AIHF")?;
    if opts.ridge == 0.0 {
        if opts.direct_alpha == 0.0 {
            check_btl(data, "Direct AIHF")?;
        } else {
            check_aihf(data, 1.0, "Direct AIHF")?;
        }
    }
    let a: Vec<f64> = data
        .demos()
        .iter()
        .map(|&c| opts.direct_alpha * c as f64)
        .collect();
    let obj = direct_objective(lr, a, pref_pairs(data, 1.0, false), opts);
    let sol = obj.solve(vec![0.0; data.n_actions()], tol::GRAD_REL, "Direct AIHF")?;
    direct_fit(Method::DirectAihf, &obj, sol, opts)
}

/// Tolerance on the total-variation change between SPIN iterates at the fixed point.
const SPIN_TV: f64 = 1e-12;

/// One self-play step from `log π_t`: weights `p̂_i π_t(j)` (+ `λ M_ij/M` for Self-Play AIHF).
fn self_play_step(
    log_pt: &[f64],
    p_hat: &[f64],
    data: &BanditData,
    lambda: f64,
    opts: &Options,
    name: &str,
) -> Result<(Vec<f64>, super::problem::Solution)> {
    let n = log_pt.len();
    let m_tot = data.n_comparisons() as f64;
    let pt: Vec<f64> = log_pt.iter().map(|l| l.exp()).collect();
    let mut pairs = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let mut c_ij = p_hat[i] * pt[j];
            let mut c_ji = p_hat[j] * pt[i];
            if lambda > 0.0 && m_tot > 0.0 {
                c_ij += lambda * data.pref(i, j) as f64 / m_tot;
                c_ji += lambda * data.pref(j, i) as f64 / m_tot;
            }
            if c_ij + c_ji > 0.0 {
                pairs.push(WPair {
                    i: i as u32,
                    j: j as u32,
                    c_ij,
                    c_ji,
                });
            }
        }
    }
    let obj = direct_objective(log_pt.to_vec(), vec![], pairs, opts);
    let sol = obj.solve(vec![0.0; n], tol::GRAD_REL, name)?;
    Ok((obj.log_policy(&sol.u), sol))
}

fn self_play(
    data: &BanditData,
    opts: &Options,
    lambda: f64,
    method: Method,
    name: &str,
) -> Result<Fit> {
    prepare(data, opts)?;
    let n = data.n_actions();
    let lp_hat = log_sft(data, name)?;
    let p_hat: Vec<f64> = lp_hat.iter().map(|l| l.exp()).collect();
    // Each step is a weighted DPO; it has a finite optimum only if every action "wins" some
    // weight, i.e. has demonstrations (or, for Self-Play AIHF, wins a comparison).
    let wins = data.wins();
    let s: Vec<usize> = (0..n)
        .filter(|&i| data.demos()[i] == 0 && !(lambda > 0.0 && wins[i] > 0))
        .collect();
    if !s.is_empty() {
        return Err(AihfError::NoEstimator {
            estimator: name.into(),
            reason: format!(
                "actions {} have no demonstrations{}: each self-play step sends their \
                 probability to 0 and has no finite optimum",
                fmt_set(&s),
                if lambda > 0.0 {
                    " and win no comparison"
                } else {
                    ""
                }
            ),
            witness: s,
        });
    }
    let mut lp = match &opts.dpo_reference {
        Some(r) => r.iter().map(|p| p.ln()).collect(),
        None => vec![-(n as f64).ln(); n],
    };
    let mut change = f64::NAN;
    for t in 1..=opts.spin_iters {
        let (next, sol) = self_play_step(&lp, &p_hat, data, lambda, opts, name)?;
        let a: Vec<f64> = lp.iter().map(|l| l.exp()).collect();
        let b: Vec<f64> = next.iter().map(|l| l.exp()).collect();
        change = tv(&a, &b);
        lp = next;
        if change <= SPIN_TV {
            let reward: Vec<f64> = lp
                .iter()
                .zip(opts.log_pi0(n))
                .map(|(l, z)| opts.beta * (l - z))
                .collect();
            // The objective at the fixed point: the step's loss with π_ref = π_t.
            return finish(method, lp, &reward, -sol.value, sol.grad_norm, t, opts);
        }
    }
    Err(AihfError::Numerical(format!(
        "{name}: the exact self-play iteration did not settle in {} steps (last TV change \
         {change:.3e} > {SPIN_TV:e}); around its fixed point it contracts by |1 − 1/β| per step, so \
         it oscillates or diverges for β ≤ 1/2 (β = {})",
        opts.spin_iters, opts.beta
    )))
}

/// The first `steps` iterates `log π_1, …` of the exact self-play iteration (SPIN when
/// `lambda = 0`, Self-Play AIHF otherwise) from `log π_0 = log_p0`.
pub fn self_play_iterates(
    data: &BanditData,
    opts: &Options,
    lambda: f64,
    log_p0: Vec<f64>,
    steps: usize,
) -> Result<Vec<Vec<f64>>> {
    prepare(data, opts)?;
    let p_hat: Vec<f64> = log_sft(data, "SPIN")?.iter().map(|l| l.exp()).collect();
    let mut lp = log_p0;
    let mut out = Vec::with_capacity(steps);
    for _ in 0..steps {
        lp = self_play_step(&lp, &p_hat, data, lambda, opts, "SPIN")?.0;
        out.push(lp.clone());
    }
    Ok(out)
}

/// SPIN (Chen et al. 2024), tabular iteration of SPEC §1.5 from `π_0` = `dpo_reference`
/// (default uniform); its fixed point is `π = N/N`.
pub fn spin(data: &BanditData, opts: &Options) -> Result<Fit> {
    self_play(data, opts, 0.0, Method::Spin, "SPIN")
}

/// Self-Play AIHF ((11)): SPIN's step plus `λ ×` the DPO term on the preference data (mean
/// over comparisons, reference `π_t`). Its fixed point, when it lies inside the simplex, is
/// [`self_play_aihf_fixed_point`].
pub fn self_play_aihf(data: &BanditData, opts: &Options) -> Result<Fit> {
    prepare(data, opts)?;
    if data.n_demos() > 0 {
        let fp = self_play_aihf_fixed_point(data, opts.lambda);
        let s: Vec<usize> = (0..fp.len()).filter(|&i| fp[i] <= 0.0).collect();
        if !s.is_empty() {
            return Err(AihfError::NoEstimator {
                estimator: "Self-Play AIHF".into(),
                reason: format!(
                    "its only interior fixed point p̂ + λ(W − L)/M is not a distribution (actions \
                     {} get {}): the iteration drives them to 0 and never settles",
                    fmt_set(&s),
                    s.iter()
                        .take(4)
                        .map(|&i| format!("{:.4}", fp[i]))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                witness: s,
            });
        }
    }
    self_play(
        data,
        opts,
        opts.lambda,
        Method::SelfPlayAihf,
        "Self-Play AIHF",
    )
}

/// The fixed point of the Self-Play AIHF iteration: at `π_{t+1} = π_t` the step's stationarity
/// at `h = 0` says every action's out-weight equals its in-weight,
/// `p̂_i(1 − π_i) + λW_i/M = π_i(1 − p̂_i) + λL_i/M`, i.e.
/// `π_i = p̂_i + λ (W_i − L_i)/M` — a linear correction of the empirical distribution, not the
/// AIHF policy. Returns it (entries may be negative: then no fixed point exists in the simplex).
pub fn self_play_aihf_fixed_point(data: &BanditData, lambda: f64) -> Vec<f64> {
    let n = data.n_actions();
    let nn = data.n_demos().max(1) as f64;
    let m = data.n_comparisons() as f64;
    let wins = data.wins();
    (0..n)
        .map(|i| {
            let losses: u64 = (0..n).map(|j| data.pref(j, i)).sum();
            let corr = if m > 0.0 {
                lambda * (wins[i] as f64 - losses as f64) / m
            } else {
                0.0
            };
            data.demos()[i] as f64 / nn + corr
        })
        .collect()
}

/// `Σ_{i≠j} M_ij log σ(β(h_i − h_j))` for a policy and reference (tests and claims use it to
/// evaluate DPO losses independently of the solver).
pub fn dpo_loglik(data: &BanditData, log_pi: &[f64], log_ref: &[f64], beta: f64) -> f64 {
    data.pairs()
        .iter()
        .map(|p| {
            let d = beta * ((log_pi[p.i] - log_ref[p.i]) - (log_pi[p.j] - log_ref[p.j]));
            p.m_ij as f64 * log_sigmoid(d) + p.m_ji as f64 * log_sigmoid(-d)
        })
        .sum()
}
