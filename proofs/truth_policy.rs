//! SPEC §3.1–§3.2: the time-indexed Markov policies of `aihf::truth` against brute-force
//! enumeration of all `V^H` responses (an independent computation: sequence probabilities from
//! `log π_ref(y) + R_w(y)/β − log Z` or from counting, then sums over sequences). Checked, to
//! `truth::tol::ENUMERATION` (1e-8, issue 11 part 5):
//! (a) `π_w`'s `log π(y)` equals `log π_ref(y) + R_w(y)/β − log Z` (uniform and bigram
//!     references, task support and full support) and `π*` equals `MarkovTask`'s recursion;
//! (b) the forward marginals, `E_π[φ]` and `E_π[r*]` equal their enumerations;
//! (c) `Cov_π[φ] δ` (tangent passes) equals the enumerated covariance times `δ`;
//! (d) the chain-rule `KL(P‖Q)` equals `Σ_y P(y) log P(y)/Q(y)` for tilted, empirical (SFT) and
//!     SFT-tilted chains, `+∞` exactly when enumeration says so;
//! (e) the `[H][V][V]` JSON round trip preserves the policy and bad tables are typed errors;
//! (f) the sampler's frequencies match the exact probabilities (χ² within 4 standard deviations).
use aihf::markov::{MarkovTask, Reference};
use aihf::truth::policy::{read_policy, write_policies, Bigrams, MarkovPolicy};
use aihf::truth::tol::ENUMERATION;
use aihf::AihfError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// All responses of length `h` over `v` tokens (`y_1` most significant).
pub fn all_responses(v: usize, h: usize) -> Vec<Vec<usize>> {
    let n = v.pow(h as u32);
    (0..n)
        .map(|mut i| {
            let mut y = vec![0; h];
            for s in y.iter_mut().rev() {
                *s = i % v;
                i /= v;
            }
            y
        })
        .collect()
}

/// `log π_ref(y) + R_w(y)/β` for every response, normalised: the enumeration oracle of `π_w`.
fn oracle_log_probs(
    v: usize,
    h: usize,
    y0: usize,
    reference: &Reference,
    pattern: &Bigrams,
    w: &[f64],
    beta: f64,
) -> Vec<f64> {
    let ys = all_responses(v, h);
    let z: Vec<f64> = ys
        .iter()
        .map(|y| {
            let mut u = y0;
            let mut s = 0.0;
            for &x in y {
                s += match reference {
                    Reference::Uniform => -(v as f64).ln(),
                    Reference::Bigram(t) => t[u * v + x].ln(),
                };
                s += pattern.index(u, x).map_or(0.0, |k| w[k]) / beta;
                u = x;
            }
            s
        })
        .collect();
    let l = aihf::math::lse(&z);
    z.into_iter().map(|x| x - l).collect()
}

fn random_setup(
    v: usize,
    _h: usize,
    bigram: bool,
    full: bool,
    seed: u64,
) -> (Arc<Reference>, Arc<Bigrams>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let reference = if bigram {
        Reference::Bigram(MarkovTask::random_bigram_table(v, 0.2, &mut rng))
    } else {
        Reference::Uniform
    };
    let pattern = if full {
        Bigrams::full(v)
    } else {
        let pairs: Vec<(usize, usize)> = (0..v)
            .flat_map(|u| (0..v).map(move |x| (u, x)))
            .filter(|_| rng.random::<f64>() < 0.4)
            .collect();
        Bigrams::new(v, pairs).unwrap()
    };
    let w: Vec<f64> = (0..pattern.len())
        .map(|_| 2.0 * (rng.random::<f64>() - 0.5) * 3.0)
        .collect();
    (Arc::new(reference), Arc::new(pattern), w)
}

fn enumerate(p: &MarkovPolicy) -> Vec<f64> {
    all_responses(p.vocab(), p.horizon())
        .iter()
        .map(|y| p.log_prob(y).unwrap())
        .collect()
}

fn close_log(a: f64, b: f64) -> bool {
    (a == f64::NEG_INFINITY && b == f64::NEG_INFINITY) || (a - b).abs() <= ENUMERATION
}

#[test]
fn tilted_chain_equals_enumeration() {
    for (k, &(v, h, bigram, full)) in [
        (3, 4, false, false),
        (3, 4, true, false),
        (4, 3, false, true),
        (4, 3, true, true),
        (2, 6, false, false),
        (5, 2, true, false),
    ]
    .iter()
    .enumerate()
    {
        let (reference, pattern, w) = random_setup(v, h, bigram, full, 10 + k as u64);
        let beta = 0.7;
        let p =
            MarkovPolicy::of_reward(h, 1, reference.clone(), pattern.clone(), &w, beta).unwrap();
        let oracle = oracle_log_probs(v, h, 1, &reference, &pattern, &w, beta);
        let got = enumerate(&p);
        for (i, (a, b)) in got.iter().zip(&oracle).enumerate() {
            assert!(
                close_log(*a, *b),
                "case {k}: log π(y#{i}) = {a}, enumeration {b} (tolerance {ENUMERATION:e})"
            );
        }
    }
}

#[test]
fn star_equals_markov_task_recursion() {
    for seed in 0..4u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let reference = if seed % 2 == 0 {
            Reference::Uniform
        } else {
            Reference::Bigram(MarkovTask::random_bigram_table(5, 0.3, &mut rng))
        };
        let task = MarkovTask::random_with(5, 4, 2, 2.0, 0.8, reference, &mut rng).unwrap();
        let star = MarkovPolicy::star(&task).unwrap();
        for y in all_responses(5, 4) {
            let (a, b) = (star.log_prob(&y).unwrap(), task.log_prob_star(&y).unwrap());
            assert!(
                close_log(a, b),
                "seed {seed}, y {y:?}: {a} vs MarkovTask {b}"
            );
        }
    }
    // At scale, against MarkovTask on sampled responses (V = 512, H = 64).
    let task = MarkovTask::random(512, 64, 8, 1.0, 3).unwrap();
    let star = MarkovPolicy::star(&task).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for _ in 0..20 {
        let y = task.sample_star(&mut rng);
        let (a, b) = (star.log_prob(&y).unwrap(), task.log_prob_star(&y).unwrap());
        assert!((a - b).abs() < 1e-9, "V = 512: {a} vs {b}");
    }
}

/// Marginals, features and covariance by enumeration: `(μ_t(u), E[φ], Cov[φ])`.
fn enumerated_moments(p: &MarkovPolicy, pattern: &Bigrams) -> (Vec<f64>, Vec<f64>, Vec<Vec<f64>>) {
    let (v, h) = (p.vocab(), p.horizon());
    let mut mu = vec![0.0; v * (h + 1)];
    let mut e = vec![0.0; pattern.len()];
    let mut second = vec![vec![0.0; pattern.len()]; pattern.len()];
    for y in all_responses(v, h) {
        let pr = p.log_prob(&y).unwrap().exp();
        mu[p.y0()] += pr;
        for (t, &x) in y.iter().enumerate() {
            mu[(t + 1) * v + x] += pr;
        }
        let f = pattern.features(p.y0(), &y);
        for &(i, ci) in &f {
            e[i] += pr * ci;
            for &(j, cj) in &f {
                second[i][j] += pr * ci * cj;
            }
        }
    }
    let cov = (0..pattern.len())
        .map(|i| {
            (0..pattern.len())
                .map(|j| second[i][j] - e[i] * e[j])
                .collect()
        })
        .collect();
    (mu, e, cov)
}

#[test]
fn marginals_features_and_covariance_equal_enumeration() {
    for (k, &(v, h, bigram, full)) in [
        (3, 4, false, false),
        (3, 3, true, true),
        (4, 3, false, true),
    ]
    .iter()
    .enumerate()
    {
        let (reference, pattern, w) = random_setup(v, h, bigram, full, 40 + k as u64);
        let p = MarkovPolicy::of_reward(h, 0, reference, pattern.clone(), &w, 1.3).unwrap();
        let (mu_e, fe_e, cov_e) = enumerated_moments(&p, &pattern);
        let mu = p.marginals();
        for (i, (a, b)) in mu.iter().zip(&mu_e).enumerate() {
            assert!((a - b).abs() < ENUMERATION, "case {k}: μ[{i}] {a} vs {b}");
        }
        let fe = p.expected_features(&mu, &pattern);
        for (i, (a, b)) in fe.iter().zip(&fe_e).enumerate() {
            assert!((a - b).abs() < ENUMERATION, "case {k}: E[φ_{i}] {a} vs {b}");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(k as u64);
        let delta: Vec<f64> = (0..pattern.len())
            .map(|_| rng.random::<f64>() - 0.5)
            .collect();
        let cd = p.cov_times(&mu, &delta);
        for i in 0..pattern.len() {
            let want: f64 = (0..pattern.len()).map(|j| cov_e[i][j] * delta[j]).sum();
            assert!(
                (cd[i] - want).abs() < ENUMERATION,
                "case {k}: (Cov δ)_{i} = {} vs enumeration {want}",
                cd[i]
            );
        }
        // E[r*] with a task: ⟨w*, E[φ]⟩ against Σ_y π(y) r*(y).
        let task = MarkovTask::random(v, h, 1, 1.0, k as u64).unwrap();
        let tp = Bigrams::of_task(&task);
        let tw: Vec<f64> = task.reward_entries().map(|e| e.2).collect();
        let er = p.expected_reward(&mu, &tp, &tw);
        let want: f64 = all_responses(v, h)
            .iter()
            .map(|y| p.log_prob(y).unwrap().exp() * task.true_reward(y).unwrap())
            .sum();
        assert!(
            (er - want).abs() < ENUMERATION,
            "case {k}: E[r*] {er} vs {want}"
        );
    }
}

fn enumerated_kl(p: &MarkovPolicy, q: &MarkovPolicy) -> f64 {
    let mut s = 0.0;
    for y in all_responses(p.vocab(), p.horizon()) {
        let lp = p.log_prob(&y).unwrap();
        if lp == f64::NEG_INFINITY {
            continue;
        }
        let lq = q.log_prob(&y).unwrap();
        if lq == f64::NEG_INFINITY {
            return f64::INFINITY;
        }
        s += lp.exp() * (lp - lq);
    }
    s
}

#[test]
fn chain_rule_kl_equals_enumeration() {
    let (v, h) = (3, 4);
    for (k, bigram) in [false, true].into_iter().enumerate() {
        let (reference, pattern, w) = random_setup(v, h, bigram, false, 70 + k as u64);
        let (_, pattern2, w2) = random_setup(v, h, bigram, true, 80 + k as u64);
        let a = MarkovPolicy::of_reward(h, 2, reference.clone(), pattern.clone(), &w, 1.0).unwrap();
        let b =
            MarkovPolicy::of_reward(h, 2, reference.clone(), pattern2.clone(), &w2, 0.5).unwrap();
        let r = MarkovPolicy::reference_policy(v, h, 2, reference.clone()).unwrap();
        // An SFT chain from a few samples of `a` (rows without data: the reference) and the
        // same chain tilted by `w` (the RLHF-with-SFT-reference form).
        let mut rng = ChaCha8Rng::seed_from_u64(k as u64);
        let ys: Vec<Vec<usize>> = (0..6).map(|_| a.sample(&mut rng)).collect();
        let (sft, rows) = MarkovPolicy::empirical(v, h, 2, reference.clone(), &ys).unwrap();
        assert!(rows > 0);
        let tilted = sft
            .retilt(pattern.clone(), w.iter().map(|x| x / 0.8).collect())
            .unwrap();
        let pols = [
            ("a", &a),
            ("b", &b),
            ("ref", &r),
            ("sft", &sft),
            ("sft-tilted", &tilted),
        ];
        for (na, p) in pols {
            let mu = p.marginals();
            for (nb, q) in pols {
                let got = p.kl_to(&mu, q).unwrap();
                let want = enumerated_kl(p, q);
                let ok = if want.is_infinite() {
                    got.is_infinite()
                } else {
                    (got - want).abs() < ENUMERATION
                };
                assert!(
                    ok,
                    "bigram {bigram}: KL({na}‖{nb}) = {got}, enumeration {want}"
                );
            }
        }
        // DPO's ratio: log π − log π_SFT = Θ(y) − a_0 where π_SFT(y) > 0.
        for y in &ys {
            let d = tilted.log_prob(y).unwrap() - sft.log_prob(y).unwrap();
            let r = tilted.log_ratio_to_base(y).unwrap();
            assert!(
                (d - r).abs() < ENUMERATION,
                "log ratio {r} vs difference {d}"
            );
        }
    }
}

#[test]
fn policy_json_round_trip_and_bad_tables() {
    let (reference, pattern, w) = random_setup(3, 3, true, false, 5);
    let p = MarkovPolicy::of_reward(3, 0, reference, pattern, &w, 1.0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pol.json");
    write_policies(&f, &[("aihf", &p), ("ref", &p)]).unwrap();
    let q = read_policy(&f, Some("aihf"), 3, 3, 0).unwrap();
    for y in all_responses(3, 3) {
        let (a, b) = (p.log_prob(&y).unwrap(), q.log_prob(&y).unwrap());
        assert!(close_log(a, b), "round trip: {a} vs {b}");
    }
    let mu = p.marginals();
    assert!(p.kl_to(&mu, &q).unwrap() < ENUMERATION);
    // Two policies and no name: a typed error listing them.
    let e = read_policy(&f, None, 3, 3, 0).unwrap_err();
    assert!(
        matches!(e, AihfError::Data { .. }) && e.to_string().contains("name one"),
        "{e}"
    );
    // Wrong horizon, a row that does not sum to one, a negative entry: typed, with the key path.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "[[[1,0],[0,1]]]").unwrap();
    let e = read_policy(&bad, None, 2, 2, 0).unwrap_err();
    assert!(e.to_string().contains("horizon"), "{e}");
    std::fs::write(&bad, "{\"policy\": [[[0.5,0.4],[0,1]]]}").unwrap();
    let e = read_policy(&bad, None, 2, 1, 0).unwrap_err();
    assert!(
        e.to_string().contains("policy[0][0]") && e.to_string().contains("sums"),
        "{e}"
    );
    std::fs::write(&bad, "[[[1.5,-0.5],[0,1]]]").unwrap();
    let e = read_policy(&bad, None, 2, 1, 0).unwrap_err();
    assert!(e.to_string().contains("[0][0][1]"), "{e}");
}

#[test]
fn sampler_frequencies_match_probabilities() {
    let (reference, pattern, w) = random_setup(3, 3, false, false, 8);
    let p = MarkovPolicy::of_reward(3, 0, reference.clone(), pattern, &w, 1.0).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let ys: Vec<Vec<usize>> = (0..5).map(|_| p.sample(&mut rng)).collect();
    let (sft, _) = MarkovPolicy::empirical(3, 3, 0, reference, &ys).unwrap();
    for (name, q) in [("tilted", &p), ("sft", &sft)] {
        let ys = all_responses(3, 3);
        let n = 40_000;
        let mut counts = vec![0usize; ys.len()];
        for _ in 0..n {
            let y = q.sample(&mut rng);
            counts[y.iter().fold(0, |a, &x| a * 3 + x)] += 1;
        }
        // Pearson χ² over cells with expected count ≥ 5; df = cells − 1; pass within 4 sd.
        let mut chi2 = 0.0;
        let mut cells = 0;
        for (y, &c) in ys.iter().zip(&counts) {
            let e = n as f64 * q.log_prob(y).unwrap().exp();
            if e >= 5.0 {
                chi2 += (c as f64 - e).powi(2) / e;
                cells += 1;
            } else {
                assert!(e > 0.0 || c == 0, "{name}: drew y {y:?} of probability 0");
            }
        }
        let df = (cells - 1) as f64;
        assert!(
            chi2 < df + 4.0 * (2.0 * df).sqrt(),
            "{name}: χ² = {chi2:.1} with {df} df"
        );
    }
}

#[test]
fn chain_rule_kl_holds_at_strong_tilt() {
    // KL(π_b ‖ π_ref) and KL(π_ref ‖ π_b) for π_b ∝ π_ref e^{R_w/b} as b → 0: the tilt grows
    // like 1/b and the chain rule must not lose the KL to cancellation (the frontier's far end).
    let (v, h) = (3, 4);
    for (k, bigram) in [false, true].into_iter().enumerate() {
        let (reference, pattern, w) = random_setup(v, h, bigram, false, 90 + k as u64);
        let r = MarkovPolicy::reference_policy(v, h, 2, reference.clone()).unwrap();
        for b in [1.0, 1.0 / 16.0, 1.0 / 64.0, 1.0 / 256.0, 1.0 / 1024.0] {
            let p =
                MarkovPolicy::of_reward(h, 2, reference.clone(), pattern.clone(), &w, b).unwrap();
            for (name, x, y) in [("KL(π_b‖ref)", &p, &r), ("KL(ref‖π_b)", &r, &p)] {
                let got = x.kl_to(&x.marginals(), y).unwrap();
                let want = enumerated_kl(x, y);
                assert!(
                    (got - want).abs() <= ENUMERATION * want.abs().max(1.0),
                    "bigram {bigram}, b = {b}: {name} = {got}, enumeration {want}"
                );
            }
        }
    }
}
