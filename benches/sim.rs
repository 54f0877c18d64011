//! Per-solve cost of the Figure 9 study (50 actions, 2000 demonstrations on actions 1–45,
//! 200 comparisons per pair): drawing one data set, each estimator on it, and one whole
//! replication (draw + SFT, RLHF, AIHF, BTL with the RLHF-from-BTL shortcut).
//! `cargo bench --bench sim`

use aihf::bandit::{fit, Method, Options};
use aihf::sim::engine::{replicate, Estimator, Scenario};
use aihf::valid::{Check, Valid};
use criterion::{criterion_group, criterion_main, Criterion};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

fn scenario() -> Valid<Scenario> {
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    Scenario {
        reward: (0..50).map(|_| StandardNormal.sample(&mut rng)).collect(),
        beta: 1.0,
        demos: 2000,
        covered: Some((0..45).collect()),
        comparisons_per_pair: 200,
    }
    .checked()
    .unwrap()
}

fn fig9(c: &mut Criterion) {
    let scn = scenario();
    let est: Vec<Estimator> = [Method::Sft, Method::Rlhf, Method::Aihf, Method::Btl]
        .iter()
        .map(|&m| Estimator {
            label: m.name().into(),
            method: m,
            options: Options::default(),
        })
        .collect();
    let mut g = c.benchmark_group("fig9");
    g.sample_size(20);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    g.bench_function("draw", |b| {
        b.iter(|| black_box(scn.draw(&mut rng).unwrap()))
    });
    let data = scn.draw(&mut ChaCha8Rng::seed_from_u64(2)).unwrap();
    for m in [Method::Sft, Method::Btl, Method::Rlhf, Method::Aihf] {
        g.bench_function(m.name(), |b| {
            b.iter(|| black_box(fit(m, &data, &Options::default()).unwrap()))
        });
    }
    let mut k = 0u64;
    g.bench_function("replication", |b| {
        b.iter(|| {
            k += 1;
            black_box(replicate(&scn, &est, 9, k).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, fig9);
criterion_main!(benches);
