//! The command line: bad input is a clear error and a non-zero exit, never a panic.

use super::*;

#[test]
fn cli_bad_input_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"prompt_ids\":[0],\"completion_ids\":[1]}\n{\"prompt_ids\":[0],\"completion_ids\":[1,\n",
    )
    .unwrap();
    let base = words("neural train --method sft --arch tabular --vocab 4 --context 4 --steps 5");
    let out = aihf()
        .args(&base)
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
        .args(&base)
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
        .args(&base)
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
        .args(&base)
        .arg("--demos")
        .arg(&long)
        .arg("--truncate")
        .assert()
        .success();

    if !tch::Cuda::is_available() {
        let out = aihf()
            .args(&base)
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
    let acc = lines[1]["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc), "accuracy {acc}");
    // Every completion has H = 3 tokens, so the per-token SFT loss is a third of the sequence's.
    let (seq, tok) = (
        lines[1]["sft"].as_f64().unwrap(),
        lines[1]["sft_per_token"].as_f64().unwrap(),
    );
    assert!(
        (seq - 3.0 * tok).abs() < 1e-5 * seq,
        "per sequence {seq} vs per token {tok}"
    );
    // The saved weights load into the same architecture (SPIN below starts from them).
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _net = model::policy(
        &vs.root(),
        &ModelSpec {
            arch: Arch::Transformer(TransformerConfig::default()),
            vocab: 4,
            context: 4,
        },
    )
    .unwrap();
    vs.load(d.join("w.safetensors")).unwrap();

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

/// `crossval --seeds` parses `A..B` and comma lists; a bad list is a clear error, never a panic.
#[test]
fn crossval_seed_lists() {
    use aihf::neural::crossval::parse_seeds;
    assert_eq!(parse_seeds("0..3").unwrap(), vec![0, 1, 2]);
    assert_eq!(parse_seeds("4, 7").unwrap(), vec![4, 7]);
    for bad in ["5..3", "x", "1,,2"] {
        let out = aihf()
            .args(["neural", "crossval", "--seeds", bad])
            .assert()
            .failure();
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(
            err.contains("seeds") && !err.contains("panicked"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn demonstrations_and_preferences_read_from_standard_input() {
    // `-` is standard input (the command-line convention): the same run as from the file.
    let dir = tempfile::tempdir().unwrap();
    let demos = dir.path().join("d.jsonl");
    std::fs::write(
        &demos,
        "{\"prompt_ids\":[0],\"completion_ids\":[1,2]}\n{\"prompt_ids\":[0],\"completion_ids\":[2,3]}\n",
    )
    .unwrap();
    let base = words("neural train --method sft --arch tabular --vocab 4 --context 4 --steps 5");
    let from_file = aihf()
        .args(&base)
        .arg("--demos")
        .arg(&demos)
        .assert()
        .success();
    let from_stdin = aihf()
        .args(&base)
        .args(["--demos", "-"])
        .write_stdin(std::fs::read(&demos).unwrap())
        .assert()
        .success();
    let end = |o: &assert_cmd::assert::Assert| -> (serde_json::Value, serde_json::Value) {
        let v: serde_json::Value = serde_json::from_slice(&o.get_output().stdout).unwrap();
        (
            v["report"]["final_loss"].clone(),
            v["report"]["final_grad_norm"].clone(),
        )
    };
    assert!(end(&from_file).0.is_f64(), "no final loss");
    assert_eq!(end(&from_file), end(&from_stdin));
    // Both inputs cannot be standard input.
    let out = aihf()
        .args(words(
            "neural train --method aihf --arch tabular --vocab 4 --context 4 --steps 5",
        ))
        .args(["--demos", "-", "--prefs", "-"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("standard input"), "{err}");
}
