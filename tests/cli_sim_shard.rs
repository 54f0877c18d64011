//! `aihf sim --shard I/N` and `aihf sim merge`: a study run as 3 shards and merged writes the
//! same results JSON (except its timing fields) and byte-identical figures and tables as the
//! study run whole — for a one-run study (Figure 9) and a many-cell study (the variance sweep);
//! a re-run shard overwrites its file; missing, duplicated and foreign shards are refused with
//! the shard named; cluster indices from the environment select the shard.

mod common;

use common::{aihf, sorted_files};
use predicates::prelude::*;
use std::path::Path;

const FIG9: &str = r#"
study = "fig9"
name = "small"
seed = 5
replications = 31
n_actions = 6
covered = 4
demos = 200
comparisons_per_pair = 20
truth = { kind = "gaussian", seed = 7 }
estimators = [{ method = "sft" }, { method = "rlhf" }, { method = "aihf" }, { method = "btl" }]
"#;

const SWEEP: &str = r#"
study = "sweep"
name = "sweep"
seed = 31
replications = 20
n_actions = 3
truth = { kind = "explicit", values = [0.0, -0.075, -1.0] }
demos = [10, 100]
comparisons_per_pair = [1, 10]
estimators = [{ method = "sft" }, { method = "btl" }, { method = "rlhf" }, { method = "aihf" }]
"#;

/// The results JSON's timing fields (the only fields allowed to differ).
const TIMING: &[&str] = &[
    "elapsed_s",
    "threads",
    "wall_us_per_solve",
    "core_us_per_solve",
];

fn shard(spec: &Path, i: usize, n: usize, out: &Path) {
    aihf()
        .args(["sim", spec.to_str().unwrap(), "--quiet", "--threads", "2"])
        .args([
            "--shard",
            &format!("{i}/{n}"),
            "--out",
            out.to_str().unwrap(),
        ])
        .assert()
        .success();
}

fn round_trip(spec_text: &str, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join(format!("{name}.toml"));
    std::fs::write(&spec, spec_text).unwrap();
    let full = dir.path().join("full");
    aihf()
        .args(["sim", spec.to_str().unwrap(), "--quiet", "--threads", "1"])
        .args(["--out", full.to_str().unwrap()])
        .assert()
        .success();
    let shards = dir.path().join("shards");
    for i in [2, 0, 1] {
        shard(&spec, i, 3, &shards);
    }
    // Kubernetes retries index 1: the file is overwritten, never duplicated.
    shard(&spec, 1, 3, &shards);
    assert_eq!(
        sorted_files(&shards).len(),
        3,
        "{:?}",
        sorted_files(&shards)
    );
    let merged = dir.path().join("merged");
    aihf()
        .args(["sim", "merge", shards.to_str().unwrap()])
        .args(["--out", merged.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("merged 3 shard files"));
    common::assert_same_outputs(&full, &merged, TIMING);
}

#[test]
fn three_shards_merge_to_the_unsharded_results_and_figures() {
    round_trip(FIG9, "small");
    round_trip(SWEEP, "sweep");
}

#[test]
fn merge_refuses_missing_duplicate_and_foreign_shards() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("small.toml");
    std::fs::write(&spec, FIG9).unwrap();
    let s = dir.path().join("s");
    shard(&spec, 0, 3, &s);
    shard(&spec, 2, 3, &s);
    let merge = |dirs: &[&Path]| {
        let mut c = aihf();
        c.args(["sim", "merge"]);
        for d in dirs {
            c.arg(d);
        }
        c.args(["--out", dir.path().join("m").to_str().unwrap()]);
        c.assert()
    };
    merge(&[&s])
        .failure()
        .stderr(predicate::str::contains("shards 1/3 are missing"));
    // The same shard in two folders: present twice.
    shard(&spec, 1, 3, &s);
    let t = dir.path().join("t");
    shard(&spec, 1, 3, &t);
    merge(&[&s, &t])
        .failure()
        .stderr(predicate::str::contains("shard 1/3 is also in"));
    // A shard of another spec (another seed).
    let other = dir.path().join("other.toml");
    std::fs::write(&other, FIG9.replace("seed = 5", "seed = 6")).unwrap();
    let u = dir.path().join("u");
    shard(&other, 1, 3, &u);
    std::fs::remove_file(s.join("small.shard-1-of-3.aihfshard")).unwrap();
    merge(&[&s, &u])
        .failure()
        .stderr(predicate::str::contains("another spec"));
    assert!(
        !dir.path().join("m").exists(),
        "a refused merge wrote results"
    );
}

#[test]
fn cluster_indices_select_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("small.toml");
    std::fs::write(&spec, FIG9).unwrap();
    let out = dir.path().join("o");
    aihf()
        .args(["sim", spec.to_str().unwrap(), "--quiet"])
        .args(["--out", out.to_str().unwrap()])
        .env("JOB_COMPLETION_INDEX", "1")
        .env("AIHF_SHARD_COUNT", "4")
        .assert()
        .success();
    aihf()
        .args(["sim", spec.to_str().unwrap(), "--quiet"])
        .args(["--out", out.to_str().unwrap()])
        .env("SLURM_ARRAY_TASK_ID", "3")
        .env("SLURM_ARRAY_TASK_COUNT", "4")
        .assert()
        .success();
    let names: Vec<String> = sorted_files(&out)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "small.shard-1-of-4.aihfshard",
            "small.shard-3-of-4.aihfshard"
        ]
    );
    // An index without a count is refused rather than run unsharded.
    aihf()
        .args(["sim", spec.to_str().unwrap(), "--quiet"])
        .args(["--out", out.to_str().unwrap()])
        .env("JOB_COMPLETION_INDEX", "1")
        .assert()
        .failure()
        .stderr(predicate::str::contains("AIHF_SHARD_COUNT"));
}
