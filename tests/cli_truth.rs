//! `aihf truth`: `gen` writes a task and its data; `estimate` solves every estimator and prints
//! exact scores as JSON (policy tables when `H·V² ≤ 10^6`, `--policy-out` readable back);
//! bad inputs (a file that is not a task, token ids `≥ V`, wrong lengths, `β ≤ 0`, separable data
//! without a ridge) exit non-zero with a message naming the line or key; `study` writes its JSON
//! and figures and redraws them from the JSON.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

mod common;
use common::aihf;

fn gen(dir: &Path, n: usize, m: usize) {
    aihf()
        .args(["truth", "gen", "--out-dir"])
        .arg(dir)
        .args(["--vocab", "4", "--horizon", "3", "--nnz-per-row", "2"])
        .args([
            "--demos",
            &n.to_string(),
            "--comparisons",
            &m.to_string(),
            "--seed",
            "4",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("V = 4, H = 3"));
}

fn estimate(dir: &Path) -> Command {
    let mut c = aihf();
    c.args(["truth", "estimate", "--task"])
        .arg(dir.join("task.json"))
        .arg("--demos")
        .arg(dir.join("demos.jsonl"))
        .arg("--prefs")
        .arg(dir.join("prefs.jsonl"));
    c
}

#[test]
fn gen_estimate_json_and_policy_out() {
    let d = tempfile::tempdir().unwrap();
    gen(d.path(), 300, 300);
    let pol = d.path().join("pol.json");
    let out = estimate(d.path())
        .args(["--json", "--policy-out"])
        .arg(&pol)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for m in [
        "sft", "irl", "btl", "rlhf_sft", "rlhf_ref", "dpo_sft", "dpo_ref", "aihf",
    ] {
        let r = &j["methods"][m];
        assert!(r.get("error").is_none(), "{m}: {r}");
        // π̂ rows of the printed [H][V][V] table are distributions.
        let p = r["policy"].as_array().unwrap();
        assert_eq!(p.len(), 3);
        for row in p[1].as_array().unwrap() {
            let s: f64 = row
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .sum();
            assert!((s - 1.0).abs() < 1e-12, "{m}: row sums to {s}");
        }
        assert!(r["kl_to_star"].as_f64().unwrap() >= 0.0);
    }
    assert!(j["support"].as_str().unwrap().contains("oracle"));
    // The policy file reads back (the score engineer's and the lead's entry point).
    let task = aihf::truth::TaskSpec::read(&d.path().join("task.json")).unwrap();
    let p = aihf::truth::policy::read_policy(&pol, Some("aihf"), 4, 3, task.y0).unwrap();
    let kl = j["methods"]["aihf"]["kl_to_star"].as_f64().unwrap();
    let t = task.task().unwrap();
    let star = aihf::truth::MarkovPolicy::star(&t).unwrap();
    let got = p.kl_to(&p.marginals(), &star).unwrap();
    assert!((got - kl).abs() < 1e-9, "reloaded KL {got} vs printed {kl}");
}

#[test]
fn bad_inputs_are_typed_errors_naming_the_place() {
    let d = tempfile::tempdir().unwrap();
    gen(d.path(), 50, 50);
    let dir = d.path();
    // Not a task.
    std::fs::write(dir.join("bad_task.json"), r#"{"n_actions": 3}"#).unwrap();
    aihf()
        .args(["truth", "estimate", "--task"])
        .arg(dir.join("bad_task.json"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a Markov task file"));
    // β ≤ 0.
    let mut t: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("task.json")).unwrap()).unwrap();
    t["beta"] = serde_json::json!(0.0);
    std::fs::write(dir.join("beta0.json"), t.to_string()).unwrap();
    aihf()
        .args(["truth", "estimate", "--task"])
        .arg(dir.join("beta0.json"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("beta").and(predicate::str::contains("> 0")));
    // A token id ≥ V on line 2, a wrong length on line 1.
    std::fs::write(
        dir.join("d1.jsonl"),
        "{\"prompt_ids\":[0],\"completion_ids\":[1,2,3]}\n{\"prompt_ids\":[0],\"completion_ids\":[1,9,3]}\n",
    )
    .unwrap();
    aihf()
        .args(["truth", "estimate", "--task"])
        .arg(dir.join("task.json"))
        .arg("--demos")
        .arg(dir.join("d1.jsonl"))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("d1.jsonl:2")
                .and(predicate::str::contains("completion_ids[1]")),
        );
    std::fs::write(
        dir.join("d2.jsonl"),
        "{\"prompt_ids\":[0],\"completion_ids\":[1,2]}\n",
    )
    .unwrap();
    aihf()
        .args(["truth", "estimate", "--task"])
        .arg(dir.join("task.json"))
        .arg("--demos")
        .arg(dir.join("d2.jsonl"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("d2.jsonl:1").and(predicate::str::contains("horizon")));
    // Separable preferences (two pairs) without a ridge: refused, naming --ridge; with one: solved.
    std::fs::write(
        dir.join("p2.jsonl"),
        "{\"prompt_ids\":[0],\"chosen_ids\":[1,2,3],\"rejected_ids\":[0,0,0]}\n",
    )
    .unwrap();
    aihf()
        .args(["truth", "estimate", "--method", "btl", "--task"])
        .arg(dir.join("task.json"))
        .arg("--prefs")
        .arg(dir.join("p2.jsonl"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("--ridge"));
    aihf()
        .args([
            "truth", "estimate", "--method", "btl", "--ridge", "1", "--task",
        ])
        .arg(dir.join("task.json"))
        .arg("--prefs")
        .arg(dir.join("p2.jsonl"))
        .assert()
        .success();
}

#[test]
fn study_writes_json_and_redraws() {
    let d = tempfile::tempdir().unwrap();
    let spec = d.path().join("s.toml");
    std::fs::write(
        &spec,
        "name = \"t\"\nseed = 2\nreplications = 6\nvocab = 4\nhorizon = 3\nnnz_per_row = 2\n\
         [[sizes]]\ndemos = 100\ncomparisons = 100\n[[sizes]]\ndemos = 300\ncomparisons = 100\n",
    )
    .unwrap();
    let out = d.path().join("out");
    aihf()
        .args(["truth", "study", "--quiet", "--out"])
        .arg(&out)
        .arg(&spec)
        .assert()
        .success()
        .stdout(predicate::str::contains("rlhf_sft − aihf"));
    let res: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("t.json")).unwrap()).unwrap();
    assert_eq!(res["sizes"].as_array().unwrap().len(), 2);
    let png = out.join("t_kl_vs_n.png");
    std::fs::remove_file(&png).unwrap();
    aihf()
        .args(["truth", "study", "--redraw"])
        .arg(out.join("t.json"))
        .assert()
        .success();
    assert!(png.exists());
    // A bad field is named.
    std::fs::write(&spec, "name = \"t\"\nseed = 2\nreplications = 1\nvocab = 4\nhorizon = 3\nnnz_per_row = 2\nsizes = [{demos = 1, comparisons = 1}]\n").unwrap();
    aihf()
        .args(["truth", "study", "--quiet"])
        .arg(&spec)
        .assert()
        .failure()
        .stderr(predicate::str::contains("replications"));
}
