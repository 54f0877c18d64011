//! One method enum for the library, one method set per command (issue 10, part 2): each command
//! accepts only its layer's methods (`aihf::bandit::METHODS`, `aihf::truth::estimate::METHODS`),
//! `all` means exactly that list, a list is the union of its single-method runs, and any other
//! method is a clean usage error naming it and the supported ones.

use serde_json::Value;
use std::path::Path;

mod common;
use common::aihf;

/// Runs `aihf` with `{}` in `args` replaced by `dir`: (exit code, stdout, stderr).
fn run(dir: &Path, args: &str) -> (i32, String, String) {
    let words: Vec<String> = args
        .split_whitespace()
        .map(|w| w.replace("{}", dir.to_str().unwrap()))
        .collect();
    let o = aihf().args(&words).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn json(dir: &Path, args: &str) -> Value {
    let (code, out, err) = run(dir, args);
    assert_eq!(code, 0, "{args}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args}: {e}\n{out}"))
}

/// A bandit data set and a truth task with its data.
fn fixtures() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for l in [
        "sample --per-pair 3 --seed 1 --out {}/data.json",
        "truth gen --out-dir {}/tg --vocab 4 --horizon 3 --nnz-per-row 2 --demos 60 --comparisons 60 --seed 4",
    ] {
        let (code, _, err) = run(dir.path(), l);
        assert_eq!(code, 0, "{l}: {err}");
    }
    dir
}

const TRUTH: &str =
    "truth estimate --task {}/tg/task.json --demos {}/tg/demos.jsonl --prefs {}/tg/prefs.jsonl";

fn names(ms: &[aihf::method::Method]) -> Vec<String> {
    ms.iter().map(|m| m.name().to_string()).collect()
}

#[test]
fn a_method_the_command_does_not_solve_is_a_clean_usage_error() {
    let fx = fixtures();
    let truth = names(aihf::truth::estimate::METHODS).join(", ");
    let bandit = names(aihf::bandit::METHODS).join(", ");
    let ipo = format!("{TRUTH} --method ipo");
    let spin = format!("{TRUTH} --method sft,spin");
    let twice = format!("{TRUTH} --method sft,sft");
    // (command, what stderr must say)
    let table: [(&str, String); 6] = [
        (
            &ipo,
            format!("`ipo` is not supported here; the supported methods are {truth}, or all"),
        ),
        (&spin, "`spin` is not supported here".into()),
        (&twice, "`sft` is listed twice".into()),
        (
            "bandit --data {}/data.json --method irl",
            format!("`irl` is not supported here; the supported methods are {bandit}, or all"),
        ),
        (
            "bandit --data {}/data.json --method dpo,nope",
            "unknown method `nope`".into(),
        ),
        (
            "bandit --data {}/data.json --method",
            "a value is required for '--method <METHOD>'".into(),
        ),
    ];
    for (args, says) in table {
        let (code, out, err) = run(fx.path(), args);
        assert_eq!(code, 2, "{args}: a usage error exits 2\n{err}");
        assert!(err.contains(&says), "{args}: {err:?} does not say {says:?}");
        assert!(!err.contains("panicked"), "{args}: {err}");
        assert!(out.is_empty(), "{args}: wrote {out:?}");
    }
}

#[test]
fn each_command_lists_only_its_own_methods() {
    let dir = tempfile::tempdir().unwrap();
    for (args, own, other) in [
        ("truth estimate --help", "- irl:", "- ipo:"),
        ("bandit --help", "- ipo:", "- irl:"),
    ] {
        let (code, out, _) = run(dir.path(), args);
        assert_eq!(code, 0);
        assert!(out.contains(own) && !out.contains(other), "{args}:\n{out}");
        assert!(out.contains("- all:"), "{args}:\n{out}");
    }
}

#[test]
fn all_is_exactly_the_layer_list() {
    let fx = fixtures();
    let j = json(fx.path(), "bandit --data {}/data.json --json");
    let mut keys: Vec<String> = j.as_object().unwrap().keys().cloned().collect();
    let mut want = names(aihf::bandit::METHODS);
    want.push("parameters".into());
    keys.sort();
    want.sort();
    assert_eq!(keys, want);
    let j = json(fx.path(), &format!("{TRUTH} --json"));
    let mut keys: Vec<&str> = j["methods"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    // rlhf and dpo appear with both references.
    let mut want = [
        "sft", "irl", "btl", "rlhf_sft", "rlhf_ref", "dpo_sft", "dpo_ref", "aihf",
    ];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(j["method"], "all");
}

#[test]
fn a_list_reports_what_its_methods_report_alone() {
    let fx = fixtures();
    let d = fx.path();
    let both = json(d, "bandit --data {}/data.json --method aihf,sft --json");
    let keys: Vec<&String> = both.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    for m in ["aihf", "sft"] {
        let alone = json(
            d,
            &format!("bandit --data {{}}/data.json --method {m} --json"),
        );
        assert_eq!(both[m]["policy"], alone[m]["policy"], "{m}");
        assert_eq!(both[m]["objective"], alone[m]["objective"], "{m}");
    }
    let both = json(
        d,
        &format!("{TRUTH} --method sft,rlhf --rlhf-reference ref --ridge 0.1 --json"),
    );
    assert_eq!(both["method"], "sft,rlhf");
    assert_eq!(both["rlhf_reference"], "ref");
    let alone = json(
        d,
        &format!("{TRUTH} --method rlhf --rlhf-reference ref --ridge 0.1 --json"),
    );
    let m = both["methods"].as_object().unwrap();
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(
        m["rlhf_ref"]["kl_to_star"],
        alone["methods"]["rlhf_ref"]["kl_to_star"]
    );
    // The reference still needs rlhf or dpo in the list.
    let (code, _, err) = run(d, &format!("{TRUTH} --method sft,irl --rlhf-reference ref"));
    assert_eq!(code, 1);
    assert!(
        err.contains("applies only to --method rlhf or dpo"),
        "{err}"
    );
}
