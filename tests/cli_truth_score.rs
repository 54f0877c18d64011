//! `aihf truth score` and `aihf truth export` as a user runs them (issue 13, parts 1–3): the
//! scores against exact values computed independently (chain-rule KL and marginals of
//! `aihf::truth::policy`, brute-force enumeration for the win rate), the export/score contract
//! without Python, the exported tokenizer's round trip through Hugging Face's `tokenizers`
//! crate, the sanity verdict, and every bad-input path (typed error naming the line, non-zero
//! exit, nothing written).

use aihf::markov::MarkovTask;
use aihf::math::sigmoid;
use aihf::truth::data::TaskSpec;
use aihf::truth::policy::{write_policies, Bigrams, MarkovPolicy};
use assert_cmd::Command;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A Monte Carlo mean is accepted within 4 standard errors of its exact value (two-sided
/// normal tail 6e-5 per check; a few dozen checks here).
const Z: f64 = 4.0;

fn aihf() -> Command {
    Command::cargo_bin("aihf").unwrap()
}

fn write_task(dir: &Path, spec: &TaskSpec) -> PathBuf {
    let p = dir.join("task.json");
    std::fs::write(&p, serde_json::to_string(spec).unwrap()).unwrap();
    p
}

/// `π_{c·w*}`: the task's reward scaled by `c` (a partly trained policy for `c < 1`).
fn scaled_policy(task: &MarkovTask, c: f64) -> MarkovPolicy {
    let w: Vec<f64> = task.reward_entries().map(|e| c * e.2).collect();
    MarkovPolicy::of_reward(
        task.horizon(),
        task.y0(),
        Arc::new(task.reference().clone()),
        Arc::new(Bigrams::of_task(task)),
        &w,
        task.beta(),
    )
    .unwrap()
}

/// `n` samples of `p` as JSONL with per-token log-probabilities (and the sum, `shift` added).
fn samples_jsonl(p: &MarkovPolicy, n: usize, seed: u64, shift: f64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut s = String::new();
    for _ in 0..n {
        let y = p.sample(&mut rng);
        let mut u = p.y0();
        let tl: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(t, &v)| {
                let l = p.log_step(t, u, v);
                u = v;
                l
            })
            .collect();
        let lp: f64 = tl.iter().sum::<f64>() + shift;
        let rec = if shift == 0.0 {
            json!({"prompt_ids": [p.y0()], "completion_ids": y, "token_logprobs": tl, "logprob": lp})
        } else {
            json!({"completion_ids": y, "logprob": lp})
        };
        s.push_str(&rec.to_string());
        s.push('\n');
    }
    s
}

fn within(name: &str, got: &Value, exact: f64) {
    let (m, se) = (got["mean"].as_f64().unwrap(), got["se"].as_f64().unwrap());
    assert!(se > 0.0, "{name}: se {se}");
    assert!(
        (m - exact).abs() <= Z * se,
        "{name}: {m} ± {se} vs exact {exact} (|z| = {:.2} > {Z})",
        (m - exact).abs() / se
    );
}

fn run_json(args: &[&str], paths: &[(&str, &Path)]) -> Value {
    let mut c = aihf();
    c.args(["truth", "score", "--json"]).args(args);
    for (flag, p) in paths {
        c.arg(flag).arg(p);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn score_agrees_with_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    let spec = TaskSpec::random(4, 5, 2, 1.5, 0.8, 3).unwrap();
    let task = spec.task().unwrap();
    let tp = write_task(dir.path(), &spec);
    let pi = scaled_policy(&task, 0.4);
    let hat = scaled_policy(&task, 0.8);
    let sp = dir.path().join("samples.jsonl");
    std::fs::write(&sp, samples_jsonl(&pi, 4000, 1, 0.0)).unwrap();
    let ep = dir.path().join("estimate.json");
    write_policies(&ep, &[("aihf", &hat), ("other", &pi)]).unwrap();
    let out_dir = dir.path().join("out");
    let v = run_json(
        &[
            "--estimate-name",
            "aihf",
            "--star-samples",
            "3000",
            "--seed",
            "5",
        ],
        &[
            ("--task", &tp),
            ("--samples", &sp),
            ("--estimate", &ep),
            ("--out", &out_dir),
        ],
    );
    // Exact values from the chain rule and marginals (aihf::truth::policy).
    let star = MarkovPolicy::star(&task).unwrap();
    let reference = scaled_policy(&task, 0.0);
    let mu = pi.marginals();
    let kl_star = pi.kl_to(&mu, &star).unwrap();
    let kl_ref = pi.kl_to(&mu, &reference).unwrap();
    let kl_hat = pi.kl_to(&mu, &hat).unwrap();
    let w: Vec<f64> = task.reward_entries().map(|e| e.2).collect();
    let reward = pi.expected_reward(&mu, &Bigrams::of_task(&task), &w);
    // The win rate by enumerating all 4^5 × 4^5 pairs.
    let n = task.enumeration_size().unwrap();
    let ys: Vec<Vec<usize>> = (0..n).map(|i| task.decode(i)).collect();
    let r: Vec<f64> = ys.iter().map(|y| task.true_reward(y).unwrap()).collect();
    let p: Vec<f64> = ys.iter().map(|y| pi.log_prob(y).unwrap().exp()).collect();
    let q: Vec<f64> = ys
        .iter()
        .map(|y| task.log_prob_star(y).unwrap().exp())
        .collect();
    let mut win = 0.0;
    for i in 0..n {
        for j in 0..n {
            win += p[i] * q[j] * sigmoid(r[i] - r[j]);
        }
    }
    assert_eq!(v["n"], json!(4000));
    for k in ["k1", "k3"] {
        within(&format!("KL(π‖π*) {k}"), &v["kl_to_star"][k], kl_star);
        within(&format!("KL(π‖π_ref) {k}"), &v["kl_to_ref"][k], kl_ref);
        within(&format!("KL(π‖π̂) {k}"), &v["to_estimate"]["kl"][k], kl_hat);
    }
    within("Σ_t k3_t", &v["kl_to_star"]["k3_token_sum"], kl_star);
    assert_eq!(v["to_estimate"]["zero_probability_samples"], json!(0));
    within("E_π[r*]", &v["true_reward"], reward);
    within(
        "β KL(π‖π*)",
        &v["regularised_suboptimality"],
        task.beta() * kl_star,
    );
    within("win rate", &v["win_rate_vs_star"], win);
    // The suboptimality estimate is β·k1 sample by sample (SPEC §3.1 telescoping).
    let (a, b) = (
        v["regularised_suboptimality"]["mean"].as_f64().unwrap(),
        v["kl_to_star"]["k1"]["mean"].as_f64().unwrap(),
    );
    assert!((a - task.beta() * b).abs() < 1e-9, "{a} vs β·{b}");
    let e = v["to_estimate"]["estimator_kl_to_star"].as_f64().unwrap();
    let exact_e = hat.kl_to(&hat.marginals(), &star).unwrap();
    assert!((e - exact_e).abs() < 1e-10, "{e} vs {exact_e}");
    assert_eq!(v["sanity"]["ok"], json!(true), "{}", v["sanity"]);
    for f in [
        "score.json",
        "frontier.json",
        "frontier.png",
        "frontier.svg",
    ] {
        assert!(out_dir.join(f).is_file(), "missing {f}");
    }
    // The frontier's point at b = β is π* itself.
    let fr: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("frontier.json")).unwrap())
            .unwrap();
    let pt = fr["frontier"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| (p["b"].as_f64().unwrap() - task.beta()).abs() < 1e-12)
        .unwrap();
    let exact_star_kl = star.kl_to(&star.marginals(), &reference).unwrap();
    assert!((pt["kl_to_ref"].as_f64().unwrap() - exact_star_kl).abs() < 1e-10);
}

#[test]
fn export_score_contract_without_python() {
    // Export, then score the exported demonstrations (exact π* draws) with their exact log π*:
    // the record format of the export is what `score` reads, and KL(π*‖π*) = 0, win rate 1/2.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    aihf()
        .args([
            "truth",
            "gen",
            "--vocab",
            "5",
            "--horizon",
            "4",
            "--nnz-per-row",
            "2",
        ])
        .args([
            "--demos",
            "3000",
            "--comparisons",
            "50",
            "--seed",
            "2",
            "--out-dir",
        ])
        .arg(d.join("mk"))
        .assert()
        .success();
    aihf()
        .args(["truth", "export", "--format", "trl", "--task"])
        .arg(d.join("mk/task.json"))
        .arg("--demos")
        .arg(d.join("mk/demos.jsonl"))
        .arg("--prefs")
        .arg(d.join("mk/prefs.jsonl"))
        .arg("--out")
        .arg(d.join("trl"))
        .assert()
        .success();
    let task = TaskSpec::read(&d.join("mk/task.json"))
        .unwrap()
        .task()
        .unwrap();
    let text = std::fs::read_to_string(d.join("trl/sft.jsonl")).unwrap();
    let mut samples = String::new();
    for line in text.lines() {
        let mut rec: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
        let y: Vec<usize> = serde_json::from_value(rec["completion_ids"].clone()).unwrap();
        rec.retain(|k, _| k.ends_with("_ids"));
        rec.insert("logprob".into(), json!(task.log_prob_star(&y).unwrap()));
        samples.push_str(&Value::Object(rec).to_string());
        samples.push('\n');
    }
    let sp = d.join("samples.jsonl");
    std::fs::write(&sp, samples).unwrap();
    let v = run_json(
        &[],
        &[("--task", &d.join("mk/task.json")), ("--samples", &sp)],
    );
    assert_eq!(v["n"], json!(3000));
    // log π(y) − log π*(y) is 0 up to round-off for every sample: k1 and k3 vanish (their se is
    // round-off too, so a z-score means nothing here).
    for k in ["k1", "k3"] {
        let m = v["kl_to_star"][k]["mean"].as_f64().unwrap();
        assert!(m.abs() < 1e-12, "KL(π*‖π*) {k} = {m}");
    }
    within("win rate of π* vs π*", &v["win_rate_vs_star"], 0.5);
    assert_eq!(v["sanity"]["ok"], json!(true));
}

#[test]
fn exported_tokenizer_round_trips_every_record() {
    // Hugging Face's own tokenizer implementation (the `tokenizers` crate) reads the exported
    // tokenizer.json and must map every text field to its `_ids` field and back.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    aihf()
        .args([
            "truth",
            "gen",
            "--vocab",
            "13",
            "--horizon",
            "6",
            "--nnz-per-row",
            "3",
        ])
        .args([
            "--demos",
            "200",
            "--comparisons",
            "200",
            "--seed",
            "4",
            "--out-dir",
        ])
        .arg(d.join("mk"))
        .assert()
        .success();
    aihf()
        .args(["truth", "export", "--task"])
        .arg(d.join("mk/task.json"))
        .arg("--demos")
        .arg(d.join("mk/demos.jsonl"))
        .arg("--prefs")
        .arg(d.join("mk/prefs.jsonl"))
        .arg("--out")
        .arg(d.join("trl"))
        .assert()
        .success();
    let tok = tokenizers::Tokenizer::from_file(d.join("trl/tokenizer.json")).unwrap();
    let ids = |s: &str| -> Vec<u64> {
        tok.encode(s, false)
            .unwrap()
            .get_ids()
            .iter()
            .map(|&i| u64::from(i))
            .collect()
    };
    let as_ids = |v: &Value| -> Vec<u64> { serde_json::from_value(v.clone()).unwrap() };
    let mut n = 0;
    for (file, fields) in [
        ("sft.jsonl", &["completion"][..]),
        ("dpo.jsonl", &["chosen", "rejected"][..]),
    ] {
        for line in std::fs::read_to_string(d.join("trl").join(file))
            .unwrap()
            .lines()
        {
            let r: Value = serde_json::from_str(line).unwrap();
            let prompt = r["prompt"].as_str().unwrap();
            assert_eq!(ids(prompt), as_ids(&r["prompt_ids"]));
            for f in fields {
                let text = r[*f].as_str().unwrap();
                let want = as_ids(&r[format!("{f}_ids")]);
                assert_eq!(ids(text), want, "{file}: {f} {text:?}");
                // TRL concatenates prompt and completion text.
                let mut full = as_ids(&r["prompt_ids"]);
                full.extend(&want);
                assert_eq!(ids(&format!("{prompt}{text}")), full);
                let back: Vec<u32> = want.iter().map(|&i| i as u32).collect();
                assert_eq!(tok.decode(&back, false).unwrap(), text.trim());
                n += 1;
            }
        }
    }
    assert_eq!(n, 600);
    // The special tokens follow the vocabulary.
    assert_eq!(ids("t12 <eos>"), vec![12, 13]);
    assert_eq!(tok.token_to_id("<pad>"), Some(14));
    assert_eq!(tok.get_vocab_size(true), 16);
}

#[test]
fn sanity_flags_log_probabilities_of_another_policy() {
    // Log-probabilities 3 nats below the truth (e.g. mass left on EOS or special tokens):
    // KL(π‖π_ref) k1 turns significantly negative and the verdict says so.
    let dir = tempfile::tempdir().unwrap();
    let spec = TaskSpec::random(4, 5, 2, 1.0, 1.0, 6).unwrap();
    let task = spec.task().unwrap();
    let tp = write_task(dir.path(), &spec);
    let sp = dir.path().join("s.jsonl");
    std::fs::write(&sp, samples_jsonl(&scaled_policy(&task, 0.5), 500, 2, -3.0)).unwrap();
    let v = run_json(
        &["--star-samples", "100"],
        &[("--task", &tp), ("--samples", &sp)],
    );
    assert_eq!(v["sanity"]["ok"], json!(false));
    let flags = v["sanity"]["flags"].to_string();
    assert!(flags.contains("KL(π‖π_ref)"), "{flags}");
}

#[test]
fn bad_samples_are_typed_errors_naming_the_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = TaskSpec::random(4, 3, 2, 1.0, 1.0, 1).unwrap();
    let tp = write_task(dir.path(), &spec);
    let good = r#"{"completion_ids": [1, 2, 3], "logprob": -4.0}"#;
    let cases: &[(&str, &str)] = &[
        (
            r#"{"completion_ids": [1, 2], "logprob": -1.0}"#,
            "has 2 tokens, the horizon is H = 3",
        ),
        (
            r#"{"completion_ids": [1, 2, 4], "logprob": -1.0}"#,
            "out of range 0..4",
        ),
        (
            r#"{"completion_ids": [1, 2, 3], "logprob": 0.5}"#,
            "is positive",
        ),
        (
            r#"{"completion_ids": [1, 2, 3], "logprob": "nan"}"#,
            "must be a number",
        ),
        (
            r#"{"completion_ids": [1, 2, 3], "token_logprobs": [-1, null, -1]}"#,
            "`token_logprobs`[1] must be a number",
        ),
        (r#"{"completion_ids": [1, 2, 3]}"#, "missing key `logprob`"),
        (r#"{"logprob": -1.0}"#, "missing key `completion_ids`"),
        (
            r#"{"completion_ids": [1, 2, 3], "logprob": -1, "x": 1}"#,
            "unknown key `x`",
        ),
        (
            r#"{"prompt_ids": [2], "completion_ids": [1, 2, 3], "logprob": -1}"#,
            "not the task's prompt",
        ),
        (
            r#"{"completion_ids": [1, 2, 3], "logprob": -1, "token_logprobs": [-1, -1, -1]}"#,
            "differs from the sum",
        ),
        ("not json", "not a JSON object"),
    ];
    for (k, (bad, msg)) in cases.iter().enumerate() {
        let sp = dir.path().join(format!("s{k}.jsonl"));
        std::fs::write(&sp, format!("{good}\n{bad}\n{good}\n")).unwrap();
        let out_dir = dir.path().join(format!("out{k}"));
        let out = aihf()
            .args(["truth", "score", "--task"])
            .arg(&tp)
            .arg("--samples")
            .arg(&sp)
            .arg("--out")
            .arg(&out_dir)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "case {k} ({bad}) was accepted");
        assert!(err.contains(&format!("s{k}.jsonl:2")), "case {k}: {err}");
        assert!(err.contains(msg), "case {k}: expected {msg:?} in {err}");
        assert!(!err.contains("panicked"), "case {k}: {err}");
        assert!(!out_dir.exists(), "case {k}: output written on error");
    }
    // An empty file (and one good line: no standard error) is refused too.
    for (name, text) in [("empty.jsonl", ""), ("one.jsonl", good)] {
        let sp = dir.path().join(name);
        std::fs::write(&sp, text).unwrap();
        aihf()
            .args(["truth", "score", "--task"])
            .arg(&tp)
            .arg("--samples")
            .arg(&sp)
            .assert()
            .failure()
            .stderr(predicates::str::contains("need at least 2 responses"));
    }
}

#[test]
fn export_refuses_bad_records_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = TaskSpec::random(4, 3, 2, 1.0, 1.0, 1).unwrap();
    let tp = write_task(dir.path(), &spec);
    let dp = dir.path().join("d.jsonl");
    std::fs::write(
        &dp,
        "{\"prompt_ids\": [0], \"completion_ids\": [1, 2, 3]}\n{\"prompt_ids\": [0], \"completion_ids\": [1, 9, 3]}\n",
    )
    .unwrap();
    let out_dir = dir.path().join("trl");
    aihf()
        .args(["truth", "export", "--task"])
        .arg(&tp)
        .arg("--demos")
        .arg(&dp)
        .arg("--out")
        .arg(&out_dir)
        .assert()
        .failure()
        .stderr(predicates::str::contains("d.jsonl:2"));
    assert!(!out_dir.exists());
}
