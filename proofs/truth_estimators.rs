//! SPEC §3.2, the exact sequence-level estimators of `aihf truth estimate`, against an
//! independent brute-force oracle: every response of an enumerable task (`V^H ≤ 10^4`) is listed
//! with its feature vector `φ(y)`, each likelihood is written as a sum over sequences, and a dense
//! Newton method (nalgebra, Hessians from enumerated covariances) finds its maximiser. Checked:
//! (a) every estimator's policy (`sft`, `irl`, `btl`, `rlhf` both references, `dpo` both
//!     references, `aihf`, with and without ridge, task and full support) equals the oracle's
//!     sequence distribution, `max_y |log π̂(y) − log π_oracle(y)| ≤ truth::tol::ENUMERATION`
//!     (1e-8, issue 11 part 5), and the reported `KL(π̂‖π*)` equals the enumerated KL;
//! (b) the analytic gradients and curvature products equal central finite differences;
//! (c) the DPO identities: DPO against `π_ref` gives `btl`'s policy, DPO against `π_SFT` gives
//!     `rlhf`'s (SFT reference) policy (each solved as its own problem);
//! (d) separable data without a ridge is refused with `NoEstimator` naming `--ridge`.
use aihf::math::{log_sigmoid, lse, sigmoid};
use aihf::truth::data::{sample_records, Records, TaskSpec};
use aihf::truth::estimate::{Estimator, Method, Options, RefKind, Support};
use aihf::truth::policy::{Bigrams, MarkovPolicy};
use aihf::truth::tol::ENUMERATION;
use aihf::AihfError;
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

fn all_responses(v: usize, h: usize) -> Vec<Vec<usize>> {
    (0..v.pow(h as u32))
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

/// The brute-force oracle of one task and data set.
struct Oracle {
    beta: f64,
    ys: Vec<Vec<usize>>,
    feats: Vec<DVector<f64>>,
    log_ref: Vec<f64>,
    demos: Vec<usize>,
    prefs: Vec<(usize, usize)>,
    dim: usize,
}

impl Oracle {
    fn new(task: &aihf::markov::MarkovTask, pattern: &Bigrams, rec: &Records) -> Self {
        let ys = all_responses(task.vocab(), task.horizon());
        let index: HashMap<Vec<usize>, usize> = ys
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, y)| (y, i))
            .collect();
        let dim = pattern.len();
        let feats = ys
            .iter()
            .map(|y| {
                let mut f = DVector::zeros(dim);
                let mut u = task.y0();
                for &x in y {
                    if let Some(k) = pattern.index(u, x) {
                        f[k] += 1.0;
                    }
                    u = x;
                }
                f
            })
            .collect();
        let log_ref = ys.iter().map(|y| task.log_prob_ref(y).unwrap()).collect();
        Oracle {
            beta: task.beta(),
            demos: rec.demos.iter().map(|y| index[y]).collect(),
            prefs: rec
                .prefs
                .iter()
                .map(|(c, r)| (index[c], index[r]))
                .collect(),
            ys,

            feats,
            log_ref,
            dim,
        }
    }

    /// `log π(y)` of `base(y) e^{⟨w,φ(y)⟩/β}` normalised (base = log π_ref by default).
    fn log_probs(&self, base: &[f64], w: &DVector<f64>) -> Vec<f64> {
        let z: Vec<f64> = self
            .feats
            .iter()
            .zip(base)
            .map(|(f, b)| b + f.dot(w) / self.beta)
            .collect();
        let l = lse(&z);
        z.into_iter().map(|x| x - l).collect()
    }

    /// Value, gradient and Hessian of `L_D + λ L_P − ridge/2 ‖w‖²` by enumeration.
    fn vgh(
        &self,
        w: &DVector<f64>,
        demos: bool,
        lambda: f64,
        ridge: f64,
    ) -> (f64, DVector<f64>, DMatrix<f64>) {
        let d = self.dim;
        let mut val = -0.5 * ridge * w.dot(w);
        let mut g = -ridge * w;
        let mut hess = -ridge * DMatrix::identity(d, d);
        if demos {
            let lp = self.log_probs(&self.log_ref, w);
            let n = self.demos.len() as f64;
            let mut mean = DVector::zeros(d);
            let mut second = DMatrix::zeros(d, d);
            for (f, l) in self.feats.iter().zip(&lp) {
                let p = l.exp();
                mean += p * f;
                second += p * f * f.transpose();
            }
            let cov = second - &mean * mean.transpose();
            for &i in &self.demos {
                val += lp[i];
                g += &self.feats[i] / self.beta;
            }
            g -= n * &mean / self.beta;
            hess -= n * cov / (self.beta * self.beta);
        }
        if lambda > 0.0 {
            for &(c, r) in &self.prefs {
                let diff = &self.feats[c] - &self.feats[r];
                let z = diff.dot(w);
                val += lambda * log_sigmoid(z);
                let s = sigmoid(-z);
                g += lambda * s * &diff;
                hess -= lambda * s * (1.0 - s) * &diff * diff.transpose();
            }
        }
        (val, g, hess)
    }

    /// Dense damped Newton to `‖∇‖ ≤ 1e-12 · scale` (the minimum-norm step on null directions).
    fn solve(&self, demos: bool, lambda: f64, ridge: f64) -> DVector<f64> {
        let mut w = DVector::zeros(self.dim);
        let scale = self.demos.len() as f64 + lambda * self.prefs.len() as f64 + 1.0;
        for _ in 0..200 {
            let (f, g, h) = self.vgh(&w, demos, lambda, ridge);
            if g.norm() <= 1e-12 * scale {
                return w;
            }
            let svd = (-h).svd(true, true);
            let step = svd.solve(&g, 1e-12).unwrap();
            let mut t = 1.0;
            loop {
                let cand = &w + t * &step;
                let (fc, _, _) = self.vgh(&cand, demos, lambda, ridge);
                if fc >= f - 1e-12 * f.abs().max(1.0) || t < 1e-10 {
                    w = cand;
                    break;
                }
                t *= 0.5;
            }
        }
        panic!("oracle Newton did not converge");
    }

    /// `π_SFT(y)` by counting (rows without data: `π_ref`).
    fn sft_log_probs(&self, task: &aihf::markov::MarkovTask) -> Vec<f64> {
        let mut trans: HashMap<(usize, usize, usize), f64> = HashMap::new();
        let mut rows: HashMap<(usize, usize), f64> = HashMap::new();
        for &i in &self.demos {
            let mut u = task.y0();
            for (t, &x) in self.ys[i].iter().enumerate() {
                *trans.entry((t, u, x)).or_default() += 1.0;
                *rows.entry((t, u)).or_default() += 1.0;
                u = x;
            }
        }
        self.ys
            .iter()
            .map(|y| {
                let mut u = task.y0();
                let mut s = 0.0;
                for (t, &x) in y.iter().enumerate() {
                    s += match rows.get(&(t, u)) {
                        Some(n) => trans
                            .get(&(t, u, x))
                            .map_or(f64::NEG_INFINITY, |c| (c / n).ln()),
                        None => task.log_ref(u, x),
                    };
                    u = x;
                }
                s
            })
            .collect()
    }

    fn kl(&self, p: &[f64], q: &[f64]) -> f64 {
        let mut s = 0.0;
        for (a, b) in p.iter().zip(q) {
            if *a > f64::NEG_INFINITY {
                if *b == f64::NEG_INFINITY {
                    return f64::INFINITY;
                }
                s += a.exp() * (a - b);
            }
        }
        s
    }
}

fn max_log_diff(p: &MarkovPolicy, o: &Oracle, want: &[f64]) -> f64 {
    o.ys.iter()
        .zip(want)
        .map(|(y, b)| {
            let a = p.log_prob(y).unwrap();
            if a == f64::NEG_INFINITY && *b == f64::NEG_INFINITY {
                0.0
            } else {
                (a - b).abs()
            }
        })
        .fold(0.0, f64::max)
}

fn setup(
    v: usize,
    h: usize,
    nnz: usize,
    n: usize,
    m: usize,
    seed: u64,
) -> (aihf::markov::MarkovTask, Records) {
    let task = TaskSpec::random(v, h, nnz, 1.0, 0.8, seed)
        .unwrap()
        .task()
        .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
    let rec = sample_records(&task, n, m, &mut rng).unwrap();
    (task, rec)
}

#[test]
fn estimators_equal_brute_force_oracle() {
    // (V, H, nnz per row, N, M, ridge, support): V^H ≤ 10^4.
    let cases = [
        (3, 4, 1, 400, 400, 0.0, Support::Task),
        (4, 3, 2, 300, 300, 0.0, Support::Task),
        (3, 3, 1, 50, 30, 0.5, Support::Full),
        (10, 4, 2, 200, 200, 0.3, Support::Task),
    ];
    for (ci, &(v, h, nnz, n, m, ridge, support)) in cases.iter().enumerate() {
        let (task, rec) = setup(v, h, nnz, n, m, ci as u64);
        let opts = Options {
            lambda: 0.7,
            ridge,
            support,
        };
        let est = Estimator::new(&task, &rec, opts).unwrap();
        let o = Oracle::new(&task, est.pattern(), &rec);
        let star: Vec<f64> =
            o.ys.iter()
                .map(|y| task.log_prob_star(y).unwrap())
                .collect();
        let sft_lp = o.sft_log_probs(&task);
        let w_irl = o.solve(true, 0.0, ridge);
        let w_btl = o.solve(false, 1.0, ridge);
        let w_aihf = o.solve(true, 0.7, ridge);
        let irl = o.log_probs(&o.log_ref, &w_irl);
        let btl = o.log_probs(&o.log_ref, &w_btl);
        let aihf = o.log_probs(&o.log_ref, &w_aihf);
        let rlhf_sft = o.log_probs(&sft_lp, &w_btl);
        let want: [(&str, &Vec<f64>); 8] = [
            ("sft", &sft_lp),
            ("irl", &irl),
            ("btl", &btl),
            ("rlhf_sft", &rlhf_sft),
            ("rlhf_ref", &btl),
            ("dpo_sft", &rlhf_sft),
            ("dpo_ref", &btl),
            ("aihf", &aihf),
        ];
        let fits: HashMap<String, _> = est.all().into_iter().collect();
        let truth = aihf::truth::report::Truth::new(&task).unwrap();
        for (name, lp) in want {
            let f = fits[name]
                .as_ref()
                .unwrap_or_else(|e| panic!("case {ci}: {name} failed: {e}"));
            let d = max_log_diff(&f.policy, &o, lp);
            assert!(
                d <= ENUMERATION,
                "case {ci}: {name}: max |log π̂ − log π_oracle| = {d:e} > {ENUMERATION:e}"
            );
            let kl = truth.score(&f.policy).unwrap().kl_to_star;
            let want_kl = o.kl(lp, &star);
            assert!(
                (kl - want_kl).abs() <= ENUMERATION,
                "case {ci}: {name}: KL(π̂‖π*) {kl} vs enumeration {want_kl}"
            );
        }
    }
}

#[test]
fn gradients_and_curvature_match_finite_differences() {
    let (task, rec) = setup(4, 3, 2, 40, 30, 7);
    for support in [Support::Task, Support::Full] {
        let est = Estimator::new(
            &task,
            &rec,
            Options {
                lambda: 0.6,
                ridge: 0.2,
                support,
            },
        )
        .unwrap();
        let d = est.pattern().len();
        let w: Vec<f64> = (0..d).map(|k| ((k * 37 % 11) as f64 - 5.0) / 7.0).collect();
        let dir: Vec<f64> = (0..d).map(|k| ((k * 13 % 7) as f64 - 3.0) / 3.0).collect();
        for (m, r) in [
            (Method::Irl, RefKind::Ref),
            (Method::Btl, RefKind::Ref),
            (Method::Aihf, RefKind::Ref),
            (Method::Dpo, RefKind::Ref),
            (Method::Dpo, RefKind::Sft),
        ] {
            let (_, g) = est.objective_at(m, r, &w).unwrap();
            let eps = 1e-5;
            let at = |s: f64| -> Vec<f64> { w.iter().zip(&dir).map(|(a, b)| a + s * b).collect() };
            let fd = (est.objective_at(m, r, &at(eps)).unwrap().0
                - est.objective_at(m, r, &at(-eps)).unwrap().0)
                / (2.0 * eps);
            let an: f64 = g.iter().zip(&dir).map(|(a, b)| a * b).sum();
            // Central differences: error O(ε²·f''') plus round-off |f|·1e-16/ε.
            assert!(
                (fd - an).abs() <= 1e-6 * an.abs().max(1.0),
                "{m:?}/{r:?} {support:?}: ∇J·d = {an}, FD {fd}"
            );
            let cd = est.curvature_at(m, r, &w, &dir).unwrap();
            let gp = est.objective_at(m, r, &at(eps)).unwrap().1;
            let gm = est.objective_at(m, r, &at(-eps)).unwrap().1;
            for k in 0..d {
                let fdk = -(gp[k] - gm[k]) / (2.0 * eps);
                assert!(
                    (fdk - cd[k]).abs() <= 1e-6 * cd[k].abs().max(1.0),
                    "{m:?}/{r:?} {support:?}: (C d)_{k} = {}, FD {fdk}",
                    cd[k]
                );
            }
        }
    }
}

#[test]
fn dpo_identities_hold() {
    let (task, rec) = setup(5, 4, 2, 300, 500, 11);
    let est = Estimator::new(&task, &rec, Options::default()).unwrap();
    let btl = est.btl().unwrap();
    let o = Oracle::new(&task, est.pattern(), &rec);
    for (r, target) in [
        (RefKind::Ref, est.rlhf(RefKind::Ref, &btl).unwrap()),
        (RefKind::Sft, est.rlhf(RefKind::Sft, &btl).unwrap()),
    ] {
        let dpo = est.dpo(r).unwrap();
        let want: Vec<f64> =
            o.ys.iter()
                .map(|y| target.policy.log_prob(y).unwrap())
                .collect();
        let d = max_log_diff(&dpo.policy, &o, &want);
        assert!(
            d <= ENUMERATION,
            "DPO against {r:?}: max |log π_DPO − log π_RLHF| = {d:e}"
        );
        let mu = dpo.policy.marginals();
        let kl = dpo.policy.kl_to(&mu, &target.policy).unwrap();
        assert!(kl <= ENUMERATION, "DPO against {r:?}: KL to RLHF = {kl:e}");
    }
}

#[test]
fn separable_data_is_refused_without_ridge() {
    let (task, rec) = setup(6, 4, 3, 5, 2, 3);
    let est = Estimator::new(&task, &rec, Options::default()).unwrap();
    for r in [est.btl(), est.irl(), est.aihf(), est.dpo(RefKind::Ref)] {
        match r {
            Err(e @ AihfError::NoEstimator { .. }) => {
                assert!(e.to_string().contains("--ridge"), "{e}")
            }
            other => panic!(
                "expected NoEstimator naming --ridge, got {:?}",
                other.map(|f| f.name)
            ),
        }
    }
    let est = Estimator::new(
        &task,
        &rec,
        Options {
            ridge: 1.0,
            ..Options::default()
        },
    )
    .unwrap();
    assert!(est.btl().is_ok() && est.aihf().is_ok() && est.irl().is_ok());
}
