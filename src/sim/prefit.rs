//! TEMPORARY stand-in for `crate::bandit::fit` (SFT, BTL, RLHF, AIHF only) until the exact
//! estimators land on main. Built on `bandit::problem::Objective`.
use crate::bandit::existence::{check_aihf, check_btl};
use crate::bandit::problem::{Objective, WPair};
use crate::bandit::{Fit, Method, Options, Weighting};
use crate::data::BanditData;
use crate::error::{AihfError, Result};

fn pairs(d: &BanditData, lam: f64, normalized: bool) -> Vec<WPair> {
    let n = d.n_actions();
    let mut v = vec![];
    for i in 0..n {
        for j in i + 1..n {
            let (a, b) = (d.pref(i, j) as f64, d.pref(j, i) as f64);
            if a + b > 0.0 {
                let s = if normalized { lam / (a + b) } else { lam };
                v.push(WPair { i, j, c_ij: a * s, c_ji: b * s });
            }
        }
    }
    v
}

fn mk(method: Method, policy: Vec<f64>, u: Vec<f64>) -> Fit {
    Fit {
        method,
        log_policy: policy.iter().map(|p| p.ln()).collect(),
        policy,
        reward: u.into_iter().map(|x| x.is_finite().then_some(x)).collect(),
        objective: 0.0,
        grad_norm: 0.0,
        iterations: 0,
    }
}

pub fn fit(method: Method, d: &BanditData, o: &Options) -> Result<Fit> {
    let n = d.n_actions();
    let nd = d.n_demos() as f64;
    let sft = || -> Result<Vec<f64>> {
        if nd == 0.0 {
            return Err(AihfError::NoEstimator { estimator: "sft".into(), reason: "no demonstrations".into(), witness: vec![] });
        }
        Ok(d.demos().iter().map(|&c| c as f64 / nd).collect())
    };
    let btl = || -> Result<Vec<f64>> {
        check_btl(d, "btl")?;
        let ob = Objective { n, a: vec![], log_pi0: vec![], t: 1.0, pairs: pairs(d, 1.0, false), s: 1.0, ridge: 0.0 };
        Ok(ob.solve(vec![0.0; n], crate::tol::GRAD_REL, "btl")?.u)
    };
    match method {
        Method::Sft => {
            let p = sft()?;
            let u = p.iter().map(|x| x.ln()).collect();
            Ok(mk(method, p, u))
        }
        Method::Btl => {
            let u = btl()?;
            Ok(mk(method, crate::math::softmax(&u), u))
        }
        Method::Rlhf => {
            let p = sft()?;
            let u = btl()?;
            let z: Vec<f64> = p.iter().zip(&u).map(|(p, r)| p.ln() + r).collect();
            Ok(mk(method, crate::math::softmax(&z), z))
        }
        Method::Aihf => {
            check_aihf(d, o.lambda, "aihf")?;
            let norm = o.weighting == Weighting::Normalized;
            let a: Vec<f64> = if norm {
                d.demos().iter().map(|&c| o.demo_weight * c as f64 / nd.max(1.0)).collect()
            } else {
                d.demos().iter().map(|&c| c as f64).collect()
            };
            let ob = Objective { n, a, log_pi0: vec![-(n as f64).ln(); n], t: 1.0, pairs: pairs(d, o.lambda, norm), s: 1.0, ridge: 0.0 };
            let u = ob.solve(vec![0.0; n], crate::tol::GRAD_REL, "aihf")?.u;
            Ok(mk(method, crate::math::softmax(&u), u))
        }
        _ => Err(AihfError::param("method", "not in the stand-in")),
    }
}
