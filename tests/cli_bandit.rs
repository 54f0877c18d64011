//! The static layer's command line, as a user runs it: good runs and every bad-input path
//! (non-zero exit, a message naming the problem and where, no panic, no NaN, no partial file).

use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const GOOD: &str = r#"{"n_actions": 3, "demonstrations": [12, 5, 3],
  "preferences": [[0, 3, 4], [2, 0, 5], [1, 2, 0]]}"#;

#[test]
fn all_methods_solve_and_print_json_per_method() {
    let dir = tempfile::tempdir().unwrap();
    let data = write(dir.path(), "d.json", GOOD);
    let out = aihf()
        .args(["bandit", "--data"])
        .arg(&data)
        .args(["--method", "all", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for m in [
        "sft",
        "btl",
        "rlhf",
        "aihf",
        "dpo",
        "ipo",
        "direct-aihf",
        "spin",
        "self-play-aihf",
    ] {
        let o = &v[m];
        if o.get("error").is_some() {
            continue;
        }
        let p: Vec<f64> = serde_json::from_value(o["policy"].clone()).unwrap();
        assert!(
            (p.iter().sum::<f64>() - 1.0).abs() < 1e-12,
            "{m}: policy sums to {}",
            p.iter().sum::<f64>()
        );
        for k in ["reward", "objective", "grad_norm", "iterations"] {
            assert!(o.get(k).is_some(), "{m} lacks {k}");
        }
    }
    assert!(v["aihf"]["policy"].is_array());
}

#[test]
fn all_reports_missing_estimators_in_place() {
    let dir = tempfile::tempdir().unwrap();
    // Action 2 is never demonstrated: π_ref = π_SFT has zero mass there, so DPO does not exist,
    // while AIHF does (action 2 wins a comparison).
    let data = write(
        dir.path(),
        "d.json",
        r#"{"n_actions": 3, "demonstrations": [5, 4, 0],
        "preferences": {"pairs": [[2, 0], [0, 1], [1, 2], [1, 0], [0, 2]]}}"#,
    );
    let out = aihf()
        .args(["bandit", "--data"])
        .arg(&data)
        .args(["--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["dpo"]["error"].as_str().unwrap().contains("{2}"),
        "{}",
        v["dpo"]
    );
    assert!(v["aihf"]["policy"][2].as_f64().unwrap() > 0.0);
    assert_eq!(v["sft"]["policy"][2].as_f64().unwrap(), 0.0);
    assert!(
        v["sft"]["reward"][2].is_null(),
        "uncovered SFT reward is −∞, written as null"
    );
    // A single method that does not exist is an error with a non-zero exit.
    aihf()
        .args(["bandit", "--data"])
        .arg(&data)
        .args(["--method", "dpo"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("zero mass on actions {2}"));
}

#[test]
fn sample_then_solve_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.json");
    aihf()
        .args([
            "sample",
            "--truth",
            "linear",
            "--n-actions",
            "6",
            "--demos",
            "500",
            "--per-pair",
            "20",
            "--seed",
            "3",
            "--out",
        ])
        .arg(&f)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
    assert_eq!(v["meta"]["seed"], 3);
    aihf()
        .args(["bandit", "--data"])
        .arg(&f)
        .args(["--method", "aihf"])
        .assert()
        .success()
        .stdout(predicates::str::contains("aihf"));
}

/// `(file contents, extra args, expected fragment of the message)`.
const BAD: &[(&str, &[&str], &str)] = &[
    ("{not json", &[], "JSON error"),
    ("[1, 2]", &[], "expected a JSON object"),
    (r#"{"demonstrations": [1]}"#, &[], "n_actions: missing"),
    (r#"{"n_actions": 0}"#, &[], "n_actions"),
    (
        r#"{"n_actions": 2, "demonstrations": [1, 2, 3]}"#,
        &[],
        "has 3 counts but n_actions = 2",
    ),
    (
        r#"{"n_actions": 2, "demonstrations": [1, -4]}"#,
        &[],
        "demonstrations[1]: -4 is negative",
    ),
    (
        r#"{"n_actions": 2, "demonstrations": [1, 2.5]}"#,
        &[],
        "demonstrations[1]: 2.5 is not a non-negative integer",
    ),
    (
        r#"{"n_actions": 2, "demonstrations": [1, "x"]}"#,
        &[],
        "demonstrations[1]",
    ),
    (
        r#"{"n_actions": 2, "demonstrations": {"actions": [0, 5]}}"#,
        &[],
        "demonstrations.actions[1]: action index 5 is out of range 0..2",
    ),
    (
        r#"{"n_actions": 2, "preferences": [[0, 1], [1]]}"#,
        &[],
        "preferences[1]: has 1 entries",
    ),
    (
        r#"{"n_actions": 2, "preferences": [[3, 1], [1, 0]]}"#,
        &[],
        "preferences[0][0]",
    ),
    (
        r#"{"n_actions": 2, "preferences": {"pairs": [[1, 1]]}}"#,
        &[],
        "preferences.pairs[0]: compares action 1 with itself",
    ),
    (
        r#"{"n_actions": 2, "preferences": {"pairs": [[0, 2]]}}"#,
        &[],
        "preferences.pairs[0][1]: action index 2 is out of range",
    ),
    (
        r#"{"n_actions": 2, "preferences": {"pairs": [[0]]}}"#,
        &[],
        "expected a pair [winner, loser]",
    ),
    (r#"{"n_actions": 2, "extra": 1}"#, &[], "extra: unknown key"),
    (
        r#"{"n_actions": 2, "demonstrations": [1, 1e999]}"#,
        &[],
        "JSON error",
    ),
    (
        r#"{"n_actions": 2}"#,
        &["--method", "aihf"],
        "there is no data",
    ),
    (
        r#"{"n_actions": 2}"#,
        &["--method", "sft"],
        "no demonstrations",
    ),
    (
        r#"{"n_actions": 3, "preferences": {"pairs": [[0, 1], [1, 2]]}}"#,
        &["--method", "btl"],
        "actions {2} never win",
    ),
    (
        r#"{"n_actions": 3, "demonstrations": [4, 0, 0], "preferences": {"pairs": [[0, 1], [1, 0]]}}"#,
        &["--method", "aihf"],
        "actions {2} never win against the others and have no demonstrations",
    ),
    (GOOD, &["--beta", "0"], "invalid parameter `beta`"),
    (GOOD, &["--beta", "-1"], "invalid parameter `beta`"),
    (GOOD, &["--beta", "NaN"], "invalid parameter `beta`"),
    (GOOD, &["--lambda", "-0.5"], "invalid parameter `lambda`"),
    (GOOD, &["--ridge", "-1"], "invalid parameter `ridge`"),
    (GOOD, &["--ipo-tau", "0"], "invalid parameter `ipo_tau`"),
    (
        GOOD,
        &["--ref-action", "7"],
        "reference action 7 is out of range",
    ),
    (
        GOOD,
        &["--beta", "1e-160"],
        "outside the supported range [1e-8, 1e8]",
    ),
    (
        GOOD,
        &["--method", "dpo", "--beta", "1e200"],
        "outside the supported range [1e-8, 1e8]",
    ),
    (
        r#"{"n_actions": 3, "demonstrations": [9223372036854775808, 1, 5]}"#,
        &[],
        "demonstrations[0]: 9223372036854775808 exceeds the largest supported count",
    ),
    (
        r#"{"n_actions": 2, "demonstrations": [4503599627370496, 4503599627370497]}"#,
        &[],
        "beyond the supported total 2^53",
    ),
    (
        r#"{"n_actions": 20000000}"#,
        &[],
        "n_actions: 20000000 is too large",
    ),
];

#[test]
fn bad_input_gives_a_clear_error_and_no_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    for (k, (text, args, want)) in BAD.iter().enumerate() {
        let data = write(dir.path(), &format!("bad{k}.json"), text);
        let out_file = dir.path().join(format!("out{k}.json"));
        let out = aihf()
            .args(["bandit", "--data"])
            .arg(&data)
            .args(*args)
            .arg("--out")
            .arg(&out_file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "case {k} ({text}, {args:?}): exit {:?}, stderr {stderr}",
            out.status.code()
        );
        assert!(
            stderr.contains(want),
            "case {k}: expected {want:?} in {stderr:?}"
        );
        assert!(!stderr.contains("panicked"), "case {k} panicked: {stderr}");
        assert!(!out_file.exists(), "case {k} left an output file");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("NaN"));
    }
    // No temporary files left behind either.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn missing_file_and_bad_sample_args_fail_cleanly() {
    aihf()
        .args(["bandit", "--data", "/nonexistent/x.json"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("cannot read /nonexistent/x.json"));
    aihf()
        .args(["sample", "--truth", "explicit"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("--reward"));
    aihf()
        .args(["sample", "--reward", "0,1", "--covered", "3"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("covered"));
    aihf()
        .args(["sample", "--sd", "-1"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("sd"));
    aihf()
        .args(["sample", "--beta", "0"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("beta"));
}

#[test]
fn verify_writes_a_report() {
    let dir = tempfile::tempdir().unwrap();
    aihf()
        .args(["verify", "--only", "static.", "--out"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(
            predicates::str::contains("static.aihf_stationarity")
                .and(predicates::str::contains("PASS")),
        );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(v["fail"], 0);
    assert_eq!(v["inconclusive"], 0);
    assert_eq!(v["error"], 0);
    // Every static claim counts the instances it used.
    for c in v["claims"].as_array().unwrap() {
        assert!(
            c["outcome"]["instances"].as_u64().is_some_and(|n| n > 0),
            "{}: no instance count",
            c["id"]
        );
    }
    assert!(std::fs::read_to_string(dir.path().join("report.md"))
        .unwrap()
        .contains("| `static.limit_m0`"));
}

use predicates::prelude::PredicateBooleanExt;

mod common;
use common::aihf;

/// A data file is read from memory-mapped pages where it can be (a regular file) and read
/// through a pipe otherwise: both give the same results, and text that is not UTF-8 (in a
/// string the fast reader hands to serde_json, or after the closing brace) is refused as a
/// read error naming the file or standard input, as before the mapping.
#[test]
fn mapped_and_piped_data_agree_and_bad_utf8_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        r#"{"n_actions": 3, "preferences": {"pairs": [[0, 1], [1, 2], [2, 0], [1, 0], [2, 1]]}}"#;
    let data = write(dir.path(), "d.json", text);
    let run = |stdin: Option<&[u8]>, path: &Path| {
        aihf()
            .args(["bandit", "--data"])
            .arg(path)
            .args(["--method", "btl", "--json"])
            .write_stdin(stdin.unwrap_or_default())
            .output()
            .unwrap()
    };
    let mapped = run(None, &data);
    let piped = run(Some(text.as_bytes()), Path::new("-"));
    assert!(mapped.status.success() && piped.status.success());
    let reward = |out: &[u8]| {
        let v: serde_json::Value = serde_json::from_slice(out).unwrap();
        v["btl"]["reward"].clone()
    };
    assert_eq!(reward(&mapped.stdout), reward(&piped.stdout));
    for (k, bytes) in [
        b"{\"n_actions\": 2, \"meta\": \"\xff\"}".to_vec(),
        b"{\"n_actions\": 2, \"preferences\": {\"pairs\": [[0, 1], [1, 0]]}}\xff".to_vec(),
    ]
    .into_iter()
    .enumerate()
    {
        let p = dir.path().join(format!("bad{k}.json"));
        std::fs::write(&p, &bytes).unwrap();
        for (out, name) in [
            (run(None, &p), p.display().to_string()),
            (
                run(Some(&bytes), Path::new("-")),
                "standard input".to_string(),
            ),
        ] {
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{err}");
            assert!(
                err.contains(&format!(
                    "cannot read {name}: stream did not contain valid UTF-8"
                )),
                "{err}"
            );
        }
    }
}
