//! **Closed-form gradients and Hessians** of the static objective (SPEC §1.2, §1.4, §1.5)
//! against central finite differences, over random data, weights, temperatures and ridges.

use aihf::bandit::problem::{Objective, WPair};
use aihf::tol::{FD_REL, FD_STEP};
use proptest::prelude::*;

fn objective() -> impl Strategy<Value = (Objective, Vec<f64>)> {
    (2usize..7).prop_flat_map(|n| {
        (
            prop::collection::vec(0.0f64..20.0, n),
            prop::collection::vec((0.0f64..10.0, 0.0f64..10.0), n * (n - 1) / 2),
            prop::collection::vec(-2.0f64..2.0, n),
            prop::collection::vec(-2.0f64..2.0, n),
            0.3f64..3.0,
            0.3f64..3.0,
            0.0f64..1.0,
        )
            .prop_map(move |(a, c, l0, u, t, s, ridge)| {
                let mut pairs = vec![];
                let mut k = 0;
                for i in 0..n {
                    for j in i + 1..n {
                        pairs.push(WPair {
                            i: i as u32,
                            j: j as u32,
                            c_ij: c[k].0,
                            c_ji: c[k].1,
                        });
                        k += 1;
                    }
                }
                let z = aihf::math::lse(&l0);
                let log_pi0 = l0.iter().map(|x| x - z).collect();
                (
                    Objective {
                        n,
                        a,
                        log_pi0,
                        t,
                        pairs,
                        s,
                        ridge,
                    },
                    u,
                )
            })
    })
}

proptest! {
    #[test]
    fn gradient_matches_central_differences((obj, u) in objective()) {
        let g = obj.gradient(&u);
        for k in 0..obj.n {
            let (mut up, mut dn) = (u.clone(), u.clone());
            up[k] += FD_STEP;
            dn[k] -= FD_STEP;
            let fd = (obj.value(&up) - obj.value(&dn)) / (2.0 * FD_STEP);
            let err = (fd - g[k]).abs() / (1.0 + g[k].abs().max(fd.abs()));
            prop_assert!(err <= FD_REL, "∂J/∂u_{k}: exact {} vs FD {fd}, rel err {err:e} > {FD_REL:e}", g[k]);
        }
    }

    /// The Hessian operator is `−∇²J + κ11ᵀ`: check `H e_k` against differences of the gradient.
    #[test]
    fn hessian_matches_gradient_differences((obj, u) in objective()) {
        let h = obj.hessian_op(&u).dense();
        // κ is the constant added to every entry when ρ = 0 (read back from a 1×1 probe).
        let kappa = if obj.ridge > 0.0 { 0.0 } else { h.sum() / (obj.n * obj.n) as f64 };
        for k in 0..obj.n {
            let (mut up, mut dn) = (u.clone(), u.clone());
            up[k] += FD_STEP;
            dn[k] -= FD_STEP;
            let (gu, gd) = (obj.gradient(&up), obj.gradient(&dn));
            for i in 0..obj.n {
                let fd = -(gu[i] - gd[i]) / (2.0 * FD_STEP) + kappa;
                let err = (fd - h[(i, k)]).abs() / (1.0 + h[(i, k)].abs());
                prop_assert!(err <= FD_REL, "H[{i},{k}] = {} vs FD {fd}, rel err {err:e}", h[(i, k)]);
            }
        }
        // And the operator agrees with its dense form.
        let v: Vec<f64> = (0..obj.n).map(|i| (i as f64 * 0.37).sin()).collect();
        let hv = obj.hessian_op(&u).apply(&v);
        for i in 0..obj.n {
            let want: f64 = (0..obj.n).map(|k| h[(i, k)] * v[k]).sum();
            prop_assert!((hv[i] - want).abs() <= 1e-10 * (1.0 + want.abs()));
        }
    }
}
