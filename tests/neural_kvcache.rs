//! The key–value cache of the GPT policy's generation (issue 13, part 5): cached decoding must
//! give the same tokens and log-probabilities as re-running the whole prefix at every step.
//! Run with `scripts/torch-env.sh cargo test --features neural --test neural_kvcache`.
//!
//! The independent computation is the uncached path itself ([`model::Decoder::Full`]: one full
//! causal forward over prompt + response per step), and, for the log-probabilities, one full
//! forward over the finished sequences, read off with `log_softmax` (teacher forcing).
#![cfg(feature = "neural")]

use aihf::neural::model::{self, Decoder, KvCache, ModelSpec, TransformerConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

/// f32 logits computed through different matmul shapes (one query row against the cache, or the
/// whole prefix) agree to a few ulps of their magnitude (~1); 1e-4 on a log-probability is far
/// above that round-off and far below any real difference (a wrong position or mask moves the
/// log-probabilities by O(0.1) on a random network of this width).
const LOGPROB_TOL: f64 = 1e-4;

fn gpt(vocab: i64, context: i64, c: TransformerConfig, seed: u64) -> (nn::VarStore, model::Gpt) {
    let vs = nn::VarStore::new(Device::Cpu);
    let spec = ModelSpec {
        arch: model::Arch::Transformer(c),
        vocab,
        context,
    };
    let net = model::transformer_policy(&vs.root(), &spec).unwrap();
    model::init_weights(&vs, seed).unwrap();
    // GPT-2's 0.02 initialisation gives nearly uniform next-token distributions; scale the
    // weights up so the test distinguishes positions (a wrong position would change tokens).
    tch::no_grad(|| {
        for (_, mut t) in vs.variables() {
            let _ = t.g_mul_(&Tensor::from(20.0));
        }
    });
    (vs, net)
}

fn cfg() -> TransformerConfig {
    TransformerConfig {
        layers: 2,
        heads: 2,
        width: 32,
        dropout: 0.0,
    }
}

#[test]
fn cached_generation_matches_full_recomputation() {
    let (vocab, context) = (11, 24);
    let (_vs, net) = gpt(vocab, context, cfg(), 7);
    for (prompt, eos) in [
        (vec![3i64], None),
        (vec![1, 4, 1, 5], None),
        (vec![2, 7], Some(0)),
    ] {
        let max_new = context as usize - prompt.len();
        let mut r1 = ChaCha8Rng::seed_from_u64(11);
        let mut r2 = ChaCha8Rng::seed_from_u64(11);
        let full = model::sample(
            Decoder::Full(&net),
            &prompt,
            6,
            max_new,
            eos,
            Device::Cpu,
            &mut r1,
        )
        .unwrap();
        let cached = model::sample(
            Decoder::Cached(&net),
            &prompt,
            6,
            max_new,
            eos,
            Device::Cpu,
            &mut r2,
        )
        .unwrap();
        assert_eq!(
            full.tokens, cached.tokens,
            "prompt {prompt:?}: tokens differ"
        );
        let distinct: std::collections::BTreeSet<_> = full.tokens.iter().flatten().collect();
        assert!(distinct.len() > 3, "degenerate samples {:?}", full.tokens);
        for (a, b) in full
            .logprobs
            .iter()
            .flatten()
            .zip(cached.logprobs.iter().flatten())
        {
            assert!(
                (a - b).abs() < LOGPROB_TOL,
                "log-prob {a} (full) vs {b} (cached)"
            );
        }
        // Teacher forcing on the finished sequences (fixed length only).
        if eos.is_none() {
            let seqs: Vec<i64> = full
                .tokens
                .iter()
                .flat_map(|y| prompt.iter().chain(y).copied().collect::<Vec<_>>())
                .collect();
            let x = Tensor::from_slice(&seqs).view([6, context]);
            let lp = tch::no_grad(|| net.forward_t(&x, false))
                .to_kind(Kind::Double)
                .log_softmax(-1, Kind::Double);
            for (r, (y, l)) in cached.tokens.iter().zip(&cached.logprobs).enumerate() {
                for (i, (&tok, &got)) in y.iter().zip(l).enumerate() {
                    let pos = (prompt.len() + i - 1) as i64;
                    let want = lp.double_value(&[r as i64, pos, tok]);
                    assert!(
                        (want - got).abs() < LOGPROB_TOL,
                        "row {r} token {i}: cached {got} vs teacher-forced {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn cache_feeds_chunks_like_a_full_forward() {
    // Prefill 5 tokens, then a chunk of 3 (explicit mask), then 1: the outputs equal the
    // matching positions of one causal forward over all 9.
    let (vocab, context) = (13, 16);
    let (_vs, net) = gpt(vocab, context, cfg(), 3);
    let ids: Vec<i64> = vec![1, 5, 2, 12, 0, 7, 7, 3, 9];
    let x = Tensor::from_slice(&ids).view([1, 9]);
    let full = tch::no_grad(|| net.forward_t(&x, false));
    let mut cache = KvCache::new();
    let mut parts = Vec::new();
    for (a, b) in [(0, 5), (5, 8), (8, 9)] {
        parts
            .push(tch::no_grad(|| net.forward_cached(&x.narrow(1, a, b - a), &mut cache)).unwrap());
    }
    assert_eq!(cache.len(), 9);
    let cached = Tensor::cat(&parts, 1);
    let diff = (full - cached).abs().max().double_value(&[]);
    assert!(diff < 1e-4, "max |full − cached| = {diff}");
    // Past the context: an error, not a panic.
    let more = Tensor::from_slice(&[1i64; 8]).view([1, 8]);
    assert!(net.forward_cached(&more, &mut cache).is_err());
}

/// Tokens/s of both paths at `V = 4096`, context 257 (a 1-token prompt, 256 new tokens, 16
/// samples; 2 layers × width 64, 2 heads — the README's Markov-task size) on one CPU thread.
#[test]
#[ignore = "timing, ~1 min on CPU: prints tokens/s before and after the cache"]
fn kvcache_speed() {
    tch::set_num_threads(1);
    let c = TransformerConfig {
        layers: 2,
        heads: 2,
        width: 64,
        dropout: 0.0,
    };
    let (_vs, net) = gpt(4096, 257, c, 1);
    let (n, new) = (16usize, 256usize);
    for (name, dec) in [
        ("cached", Decoder::Cached(&net)),
        ("full", Decoder::Full(&net)),
    ] {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t0 = std::time::Instant::now();
        let g = model::sample(dec, &[0], n, new, None, Device::Cpu, &mut rng).unwrap();
        let s = t0.elapsed().as_secs_f64();
        let toks: usize = g.tokens.iter().map(Vec::len).sum();
        println!(
            "{name}: {toks} tokens in {s:.2} s = {:.0} tokens/s",
            toks as f64 / s
        );
    }
}
