//! Tests of the neural layer (feature `neural`): run them with
//! `scripts/torch-env.sh cargo test --features neural --test neural`.
//!
//! Golden numbers are derived by hand in the comments, or computed independently in f64 by
//! `aihf::math` (not libtorch), or by the exact layer (`aihf::bandit::fit`).
#![cfg(feature = "neural")]

use aihf::bandit::{fit, Method, Options};
use aihf::math::{log_sigmoid, log_softmax, tv};
use aihf::neural::crossval::{self, CrossvalConfig, ModelKind};
use aihf::neural::data::{read_demos, read_prefs, ByteTokenizer, Demo, Pref, ReadOptions, SeqData};
use aihf::neural::model::{self, Arch, ModelSpec, TransformerConfig};
use aihf::neural::task::{EnumTask, TaskConfig};
use aihf::neural::train::{self, Hyper, SelfPlay, StepOut, TrainConfig};
use aihf::neural::{loss, Dtype};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use tch::{nn, Device, Kind, Tensor};

fn t(v: &[f64]) -> Tensor {
    Tensor::from_slice(v).to_kind(Kind::Float)
}

fn scalar(x: &Tensor) -> f64 {
    x.double_value(&[])
}

/// The default cross-validation task and data, and a tabular model spec for it.
fn tabular_task() -> (CrossvalConfig, crossval::Prepared, ModelSpec) {
    let cfg = CrossvalConfig::default();
    let p = crossval::prepare(&cfg).unwrap();
    let (vocab, context) = p.task.vocab_context();
    let spec = ModelSpec {
        arch: Arch::Tabular,
        vocab,
        context,
    };
    (cfg, p, spec)
}

/// Scores table sequences `idx` by an enumerable task's per-sequence `table` (its exact reward or
/// `log π_ref`): a scorer for the RL trainers.
fn lookup(
    task: &EnumTask,
    t: &SeqData,
    idx: &[usize],
    table: &[f64],
) -> aihf::error::Result<Vec<f64>> {
    Ok(idx
        .iter()
        .map(|&i| table[task.index_of(&t.seqs[i].response).unwrap()])
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Losses against hand-derived numbers.

/// Two sequences, V = 3, T = 4. Row 0: prompt of 2 tokens, response of 2. Row 1: prompt of 1
/// token, response of 1, then one padding position. Logits are chosen per position; the expected
/// value is the f64 sum of `log_softmax(z_{t−1})[x_t]` over response positions only, computed by
/// `aihf::math::log_softmax` (independent of libtorch).
#[test]
fn sequence_logprobs_sum_response_tokens_only() {
    let z: Vec<[f64; 3]> = vec![
        [0.1, 0.5, -0.3],
        [2.0, -1.0, 0.0],
        [0.3, 0.3, 1.7],
        [9.0, 9.0, 9.0], // last position: never used
        [1.0, 0.0, -1.0],
        [-2.0, 4.0, 0.5],
        [5.0, -5.0, 0.0],
        [0.0, 0.0, 0.0],
    ];
    let flat: Vec<f64> = z.iter().flatten().copied().collect();
    let logits = t(&flat).view([2, 4, 3]);
    let tokens = Tensor::from_slice(&[2i64, 0, 1, 2, 1, 2, 0, 0]).view([2, 4]);
    let mask = t(&[0., 0., 1., 1., 0., 1., 0., 0.]).view([2, 4]);
    let lp = loss::sequence_logprobs(&logits, &tokens, &mask);
    // Row 0: token 1 at position 2 (scored by z[1]) and token 2 at position 3 (scored by z[2]).
    let want0 = log_softmax(&z[1])[1] + log_softmax(&z[2])[2];
    // Row 1: token 2 at position 1 (scored by z[4]); prompt and padding excluded.
    let want1 = log_softmax(&z[4])[2];
    let got: Vec<f64> = Vec::try_from(lp.to_kind(Kind::Double)).unwrap();
    assert!(
        (got[0] - want0).abs() < 1e-5,
        "row 0: {} vs {want0}",
        got[0]
    );
    assert!(
        (got[1] - want1).abs() < 1e-5,
        "row 1: {} vs {want1}",
        got[1]
    );
}

/// bf16 logits are upcast: the result is f32 and matches the f32 computation on the same
/// (bf16-rounded) values.
#[test]
fn logits_are_upcast_before_log_softmax() {
    let logits = t(&[0.1, 3.0, -2.0, 1.0, 0.5, 0.25])
        .view([1, 2, 3])
        .to_kind(Kind::BFloat16);
    let tokens = Tensor::from_slice(&[0i64, 1]).view([1, 2]);
    let mask = t(&[0., 1.]).view([1, 2]);
    let lp = loss::sequence_logprobs(&logits, &tokens, &mask);
    assert_eq!(lp.kind(), Kind::Float);
    let want = loss::sequence_logprobs(&logits.to_kind(Kind::Float), &tokens, &mask);
    assert!((scalar(&lp) - scalar(&want)).abs() < 1e-6);
}

/// DPO, IPO, BTL, SFT on two records with weights (2, 1), against f64 formulas:
/// h_w − h_l per record: record 0: (−1 − (−1.5)) − (−2 − (−1.5)) = 0.5 + 0.5 = 1.0;
/// record 1: (−3 − (−2)) − (−1 − (−2)) = −1 − 1 = −2.0.
/// DPO(β = 0.5) = −(2 log σ(0.5) + log σ(−1.0)) / 3;
/// IPO(τ = 0.25, target 1/(2τ) = 2) = (2 (1 − 2)² + (−2 − 2)²) / 3 = (2 + 16)/3 = 6.
#[test]
fn losses_match_hand_derived_values() {
    let (lw, ll) = (t(&[-1.0, -3.0]), t(&[-2.0, -1.0]));
    let (rw, rl) = (t(&[-1.5, -2.0]), t(&[-1.5, -2.0]));
    let w = t(&[2.0, 1.0]);
    let dpo = scalar(&loss::dpo(&lw, &ll, &rw, &rl, 0.5, &w));
    let want = -(2.0 * log_sigmoid(0.5) + log_sigmoid(-1.0)) / 3.0;
    assert!((dpo - want).abs() < 1e-6, "DPO {dpo} vs {want}");
    let ipo = scalar(&loss::ipo(&lw, &ll, &rw, &rl, 0.25, &w));
    assert!((ipo - 6.0).abs() < 1e-5, "IPO {ipo} vs 6");
    // BTL on rewards (1, −1) vs (0, 2): margins 1 and −3.
    let btl = scalar(&loss::btl(&t(&[1.0, -1.0]), &t(&[0.0, 2.0]), &w));
    let want = -(2.0 * log_sigmoid(1.0) + log_sigmoid(-3.0)) / 3.0;
    assert!((btl - want).abs() < 1e-6, "BTL {btl} vs {want}");
    let sft = scalar(&loss::sft(&t(&[-1.0, -4.0]), &w));
    assert!((sft - 2.0).abs() < 1e-6, "SFT {sft} vs (2·1 + 4)/3 = 2");
    // Stability: a margin of −200 gives a loss of ≈ 200·β, not inf.
    let big = scalar(&loss::dpo(
        &t(&[-200.0]),
        &t(&[0.0]),
        &t(&[0.0]),
        &t(&[0.0]),
        1.0,
        &t(&[1.0]),
    ));
    assert!((big - 200.0).abs() < 1e-3, "DPO at margin −200: {big}");
}

/// The DPO and IPO losses over the de-duplicated table (duplicates as weights) equal the exact
/// layer's independent sums over the count matrix at an arbitrary policy (the task's `π*`):
/// `loss_DPO = −(1/M) Σ_{i≠j} M_ij log σ(β(h_i − h_j))` (`aihf::bandit::dpo_loglik`), and the IPO
/// loss against a direct f64 sum over the counts.
#[test]
fn table_losses_match_the_exact_layer_sums() {
    let cfg = CrossvalConfig::default();
    let p = crossval::prepare(&cfg).unwrap();
    let log_pi: Vec<f64> = p.task.pi_star.iter().map(|x| x.ln()).collect();
    let seq = |i: usize| p.task.index_of(&p.data.seqs[i].response).unwrap();
    let pick = |f: &dyn Fn(&(usize, usize, f64)) -> f64| {
        t(&p.data.prefs.iter().map(f).collect::<Vec<_>>())
    };
    let lw = pick(&|r| log_pi[seq(r.0)]);
    let ll = pick(&|r| log_pi[seq(r.1)]);
    let rw = pick(&|r| p.ref_logp[r.0]);
    let rl = pick(&|r| p.ref_logp[r.1]);
    let w = pick(&|r| r.2);
    let m = p.bandit.n_comparisons() as f64;
    for beta in [0.5, 1.0, 2.0] {
        let got = scalar(&loss::dpo(&lw, &ll, &rw, &rl, beta, &w));
        let want = -aihf::bandit::dpo_loglik(&p.bandit, &log_pi, &p.task.log_ref, beta) / m;
        assert!(
            (got - want).abs() < 1e-5 * want.abs().max(1.0),
            "β = {beta}: DPO {got} vs exact {want}"
        );
    }
    let tau = 0.3;
    let n = p.task.len();
    let mut want = 0.0;
    for i in 0..n {
        for j in 0..n {
            let c = p.bandit.pref(i, j) as f64;
            if c > 0.0 {
                let d =
                    (log_pi[i] - p.task.log_ref[i]) - (log_pi[j] - p.task.log_ref[j]) - 0.5 / tau;
                want += c * d * d;
            }
        }
    }
    want /= m;
    let got = scalar(&loss::ipo(&lw, &ll, &rw, &rl, tau, &w));
    assert!((got - want).abs() < 1e-5 * want, "IPO {got} vs {want}");
}

/// The assembled Direct AIHF loss in the trainer: at the tabular model's initialisation (the
/// uniform policy, `log π = −H log |V|` for every sequence) the first step's metrics must be
/// `sft = H log |V| = 3 log 4`, `pref_loss = (1/M) Σ_pairs −log σ(β (log π_ref(y_l) − log π_ref(y_w)))`
/// (h = −log π_ref, computed here in f64 from the task), and `loss = α·sft + pref_loss`.
/// SPIN/Self-Play AIHF: at the start of an iteration `π_φ = π_t`, so `h ≡ 0` and both their
/// terms equal `log 2`.
#[test]
fn trainer_losses_at_initialisation_match_hand_values() {
    let cfg = CrossvalConfig::default();
    let p = crossval::prepare(&cfg).unwrap();
    let (vocab, context) = p.task.vocab_context();
    let spec = ModelSpec {
        arch: Arch::Tabular,
        vocab,
        context,
    };
    let dir = tempfile::tempdir().unwrap();
    let (alpha, beta) = (0.7, 0.5);
    let hyper = Hyper {
        alpha,
        beta,
        ..Default::default()
    };
    let read = |path: &std::path::Path| -> serde_json::Value {
        let text = std::fs::read_to_string(path).unwrap();
        serde_json::from_str(text.lines().nth(1).unwrap()).unwrap()
    };
    let path = dir.path().join("d.jsonl");
    let tc = TrainConfig {
        steps: 1,
        metrics: Some(path.clone()),
        ..Default::default()
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let net = model::policy(&vs.root(), &spec).unwrap();
    train::train_policy(
        net.as_ref(),
        &vs,
        &p.data,
        train::Objective::DirectAihf,
        Some(&p.ref_logp),
        &hyper,
        &tc,
        None,
    )
    .unwrap();
    let m = read(&path);
    let sft_want = 3.0 * 4f64.ln();
    let (mut num, mut den) = (0.0, 0.0);
    for &(w, l, c) in &p.data.prefs {
        num += -c * log_sigmoid(beta * (p.ref_logp[l] - p.ref_logp[w]));
        den += c;
    }
    let pref_want = num / den;
    let (sft, pref, total) = (
        m["sft"].as_f64().unwrap(),
        m["pref_loss"].as_f64().unwrap(),
        m["loss"].as_f64().unwrap(),
    );
    assert!((sft - sft_want).abs() < 1e-5, "sft {sft} vs {sft_want}");
    assert!(
        (pref - pref_want).abs() < 1e-5,
        "pref_loss {pref} vs {pref_want}"
    );
    assert!(
        (total - (alpha * sft_want + pref_want)).abs() < 1e-5,
        "loss {total}"
    );

    let path = dir.path().join("s.jsonl");
    let tc = TrainConfig {
        steps: 1,
        metrics: Some(path.clone()),
        ..Default::default()
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let net = model::policy(&vs.root(), &spec).unwrap();
    let sp = SelfPlay {
        iters: 1,
        samples_per_prompt: 8,
        max_new_tokens: 3,
        eos: None,
        with_preferences: true,
        context: context as usize,
    };
    train::train_self_play(net.as_ref(), &vs, &p.data, &sp, &hyper, &tc).unwrap();
    let m = read(&path);
    let ln2 = 2f64.ln();
    for k in ["spin_loss", "pref_loss"] {
        let v = m[k].as_f64().unwrap();
        assert!((v - ln2).abs() < 1e-6, "{k} {v} vs log 2");
    }
    assert!((m["loss"].as_f64().unwrap() - (1.0 + hyper.lambda) * ln2).abs() < 1e-6);
}

/// A record repeated c times and the record once with weight c give the same loss and the same
/// gradient (the trainers merge duplicates into weights).
#[test]
fn weights_equal_repetition() {
    let x = Tensor::from_slice(&[0.3f32, -0.7]).set_requires_grad(true);
    let rep = loss::dpo(
        &x.get(0).repeat([3]),
        &x.get(1).repeat([3]),
        &t(&[0., 0., 0.]),
        &t(&[0., 0., 0.]),
        2.0,
        &t(&[1., 1., 1.]),
    );
    let one = loss::dpo(
        &x.get(0).view([1]),
        &x.get(1).view([1]),
        &t(&[0.]),
        &t(&[0.]),
        2.0,
        &t(&[3.]),
    );
    assert!((scalar(&rep) - scalar(&one)).abs() < 1e-7);
}

// ---------------------------------------------------------------------------------------------
// Models.

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

// ---------------------------------------------------------------------------------------------
// Data.

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn ro(vocab: i64, context: i64, truncate: bool) -> ReadOptions {
    ReadOptions {
        vocab,
        context,
        truncate,
    }
}

#[test]
fn reads_text_and_ids_and_merges_duplicates() {
    let f = file("{\"prompt\": \"hi\", \"completion\": \"yo\", \"source\": \"x\"}\n\n{\"prompt_ids\": [256, 104, 105], \"completion_ids\": [121, 111, 257]}\n");
    let d = read_demos(f.path(), &ro(258, 16, false)).unwrap();
    assert_eq!(d.records.len(), 2);
    assert_eq!(d.records[0].prompt, vec![ByteTokenizer::BOS, 104, 105]);
    assert_eq!(d.records[0].completion, vec![121, 111, ByteTokenizer::EOS]);
    assert_eq!(d.records[0], d.records[1]);
    let table = SeqData::from_records(&d.records, &[]);
    assert_eq!(table.seqs.len(), 1);
    assert_eq!(table.demos, vec![(0, 2.0)]);
    let p = file("{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n");
    let p = read_prefs(p.path(), &ro(258, 16, false)).unwrap();
    assert_eq!(ByteTokenizer.decode(&p.records[0].chosen), "a");
}

/// Bad input: each case must fail with the file's line number and the reason.
#[test]
fn malformed_records_are_errors_with_line_numbers() {
    let cases: &[(&str, i64, i64, &str)] = &[
        ("{\"prompt_ids\":[0],\"completion_ids\":[1]}\n{\"prompt_ids\":[0],\"completion_ids\":[1]\n", 4, 8, ":2: malformed JSON"),
        ("{\"prompt_ids\":[0],\"completion_ids\":[1]}\n\n{\"prompt_ids\":[0],\"completion_ids\":[4]}\n", 4, 8, ":3: `completion_ids[0]` = 4 is outside the vocabulary 0..4"),
        ("{\"prompt_ids\":[0],\"completion_ids\":[-1]}\n", 4, 8, ":1: `completion_ids[0]` = -1 is outside"),
        ("{\"prompt_ids\":[0],\"completion_ids\":[1.5]}\n", 4, 8, ":1: `completion_ids[0]` = 1.5 is not an integer"),
        ("{\"prompt_ids\":[0,1,2],\"completion_ids\":[1,2,3]}\n", 4, 5, ":1: prompt + response is 6 tokens, over the context of 5"),
        ("{\"prompt\":\"a\",\"prompt_ids\":[0],\"completion_ids\":[1]}\n", 258, 8, ":1: has both `prompt` and `prompt_ids`"),
        ("{\"prompt\":\"a\",\"completion\":\"b\"}\n", 4, 8, ":1: text field `prompt` needs the byte tokenizer"),
        ("{\"prompt_ids\":[],\"completion_ids\":[1]}\n", 4, 8, ":1: empty prompt"),
        ("{\"prompt_ids\":[0]}\n", 4, 8, ":1: missing `completion`"),
        ("[1, 2]\n", 4, 8, ":1: expected a JSON object"),
        ("\n\n", 4, 8, "no records"),
    ];
    for (text, vocab, context, want) in cases {
        let f = file(text);
        let e = read_demos(f.path(), &ro(*vocab, *context, false))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(want),
            "input {text:?}: error {e:?} does not contain {want:?}"
        );
    }
    let f = file("{\"prompt_ids\":[0],\"chosen_ids\":[1],\"rejected_ids\":[9]}\n");
    let e = read_prefs(f.path(), &ro(4, 8, false))
        .unwrap_err()
        .to_string();
    assert!(e.contains(":1: `rejected_ids[0]` = 9 is outside"), "{e}");
}

#[test]
fn truncation_only_when_asked_and_counted() {
    let f = file("{\"prompt_ids\":[0,1,2],\"completion_ids\":[1,2,3]}\n{\"prompt_ids\":[0],\"completion_ids\":[1]}\n");
    assert!(read_demos(f.path(), &ro(4, 5, false)).is_err());
    let d = read_demos(f.path(), &ro(4, 5, true)).unwrap();
    assert_eq!(d.truncated, 1);
    // The prompt keeps its last tokens (2 of 3), the response stays whole.
    assert_eq!(d.records[0].prompt, vec![1, 2]);
    assert_eq!(d.records[0].completion, vec![1, 2, 3]);
    // A response longer than the context keeps one prompt token and is cut on the right.
    let f = file("{\"prompt_ids\":[0,1],\"completion_ids\":[1,2,3,0,1]}\n");
    let d = read_demos(f.path(), &ro(4, 4, true)).unwrap();
    assert_eq!(
        (d.records[0].prompt.clone(), d.records[0].completion.clone()),
        (vec![1], vec![1, 2, 3])
    );
}

/// The generator's files read back to the same counts the exact layer sees.
#[test]
fn generated_task_round_trips_through_jsonl() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let task = EnumTask::new(
        TaskConfig {
            n_demos: 50,
            n_comparisons: 40,
            ..Default::default()
        },
        &mut rng,
    )
    .unwrap();
    let s: f64 = task.pi_star.iter().sum();
    assert!((s - 1.0).abs() < 1e-12);
    let sref: f64 = task.log_ref.iter().map(|l| l.exp()).sum();
    assert!(
        (sref - 1.0).abs() < 1e-12,
        "the reference is a distribution over V^H: Σ = {sref}"
    );
    let (demos, prefs) = task.sample(&mut rng);
    let fd = file(&aihf::neural::data::demos_to_jsonl(&demos));
    let fp = file(&aihf::neural::data::prefs_to_jsonl(&prefs));
    let (vocab, context) = task.vocab_context();
    let d: Vec<Demo> = read_demos(fd.path(), &ro(vocab, context, false))
        .unwrap()
        .records;
    let p: Vec<Pref> = read_prefs(fp.path(), &ro(vocab, context, false))
        .unwrap()
        .records;
    assert_eq!(
        task.to_bandit(&d, &p).unwrap(),
        task.to_bandit(&demos, &prefs).unwrap()
    );
    assert_eq!(task.to_bandit(&d, &p).unwrap().n_demos(), 50);
}

// ---------------------------------------------------------------------------------------------
// Trainers.

/// A non-finite loss stops training with the step number, as an error.
#[test]
fn nan_loss_stops_with_the_step_number() {
    let vs = nn::VarStore::new(Device::Cpu);
    let x = vs.root().zeros("x", &[1]);
    let cfg = TrainConfig {
        steps: 10,
        ..Default::default()
    };
    let mut sink = None;
    let e = train::optimise(
        &vs,
        &cfg,
        "nan",
        0,
        &mut sink,
        &serde_json::json!({}),
        0,
        None,
        |step, _, _| {
            let bad = if step == 3 { f64::NAN } else { 1.0 };
            Ok(StepOut {
                loss: (&x * bad).sum(Kind::Float) + x.square().sum(Kind::Float),
                metrics: Default::default(),
            })
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("loss is NaN at step 3"), "{e}");
}

/// Metrics JSONL: a header with the seed, then one line per logged step with loss, lr,
/// grad_norm; the schedule decays to ~0 and warm-up ramps.
#[test]
fn metrics_and_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.jsonl");
    let vs = nn::VarStore::new(Device::Cpu);
    let x = vs.root().ones("x", &[2]);
    let cfg = TrainConfig {
        steps: 20,
        lr: 0.1,
        warmup: 5,
        log_every: 5,
        metrics: Some(path.clone()),
        seed: 42,
        ..Default::default()
    };
    let mut sink = train::sink(&cfg, serde_json::json!({"seed": cfg.seed})).unwrap();
    let r = train::optimise(
        &vs,
        &cfg,
        "q",
        0,
        &mut sink,
        &serde_json::json!({}),
        0,
        None,
        |_, _, _| {
            Ok(StepOut {
                loss: x.square().sum(Kind::Float),
                metrics: Default::default(),
            })
        },
    )
    .unwrap();
    drop(sink);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["run"]["seed"], 42);
    assert_eq!(lines.len(), 1 + 5, "steps 0,5,10,15 and the last (19)");
    assert_eq!(lines.last().unwrap()["step"], 19);
    assert!(
        lines[1]["lr"].as_f64().unwrap() < 0.021,
        "warm-up starts at lr/5"
    );
    assert!(
        r.final_loss < 2.0,
        "the quadratic decreased: {}",
        r.final_loss
    );
    assert!(cfg.lr_at(19) < 0.01 && (cfg.lr_at(4) - 0.1).abs() < 1e-12);
    // Step 0's gradient of Σ x² at x = (1, 1) is (2, 2): norm 2√2, logged before clipping.
    let g0 = lines[1]["grad_norm"].as_f64().unwrap();
    assert!((g0 - 8f64.sqrt()).abs() < 1e-6, "grad_norm {g0}");
}

/// The cross-validation (tabular model): every method within TV 0.02 of the exact
/// layer on |V| = 4, H = 3.
#[test]
fn crossval_tabular_reaches_the_exact_optimum() {
    let cfg = CrossvalConfig {
        models: vec![ModelKind::Tabular],
        rl_methods: vec![],
        ..Default::default()
    };
    let rep = crossval::run(&cfg).unwrap();
    eprint!("{}", crossval::table(&rep));
    for r in &rep.rows {
        assert!(
            r.tv <= r.threshold,
            "{} tabular: TV {:.5} > {}",
            r.method,
            r.tv,
            r.threshold
        );
        assert!(
            (r.prob_sum - 1.0).abs() < aihf::tol::NEURAL_PROB_SUM,
            "{}: Σ π = {}",
            r.method,
            r.prob_sum
        );
    }
    assert_eq!(rep.rows.len(), 5);
}

/// The sampling trainers (tabular model): BTL-then-RLHF by REINFORCE (ReMax baseline) reaches
/// `π_ref exp(r^P/β)/Z`, and AIHF's Algorithm 1 reaches the exact AIHF policy with `π0 = π_ref`,
/// each within TV 0.05.
#[test]
fn crossval_rl_reaches_the_exact_optimum() {
    let cfg = CrossvalConfig {
        models: vec![ModelKind::Tabular],
        methods: vec![],
        ..Default::default()
    };
    let rep = crossval::run(&cfg).unwrap();
    eprint!("{}", crossval::table(&rep));
    assert_eq!(rep.rows.len(), 2);
    // The two targets are far apart, and AIHF's λ N/M scaling matters: the check can fail.
    let p = crossval::prepare(&cfg).unwrap();
    let rlhf = crossval::exact(Method::Rlhf, &p.bandit, &p.task, &cfg.hyper).unwrap();
    let aihf = crossval::exact(Method::Aihf, &p.bandit, &p.task, &cfg.hyper).unwrap();
    let lambda_unscaled = Hyper {
        lambda: cfg.hyper.lambda * p.bandit.n_comparisons() as f64 / p.bandit.n_demos() as f64,
        ..cfg.hyper
    };
    let aihf_m = crossval::exact(Method::Aihf, &p.bandit, &p.task, &lambda_unscaled).unwrap();
    eprintln!(
        "TV(exact RLHF, exact AIHF) = {:.5}, TV(AIHF λN/M, AIHF λ) = {:.5}",
        tv(&rlhf, &aihf),
        tv(&aihf, &aihf_m)
    );
    // The AIHF row is closer to the λ N/M target than to the unscaled-λ one (triangle inequality).
    let row = rep.rows.iter().find(|r| r.method == "aihf").unwrap();
    let gap = tv(&aihf, &aihf_m);
    assert!(
        row.tv < 0.5 * gap,
        "AIHF: TV {:.5} to the λ N/M target is not below half the targets' gap {gap:.5}",
        row.tv
    );
    for r in &rep.rows {
        assert!(
            r.tv <= aihf::tol::NEURAL_TV_RL,
            "{} tabular (sampling): TV {:.5} > {}",
            r.method,
            r.tv,
            aihf::tol::NEURAL_TV_RL
        );
        assert!((r.prob_sum - 1.0).abs() < aihf::tol::NEURAL_PROB_SUM);
    }
}

/// REINFORCE against the task's true reward `r*` with the task's `π_ref` reaches
/// `π* = π_ref exp(r*/β)/Z` (independent of any trained reward model), with both baselines; with
/// a wrong reference (`log π_ref ≡ 0`) it lands far from `π*`, so the check can fail; a
/// non-finite reward stops with the step number.
#[test]
fn rlhf_with_the_true_reward_reaches_pi_star() {
    use aihf::neural::rl::{self, Baseline, Reinforce};
    let threads = tch::get_num_threads();
    tch::set_num_threads(1);
    let (cfg, p, spec) = tabular_task();
    let task = &p.task;
    let context = spec.context;
    let reward = |t: &SeqData, idx: &[usize]| lookup(task, t, idx, &task.reward);
    let reference = |t: &SeqData, idx: &[usize]| lookup(task, t, idx, &task.log_ref);
    let zeros = vec![0.0; task.len()];
    let wrong = |t: &SeqData, idx: &[usize]| lookup(task, t, idx, &zeros);
    let hyper = Hyper {
        beta: task.config.beta,
        ..cfg.hyper
    };
    let prompts = vec![(task.prompt.clone(), 1.0)];
    let run = |baseline: Baseline,
               reference: aihf::neural::rl::Scorer,
               reward: aihf::neural::rl::Scorer|
     -> aihf::error::Result<Vec<f64>> {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = model::policy(&vs.root(), &spec)?;
        let rl = Reinforce {
            samples_per_prompt: 256,
            max_new_tokens: task.config.horizon,
            eos: None,
            context: context as usize,
            baseline,
            step: aihf::neural::rl::PolicyStep::Reinforce,
        };
        let tc = TrainConfig {
            steps: 400,
            lr: 0.05,
            seed: 3,
            ..cfg.rl_train.clone()
        };
        rl::train_rlhf(
            net.as_ref(),
            &vs,
            &prompts,
            reward,
            reference,
            &rl,
            &hyper,
            &tc,
            None,
        )?;
        let idx: Vec<usize> = (0..p.all.seqs.len()).collect();
        let lp = train::logprobs(net.as_ref(), &p.all, &idx, Device::Cpu)?;
        Ok(lp.iter().map(|l| l.exp()).collect())
    };
    let greedy = run(Baseline::Greedy, &reference, &reward).unwrap();
    let mean = run(Baseline::Mean, &reference, &reward).unwrap();
    let off = run(Baseline::Greedy, &wrong, &reward).unwrap();
    let nan = |_: &SeqData, idx: &[usize]| -> aihf::error::Result<Vec<f64>> {
        Ok(vec![f64::NAN; idx.len()])
    };
    let err = run(Baseline::Greedy, &reference, &nan)
        .unwrap_err()
        .to_string();
    tch::set_num_threads(threads);
    let (tg, tm, to) = (
        tv(&greedy, &task.pi_star),
        tv(&mean, &task.pi_star),
        tv(&off, &task.pi_star),
    );
    eprintln!("TV to π*: greedy baseline {tg:.5}, mean baseline {tm:.5}, wrong reference {to:.5}");
    assert!(tg <= aihf::tol::NEURAL_TV_RL, "ReMax baseline: TV {tg:.5}");
    assert!(tm <= aihf::tol::NEURAL_TV_RL, "mean baseline: TV {tm:.5}");
    assert!(
        to > 0.1,
        "an ignored reference must move the policy: TV {to:.5}"
    );
    assert!(err.contains("at step 0"), "{err}");
}

/// The cross-validation (transformer): every method within TV 0.05.
#[test]
fn crossval_transformer_reaches_the_exact_optimum() {
    let cfg = CrossvalConfig {
        models: vec![ModelKind::Transformer],
        ..Default::default()
    };
    let rep = crossval::run(&cfg).unwrap();
    eprint!("{}", crossval::table(&rep));
    for r in &rep.rows {
        assert!(
            r.tv <= r.threshold,
            "{} transformer: TV {:.5} > {}",
            r.method,
            r.tv,
            r.threshold
        );
    }
}

/// The minibatch path (records drawn ∝ weight, with replacement): SFT and BTL with the tabular
/// model still land near the exact optimum; the learning rate decays to 0 (cosine), which
/// averages out the sampling noise. Looser than full batch (0.02) by design: the threshold is the
/// transformer's 0.05.
#[test]
fn minibatch_training_reaches_the_exact_optimum() {
    let mut cfg = CrossvalConfig::default();
    cfg.tabular_train.batch_size = Some(256);
    cfg.tabular_train.steps = 2000;
    cfg.tabular_train.lr = 0.02;
    let p = crossval::prepare(&cfg).unwrap();
    for method in [Method::Sft, Method::Btl] {
        let target = crossval::exact(method, &p.bandit, &p.task, &cfg.hyper).unwrap();
        let (pi, _) =
            crossval::train_one(method, ModelKind::Tabular, &cfg, &p, &p.ref_logp, 5).unwrap();
        let d = tv(&pi, &target);
        eprintln!("{} minibatch: TV {d:.4}", method.name());
        assert!(
            d <= aihf::tol::NEURAL_TV_TRANSFORMER,
            "{} minibatch: TV {d:.4}",
            method.name()
        );
    }
}

/// Negative control: the same DPO training with the reference ignored (`log π_ref ≡ 0`, a
/// classic bug) lands far from the exact optimum, so the cross-validation can fail.
#[test]
fn crossval_detects_an_ignored_reference() {
    let cfg = CrossvalConfig {
        models: vec![ModelKind::Tabular],
        methods: vec![Method::Dpo],
        ..Default::default()
    };
    let p = crossval::prepare(&cfg).unwrap();
    let target = crossval::exact(Method::Dpo, &p.bandit, &p.task, &cfg.hyper).unwrap();
    let zeros = vec![0.0; p.ref_logp.len()];
    let (pi, _) =
        crossval::train_one(Method::Dpo, ModelKind::Tabular, &cfg, &p, &zeros, 7).unwrap();
    let d = tv(&pi, &target);
    assert!(
        d > 3.0 * aihf::tol::NEURAL_TV_TABULAR,
        "ignoring π_ref moved the policy by only TV {d:.4}"
    );
}

/// SPIN and Self-Play AIHF with their generation step (tabular model, |V| = 3, H = 2, every
/// sequence demonstrated so the exact iteration exists): after 3 iterations the policy is close
/// to the exact layer's fixed point (SPIN: `N/N`; Self-Play AIHF with λ half the largest value that keeps
/// its fixed point `p̂ + λ(W − L)/M` interior: `fit(SelfPlayAihf)`). The negatives are
/// sampled (16384 per iteration: the step's optimum moves by O(1/√16384) in TV), so the threshold
/// 0.05 allows for sampling noise. At β = 1 SPIN's exact iteration reaches its fixed point in
/// one step; Self-Play AIHF's contracts more slowly (measured: TV 0.017 after 3 iterations,
/// 0.008 after 8), hence 8 iterations.
#[test]
fn self_play_trainers_reach_the_exact_fixed_point() {
    const ITERS: usize = 8;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let tc = TaskConfig {
        vocab: 3,
        horizon: 2,
        n_demos: 900,
        n_comparisons: 600,
        // A mild reward and a uniform reference keep p̂ away from 0, so Self-Play AIHF can use a
        // λ large enough to move its fixed point away from SPIN's.
        reward_scale: 0.3,
        ref_scale: 0.0,
        ..Default::default()
    };
    let task = EnumTask::new(tc, &mut rng).unwrap();
    let (demos, prefs) = task.sample(&mut rng);
    let bandit = task.to_bandit(&demos, &prefs).unwrap();
    assert!(
        bandit.demos().iter().all(|&c| c > 0),
        "every sequence needs demonstrations here"
    );
    let data = SeqData::from_records(&demos, &prefs);
    let mut all = SeqData::default();
    for k in 0..task.len() {
        all.intern(&task.prompt, &task.response(k));
    }
    let (vocab, context) = task.vocab_context();
    let spec = ModelSpec {
        arch: Arch::Tabular,
        vocab,
        context,
    };
    // The largest λ keeping Self-Play AIHF's fixed point p̂ + λ c (c = (W − L)/M) interior, halved.
    let p_hat: Vec<f64> = bandit
        .demos()
        .iter()
        .map(|&c| c as f64 / bandit.n_demos() as f64)
        .collect();
    let fp1 = aihf::bandit::self_play_aihf_fixed_point(&bandit, 1.0);
    let lambda_max = p_hat
        .iter()
        .zip(&fp1)
        .filter(|(p, f)| **f < **p)
        .map(|(p, f)| p / (p - f))
        .fold(1.0f64, f64::min);
    let lambda = 0.5 * lambda_max;
    let hyper = Hyper {
        beta: 1.0,
        lambda,
        ..Default::default()
    };
    let cfg = TrainConfig {
        steps: 300,
        lr: 0.05,
        grad_clip: None,
        seed: 3,
        ..Default::default()
    };
    for (with_prefs, method) in [(false, Method::Spin), (true, Method::SelfPlayAihf)] {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = model::policy(&vs.root(), &spec).unwrap();
        let sp = SelfPlay {
            iters: ITERS,
            samples_per_prompt: 16384,
            max_new_tokens: 2,
            eos: None,
            with_preferences: with_prefs,
            context: context as usize,
        };
        let reps = train::train_self_play(net.as_ref(), &vs, &data, &sp, &hyper, &cfg).unwrap();
        assert_eq!(reps.len(), ITERS);
        let lp = train::logprobs(
            net.as_ref(),
            &all,
            &(0..task.len()).collect::<Vec<_>>(),
            Device::Cpu,
        )
        .unwrap();
        let pi: Vec<f64> = lp.iter().map(|l| l.exp()).collect();
        let exact = fit(
            method,
            &bandit,
            &Options {
                beta: 1.0,
                lambda,
                ..Default::default()
            },
        )
        .unwrap()
        .policy;
        let d = tv(&pi, &exact);
        if with_prefs {
            let gap = tv(&exact, &p_hat);
            eprintln!("  TV(exact Self-Play AIHF, p̂) = {gap:.4}");
            assert!(
                gap > 2.0 * d,
                "the preference term should matter: TV(fit, p̂) = {gap:.4}"
            );
        }
        eprintln!(
            "{} (λ = {lambda:.3}): TV to the exact fixed point {d:.4}",
            method.name()
        );
        assert!(
            d < 0.05,
            "{}: TV {d:.4} to the exact fixed point > 0.05",
            method.name()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The command line: bad input is a clear error and a non-zero exit, never a panic.

fn aihf() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("aihf").unwrap()
}

#[test]
fn cli_bad_input_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"prompt_ids\":[0],\"completion_ids\":[1]}\n{\"prompt_ids\":[0],\"completion_ids\":[1,\n",
    )
    .unwrap();
    let base = [
        "neural",
        "train",
        "--method",
        "sft",
        "--arch",
        "tabular",
        "--vocab",
        "4",
        "--context",
        "4",
        "--steps",
        "5",
    ];
    let out = aihf()
        .args(base)
        .arg("--demos")
        .arg(&bad)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("bad.jsonl:2: malformed JSON") && !err.contains("panicked"),
        "{err}"
    );

    let oov = dir.path().join("oov.jsonl");
    std::fs::write(&oov, "{\"prompt_ids\":[0],\"completion_ids\":[1,7]}\n").unwrap();
    let out = aihf()
        .args(base)
        .arg("--demos")
        .arg(&oov)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("oov.jsonl:1: `completion_ids[1]` = 7 is outside the vocabulary 0..4"),
        "{err}"
    );

    let long = dir.path().join("long.jsonl");
    std::fs::write(&long, "{\"prompt_ids\":[0,1],\"completion_ids\":[1,2,3]}\n").unwrap();
    let out = aihf()
        .args(base)
        .arg("--demos")
        .arg(&long)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("over the context of 4") && err.contains("--truncate"),
        "{err}"
    );
    aihf()
        .args(base)
        .arg("--demos")
        .arg(&long)
        .arg("--truncate")
        .assert()
        .success();

    if !tch::Cuda::is_available() {
        let out = aihf()
            .args(base)
            .arg("--demos")
            .arg(&long)
            .args(["--truncate", "--device", "cuda"])
            .assert()
            .failure();
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains("CUDA is not available"), "{err}");
    }
    // DPO without preferences.
    let out = aihf()
        .args([
            "neural",
            "train",
            "--method",
            "dpo",
            "--arch",
            "tabular",
            "--vocab",
            "4",
            "--context",
            "4",
        ])
        .arg("--demos")
        .arg(&long)
        .arg("--truncate")
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("needs preferences"), "{err}");
}

/// `gen-task` writes the JSONL, the counts and the truth; `train` reads them back, writes
/// metrics JSONL with the seed, and saves weights.
#[test]
fn cli_gen_task_then_train() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    aihf()
        .args([
            "neural",
            "gen-task",
            "--demos",
            "300",
            "--comparisons",
            "200",
            "--seed",
            "4",
            "--out-dir",
        ])
        .arg(d)
        .assert()
        .success();
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("truth.json")).unwrap()).unwrap();
    assert_eq!(truth["seed"], 4);
    assert_eq!(truth["pi_star"].as_array().unwrap().len(), 64);
    let counts = aihf::data::BanditData::from_file(&d.join("counts.json")).unwrap();
    assert_eq!((counts.n_demos(), counts.n_comparisons()), (300, 200));
    let metrics = d.join("m.jsonl");
    let out = aihf()
        .args([
            "neural",
            "train",
            "--method",
            "direct-aihf",
            "--arch",
            "transformer",
            "--vocab",
            "4",
            "--context",
            "4",
            "--steps",
            "30",
            "--log-every",
            "10",
            "--seed",
            "9",
        ])
        .arg("--demos")
        .arg(d.join("demos.jsonl"))
        .arg("--prefs")
        .arg(d.join("prefs.jsonl"))
        .arg("--metrics")
        .arg(&metrics)
        .arg("--save")
        .arg(d.join("w.safetensors"))
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["seed"], 9);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["run"]["config"]["seed"], 9);
    assert_eq!(lines.len(), 1 + 4);
    assert!(lines[1]["sft"].is_number() && lines[1]["accuracy"].is_number());
    // Every completion has H = 3 tokens, so the per-token SFT loss is a third of the sequence's.
    let (seq, tok) = (
        lines[1]["sft"].as_f64().unwrap(),
        lines[1]["sft_per_token"].as_f64().unwrap(),
    );
    assert!(
        (seq - 3.0 * tok).abs() < 1e-5 * seq,
        "per sequence {seq} vs per token {tok}"
    );
    assert!(d.join("w.safetensors").exists());

    // SPIN from the saved weights with its generation step; generation must fit the context.
    let spin = |max_new: &str| {
        let mut c = aihf();
        c.args([
            "neural",
            "train",
            "--method",
            "spin",
            "--arch",
            "transformer",
            "--vocab",
            "4",
            "--context",
            "4",
            "--steps",
            "5",
            "--spin-iters",
            "2",
            "--samples-per-prompt",
            "16",
            "--max-new-tokens",
            max_new,
        ])
        .arg("--demos")
        .arg(d.join("demos.jsonl"))
        .arg("--init")
        .arg(d.join("w.safetensors"));
        c
    };
    let out = spin("4").assert().failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("exceeds the context of 4"), "{err}");
    let out = spin("3").assert().success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        report["report"].as_array().unwrap().len(),
        2,
        "one report per SPIN iteration"
    );
}

/// Text records through the byte-level tokenizer, end to end: DPO on the example files raises
/// the preference accuracy on its own training pairs to 1.
#[test]
fn cli_trains_on_text_examples() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("m.jsonl");
    aihf()
        .args([
            "neural",
            "train",
            "--method",
            "dpo",
            "--demos",
            "examples/neural/demos.jsonl",
            "--prefs",
            "examples/neural/prefs.jsonl",
            "--context",
            "64",
            "--steps",
            "40",
            "--lr",
            "3e-3",
            "--log-every",
            "39",
            "--threads",
            "1",
        ])
        .arg("--metrics")
        .arg(&metrics)
        .assert()
        .success();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&metrics)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (first, last) = (&lines[1], lines.last().unwrap());
    assert_eq!(last["step"], 39);
    assert!(
        last["accuracy"].as_f64().unwrap() > 0.99,
        "accuracy {}",
        last["accuracy"]
    );
    assert!(
        last["loss"].as_f64().unwrap() < first["loss"].as_f64().unwrap(),
        "DPO loss did not decrease"
    );
}

// ---------------------------------------------------------------------------------------------
// Optimiser and checkpoints.

/// The toolkit's AdamW (whose state checkpoints hold) takes the same steps as libtorch's AdamW,
/// with weight decay, a changing learning rate and 60 steps.
#[test]
fn adamw_matches_libtorch_adamw() {
    use aihf::neural::optim::AdamW;
    use tch::nn::OptimizerConfig;
    let make = || {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().ones("w", &[3, 4]);
        let b = vs.root().zeros("b", &[3]);
        (vs, w, b)
    };
    let (vs1, w1, b1) = make();
    let (vs2, w2, b2) = make();
    tch::manual_seed(11);
    let x = Tensor::randn([16, 4], (Kind::Float, Device::Cpu));
    let y = Tensor::randn([16, 3], (Kind::Float, Device::Cpu));
    let loss = |w: &Tensor, b: &Tensor| (x.matmul(&w.tr()) + b - &y).square().mean(Kind::Float);
    let mut theirs = nn::adamw(0.9, 0.999, 0.01).build(&vs1, 0.05).unwrap();
    let mut ours = AdamW::new(&vs2, 0.01).unwrap();
    for k in 0..60 {
        let lr = 0.05 / (1.0 + k as f64 / 10.0);
        theirs.set_lr(lr);
        theirs.zero_grad();
        loss(&w1, &b1).backward();
        theirs.step();
        ours.zero_grad();
        loss(&w2, &b2).backward();
        ours.step(lr).unwrap();
    }
    let d = (&w1 - &w2).abs().max().double_value(&[]) + (&b1 - &b2).abs().max().double_value(&[]);
    let moved = (&w1 - 1.0).abs().max().double_value(&[]);
    assert!(moved > 0.1, "the test must move the parameters: {moved}");
    assert!(d < 1e-6, "AdamW differs from libtorch's by {d}");
}

/// The logged step lines of a metrics file, without the wall-clock field.
fn step_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("step").is_some())
        .map(|mut v| {
            v.as_object_mut().unwrap().remove("elapsed_s");
            v
        })
        .collect()
}

fn ck(
    path: &std::path::Path,
    every: usize,
    resume: bool,
    stop_at: Option<usize>,
) -> Option<aihf::neural::checkpoint::CheckpointConfig> {
    Some(aihf::neural::checkpoint::CheckpointConfig {
        path: path.to_path_buf(),
        every,
        resume,
        stop_at,
    })
}

/// Minibatch DPO (records drawn by the run's generator) stopped at step 17 and resumed logs the
/// same metrics, bit for bit, as the uninterrupted run, and ends at the same policy.
#[test]
fn resumed_dpo_equals_the_uninterrupted_run() {
    let threads = tch::get_num_threads();
    tch::set_num_threads(1);
    let cfg = CrossvalConfig::default();
    let p = crossval::prepare(&cfg).unwrap();
    let (vocab, context) = p.task.vocab_context();
    let spec = ModelSpec {
        arch: Arch::Transformer(TransformerConfig::default()),
        vocab,
        context,
    };
    let dir = tempfile::tempdir().unwrap();
    let run = |metrics: &std::path::Path,
               checkpoint: Option<aihf::neural::checkpoint::CheckpointConfig>,
               lr: f64|
     -> aihf::error::Result<Vec<f64>> {
        aihf::neural::manual_seed(5);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = model::policy(&vs.root(), &spec)?;
        model::init_weights(&vs, 5)?;
        let tc = TrainConfig {
            steps: 40,
            lr,
            batch_size: Some(64),
            log_every: 1,
            seed: 5,
            metrics: Some(metrics.to_path_buf()),
            checkpoint,
            ..Default::default()
        };
        train::train_policy(
            net.as_ref(),
            &vs,
            &p.data,
            train::Objective::Dpo,
            Some(&p.ref_logp),
            &cfg.hyper,
            &tc,
            None,
        )?;
        let idx: Vec<usize> = (0..p.all.seqs.len()).collect();
        train::logprobs(net.as_ref(), &p.all, &idx, Device::Cpu)
    };
    let (ma, mb) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let ckp = dir.path().join("run.safetensors");
    let full = run(&ma, None, 0.01).unwrap();
    run(&mb, ck(&ckp, 5, false, Some(17)), 0.01).unwrap();
    assert_eq!(step_lines(&mb).len(), 17);
    // Another configuration is refused, naming what differs.
    let e = run(&dir.path().join("c.jsonl"), ck(&ckp, 5, true, None), 0.02)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("another configuration") && e.contains("lr"),
        "{e}"
    );
    let resumed = run(&mb, ck(&ckp, 5, true, None), 0.01).unwrap();
    tch::set_num_threads(threads);
    let (a, b) = (step_lines(&ma), step_lines(&mb));
    assert_eq!(a.len(), 40);
    assert_eq!(a, b, "metrics of the resumed run differ");
    assert_eq!(full, resumed, "final log-probabilities differ");
    // Only the checkpoint and the metrics are left: no temporary files.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.jsonl", "b.jsonl", "run.safetensors"]);
}

/// AIHF's Algorithm 1 (two models, two optimisers, sampling) resumed from a checkpoint logs the
/// same metrics as the uninterrupted run.
#[test]
fn resumed_aihf_equals_the_uninterrupted_run() {
    use aihf::neural::rl::{self, Baseline, Reinforce};
    let threads = tch::get_num_threads();
    tch::set_num_threads(1);
    let (cfg, p, spec) = tabular_task();
    let task = &p.task;
    let context = spec.context;
    let reference = |t: &SeqData, idx: &[usize]| lookup(task, t, idx, &task.log_ref);
    let dir = tempfile::tempdir().unwrap();
    let run = |metrics: &std::path::Path,
               checkpoint: Option<aihf::neural::checkpoint::CheckpointConfig>| {
        let pvs = nn::VarStore::new(Device::Cpu);
        let policy = model::policy(&pvs.root(), &spec).unwrap();
        let rvs = nn::VarStore::new(Device::Cpu);
        let reward = model::reward(&rvs.root(), &spec).unwrap();
        let rl = Reinforce {
            samples_per_prompt: 32,
            max_new_tokens: task.config.horizon,
            eos: None,
            context: context as usize,
            baseline: Baseline::Greedy,
            step: aihf::neural::rl::PolicyStep::Reinforce,
        };
        let tc = TrainConfig {
            steps: 30,
            lr: 0.05,
            log_every: 1,
            seed: 8,
            metrics: Some(metrics.to_path_buf()),
            checkpoint,
            ..Default::default()
        };
        let rtc = TrainConfig {
            metrics: None,
            checkpoint: None,
            tag: serde_json::Value::Null,
            ..tc.clone()
        };
        rl::train_aihf(
            policy.as_ref(),
            &pvs,
            reward.as_ref(),
            &rvs,
            &p.data,
            &reference,
            &rl,
            &cfg.hyper,
            &tc,
            &rtc,
            None,
        )
    };
    let (ma, mb) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let ckp = dir.path().join("aihf.safetensors");
    run(&ma, None).unwrap();
    let part = run(&mb, ck(&ckp, 4, false, Some(13))).unwrap();
    assert_eq!(part.steps, 13);
    run(&mb, ck(&ckp, 4, true, None)).unwrap();
    tch::set_num_threads(threads);
    let (a, b) = (step_lines(&ma), step_lines(&mb));
    assert_eq!(a.len(), 30);
    assert_eq!(a, b, "metrics of the resumed AIHF run differ");
}

/// A NaN stops the run with its step number and leaves the last good checkpoint, which resumes;
/// a torn or missing checkpoint is a clear error, not a panic.
#[test]
fn nan_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ckp = dir.path().join("x.safetensors");
    let vs = nn::VarStore::new(Device::Cpu);
    let x = vs.root().ones("x", &[3]);
    let cfg = |checkpoint| TrainConfig {
        steps: 40,
        lr: 0.01,
        log_every: 1,
        checkpoint,
        ..Default::default()
    };
    let h = serde_json::json!({"test": "nan"});
    let metrics = dir.path().join("m.jsonl");
    let mut c0 = cfg(ck(&ckp, 10, false, None));
    c0.metrics = Some(metrics.clone());
    let mut sink = train::sink(&c0, h.clone()).unwrap();
    let e = train::optimise(&vs, &c0, "nan", 0, &mut sink, &h, 1, None, |step, _, _| {
        let bad = if step == 25 { f64::INFINITY } else { 1.0 };
        Ok(StepOut {
            loss: (&x * bad).sum(Kind::Float) + x.square().sum(Kind::Float),
            metrics: Default::default(),
        })
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("at step 25"), "{e}");
    assert!(e.contains("last good checkpoint (step 20)"), "{e}");
    drop(sink);
    assert_eq!(
        step_lines(&metrics).len(),
        25,
        "steps 0..24 logged before the stop"
    );
    // The kept checkpoint resumes at step 20 (a resumed process starts from a fresh model); the
    // lines of steps 20..24 are replaced, so every step appears once.
    let vs = nn::VarStore::new(Device::Cpu);
    let x = vs.root().ones("x", &[3]);
    let mut c = cfg(ck(&ckp, 10, true, None));
    c.metrics = Some(metrics.clone());
    let mut sink = train::sink(&c, h.clone()).unwrap();
    train::optimise(&vs, &c, "ok", 0, &mut sink, &h, 1, None, |_, _, _| {
        Ok(StepOut {
            loss: x.square().sum(Kind::Float),
            metrics: Default::default(),
        })
    })
    .unwrap();
    drop(sink);
    let lines = step_lines(&metrics);
    let steps: Vec<u64> = lines.iter().map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, (0..40).collect::<Vec<u64>>());
    // Other data (fingerprint) is refused.
    let mut sink = None;
    let e = train::optimise(
        &vs,
        &c,
        "other",
        0,
        &mut sink,
        &h,
        2,
        None,
        |_, _, _| unreachable!(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("another configuration") && e.contains("data_fnv1a"),
        "{e}"
    );
    // A torn file and a missing one.
    let bytes = std::fs::read(&ckp).unwrap();
    std::fs::write(&ckp, &bytes[..bytes.len() / 2]).unwrap();
    let mut sink = None;
    let e = train::optimise(
        &vs,
        &c,
        "torn",
        0,
        &mut sink,
        &h,
        1,
        None,
        |_, _, _| unreachable!(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("x.safetensors"), "{e}");
    std::fs::remove_file(&ckp).unwrap();
    let e = train::optimise(
        &vs,
        &c,
        "missing",
        0,
        &mut sink,
        &h,
        1,
        None,
        |_, _, _| unreachable!(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no checkpoint"), "{e}");
}

/// The CLI: `--stop-at` then `--resume` ends where the uninterrupted run ends; resuming with
/// other settings exits 1 with the reason; RLHF needs a reward model.
#[test]
fn cli_checkpoint_resume_and_rl_methods() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    aihf()
        .args([
            "neural",
            "gen-task",
            "--demos",
            "200",
            "--comparisons",
            "200",
            "--seed",
            "2",
            "--out-dir",
        ])
        .arg(d)
        .assert()
        .success();
    let base = |extra: &[&str]| {
        let mut c = aihf();
        c.args([
            "neural",
            "train",
            "--arch",
            "tabular",
            "--vocab",
            "4",
            "--context",
            "4",
            "--steps",
            "30",
            "--threads",
            "1",
            "--seed",
            "3",
            "--batch-size",
            "32",
        ])
        .arg("--demos")
        .arg(d.join("demos.jsonl"))
        .arg("--prefs")
        .arg(d.join("prefs.jsonl"))
        .args(extra);
        c
    };
    let report = |o: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let ckp = d.join("ck.safetensors");
    let ckp = ckp.to_str().unwrap();
    let full = base(&["--method", "dpo"]).assert().success();
    base(&[
        "--method",
        "dpo",
        "--checkpoint",
        ckp,
        "--checkpoint-every",
        "7",
        "--stop-at",
        "12",
    ])
    .assert()
    .success();
    base(&[
        "--method",
        "dpo",
        "--checkpoint",
        ckp,
        "--resume",
        "--lr",
        "0.002",
    ])
    .assert()
    .code(1)
    .stderr(predicates::str::contains("another configuration"));
    let resumed = base(&["--method", "dpo", "--checkpoint", ckp, "--resume"])
        .assert()
        .success();
    let (a, b) = (report(full.get_output()), report(resumed.get_output()));
    assert_eq!(a["report"]["final_loss"], b["report"]["final_loss"]);
    assert_eq!(
        a["report"]["final_grad_norm"],
        b["report"]["final_grad_norm"]
    );
    base(&["--method", "dpo", "--resume"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("--resume needs --checkpoint"));
    // Settings that change no shape (attention heads, dropout) are part of the identity too.
    let ckt = d.join("t.safetensors");
    let ckt = ckt.to_str().unwrap();
    let tf = |extra: &[&str]| {
        let mut c = aihf();
        c.args([
            "neural",
            "train",
            "--method",
            "sft",
            "--arch",
            "transformer",
            "--vocab",
            "4",
            "--context",
            "4",
            "--width",
            "8",
            "--steps",
            "6",
            "--threads",
            "1",
            "--checkpoint",
            ckt,
        ])
        .arg("--demos")
        .arg(d.join("demos.jsonl"))
        .args(extra);
        c
    };
    tf(&["--heads", "2", "--stop-at", "3"]).assert().success();
    tf(&["--heads", "4", "--resume"]).assert().code(1).stderr(
        predicates::prelude::PredicateBooleanExt::and(
            predicates::str::contains("another configuration"),
            predicates::str::contains("heads"),
        ),
    );
    tf(&["--heads", "2", "--dropout", "0.5", "--resume"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("dropout"));
    tf(&["--heads", "2", "--resume"]).assert().success();
    // RLHF: a BTL reward model first, then REINFORCE against it; AIHF saves both models.
    base(&["--method", "rlhf", "--max-new-tokens", "3"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("--reward-model"));
    let rm = d.join("rm.safetensors");
    base(&["--method", "btl", "--save", rm.to_str().unwrap()])
        .assert()
        .success();
    let out = aihf()
        .args([
            "neural",
            "train",
            "--arch",
            "tabular",
            "--vocab",
            "4",
            "--context",
            "4",
            "--steps",
            "10",
            "--threads",
            "1",
            "--method",
            "rlhf",
            "--max-new-tokens",
            "3",
            "--samples-per-prompt",
            "16",
            "--reward-model",
            rm.to_str().unwrap(),
        ])
        .arg("--demos")
        .arg(d.join("demos.jsonl"))
        .assert()
        .success();
    assert!(report(out.get_output())["report"]["last"]["reward"].is_number());
    let rw = d.join("aihf-r.safetensors");
    let out = aihf()
        .args([
            "neural",
            "train",
            "--arch",
            "tabular",
            "--vocab",
            "4",
            "--context",
            "4",
            "--steps",
            "10",
            "--threads",
            "1",
            "--method",
            "aihf",
            "--max-new-tokens",
            "3",
            "--samples-per-prompt",
            "16",
            "--save-reward",
            rw.to_str().unwrap(),
        ])
        .arg("--demos")
        .arg(d.join("demos.jsonl"))
        .arg("--prefs")
        .arg(d.join("prefs.jsonl"))
        .assert()
        .success();
    assert!(report(out.get_output())["report"]["final_reward_loss"].is_number());
    assert!(rw.exists());
}

// ---------------------------------------------------------------------------------------------
// Ground truth on the Markov task.

/// The probe's estimates are right where the answer is known: a zero-head transformer is exactly
/// the uniform reference, so its KL to π_ref is 0 per sample and its KL to π* is
/// `V0/β − E_ref[r*]/β`, with `E_ref[r*] = (1/V) Σ_v w(y0,v) + (H−1)/V² Σ_{u,v} w(u,v)` exactly.
#[test]
fn markov_probe_is_exact_at_the_reference() {
    use aihf::neural::groundtruth::{evaluate, MarkovSpec};
    let spec = MarkovSpec::random(12, 7, 3, 1.0, 0.7, 4).unwrap();
    let task = spec.task().unwrap();
    let (v, h, beta) = (12.0, 7.0, 0.7);
    let row0: f64 = spec
        .reward
        .iter()
        .filter(|e| e.0 == spec.y0)
        .map(|e| e.2)
        .sum();
    let all: f64 = spec.reward.iter().map(|e| e.2).sum();
    let e_ref = row0 / v + (h - 1.0) * all / (v * v);
    let want = task.optimal_objective() / beta - e_ref / beta;
    let ms = ModelSpec {
        arch: Arch::Transformer(TransformerConfig::default()),
        vocab: 12,
        context: 8,
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let net = model::policy(&vs.root(), &ms).unwrap();
    model::init_weights(&vs, 1).unwrap();
    model::zero_head(&vs);
    let e = evaluate(net.as_ref(), &task, 4000, 3, 0, Device::Cpu).unwrap();
    assert!(
        e.kl_to_ref.mean.abs() < 1e-5 && e.kl_to_ref.sd < 1e-5,
        "{:?}",
        e.kl_to_ref
    );
    let z = (e.kl_to_star.mean - want) / e.kl_to_star.se;
    assert!(
        z.abs() < 4.0,
        "KL(π_ref‖π*) {} ± {} vs exact {want}",
        e.kl_to_star.mean,
        e.kl_to_star.se
    );
    assert!((e.true_reward.mean - e_ref).abs() < 4.0 * e.true_reward.se);
}

/// `gen-markov` then `train --truth`: SFT on exact π* samples moves KL(π‖π*) down along
/// training (logged with its standard error), and `ground-truth` writes its report and figures.
#[test]
fn cli_markov_truth_and_ground_truth_study() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    aihf()
        .args([
            "neural",
            "gen-markov",
            "--vocab",
            "8",
            "--horizon",
            "6",
            "--nnz-per-row",
            "2",
            "--demos",
            "500",
            "--comparisons",
            "300",
            "--out-dir",
        ])
        .arg(d)
        .assert()
        .success();
    let metrics = d.join("m.jsonl");
    aihf()
        .args([
            "neural",
            "train",
            "--method",
            "sft",
            "--vocab",
            "8",
            "--context",
            "7",
            "--width",
            "32",
            "--steps",
            "120",
            "--lr",
            "3e-3",
            "--batch-size",
            "64",
            "--log-every",
            "40",
            "--threads",
            "1",
            "--eval-samples",
            "400",
        ])
        .arg("--demos")
        .arg(d.join("demos.jsonl"))
        .arg("--truth")
        .arg(d.join("task.json"))
        .arg("--metrics")
        .arg(&metrics)
        .assert()
        .success();
    let lines = step_lines(&metrics);
    let kl: Vec<(f64, f64)> = lines
        .iter()
        .map(|l| {
            (
                l["kl_to_star"].as_f64().unwrap(),
                l["kl_to_star_se"].as_f64().unwrap(),
            )
        })
        .collect();
    eprintln!("KL(π‖π*) along SFT: {kl:?}");
    let (first, last) = (kl[0], *kl.last().unwrap());
    assert!(
        first.0 - last.0 > 3.0 * (first.1.powi(2) + last.1.powi(2)).sqrt(),
        "{kl:?}"
    );
    // The model's vocabulary must be the task's.
    aihf()
        .args([
            "neural",
            "train",
            "--method",
            "sft",
            "--vocab",
            "16",
            "--context",
            "7",
            "--steps",
            "2",
        ])
        .arg("--demos")
        .arg(d.join("demos.jsonl"))
        .arg("--truth")
        .arg(d.join("task.json"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("needs --vocab 8"));
    // --truth is refused for a reward model.
    aihf()
        .args([
            "neural",
            "train",
            "--method",
            "btl",
            "--vocab",
            "8",
            "--context",
            "7",
        ])
        .arg("--prefs")
        .arg(d.join("prefs.jsonl"))
        .arg("--truth")
        .arg(d.join("task.json"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("--truth"));
    let out = d.join("gt");
    aihf()
        .args([
            "neural",
            "ground-truth",
            "--vocab",
            "6",
            "--horizon",
            "4",
            "--nnz-per-row",
            "2",
            "--demos",
            "300",
            "--comparisons",
            "300",
            "--width",
            "16",
            "--steps",
            "12",
            "--reward-steps",
            "12",
            "--eval-every",
            "6",
            "--eval-samples",
            "64",
            "--samples-per-prompt",
            "16",
            "--threads",
            "1",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let methods = rep["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 4);
    for m in methods {
        // Initial point, then updates 1, 7 and the last (12).
        let ups: Vec<u64> = m["path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["updates"].as_u64().unwrap())
            .collect();
        assert_eq!(ups, [0, 1, 7, 12], "{}", m["name"]);
    }
    assert_eq!(rep["ranking"].as_array().unwrap().len(), 4);
    // The best point along a path is at most its end, and is one of its points.
    for (m, b) in methods
        .iter()
        .zip(rep["best_along_path"].as_array().unwrap())
    {
        let path = m["path"].as_array().unwrap();
        let best = b[1].as_f64().unwrap();
        let end = path.last().unwrap()["kl_to_star"]["mean"].as_f64().unwrap();
        assert!(best <= end, "{}", m["name"]);
        assert!(path
            .iter()
            .any(|e| e["kl_to_star"]["mean"].as_f64().unwrap() == best));
    }
    for f in [
        "reward_kl_path.png",
        "reward_kl_path.svg",
        "kl_to_star.png",
        "kl_to_star.svg",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    for (args, want) in [
        (vec!["--vocab", "0"], "V ≥ 1"),
        (
            vec!["--vocab", "4", "--nnz-per-row", "9"],
            "exceeds the vocabulary",
        ),
        (
            vec!["--vocab", "100000", "--horizon", "100000"],
            "value cells",
        ),
        (vec!["--demos", "1000000000"], "tokens"),
        (vec!["--beta", "0"], "beta"),
    ] {
        aihf()
            .args(["neural", "gen-markov", "--out-dir"])
            .arg(d.join("bad"))
            .args(&args)
            .assert()
            .code(1)
            .stderr(predicates::str::contains(want));
        assert!(!d.join("bad").join("task.json").exists());
    }
    aihf()
        .args(["neural", "ground-truth", "--steps", "0", "--out"])
        .arg(d.join("bad"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("steps"));
}

/// The online-DPO policy step (A.1.4) against the true reward on the enumerable task: the
/// trained policy's expected true reward rises well above the reference's, and its KL-regularised
/// objective `E[r] − β KL(π‖π_ref)` rises too, though not to its maximum.
#[test]
fn online_dpo_policy_step_improves_the_regularised_objective() {
    use aihf::neural::rl::{self, Baseline, PolicyStep, Reinforce};
    let (cfg, p, spec) = tabular_task();
    let task = &p.task;
    let context = spec.context;
    let reward = |t: &SeqData, idx: &[usize]| lookup(task, t, idx, &task.reward);
    let reference = |t: &SeqData, idx: &[usize]| lookup(task, t, idx, &task.log_ref);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = model::policy(&vs.root(), &spec).unwrap();
    let rl = Reinforce {
        samples_per_prompt: 64,
        max_new_tokens: task.config.horizon,
        eos: None,
        context: context as usize,
        baseline: Baseline::Greedy,
        step: PolicyStep::OnlineDpo,
    };
    let tc = TrainConfig {
        steps: 150,
        lr: 0.02,
        seed: 1,
        ..cfg.rl_train.clone()
    };
    let hyper = Hyper {
        beta: task.config.beta,
        ..cfg.hyper
    };
    let rep = rl::train_rlhf(
        net.as_ref(),
        &vs,
        &[(task.prompt.clone(), 1.0)],
        &reward,
        &reference,
        &rl,
        &hyper,
        &tc,
        None,
    )
    .unwrap();
    assert!(rep.last["dpo_pairs"].as_u64().unwrap() > 0);
    let idx: Vec<usize> = (0..p.all.seqs.len()).collect();
    let lp = train::logprobs(net.as_ref(), &p.all, &idx, Device::Cpu).unwrap();
    let pi: Vec<f64> = lp.iter().map(|l| l.exp()).collect();
    let pref: Vec<f64> = task.log_ref.iter().map(|l| l.exp()).collect();
    let objective = |q: &[f64]| -> f64 {
        let er: f64 = q.iter().zip(&task.reward).map(|(a, r)| a * r).sum();
        let kl: f64 = q
            .iter()
            .zip(&task.log_ref)
            .filter(|(a, _)| **a > 0.0)
            .map(|(a, l)| a * (a.ln() - l))
            .sum();
        er - hyper.beta * kl
    };
    let (j0, j1) = (objective(&pref), objective(&pi));
    let er0: f64 = pref.iter().zip(&task.reward).map(|(a, r)| a * r).sum();
    let er1: f64 = pi.iter().zip(&task.reward).map(|(a, r)| a * r).sum();
    let jstar = objective(&task.pi_star);
    eprintln!("online DPO: objective {j0:.4} → {j1:.4} (max {jstar:.4}); E[r] {er0:.4} → {er1:.4}");
    assert!(er1 > er0 + 0.1, "E[r] {er0} → {er1}");
    // Online DPO's fixed point is not π* (it over-weights reward: measured E[r] 0.84, objective
    // 0.185 of at most 0.437): only a clear improvement is asserted.
    assert!(
        j1 > j0 + 0.1 * (jstar - j0),
        "objective {j0} → {j1}, max {jstar}"
    );
}
