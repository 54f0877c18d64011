//! `aihf sim`: bad spec files fail before any computation with an error naming the field and
//! leave no results file; a small study writes its JSON (seed, spec, version) and figures, the
//! figures redraw from the JSON alone, and the thread count does not change the results.

use predicates::prelude::*;
use std::path::Path;

mod common;
use common::aihf;

const SMALL: &str = r#"
study = "fig9"
name = "small"
seed = 5
replications = 40
n_actions = 6
covered = 4
demos = 200
comparisons_per_pair = 20
truth = { kind = "gaussian", seed = 7 }
estimators = [{ method = "sft" }, { method = "rlhf" }, { method = "aihf" }, { method = "btl" }]
"#;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn files_in(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => vec![],
    }
}

/// (spec text, field the error must name).
fn bad_specs() -> Vec<(String, &'static str)> {
    vec![
        (
            SMALL.replace("seed = 5", "seed = 5\nreplicatoins = 3"),
            "replicatoins",
        ),
        (
            SMALL.replace(
                "{ method = \"sft\" }",
                "{ method = \"sft\", temperature = 2 }",
            ),
            "temperature",
        ),
        (SMALL.replace("covered = 4", "covered = 7"), "covered"),
        (
            SMALL.replace("replications = 40", "replications = 0"),
            "replications",
        ),
        (SMALL.replace("n_actions = 6", "n_actions = 1"), "n_actions"),
        (
            SMALL.replace(
                "{ method = \"aihf\" }",
                "{ method = \"aihf\", lambda = -0.5 }",
            ),
            "estimators[2].lambda",
        ),
        (SMALL.replace("seed = 5", "seed = 5\nlevel = 0.2"), "level"),
        (
            SMALL.replace(
                "kind = \"gaussian\", seed = 7",
                "kind = \"explicit\", values = [1, 2]",
            ),
            "truth.values",
        ),
    ]
}

#[test]
fn bad_spec_files_fail_naming_the_field_and_leave_no_results() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for (k, (text, field)) in bad_specs().into_iter().enumerate() {
        let spec = write(tmp.path(), &format!("bad{k}.toml"), &text);
        aihf()
            .args([
                "sim",
                spec.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--quiet",
            ])
            .assert()
            .failure()
            .stderr(predicate::str::contains(field));
        assert!(
            files_in(&out).is_empty(),
            "bad spec {k} left {:?}",
            files_in(&out)
        );
    }
    // Command-line overrides are validated too.
    let spec = write(tmp.path(), "good.toml", SMALL);
    aihf()
        .args([
            "sim",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--replications",
            "1",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("replications"));
    aihf()
        .args(["sim", tmp.path().join("missing.toml").to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("missing.toml"));
    assert!(files_in(&out).is_empty());
}

/// The JSON without its wall-clock fields (`elapsed_s`), which legitimately differ.
fn untimed(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.into_iter()
                .filter(|(k, _)| k != "elapsed_s")
                .map(|(k, v)| (k, untimed(v)))
                .collect(),
        ),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(untimed).collect())
        }
        x => x,
    }
}

#[test]
fn a_study_writes_json_and_figures_redraws_and_ignores_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write(tmp.path(), "small.toml", SMALL);
    let run = |dir: &Path, threads: &str| {
        aihf()
            .args([
                "sim",
                spec.to_str().unwrap(),
                "--out",
                dir.to_str().unwrap(),
                "--threads",
                threads,
                "--quiet",
            ])
            .assert()
            .success()
            .stdout(predicate::str::contains("µs wall per solve"));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("small.json")).unwrap())
                .unwrap();
        v
    };
    let a = run(&tmp.path().join("t1"), "1");
    let b = run(&tmp.path().join("t2"), "2");
    assert_eq!(a["seed"], 5);
    assert_eq!(a["aihf_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(a["spec"]["replications"], 40);
    assert_eq!(a["spec"]["study"], "fig9");
    assert_eq!(
        untimed(a["body"].clone()),
        untimed(b["body"].clone()),
        "results depend on the thread count"
    );
    let dir = tmp.path().join("t1");
    for f in [
        "small_policy.png",
        "small_policy.svg",
        "small_uncovered_mass.png",
        "small_uncovered_mass.svg",
    ] {
        assert!(dir.join(f).exists(), "{f} missing: {:?}", files_in(&dir));
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    let redrawn = tmp.path().join("redrawn");
    aihf()
        .args([
            "sim",
            "--redraw",
            dir.join("small.json").to_str().unwrap(),
            "--out",
            redrawn.to_str().unwrap(),
        ])
        .assert()
        .success();
    assert!(
        redrawn.join("small_policy.png").exists()
            && redrawn.join("small_uncovered_mass.svg").exists()
    );
    let table = std::fs::read_to_string(redrawn.join("small_tables.md")).unwrap();
    assert!(table.contains("| AIHF | 40/40 |"), "{table}");
    // No temporary files are left beside the results.
    assert!(
        files_in(&dir).iter().all(|f| !f.contains(".tmp")),
        "{:?}",
        files_in(&dir)
    );
}

#[test]
fn an_interrupted_study_leaves_no_results_file() {
    let tmp = tempfile::tempdir().unwrap();
    let long = SMALL
        .replace("replications = 40", "replications = 1000000")
        .replace("n_actions = 6", "n_actions = 40");
    let spec = write(tmp.path(), "long.toml", &long);
    let out = tmp.path().join("out");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("aihf"))
        .args([
            "sim",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
            "--threads",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        files_in(&out).is_empty(),
        "interrupted study left {:?}",
        files_in(&out)
    );
}
