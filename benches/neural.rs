//! Throughput of the neural trainers, one libtorch thread:
//! `scripts/torch-env.sh cargo bench --features neural --bench neural`.
//!
//! - "50 full-batch steps": the cross-validation task (|V| = 4, H = 3, 64 distinct sequences,
//!   2000 demonstrations, 3000 comparisons, full batch);
//! - "step": one training step of SFT, DPO and one AIHF iteration (and the generation of its
//!   samples) on random tokens ([`aihf::neural::bench`]): a transformer of 2 layers × width 64
//!   (2 heads), vocab 64, B = 8, T = 32 (P = 16), CPU, f32.

use aihf::bandit::Method;
use aihf::neural::bench::{Bench, BenchConfig, Preset};
use aihf::neural::crossval::{self, CrossvalConfig, ModelKind};
use aihf::neural::model::Arch;
use criterion::{criterion_group, criterion_main, Criterion};

fn steps(c: &mut Criterion) {
    tch::set_num_threads(1);
    let mut cfg = CrossvalConfig::default();
    cfg.tabular_train.steps = 50;
    cfg.transformer_train.steps = 50;
    let p = crossval::prepare(&cfg).expect("task");
    let mut g = c.benchmark_group("50 full-batch steps");
    g.sample_size(10);
    for (kind, name) in [
        (ModelKind::Tabular, "tabular"),
        (ModelKind::Transformer, "transformer"),
    ] {
        for method in [Method::Sft, Method::Btl, Method::Dpo] {
            g.bench_function(format!("{name}/{}", method.name()), |b| {
                b.iter(|| {
                    crossval::train_one(method, kind, &cfg, &p, &p.ref_logp, 1).expect("train")
                })
            });
        }
    }
    g.finish();
}

fn one_step(c: &mut Criterion) {
    tch::set_num_threads(1);
    let mut cfg = BenchConfig::preset(Preset::Tiny);
    if let Arch::Transformer(t) = &mut cfg.spec.arch {
        t.width = 64;
    }
    cfg.batch = 8;
    let mut bench = Bench::new(&cfg, tch::Device::Cpu).expect("bench");
    let mut g = c.benchmark_group("step");
    g.bench_function("sft", |b| b.iter(|| bench.sft_step().expect("sft")));
    g.bench_function("dpo", |b| b.iter(|| bench.dpo_step(true).expect("dpo")));
    g.bench_function("dpo-precomputed-ref", |b| {
        b.iter(|| bench.dpo_step(false).expect("dpo"))
    });
    g.bench_function("aihf", |b| b.iter(|| bench.aihf_step().expect("aihf")));
    g.bench_function("generation", |b| {
        b.iter(|| bench.generate().expect("generation"))
    });
    g.finish();
}

criterion_group!(benches, steps, one_step);
criterion_main!(benches);
