//! `aihf rates --shard I/N` and `aihf rates merge`: the Theorem 4.1 experiment run as 1 or 3
//! shards and merged writes the same `rates.json` (except its timing fields) and a byte-identical
//! figure as the experiment run whole; a shard taken from Slurm's array variables lands in the
//! same file as `--shard`; a missing shard is refused with its index named.

mod common;

use common::aihf;
use predicates::prelude::*;
use std::path::Path;

/// A small grid: K = 8, 16, 32 and two seeds (12 runs with the control), seconds on one core.
const GRID: [&str; 4] = ["--log2-k", "3,4,5", "--seeds", "2"];

/// `rates.json` without its timing fields.
fn untimed(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("rates.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["seconds"] = serde_json::Value::Null;
    for key in ["main", "control"] {
        for p in v[key].as_array_mut().unwrap() {
            p["seconds"] = serde_json::Value::Null;
        }
    }
    v
}

#[test]
fn sharded_rates_merge_to_the_whole_experiment() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    aihf()
        .args(["rates", "--no-progress", "--out"])
        .arg(&whole)
        .args(GRID)
        .assert()
        .success();
    for n in [1usize, 3] {
        let shards = tmp.path().join(format!("shards{n}"));
        for i in 0..n {
            let mut c = aihf();
            c.args(["rates", "--no-progress", "--out"])
                .arg(&shards)
                .args(GRID);
            if n == 3 && i == 1 {
                // The index and count a Slurm array sets.
                c.env("SLURM_ARRAY_TASK_ID", "1")
                    .env("SLURM_ARRAY_TASK_COUNT", "3");
            } else {
                c.args(["--shard", &format!("{i}/{n}")]);
            }
            c.assert()
                .success()
                .stdout(predicate::str::contains(format!(
                    "rates.shard-{i}-of-{n}.aihfshard"
                )));
        }
        let merged = tmp.path().join(format!("merged{n}"));
        aihf()
            .args(["rates", "merge"])
            .arg(&shards)
            .arg("--out")
            .arg(&merged)
            .assert()
            .success()
            .stdout(predicate::str::contains(format!("merged {n} shard files")));
        assert_eq!(untimed(&merged), untimed(&whole), "{n} shards");
        assert_eq!(
            std::fs::read(merged.join("rates.svg")).unwrap(),
            std::fs::read(whole.join("rates.svg")).unwrap(),
            "{n} shards: the figure differs"
        );
    }
}

#[test]
fn a_missing_rates_shard_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    for i in [0, 2] {
        aihf()
            .args(["rates", "--no-progress", "--out"])
            .arg(tmp.path())
            .args(GRID)
            .args(["--shard", &format!("{i}/3")])
            .assert()
            .success();
    }
    aihf()
        .args(["rates", "merge"])
        .arg(tmp.path())
        .args(["--out"])
        .arg(tmp.path().join("m"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("1/3"));
}
