//! `aihf truth study --shard I/N` and `aihf truth study merge`: the study run as 1 or 3 shards
//! and merged writes the same `<name>.json` (except its `seconds`) and byte-identical CSV and
//! figures as the study run whole; shards taken from Slurm's and Kubernetes' variables land in
//! the files `--shard` writes; a re-run shard overwrites its file; missing, duplicated and
//! foreign shards are refused with the shard named and nothing written.

mod common;

use common::{aihf, sorted_files};
use predicates::prelude::*;
use std::path::{Path, PathBuf};

/// Three sizes (so both sweep figures are drawn) of 7 replications (shards of 2, 2 and 3) on a
/// tiny task: seconds on one core.
const SPEC: &str = "name = \"ts\"\nseed = 3\nreplications = 7\nvocab = 4\nhorizon = 3\n\
    nnz_per_row = 2\n[[sizes]]\ndemos = 40\ncomparisons = 40\n\
    [[sizes]]\ndemos = 120\ncomparisons = 40\n[[sizes]]\ndemos = 40\ncomparisons = 120\n";

fn spec_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn names(v: &[PathBuf]) -> Vec<String> {
    v.iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// `aihf truth study SPEC --quiet --out OUT` with `extra` arguments.
fn study(spec: &Path, out: &Path, extra: &[&str]) -> assert_cmd::Command {
    let mut c = aihf();
    c.args(["truth", "study", "--quiet"])
        .arg(spec)
        .arg("--out")
        .arg(out)
        .args(extra);
    c
}

fn shard(spec: &Path, i: usize, n: usize, out: &Path) {
    study(spec, out, &["--shard", &format!("{i}/{n}")])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "ts.shard-{i}-of-{n}.aihfshard"
        )));
}

fn merge(dirs: &[&Path], out: &Path) -> assert_cmd::assert::Assert {
    let mut c = aihf();
    c.args(["truth", "study", "merge"]);
    for d in dirs {
        c.arg(d);
    }
    c.arg("--out").arg(out).assert()
}

/// The results JSON without its timing field.
fn untimed(path: &Path) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(
        v["seconds"].as_f64().is_some(),
        "no seconds in {}",
        path.display()
    );
    v["seconds"] = serde_json::Value::Null;
    v
}

/// Every file of `merged` equals `whole`'s: the JSON except `seconds` (which the results
/// JSON must carry), the rest byte for byte.
fn assert_same_outputs(whole: &Path, merged: &Path) {
    for x in sorted_files(whole) {
        if x.extension().is_some_and(|e| e == "json") {
            untimed(&x);
        }
    }
    common::assert_same_outputs(whole, merged, &["seconds"]);
}

#[test]
fn one_and_three_shards_merge_to_the_unsharded_study() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec_file(tmp.path(), "ts.toml", SPEC);
    let whole = tmp.path().join("whole");
    study(&spec, &whole, &[]).assert().success();
    let res = untimed(&whole.join("ts.json"));
    // The spec file is recorded; a merged run must carry it over from the shards.
    assert_eq!(res["inputs"]["spec"]["bytes"], SPEC.len());
    assert!(names(&sorted_files(&whole)).contains(&"ts_kl_vs_m.svg".to_string()));

    let one = tmp.path().join("one");
    shard(&spec, 0, 1, &one);
    merge(&[&one], &tmp.path().join("merged1"))
        .success()
        .stdout(predicate::str::contains("merged 1 shard files"));
    assert_same_outputs(&whole, &tmp.path().join("merged1"));

    let three = tmp.path().join("three");
    shard(&spec, 2, 3, &three);
    // Shard 0 from Kubernetes' index, shard 1 from Slurm's array variables.
    study(&spec, &three, &[])
        .env("JOB_COMPLETION_INDEX", "0")
        .env("AIHF_SHARD_COUNT", "3")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "shard 0/3 (from JOB_COMPLETION_INDEX",
        ));
    study(&spec, &three, &[])
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "shard 1/3 (from SLURM_ARRAY_TASK_ID",
        ));
    // A retried index overwrites its file, never duplicates it.
    shard(&spec, 1, 3, &three);
    assert_eq!(
        names(&sorted_files(&three)),
        [
            "ts.shard-0-of-3.aihfshard",
            "ts.shard-1-of-3.aihfshard",
            "ts.shard-2-of-3.aihfshard"
        ]
    );
    let merged = tmp.path().join("merged3");
    merge(&[&three], &merged)
        .success()
        .stdout(predicate::str::contains("merged 3 shard files"))
        .stdout(predicate::str::contains("7 replications × 3 sizes"));
    assert_same_outputs(&whole, &merged);
}

#[test]
fn merge_refuses_missing_duplicate_and_foreign_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec_file(tmp.path(), "ts.toml", SPEC);
    let s = tmp.path().join("s");
    shard(&spec, 0, 3, &s);
    shard(&spec, 2, 3, &s);
    let out = tmp.path().join("m");
    merge(&[&s], &out)
        .failure()
        .stderr(predicate::str::contains("shards 1/3 are missing"));
    // The same shard in two folders: its replications would be present twice.
    shard(&spec, 1, 3, &s);
    let t = tmp.path().join("t");
    shard(&spec, 1, 3, &t);
    merge(&[&s, &t], &out)
        .failure()
        .stderr(predicate::str::contains("shard 1/3 is also in"));
    // Shard 1 of another spec (another seed; the same name).
    let other = spec_file(
        tmp.path(),
        "other.toml",
        &SPEC.replace("seed = 3", "seed = 4"),
    );
    let u = tmp.path().join("u");
    shard(&other, 1, 3, &u);
    std::fs::remove_file(s.join("ts.shard-1-of-3.aihfshard")).unwrap();
    merge(&[&s, &u], &out)
        .failure()
        .stderr(predicate::str::contains("another spec"));
    // The same spec with another replication count is another run too.
    let v = tmp.path().join("v");
    study(&spec, &v, &["--shard", "1/3", "--replications", "9"])
        .assert()
        .success();
    merge(&[&s, &v], &out)
        .failure()
        .stderr(predicate::str::contains("another spec"));
    // A damaged shard file is refused, not half read.
    let w = tmp.path().join("w");
    shard(&spec, 1, 3, &w);
    let f = w.join("ts.shard-1-of-3.aihfshard");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes.pop();
    std::fs::write(&f, bytes).unwrap();
    merge(&[&s, &w], &out)
        .failure()
        .stderr(predicate::str::contains("damaged or partial"));
    assert!(!out.exists(), "a refused merge wrote results");
}

#[test]
fn merge_refuses_shards_of_another_command() {
    let tmp = tempfile::tempdir().unwrap();
    let rates = tmp.path().join("r");
    aihf()
        .args(["rates", "--no-progress", "--log2-k", "3,4", "--seeds", "2"])
        .args(["--shard", "0/1", "--out"])
        .arg(&rates)
        .assert()
        .success();
    merge(&[&rates], &tmp.path().join("m"))
        .failure()
        .stderr(predicate::str::contains(
            "a `rates` shard; `aihf truth study merge` merges `truth-study` shards",
        ));
    let spec = spec_file(tmp.path(), "ts.toml", SPEC);
    let s = tmp.path().join("s");
    shard(&spec, 0, 1, &s);
    aihf()
        .args(["sim", "merge"])
        .arg(&s)
        .arg("--out")
        .arg(tmp.path().join("m"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("a `truth-study` shard"));
}

#[test]
fn the_environment_picks_the_shard_unless_told_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec_file(tmp.path(), "ts.toml", SPEC);
    let out = tmp.path().join("o");
    study(&spec, &out, &[])
        .env("AIHF_SHARD", "2/5")
        .assert()
        .success();
    assert_eq!(names(&sorted_files(&out)), ["ts.shard-2-of-5.aihfshard"]);
    // An index without a count is refused rather than run whole.
    study(&spec, &out, &[])
        .env("JOB_COMPLETION_INDEX", "1")
        .assert()
        .failure()
        .stderr(predicate::str::contains("AIHF_SHARD_COUNT"));
    // --no-shard runs the whole study inside an array job.
    let whole = tmp.path().join("w");
    study(&spec, &whole, &["--no-shard"])
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .assert()
        .success();
    assert!(whole.join("ts.json").exists());
    // A bad --shard is a typed error, before anything is computed or written.
    let bad = tmp.path().join("b");
    study(&spec, &bad, &["--shard", "3/3"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("shard"));
    assert!(!bad.exists());
}

#[test]
fn the_spec_is_checked_after_the_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    // One replication in the file, made valid by --replications before the check.
    let spec = spec_file(
        tmp.path(),
        "ts.toml",
        &SPEC.replace("replications = 7", "replications = 1"),
    );
    study(&spec, &tmp.path().join("o"), &[])
        .assert()
        .failure()
        .stderr(predicate::str::contains("replications"));
    study(&spec, &tmp.path().join("o"), &["--replications", "2"])
        .assert()
        .success()
        .stdout(predicate::str::contains("2 replications × 3 sizes"));
    // A results JSON is read back through the same check: a spec without sizes is a typed
    // error on --redraw (it used to panic drawing the first size).
    let json = tmp.path().join("o/ts.json");
    let mut res: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    res["spec"]["sizes"] = serde_json::json!([]);
    std::fs::write(&json, res.to_string()).unwrap();
    aihf()
        .args(["truth", "study", "--redraw"])
        .arg(&json)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid spec field `sizes`"));
    // Every error names its field.
    for (from, to, field) in [
        ("seed = 3", "seed = 3\nlevel = 1.5", "level"),
        ("seed = 3", "seed = 3\nbeta = 0", "beta"),
        ("seed = 3", "seed = 3\nlambda = -1", "lambda"),
        ("seed = 3", "seed = 3\nridge = -1", "ridge"),
        ("seed = 3", "seed = 3\nsupport = \"some\"", "support"),
        ("seed = 3", "seed = 3\nwidth = 2", "width"),
    ] {
        let p = spec_file(tmp.path(), "bad.toml", &SPEC.replace(from, to));
        study(&p, &tmp.path().join("x"), &[])
            .assert()
            .failure()
            .stderr(predicate::str::contains(field));
        assert!(
            !tmp.path().join("x").exists(),
            "{field}: something was written"
        );
    }
}
