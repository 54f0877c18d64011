//! Throughput of the neural trainers on the cross-validation task (|V| = 4, H = 3, 64 distinct
//! sequences, 2000 demonstrations, 3000 comparisons, full batch), one libtorch thread:
//! `scripts/torch-env.sh cargo bench --features neural --bench neural`.

use aihf::bandit::Method;
use aihf::neural::crossval::{self, CrossvalConfig, ModelKind};
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

criterion_group!(benches, steps);
criterion_main!(benches);
