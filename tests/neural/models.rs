//! Models.

use super::*;

fn enumerate_logprobs(net: &dyn tch::nn::ModuleT, v: usize, h: usize) -> Vec<f64> {
    let mut all = SeqData::default();
    let n = v.pow(h as u32);
    for k in 0..n {
        let y: Vec<i64> = EnumTask::tokens_of(k, v, h)
            .into_iter()
            .map(|x| x as i64)
            .collect();
        all.intern(&[0], &y);
    }
    train::logprobs(net, &all, &(0..n).collect::<Vec<_>>(), Device::Cpu).unwrap()
}

/// Both policies define distributions over `V^H`: enumerated probabilities sum to one (a
/// randomly filled prefix table and a randomly initialised transformer).
#[test]
fn policies_are_normalised_over_all_sequences() {
    aihf::neural::manual_seed(3);
    for arch in [
        Arch::Tabular,
        Arch::Transformer(TransformerConfig::default()),
    ] {
        let vs = nn::VarStore::new(Device::Cpu);
        let spec = ModelSpec {
            arch: arch.clone(),
            vocab: 3,
            context: 4,
        };
        let net = model::policy(&vs.root(), &spec).unwrap();
        tch::no_grad(|| {
            for mut v in vs.trainable_variables() {
                let _ = v.normal_(0.0, 1.0);
            }
        });
        let lp = enumerate_logprobs(net.as_ref(), 3, 3);
        let s: f64 = lp.iter().map(|l| l.exp()).sum();
        assert!(
            (s - 1.0).abs() < aihf::tol::NEURAL_PROB_SUM,
            "{}: Σ π = {s}",
            arch.name()
        );
        let min = lp.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(
            min < -4.0,
            "{}: random weights should give a non-uniform policy (min log π {min})",
            arch.name()
        );
    }
}

/// Causality of the transformer: changing token t changes no output at positions < t.
#[test]
fn transformer_is_causal() {
    aihf::neural::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let spec = ModelSpec {
        arch: Arch::Transformer(TransformerConfig::default()),
        vocab: 5,
        context: 6,
    };
    let net = model::policy(&vs.root(), &spec).unwrap();
    let a = Tensor::from_slice(&[1i64, 2, 3, 4, 0, 1]).view([1, 6]);
    let b = Tensor::from_slice(&[1i64, 2, 3, 0, 4, 4]).view([1, 6]);
    let (za, zb) = (net.forward_t(&a, false), net.forward_t(&b, false));
    let early = (za.narrow(1, 0, 3) - zb.narrow(1, 0, 3)).abs().max();
    let late = (za.narrow(1, 3, 3) - zb.narrow(1, 3, 3)).abs().max();
    assert!(
        scalar(&early) < 1e-6,
        "outputs before the change moved by {}",
        scalar(&early)
    );
    assert!(
        scalar(&late) > 1e-4,
        "outputs after the change did not move"
    );
}

/// Initialisation depends on the seed alone, not on libtorch's global generator (which parallel
/// tests share).
#[test]
fn initialisation_is_reproducible_from_its_seed() {
    let spec = ModelSpec {
        arch: Arch::Transformer(TransformerConfig::default()),
        vocab: 5,
        context: 6,
    };
    let build = |global: i64, seed: u64| {
        tch::manual_seed(global);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = model::policy(&vs.root(), &spec).unwrap();
        model::init_weights(&vs, seed).unwrap();
        let x = Tensor::from_slice(&[1i64, 2, 3, 4, 0, 1]).view([1, 6]);
        net.forward_t(&x, false)
    };
    let (a, b, c) = (build(1, 5), build(999, 5), build(1, 6));
    assert!(
        scalar(&(&a - &b).abs().max()) < 1e-7,
        "same seed, different outputs"
    );
    assert!(
        scalar(&(&a - &c).abs().max()) > 1e-4,
        "different seeds, same outputs"
    );
}

#[test]
fn bad_model_sizes_are_errors() {
    let vs = nn::VarStore::new(Device::Cpu);
    let bad = [
        ModelSpec {
            arch: Arch::Transformer(TransformerConfig {
                heads: 3,
                ..Default::default()
            }),
            vocab: 4,
            context: 4,
        },
        ModelSpec {
            arch: Arch::Tabular,
            vocab: 258,
            context: 64,
        },
        ModelSpec {
            arch: Arch::Tabular,
            vocab: 4,
            context: 1,
        },
    ];
    for s in bad {
        let e = model::policy(&vs.root(), &s).err().map(|e| e.to_string());
        assert!(e.is_some(), "{s:?} was accepted");
    }
}

#[test]
fn cuda_where_none_exists_and_cpu_bf16_are_clear_errors() {
    if !tch::Cuda::is_available() {
        let e = aihf::neural::device("cuda").unwrap_err().to_string();
        assert!(e.contains("CUDA is not available"), "{e}");
    }
    let e = aihf::neural::device("tpu").unwrap_err().to_string();
    assert!(e.contains("expected cpu, cuda or cuda:N"), "{e}");
    assert!(Dtype::Bf16.kind(Device::Cpu).is_err());
    assert_eq!(aihf::neural::device("cpu").unwrap(), Device::Cpu);
}
