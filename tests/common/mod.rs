//! What the CLI tests share (`mod common;` in each): the `aihf` binary with the environment's
//! shard variables removed, so a test run inside a Slurm array or a Kubernetes Indexed Job
//! computes what the test asks for, not the job's shard; and the comparison of a merged run's
//! outputs with the unsharded run's.

#![allow(dead_code)] // each test file uses some of these

use assert_cmd::Command;

/// The variables `aihf::sim::shard::Shard::from_env` reads.
pub const SHARD_VARS: [&str; 6] = [
    "AIHF_SHARD",
    "AIHF_SHARD_COUNT",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_MIN",
    "JOB_COMPLETION_INDEX",
];

/// The `aihf` binary with none of [`SHARD_VARS`] set.
pub fn aihf() -> Command {
    let mut c = Command::cargo_bin("aihf").unwrap();
    for k in SHARD_VARS {
        c.env_remove(k);
    }
    c
}

/// The files of `dir`, sorted by path.
pub fn sorted_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// `v` without the object keys in `timing`, at any depth.
pub fn without_keys(v: serde_json::Value, timing: &[&str]) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| !timing.contains(&k.as_str()))
                .map(|(k, v)| (k, without_keys(v, timing)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| without_keys(x, timing)).collect()),
        x => x,
    }
}

/// Every file of `merged` equals `whole`'s, with the same names: JSON files without the keys
/// in `timing` (at any depth), every other file byte for byte.
pub fn assert_same_outputs(whole: &std::path::Path, merged: &std::path::Path, timing: &[&str]) {
    let (a, b) = (sorted_files(whole), sorted_files(merged));
    let names = |v: &[std::path::PathBuf]| -> Vec<String> {
        v.iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(&a), names(&b));
    let json = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    for (x, y) in a.iter().zip(&b) {
        if x.extension().is_some_and(|e| e == "json") {
            assert!(
                without_keys(json(x), timing) == without_keys(json(y), timing),
                "{} differs beyond timing",
                y.display()
            );
        } else {
            assert!(
                std::fs::read(x).unwrap() == std::fs::read(y).unwrap(),
                "{} differs",
                y.display()
            );
        }
    }
}
