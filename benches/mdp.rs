//! MDP speed (issue 4):
//! - dense discounted soft value iteration, S = 1,000, A = 10 (80 MB of transitions): one sweep
//!   against the time to stream the same 80 MB array (both on one thread), ratio printed;
//! - sparse, S = 100,000, A = 10, 10 successors per pair, γ = 0.9: solve to a certified 1e-8;
//! - Algorithm 1 on a 20-state, 4-action MDP (no exact-metric bookkeeping): iterations/s.
use aihf::mdp::algorithm1::{self, Data, Options};
use aihf::mdp::bellman::{self, ViOptions};
use aihf::mdp::gen::{random_mdp, RandomMdp};
use aihf::mdp::irl::RewardModel;
use aihf::mdp::traj::{self, Length, Sampler};
use aihf::mdp::Transitions;
use aihf::valid::Check;
use criterion::{criterion_group, criterion_main, Criterion};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::time::Instant;

fn stream_sum(p: &[f64]) -> f64 {
    // Same eight-accumulator shape as the sweep's dot product, one load per element.
    let mut acc = [0.0f64; 8];
    for c in p.chunks_exact(8) {
        for k in 0..8 {
            acc[k] += c[k];
        }
    }
    acc.iter().sum()
}

fn best_of(n: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..n {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

fn dense(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let m = random_mdp(
        &RandomMdp {
            sparse: false,
            ..RandomMdp::small(1000, 10)
        },
        &mut rng,
    )
    .unwrap();
    let p = match m.transitions() {
        Transitions::Dense(p) => p.clone(),
        _ => unreachable!("dense by construction"),
    };
    let (ns, nsa) = (m.n_states(), m.n_sa());
    let v: Vec<f64> = (0..ns).map(|i| (i as f64).sin()).collect();
    let mut q = vec![0.0; nsa];
    let mut vn = vec![0.0; ns];
    let mut g = c.benchmark_group("dense_S1000_A10");
    g.sample_size(20);
    g.bench_function("stream_80MB_sum", |b| {
        b.iter(|| black_box(stream_sum(black_box(&p))))
    });
    g.bench_function("soft_vi_sweep_1thread", |b| {
        b.iter(|| {
            black_box(bellman::sweep_with(
                &m,
                m.reward(),
                &v,
                &mut q,
                &mut vn,
                false,
            ))
        })
    });
    g.bench_function("soft_vi_sweep_rayon", |b| {
        b.iter(|| {
            black_box(bellman::sweep_with(
                &m,
                m.reward(),
                &v,
                &mut q,
                &mut vn,
                true,
            ))
        })
    });
    g.finish();
    let ts = best_of(20, || {
        black_box(stream_sum(black_box(&p)));
    });
    let tw = best_of(20, || {
        black_box(bellman::sweep_with(
            &m,
            m.reward(),
            &v,
            &mut q,
            &mut vn,
            false,
        ));
    });
    eprintln!(
        "[mdp bench] dense S=1000 A=10: stream {:.2} ms ({:.2} GB/s), sweep {:.2} ms (1 thread), ratio {:.2} (target ≤ 2)",
        ts * 1e3,
        (p.len() * 8) as f64 / ts / 1e9,
        tw * 1e3,
        tw / ts
    );
}

fn sparse(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let m = random_mdp(
        &RandomMdp {
            branching: 10,
            sparse: true,
            gamma: 0.9,
            ..RandomMdp::small(100_000, 10)
        },
        &mut rng,
    )
    .unwrap();
    let opts = ViOptions {
        tol: 1e-8,
        ..ViOptions::default()
    };
    let t = Instant::now();
    let sol = bellman::value_iteration(&m, m.reward(), None, &opts).unwrap();
    eprintln!(
        "[mdp bench] sparse S=100000 A=10 10 succ γ=0.9: solve to 1e-8 in {:.2} s ({} sweeps, bound {:.1e}; target < 10 s)",
        t.elapsed().as_secs_f64(),
        sol.iterations,
        sol.error_bound
    );
    let span = ViOptions {
        stopping: aihf::mdp::bellman::Stopping::Span,
        ..opts.clone()
    };
    let t = Instant::now();
    let sol_s = bellman::value_iteration(&m, m.reward(), None, &span).unwrap();
    let dv = sol
        .v
        .iter()
        .zip(&sol_s.v)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "[mdp bench] sparse, MacQueen span stopping: solve to 1e-8 in {:.2} s ({} sweeps, bound {:.1e}); |V_sup − V_span|∞ = {dv:.1e}",
        t.elapsed().as_secs_f64(),
        sol_s.iterations,
        sol_s.error_bound
    );
    let mut g = c.benchmark_group("sparse_S100000_A10_b10");
    g.sample_size(10);
    g.bench_function("solve_to_1e-8_gamma_0.9", |b| {
        b.iter(|| {
            black_box(
                bellman::value_iteration(&m, m.reward(), None, &opts)
                    .unwrap()
                    .iterations,
            )
        })
    });
    g.finish();
}

fn alg1(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let m = random_mdp(&RandomMdp::small(20, 4), &mut rng).unwrap();
    let model = RewardModel::tabular(&m);
    let sol = bellman::value_iteration(&m, m.reward(), None, &ViOptions::default()).unwrap();
    let pi: Vec<f64> = sol.log_pi.iter().map(|l| l.exp()).collect();
    let s = Sampler::new(&m);
    let demos: Vec<_> = (0..100)
        .map(|_| traj::sample(&m, &s, &[&pi], Length::Fixed(50), &mut rng))
        .collect();
    let prefs =
        traj::sample_preferences(&m, &s, &[&pi], Length::Fixed(50), m.reward(), 100, &mut rng);
    let data = Data::from_trajectories(&m, &model, &demos, &prefs).unwrap();
    let opts = Options {
        iterations: 100_000,
        ..Options::default()
    }
    .checked()
    .unwrap();
    let mut r2 = ChaCha8Rng::seed_from_u64(4);
    let t = Instant::now();
    let tr = algorithm1::run(&m, &model, &data, &opts, None, &mut r2).unwrap();
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "[mdp bench] Algorithm 1, 20 states × 4 actions, γ = 0.9, batch 1: {:.0} iterations/s (target ≥ 100,000; θ_K finite: {})",
        opts.iterations as f64 / secs,
        tr.theta.iter().all(|x| x.is_finite())
    );
    let opts_b = Options {
        iterations: 10_000,
        ..Options::default()
    }
    .checked()
    .unwrap();
    let mut g = c.benchmark_group("algorithm1_S20_A4");
    g.sample_size(20);
    g.bench_function("10k_iterations", |b| {
        b.iter(|| {
            black_box(
                algorithm1::run(&m, &model, &data, &opts_b, None, &mut r2)
                    .unwrap()
                    .theta[0],
            )
        })
    });
    g.finish();
}

criterion_group!(benches, dense, sparse, alg1);
criterion_main!(benches);
