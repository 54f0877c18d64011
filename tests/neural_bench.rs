//! `aihf neural bench`: the tiny preset on CPU runs and reports times, throughput and model FLOPs
//! that agree with PaLM's formula recomputed here from the reported sizes; bad input is refused
//! with a message and a non-zero exit; the GPT-2-small preset has GPT-2 small's parameters.
//!
//! `scripts/torch-env.sh cargo test --features neural --test neural_bench`

use aihf::neural::bench::{param_count, Preset};
use aihf::neural::model;
use assert_cmd::Command;
use serde_json::Value;
use tch::{nn, Device};

/// FLOP counts are integers below 2^53, exact in f64; the products and sums of the formula round
/// at most a few ulps.
const FLOPS_REL: f64 = 1e-12;
/// Ratios of reported times recomputed from the same reported f64s: a few ulps.
const RATIO_REL: f64 = 1e-12;

fn aihf() -> Command {
    Command::cargo_bin("aihf").expect("binary built")
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is not a number in {v}"))
}

fn int(v: &Value, key: &str) -> i64 {
    v[key]
        .as_i64()
        .unwrap_or_else(|| panic!("`{key}` is not an integer in {v}"))
}

/// PaLM (Appendix B): `tokens · (2N + 4·L·d·T)` per forward, three times that with a backward.
fn palm(n: i64, layers: i64, width: i64, seq_len: i64, tokens: i64, grad: bool) -> f64 {
    let fwd = tokens as f64 * (2.0 * n as f64 + 4.0 * (layers * width * seq_len) as f64);
    if grad {
        3.0 * fwd
    } else {
        fwd
    }
}

/// A pass: the model's N, with gradients, sequences, sequence length.
type PassSpec = (i64, bool, i64, i64);

fn run_tiny(extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("bench.json");
    aihf()
        .args(["neural", "bench", "--preset", "tiny", "--steps", "3"])
        .args(["--warmup", "1", "--threads", "1", "--out"])
        .arg(&out)
        .args(extra)
        .assert()
        .success();
    let text = std::fs::read_to_string(&out).expect("JSON written");
    serde_json::from_str(&text).expect("valid JSON")
}

#[test]
fn tiny_preset_reports_times_throughput_and_palm_flops() {
    let peak = 0.5; // TFLOP/s, made up: only the division is checked.
    let r = run_tiny(&["--peak-tflops", "0.5"]);
    // The tiny preset's sizes, from the task statement (not from the report).
    let (layers, width, vocab, context, b, t, p) = (2i64, 32i64, 64i64, 32i64, 4i64, 32i64, 16i64);
    assert_eq!(int(&r, "layers"), layers);
    assert_eq!(int(&r, "width"), width);
    assert_eq!(int(&r["config"], "batch"), b);
    assert_eq!(int(&r["config"], "seq_len"), t);
    assert_eq!(int(&r["config"], "prompt_len"), p);

    // Parameter roles: embedding tables (V + context)·d; the policy head d·V + V, the reward
    // head d + 1; N of the formula is everything but the tables.
    let (pp, pr) = (&r["params_policy"], &r["params_reward"]);
    for (pc, head) in [(pp, width * vocab + vocab), (pr, width + 1)] {
        assert_eq!(int(pc, "embedding"), (vocab + context) * width, "{pc}");
        assert_eq!(int(pc, "head"), head, "{pc}");
        assert_eq!(
            int(pc, "total"),
            int(pc, "embedding") + int(pc, "head") + int(pc, "blocks"),
            "{pc}"
        );
        assert_eq!(
            int(pc, "flops"),
            int(pc, "total") - int(pc, "embedding"),
            "{pc}"
        );
    }
    assert_eq!(int(pp, "blocks"), int(pr, "blocks"), "same backbone");
    let (np, nr) = (int(pp, "flops"), int(pr, "flops"));

    // Per step: which passes it must contain, written out from the step definitions.
    let bt = |n: i64, grad: bool, rows: i64| (n, grad, rows, t);
    let expected: Vec<(&str, Vec<PassSpec>)> = vec![
        ("sft", vec![bt(np, true, b)]),
        ("dpo", vec![bt(np, true, 2 * b), bt(np, false, 2 * b)]),
        ("dpo-precomputed-ref", vec![bt(np, true, 2 * b)]),
        (
            "aihf",
            vec![
                bt(nr, false, b),
                bt(np, false, b),
                bt(np, true, b),
                bt(nr, true, 4 * b),
            ],
        ),
        (
            "generation",
            (p..t).map(|len| (np, false, b, len)).collect::<Vec<_>>(),
        ),
    ];
    let steps = r["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), expected.len(), "{steps:?}");
    for (name, passes) in &expected {
        let s = steps
            .iter()
            .find(|s| s["name"] == *name)
            .unwrap_or_else(|| panic!("step {name} missing"));
        let secs = num(s, "seconds");
        assert!(secs.is_finite() && secs > 0.0, "{name}: seconds {secs}");
        let times: Vec<f64> = s["times"]
            .as_array()
            .expect("times")
            .iter()
            .map(|x| x.as_f64().expect("time"))
            .collect();
        assert_eq!(times.len(), 3, "{name}: 3 timed steps");
        assert!(times.iter().all(|x| x.is_finite() && *x > 0.0), "{times:?}");
        assert!(num(s, "seconds_min") <= secs && secs <= num(s, "seconds_max"));

        let flops: f64 = passes
            .iter()
            .map(|&(n, g, rows, len)| palm(n, layers, width, len, rows * len, g))
            .sum();
        assert!(
            rel(num(s, "flops"), flops) < FLOPS_REL,
            "{name}: reported {} FLOPs, formula {flops}",
            num(s, "flops")
        );
        let tflops = flops / secs / 1e12;
        assert!(rel(num(s, "tflops_per_s"), tflops) < FLOPS_REL, "{name}");
        assert!(rel(num(s, "mfu"), tflops / peak) < FLOPS_REL, "{name}");

        let grad_tokens: i64 = passes.iter().filter(|x| x.1).map(|x| x.2 * x.3).sum();
        assert_eq!(int(s, "tokens_grad"), grad_tokens, "{name}");
        if *name == "generation" {
            assert!(s["tokens_per_s"].is_null());
            let g = num(s, "generated_tokens_per_s");
            assert!(
                rel(g, (b * (t - p)) as f64 / secs) < RATIO_REL,
                "{name}: {g}"
            );
        } else {
            let tps = num(s, "tokens_per_s");
            assert!(tps.is_finite() && tps > 0.0, "{name}: tokens/s {tps}");
            assert!(rel(tps, grad_tokens as f64 / secs) < RATIO_REL, "{name}");
            let losses = s["losses"].as_array().expect("losses");
            let k = if *name == "aihf" { 2 } else { 1 };
            assert_eq!(losses.len(), k, "{name}");
            assert!(losses
                .iter()
                .all(|l| l.as_f64().is_some_and(f64::is_finite)));
        }
    }
    // AIHF against DPO: 5BT tokens with gradients against 2BT.
    let sec = |n: &str| num(steps.iter().find(|s| s["name"] == n).unwrap(), "seconds");
    let q = &r["ratios"];
    let ratio = num(q, "aihf_over_dpo");
    assert!(ratio.is_finite() && ratio > 0.0, "ratio {ratio}");
    assert!(rel(ratio, sec("aihf") / sec("dpo")) < RATIO_REL);
    assert!(
        rel(
            num(q, "aihf_over_dpo_precomputed_ref"),
            sec("aihf") / sec("dpo-precomputed-ref")
        ) < RATIO_REL
    );
    // The FLOP ratio is the steps' own, and time per FLOP is the time ratio over it.
    let flops = |n: &str| num(steps.iter().find(|s| s["name"] == n).unwrap(), "flops");
    assert!(
        rel(
            num(q, "aihf_flops_over_dpo_flops"),
            flops("aihf") / flops("dpo")
        ) < RATIO_REL
    );
    assert!(
        rel(
            num(q, "aihf_per_flop_over_dpo"),
            ratio / num(q, "aihf_flops_over_dpo_flops")
        ) < RATIO_REL
    );
    assert!(
        rel(
            num(q, "aihf_with_generation_over_dpo"),
            (sec("aihf") + sec("generation")) / sec("dpo")
        ) < RATIO_REL
    );
}

#[test]
fn without_a_peak_mfu_is_null() {
    let r = run_tiny(&["--no-generation"]);
    let steps = r["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 4, "no generation step");
    assert!(steps.iter().all(|s| s["mfu"].is_null()), "{steps:?}");
    assert!(r["ratios"]["aihf_with_generation_over_dpo"].is_null());
    assert!(r["config"]["peak_tflops"].is_null());
}

#[test]
fn bad_input_is_refused_with_a_message() {
    let cases: &[(&[&str], &str)] = &[
        (&["--batch", "0"], "batch"),
        (&["--prompt-len", "32"], "prompt_len"),
        (&["--prompt-len", "0"], "prompt_len"),
        (&["--seq-len", "33"], "seq_len"),
        (&["--steps", "0"], "steps"),
        (&["--device", "tpu"], "device"),
        (&["--heads", "3"], "not a multiple of heads"),
        (&["--peak-tflops=0"], "peak_tflops"),
        (&["--threads", "0"], "threads"),
    ];
    for (args, msg) in cases {
        let out = aihf()
            .args(["neural", "bench", "--preset", "tiny"])
            .args(*args)
            .output()
            .expect("ran");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(err.contains(msg), "{args:?}: stderr `{err}` lacks `{msg}`");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    }
}

#[test]
fn bf16_on_cpu_is_refused() {
    let out = aihf()
        .args(["neural", "bench", "--preset", "tiny", "--dtype", "bf16"])
        .output()
        .expect("ran");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "bf16 on CPU accepted");
    assert!(err.contains("bf16 is supported on CUDA only"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// GPT-2 small: 85M non-embedding parameters (Kaplan et al. 2020's count, e.g. nanoGPT's
/// 124M − 38.6M token and 0.8M position embeddings at context 1024). Ours unties the output
/// head, so the total is 85M + 38.6M embeddings + 38.6M head + 0.4M positions (context 512).
#[test]
fn gpt2_small_preset_has_gpt2_small_parameters() {
    let spec = Preset::Gpt2Small.spec();
    let vs = nn::VarStore::new(Device::Cpu);
    let _policy = model::policy(&vs.root(), &spec).expect("model");
    let c = param_count(&vs);
    let blocks = c.blocks as f64;
    assert!(
        rel(blocks, 85e6) < 0.01,
        "non-embedding parameters {blocks}, GPT-2 small has ~85M"
    );
    let (d, v, ctx) = (768i64, 50257i64, 512i64);
    assert_eq!(c.embedding, (v + ctx) * d);
    assert_eq!(c.head, d * v + v, "untied head with bias");
    assert_eq!(c.flops, c.blocks + c.head);
    assert_eq!(c.total, c.blocks + c.head + c.embedding);
}
