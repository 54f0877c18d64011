#!/usr/bin/env python3
"""The Figure 9 study (paper A.2.3, Example 2; SPEC §4; sims/fig9_gaussian.toml) as a numpy/scipy
notebook would write it: per replication, draw 2,000 demonstrations from π* restricted to actions
0..44 and 200 BTL comparisons for each of the 1,225 pairs, then SFT (closed form), BTL (maximum
likelihood, scipy.optimize.minimize, Newton-CG with the analytic gradient and Hessian), RLHF
(closed form from BTL's reward) and AIHF (the joint likelihood, same solver). Prints the time per
replication and the mean TV of each estimator to π*, for the side-by-side with
`aihf sim sims/fig9_gaussian.toml` (scripts/bench_fig9.sh runs both).

Usage: fig9_numpy.py [REPLICATIONS] [scipy|newton]   (the second: scipy.optimize.minimize's
Newton-CG, the default, or a hand-written numpy Newton with numpy.linalg.solve)   (numpy/scipy versions: scripts/bench_fig9.sh pins them)
"""
import sys
import time

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logsumexp

N_ACT, COVERED, DEMOS, PER_PAIR = 50, 45, 2000, 200
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
SOLVER = sys.argv[2] if len(sys.argv) > 2 else "scipy"
rng = np.random.default_rng(9)
r_true = np.random.default_rng(7).standard_normal(N_ACT)
pi_true = np.exp(r_true - logsumexp(r_true))
demo_p = np.where(np.arange(N_ACT) < COVERED, pi_true, 0.0)
demo_p /= demo_p.sum()
I, J = np.triu_indices(N_ACT, 1)
p_win = expit(r_true[I] - r_true[J])


def neg_loglik(u, n_demo, wins_ij, wins_ji):
    """−J(u) + (Σu)²/2 (gauge), gradient and Hessian: the AIHF objective (BTL when n_demo = 0)."""
    d = u[I] - u[J]
    val = -(wins_ij @ log_expit(d) + wins_ji @ log_expit(-d))
    s = expit(d)
    f = wins_ij * (1 - s) - wins_ji * s
    g = -(np.bincount(I, f, N_ACT) - np.bincount(J, f, N_ACT))
    w = (wins_ij + wins_ji) * s * (1 - s)
    h = np.zeros((N_ACT, N_ACT))
    h[I, J] = -w
    h[J, I] = -w
    h[np.diag_indices(N_ACT)] = -h.sum(axis=1)
    tot = n_demo.sum()
    if tot > 0:
        lp = u - logsumexp(u)
        p = np.exp(lp)
        val -= n_demo @ lp
        g -= n_demo - tot * p
        h += tot * (np.diag(p) - np.outer(p, p))
    su = u.sum()
    return val + 0.5 * su * su, g + su, h + 1.0


def solve(n_demo, wins_ij, wins_ji, u0):
    if SOLVER == "newton":
        # Hand-written damped Newton on the same function (numpy.linalg.solve per step).
        u = u0.copy()
        for _ in range(100):
            f, g, h = neg_loglik(u, n_demo, wins_ij, wins_ji)
            if np.linalg.norm(g) <= 1e-10 * (n_demo.sum() + wins_ij.sum() + wins_ji.sum()):
                break
            p = np.linalg.solve(h, -g)
            a = 1.0
            while neg_loglik(u + a * p, n_demo, wins_ij, wins_ji)[0] > f + 1e-4 * a * (g @ p) and a > 1e-10:
                a *= 0.5
            u = u + a * p
        return u - u.mean()
    res = minimize(
        lambda u: neg_loglik(u, n_demo, wins_ij, wins_ji)[:2],
        u0,
        jac=True,
        hess=lambda u: neg_loglik(u, n_demo, wins_ij, wins_ji)[2],
        method="Newton-CG",
        options={"xtol": 1e-12, "maxiter": 200},
    )
    return res.x - res.x.mean()


def tv(p, q):
    return 0.5 * np.abs(p - q).sum()


def replication():
    n_demo = rng.multinomial(DEMOS, demo_p).astype(float)
    wins_ij = rng.binomial(PER_PAIR, p_win).astype(float)
    wins_ji = PER_PAIR - wins_ij
    sft = n_demo / n_demo.sum()
    r_btl = solve(np.zeros(N_ACT), wins_ij, wins_ji, np.zeros(N_ACT))
    btl = np.exp(r_btl - logsumexp(r_btl))
    with np.errstate(divide="ignore"):
        z = np.log(n_demo) + r_btl
    rlhf = np.exp(z - logsumexp(z))
    r_aihf = solve(n_demo, wins_ij, wins_ji, np.log((n_demo + 0.5) / (DEMOS + 25)))
    aihf = np.exp(r_aihf - logsumexp(r_aihf))
    return [tv(x, pi_true) for x in (sft, rlhf, aihf, btl)]


t0 = time.perf_counter()
tvs = np.array([replication() for _ in range(reps)])
dt = time.perf_counter() - t0
print(f"numpy/scipy Fig. 9 ({SOLVER}): {reps} replications in {dt:.3f} s: {1e3 * dt / reps:.3f} ms per replication")
for name, m in zip(("SFT", "RLHF", "AIHF", "BTL"), tvs.mean(axis=0)):
    print(f"  mean TV to pi*: {name:5s} {m:.4f}")
