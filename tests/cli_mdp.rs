//! `aihf mdp ...` on bad input: each case exits non-zero with a message that names the problem
//! and where it is (a table of `(what is broken, file text, expected fragments)`), and never
//! panics. Plus the happy paths: solve, sample, train.
use predicates::prelude::*;
use std::path::Path;

mod common;
use common::aihf;

const GOOD: &str = r#"{"transitions": [[[0.9, 0.1], [0.2, 0.8]], [[1.0, 0.0], [0.5, 0.5]]],
  "reward": [[0.0, 1.0], [0.5, 0.0]], "initial": [1.0, 0.0], "gamma": 0.9}"#;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn bad_mdp_files_are_typed_errors() {
    let cases: &[(&str, String, &[&str])] = &[
        ("row of P off", GOOD.replace("[0.2, 0.8]", "[0.2, 0.77]"), &["row (s=0, a=1) of P sums to 0.97", "tolerance 1e-6"]),
        ("negative probability", GOOD.replace("[1.0, 0.0]", "[1.1, -0.1]"), &["row (s=1, a=0) of P", "negative"]),
        ("shape mismatch", GOOD.replace("[[1.0, 0.0], [0.5, 0.5]]", "[[1.0, 0.0]]"), &["transitions[1] has 1 actions"]),
        ("successor count", GOOD.replace("[0.9, 0.1]", "[0.9, 0.05, 0.05]"), &["transitions[0][0] has 3 successors"]),
        ("gamma = 1 without horizon", GOOD.replace("0.9}", "1.0}"), &["gamma must be in [0, 1)", "got 1"]),
        ("gamma negative", GOOD.replace("0.9}", "-0.1}"), &["gamma must be in [0, 1)"]),
        ("beta zero", GOOD.replace("0.9}", "0.9, \"beta\": 0}"), &["beta must be finite and > 0, got 0"]),
        ("horizon zero", GOOD.replace("0.9}", "0.9, \"horizon\": 0}"), &["horizon must be at least 1"]),
        ("rho off", GOOD.replace("[1.0, 0.0], \"gamma", "[0.5, 0.4], \"gamma"), &["initial distribution rho sums to 0.9", "tolerance"]),
        ("pi0 row off", GOOD.replace("0.9}", "0.9, \"reference\": [[0.5, 0.5], [0.7, 0.2]]}"), &["row s=1 of the reference policy pi0 sums to 0.9"]),
        ("NaN literal", GOOD.replace("0.5, 0.0]]", "NaN, 0.0]]"), &["JSON error in", "mdp.json"]),
        ("unknown key", GOOD.replace("0.9}", "0.9, \"Beta\": 0.3}"), &["unknown field `Beta`", "expected one of"]),
        ("reward not a number", GOOD.replace("0.5, 0.0]]", "\"x\", 0.0]]"), &["reward[1][0]: invalid type"]),
        ("sparse out of range", r#"{"transitions": [[0,0,0,1.0],[0,1,5,1.0]], "reward": [[0,0]], "initial": [1], "gamma": 0.5}"#.to_string(), &["transitions[1]: successor 5 out of range 0..1"]),
        ("sparse missing row", r#"{"transitions": [[0,0,0,1.0]], "reward": [[0,0]], "initial": [1], "gamma": 0.5}"#.to_string(), &["row (s=0, a=1) of P has no entries"]),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (what, text, frags) in cases {
        let p = write(dir.path(), "mdp.json", text);
        let out = aihf()
            .args(["mdp", "solve", "--mdp"])
            .arg(&p)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}: expected exit 1, stderr: {err}"
        );
        assert!(!err.contains("panicked"), "{what}: panicked: {err}");
        for f in *frags {
            assert!(err.contains(f), "{what}: message lacks {f:?}: {err}");
        }
    }
}

#[test]
fn trajectory_files_out_of_range_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "mdp.json", GOOD);
    let ok_demo = "{\"steps\": [[0, 1], [1, 0]]}\n";
    let cases: &[(&str, String, String, &[&str])] = &[
        ("state out of range", format!("{ok_demo}\n{{\"steps\": [[0, 1], [9, 0]]}}\n"), String::new(), &["demos.jsonl line 3", "steps[1]: state 9 out of range 0..2"]),
        ("action out of range", "{\"steps\": [[0, 2]]}\n".to_string(), String::new(), &["demos.jsonl line 1", "action 2 out of range 0..2"]),
        ("not JSON", "{\"steps\": [[0, 1]\n".to_string(), String::new(), &["line 1", "not JSON"]),
        ("pref loser out of range", ok_demo.to_string(), "{\"winner\": [[0,0]], \"loser\": [[0,0]]}\n{\"winner\": [[0,0]], \"loser\": [[3,0]]}\n".to_string(), &["prefs.jsonl line 2", "loser[0]: state 3 out of range"]),
    ];
    for (what, demos, prefs, frags) in cases {
        let d = write(dir.path(), "demos.jsonl", demos);
        let mut cmd = aihf();
        cmd.args(["mdp", "train", "--iters", "10", "--mdp"])
            .arg(&m)
            .arg("--demos")
            .arg(&d)
            .arg("--out")
            .arg(dir.path().join("o"));
        if !prefs.is_empty() {
            cmd.arg("--prefs")
                .arg(write(dir.path(), "prefs.jsonl", prefs));
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: stderr {err}");
        for f in *frags {
            assert!(err.contains(f), "{what}: message lacks {f:?}: {err}");
        }
    }
}

#[test]
fn solve_sample_train_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let grid = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mdp/gridworld.json");
    let out = aihf()
        .args(["mdp", "solve", "--json", "--mdp"])
        .arg(&grid)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["policy"].as_array().unwrap().len(), 16);
    let fh = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mdp/gridworld_h8_sparse.json");
    let out = aihf()
        .args(["mdp", "solve", "--json", "--mdp"])
        .arg(&fh)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["policy"].as_array().unwrap().len(),
        8,
        "time-indexed policy for T = 8"
    );
    aihf()
        .args([
            "mdp", "sample", "--n", "50", "--prefs", "50", "--seed", "3", "--mdp",
        ])
        .arg(&grid)
        .arg("--out")
        .arg(dir.path().join("d.jsonl"))
        .arg("--prefs-out")
        .arg(dir.path().join("p.jsonl"))
        .assert()
        .success();
    aihf()
        .args(["mdp", "train", "--iters", "2000", "--mdp"])
        .arg(&grid)
        .arg("--demos")
        .arg(dir.path().join("d.jsonl"))
        .arg("--prefs")
        .arg(dir.path().join("p.jsonl"))
        .arg("--out")
        .arg(dir.path().join("run"))
        .assert()
        .success()
        .stdout(predicate::str::contains("two-stage RLHF"));
    for f in ["theta.json", "policy.json", "trace.json", "summary.json"] {
        assert!(dir.path().join("run").join(f).exists(), "{f} missing");
    }
}

#[test]
fn bad_training_options_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "mdp.json", GOOD);
    let d = write(dir.path(), "d.jsonl", "{\"steps\": [[0, 1], [1, 0]]}\n");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--alpha", "0"],
            "invalid parameter `alpha`: must be finite and > 0, got 0",
        ),
        (&["--batch", "0"], "invalid parameter `batch`"),
        (&["--lambda=-1"], "invalid parameter `lambda`"),
        (&["--iters", "0"], "invalid parameter `iterations`"),
        (&["--reward", "linear"], "a linear reward needs `features`"),
    ];
    for (extra, want) in cases {
        let out = aihf()
            .args(["mdp", "train", "--mdp"])
            .arg(&m)
            .arg("--demos")
            .arg(&d)
            .arg("--out")
            .arg(dir.path().join("o"))
            .args(*extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: stderr {err}");
        assert!(
            err.contains(want),
            "{extra:?}: message lacks {want:?}: {err}"
        );
    }
}

/// Finite horizon: trajectories longer than `T` are outside the model (their steps t ≥ T would
/// enter the empirical occupancy but never the model's), so sampling and training refuse them.
#[test]
fn trajectories_longer_than_the_horizon_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mdp = "examples/mdp/gridworld_h8_sparse.json";
    aihf()
        .args([
            "mdp", "sample", "--mdp", mdp, "--n", "5", "--length", "40", "--out",
        ])
        .arg(dir.path().join("d.jsonl"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("exceeds the MDP's horizon 8"));
    let long: String = (0..3)
        .map(|_| format!("{{\"steps\": [{}]}}\n", ["[0, 0]"; 12].join(", ")))
        .collect();
    let demos = dir.path().join("long.jsonl");
    std::fs::write(&demos, long).unwrap();
    aihf()
        .args(["mdp", "train", "--mdp", mdp, "--demos"])
        .arg(&demos)
        .arg("--out")
        .arg(dir.path().join("run"))
        .assert()
        .code(1)
        .stderr(
            predicates::str::contains("line 1")
                .and(predicates::str::contains("exceeds the horizon 8")),
        );
}
