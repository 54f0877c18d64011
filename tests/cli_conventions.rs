//! One command-line convention for every command (issue 14, parts 3–5), each rule checked over a
//! table of commands, not one case:
//!
//! - `-` is standard input wherever a file is read, and standard output wherever a file is
//!   written (byte-identical to the file, no file named `-`, human lines on standard error);
//!   two `-` in one command are refused;
//! - a negative number reaches the validator and gets its typed error;
//! - conflicting flags are errors, never a silent override;
//! - every command prints one `wrote PATH` line per file it wrote, and only those;
//! - `rates --redraw FILE` draws beside its JSON; `rates` refuses a `K` grid that cannot carry
//!   a slope; `rates --mdp FILE` runs Theorem 4.1's experiment on the user's MDP;
//! - hints inside a study name the spec's keys, not command-line options.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

mod common;
use common::aihf;

const MDP: &str = r#"{"transitions": [[[0.9, 0.1], [0.2, 0.8]], [[1.0, 0.0], [0.5, 0.5]]],
  "reward": [[0.0, 1.0], [0.5, 0.0]], "initial": [1.0, 0.0], "gamma": 0.9}"#;

const SIM_SPEC: &str = r#"
study = "fig9"
name = "small"
seed = 5
replications = 8
n_actions = 5
covered = 4
demos = 100
comparisons_per_pair = 5
truth = { kind = "gaussian", seed = 7 }
estimators = [{ method = "sft" }, { method = "aihf" }]
"#;

const TRUTH_SPEC: &str = "name = \"t\"\nseed = 2\nreplications = 4\nvocab = 4\nhorizon = 3\n\
    nnz_per_row = 2\n[[sizes]]\ndemos = 100\ncomparisons = 100\n[[sizes]]\ndemos = 200\n\
    comparisons = 100\n";

/// Runs `aihf args` in `cwd` with `stdin`; returns (success, stdout, stderr).
fn run(cwd: &Path, args: &[String], stdin: Option<&Path>) -> (bool, Vec<u8>, String) {
    let mut c = aihf();
    c.current_dir(cwd).args(args);
    if let Some(p) = stdin {
        c.pipe_stdin(p).unwrap();
    } else {
        c.write_stdin("");
    }
    let o = c.output().unwrap();
    (
        o.status.success(),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Splits a command line written with `{}` for the fixtures folder.
fn line(fx: &Path, s: &str) -> Vec<String> {
    s.split_whitespace()
        .map(|w| w.replace("{}", fx.to_str().unwrap()))
        .collect()
}

/// Every input the tables need, made once by the commands themselves.
struct Fixtures {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn fixtures() -> Fixtures {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().to_path_buf();
    std::fs::write(p.join("mdp.json"), MDP).unwrap();
    std::fs::write(
        p.join("horizon.json"),
        MDP.replace("0.9}", "0.9, \"horizon\": 3}"),
    )
    .unwrap();
    std::fs::write(p.join("sim.toml"), SIM_SPEC).unwrap();
    std::fs::write(p.join("truth.toml"), TRUTH_SPEC).unwrap();
    for l in [
        "sample --per-pair 3 --seed 1 --out {}/data.json",
        "mdp sample --mdp {}/mdp.json --n 30 --out {}/demos.jsonl --prefs 30 --prefs-out {}/prefs.jsonl",
        "truth gen --out-dir {}/tg --vocab 4 --horizon 3 --nnz-per-row 2 --demos 60 --comparisons 60 --seed 4",
        "truth estimate --task {}/tg/task.json --demos {}/tg/demos.jsonl --prefs {}/tg/prefs.jsonl --method aihf --policy-out {}/pol.json",
        "rates --mdp {}/mdp.json --log2-k 3,5 --seeds 2 --pairs 5 --quiet --out {}/rates",
        "sim {}/sim.toml --quiet --out {}/sim",
        "truth study {}/truth.toml --quiet --out {}/truth",
    ] {
        let (ok, _, err) = run(&p, &line(&p, l), None);
        assert!(ok, "fixture `{l}` failed: {err}");
    }
    // Samples of the policy under test for `truth score`: the demonstrations with a
    // log-probability (its value does not matter to the convention tests).
    let mut s = String::new();
    for l in std::fs::read_to_string(p.join("tg/demos.jsonl"))
        .unwrap()
        .lines()
    {
        let v: Value = serde_json::from_str(l).unwrap();
        s.push_str(
            &serde_json::json!({"completion_ids": v["completion_ids"], "logprob": -3.0})
                .to_string(),
        );
        s.push('\n');
    }
    std::fs::write(p.join("samples.jsonl"), s).unwrap();
    Fixtures { _dir: dir, path: p }
}

#[test]
fn dash_is_standard_input_wherever_a_file_is_read() {
    let fx = fixtures();
    let f = &fx.path;
    // (command line with `-` for one input, the file piped to standard input, a fragment of
    // the output that depends on that input).
    let cases: &[(&str, &str, &str)] = &[
        ("bandit --data -", "data.json", "10 actions, N = 100 demonstrations, M = 135"),
        ("mdp solve --mdp -", "mdp.json", "2 states, 2 actions, γ = 0.9"),
        ("mdp sample --mdp - --n 3 --out {}/o/d.jsonl", "mdp.json", "3 demonstrations"),
        ("mdp train --mdp - --demos {}/demos.jsonl --prefs {}/prefs.jsonl --iters 40 --out {}/o/t1", "mdp.json", "K = 40"),
        ("mdp train --mdp {}/mdp.json --demos - --prefs {}/prefs.jsonl --iters 40 --out {}/o/t2", "demos.jsonl", "K = 40"),
        ("mdp train --mdp {}/mdp.json --demos {}/demos.jsonl --prefs - --iters 40 --out {}/o/t3", "prefs.jsonl", "K = 40"),
        ("rates --mdp - --log2-k 3,4 --seeds 2 --pairs 5 --quiet --out {}/o/r", "mdp.json", "2 states, 2 actions"),
        ("rates --redraw - --out {}/o/r2", "rates/rates.json", "wrote"),
        ("sim - --quiet --out {}/o/s", "sim.toml", "small: "),
        ("sim --redraw - --out {}/o/s2", "sim/small.json", "wrote"),
        ("truth estimate --task - --demos {}/tg/demos.jsonl --prefs {}/tg/prefs.jsonl --method btl --ridge 0.1", "tg/task.json", "V = 4, H = 3, N = 60, M = 60"),
        ("truth estimate --task {}/tg/task.json --demos - --prefs {}/tg/prefs.jsonl --method sft", "tg/demos.jsonl", "N = 60, M = 60"),
        ("truth estimate --task {}/tg/task.json --demos {}/tg/demos.jsonl --prefs - --method btl --ridge 0.1", "tg/prefs.jsonl", "N = 60, M = 60"),
        ("truth score --task - --samples {}/samples.jsonl --star-samples 64", "tg/task.json", "n = 60 samples"),
        ("truth score --task {}/tg/task.json --samples - --star-samples 64", "samples.jsonl", "n = 60 samples"),
        ("truth score --task {}/tg/task.json --samples {}/samples.jsonl --estimate - --star-samples 64", "pol.json", "exact KL(π̂‖π*)"),
        ("truth export --task - --demos {}/tg/demos.jsonl --out {}/o/e1", "tg/task.json", "60 SFT records"),
        ("truth export --task {}/tg/task.json --demos - --out {}/o/e2", "tg/demos.jsonl", "60 SFT records"),
        ("truth export --task {}/tg/task.json --prefs - --out {}/o/e3", "tg/prefs.jsonl", "60 DPO records"),
        ("truth study - --quiet --out {}/o/ts", "truth.toml", "replications × 2 sizes"),
        ("truth study --redraw - --out {}/o/ts2", "truth/t.json", "wrote"),
    ];
    for (l, input, fragment) in cases {
        let args = line(f, l);
        let (ok, out, err) = run(f, &args, Some(&f.join(input)));
        let all = String::from_utf8_lossy(&out).into_owned() + &err;
        assert!(ok, "`{l}` < {input} failed: {err}");
        assert!(
            all.contains(fragment),
            "`{l}` < {input}: no {fragment:?} in {all}"
        );
        assert!(!f.join("-").exists(), "`{l}` wrote a file named -");
    }
    // A redraw from standard input has no folder beside it: --out is required.
    for l in [
        "rates --redraw -",
        "sim --redraw -",
        "truth study --redraw -",
    ] {
        let (ok, _, err) = run(f, &line(f, l), Some(&f.join("rates/rates.json")));
        assert!(!ok && err.contains("needs --out"), "`{l}`: {err}");
    }
}

#[test]
fn at_most_one_dash_per_command() {
    let fx = fixtures();
    let f = &fx.path;
    let cases = [
        "mdp train --mdp - --demos - --out {}/o",
        "mdp train --mdp {}/mdp.json --demos - --prefs - --out {}/o",
        "mdp sample --mdp {}/mdp.json --out - --prefs 3 --prefs-out -",
        "truth estimate --task - --demos {}/tg/demos.jsonl --prefs -",
        "truth score --task - --samples -",
        "truth score --task {}/tg/task.json --samples - --estimate -",
        "truth export --task {}/tg/task.json --demos - --prefs - --out {}/o",
        "rates --mdp - --redraw -",
    ];
    for l in cases {
        let (ok, out, err) = run(f, &line(f, l), Some(&f.join("mdp.json")));
        assert!(!ok, "`{l}` succeeded");
        assert!(
            err.contains("at most one of these may be `-`") || err.contains("cannot be used with"),
            "`{l}`: {err}"
        );
        assert!(out.is_empty(), "`{l}` wrote to stdout before refusing");
        assert!(!f.join("o").exists(), "`{l}` wrote output before refusing");
    }
}

/// `v` without its timing fields (`seconds`), which differ between two runs.
fn untimed(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("seconds");
        o.remove("total_seconds");
        for (_, x) in o.iter_mut() {
            *x = untimed(x.take());
        }
    }
    v
}

#[test]
fn dash_is_standard_output_wherever_a_file_is_written() {
    let fx = fixtures();
    let f = &fx.path;
    // (command line with OUT for the output, does the output carry timings, a human line that
    // must then go to standard error instead of standard output, if any).
    let cases: &[(&str, bool, Option<&str>)] = &[
        ("sample --per-pair 2 --seed 3 --out OUT", false, None),
        ("sample --reward -1,0.5,2 --demos 10 --out OUT", false, None),
        ("bandit --data {}/data.json --out OUT", true, Some("10 actions, N = 100")),
        ("mdp sample --mdp {}/mdp.json --n 4 --seed 2 --out OUT", false, Some("4 demonstrations")),
        ("mdp sample --mdp {}/mdp.json --n 4 --out {}/o/d.jsonl --prefs 5 --prefs-out OUT", false, Some("5 preference pairs")),
        ("truth estimate --task {}/tg/task.json --demos {}/tg/demos.jsonl --prefs {}/tg/prefs.jsonl --method sft --policy-out OUT", false, Some("KL(π̂‖π*)")),
    ];
    for (l, timed, human) in cases {
        let file = f.join("o").join("out.file");
        let _ = std::fs::remove_file(&file);
        let (ok, _, err) = run(f, &line(f, &l.replace("OUT", file.to_str().unwrap())), None);
        assert!(ok, "`{l}` to a file: {err}");
        let (ok, out, err) = run(f, &line(f, &l.replace("OUT", "-")), None);
        assert!(ok, "`{l}` to -: {err}");
        assert!(!f.join("-").exists(), "`{l}` wrote a file named -");
        let written = std::fs::read(&file).unwrap();
        if *timed {
            let a: Value = serde_json::from_slice(&written).unwrap();
            let b: Value = serde_json::from_slice(&out).unwrap_or_else(|e| {
                panic!(
                    "`{l}`: stdout is not the JSON alone ({e}): {}",
                    String::from_utf8_lossy(&out)
                )
            });
            assert_eq!(untimed(a), untimed(b), "`{l}`");
        } else {
            let (a, b) = (
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&out),
            );
            assert_eq!(
                a.trim_end(),
                b.trim_end(),
                "`{l}`: stdout differs from the file"
            );
        }
        if let Some(h) = human {
            assert!(err.contains(h), "`{l}`: {h:?} not on stderr: {err}");
            assert!(
                !String::from_utf8_lossy(&out).contains(h),
                "`{l}`: {h:?} on stdout"
            );
        }
    }
    // The same data on both channels would interleave: refused.
    for l in [
        "bandit --data {}/data.json --json --out -",
        "truth estimate --task {}/tg/task.json --demos {}/tg/demos.jsonl --json --policy-out -",
    ] {
        let (ok, _, err) = run(f, &line(f, l), None);
        assert!(!ok && err.contains("both write"), "`{l}`: {err}");
    }
}

#[test]
fn negative_numbers_reach_the_validators() {
    let fx = fixtures();
    let f = &fx.path;
    // (command line, fragment of the typed error). None of these may fail in the parser with
    // "unexpected argument".
    let cases: &[(&str, &str)] = &[
        (
            "bandit --data {}/data.json --beta -1",
            "`beta`: must be finite and > 0, got -1",
        ),
        (
            "bandit --data {}/missing.json --beta -1",
            "`beta`: must be finite and > 0, got -1",
        ),
        (
            "bandit --data {}/data.json --lambda -0.5",
            "`lambda`: must be finite and >= 0, got -0.5",
        ),
        (
            "bandit --data {}/data.json --ridge -1e-3",
            "`ridge`: must be finite and >= 0, got -0.001",
        ),
        ("bandit --data {}/data.json --ipo-tau -1", "`ipo_tau`"),
        (
            "bandit --data {}/data.json --weighting normalized --demo-weight -2",
            "`demo_weight`",
        ),
        ("bandit --data {}/data.json --beta-pref -1", "`beta_pref`"),
        (
            "bandit --data {}/data.json --ref-smoothing -1",
            "`ref_smoothing`",
        ),
        ("sample --beta -1", "`beta`"),
        ("sample --sd -1", "`sd`: must be finite and > 0, got -1"),
        ("mdp solve --mdp {}/mdp.json --tol -1", "`tol`"),
        (
            "rates --alpha -1 --log2-k 3,4 --seeds 2",
            "`alpha`: must be finite and > 0, got -1",
        ),
        ("rates --lambda -1 --log2-k 3,4 --seeds 2", "`lambda`"),
        (
            "rates --gamma -0.5 --log2-k 3,4 --seeds 2",
            "`gamma`: must be in [0, 1), got -0.5",
        ),
        (
            "rates --control-step -0.1 --log2-k 3,4 --seeds 2",
            "`control-step`",
        ),
        (
            "truth estimate --task {}/tg/task.json --demos {}/tg/demos.jsonl --lambda -1",
            "lambda",
        ),
        (
            "truth estimate --task {}/tg/task.json --demos {}/tg/demos.jsonl --ridge -1",
            "ridge",
        ),
        (
            "truth gen --out-dir {}/o/g --vocab 4 --horizon 3 --nnz-per-row 2 --beta -1",
            "beta",
        ),
    ];
    for (l, fragment) in cases {
        let (ok, _, err) = run(f, &line(f, l), None);
        assert!(!ok, "`{l}` succeeded");
        assert!(
            !err.contains("unexpected argument"),
            "`{l}`: parsed as a flag: {err}"
        );
        assert!(err.contains(fragment), "`{l}`: no {fragment:?} in {err}");
        assert!(!err.contains("panicked"), "`{l}` panicked: {err}");
    }
    // And negative values that are valid are used as given.
    let cases: &[(&str, &[f64])] = &[
        ("sample --reward -1,0.5,2", &[-1.0, 0.5, 2.0]),
        ("sample --reward -0.25,-3e-1", &[-0.25, -0.3]),
        (
            "sample --truth linear --slope -0.2 --n-actions 3",
            &[-0.2, -0.4, -0.6],
        ),
    ];
    for (l, want) in cases {
        let (ok, out, err) = run(f, &line(f, l), None);
        assert!(ok, "`{l}`: {err}");
        let v: Value = serde_json::from_slice(&out).unwrap();
        let got: Vec<f64> = v["meta"]["true_reward"]
            .as_array()
            .unwrap_or_else(|| panic!("`{l}`: no meta.true_reward in {v}"))
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(got.len(), want.len(), "`{l}`");
        for (g, w) in got.iter().zip(*want) {
            assert!((g - w).abs() <= 1e-12, "`{l}`: {got:?} ≠ {want:?}");
        }
    }
}

#[test]
fn conflicting_flags_are_errors() {
    let fx = fixtures();
    let f = &fx.path;
    let cases: &[(&str, &str)] = &[
        ("sample --truth linear --reward 1,2", "conflicts with --truth linear"),
        ("sample --truth gaussian --reward 1,2", "conflicts with --truth gaussian"),
        ("sample --reward 1,2 --n-actions 5", "cannot be used with"),
        ("sample --reward 1,2 --sd 2", "cannot be used with"),
        ("sample --reward 1,2 --slope 2", "cannot be used with"),
        ("sample --truth linear --sd 2", "--sd applies only to --truth gaussian"),
        ("sample --truth linear --mean 1", "--mean applies only to --truth gaussian"),
        ("sample --slope 0.3", "--slope applies only to --truth linear"),
        ("bandit --data {}/data.json --demo-weight 2", "applies only to --weighting normalized"),
        ("bandit --data {}/data.json --method btl --lambda 2", "lambda`: is not used by --method btl"),
        ("bandit --data {}/data.json --method sft --weighting normalized", "weighting`: is not used by --method sft"),
        ("bandit --data {}/data.json --method rlhf --beta-pref 2", "beta-pref`: is not used by --method rlhf"),
        ("bandit --data {}/data.json --method aihf --ref-smoothing 0.5", "ref-smoothing`: is not used by --method aihf"),
        ("bandit --data {}/data.json --method dpo --ipo-tau 0.5", "ipo-tau`: is not used by --method dpo"),
        ("bandit --data {}/data.json --method ipo --alpha 2", "alpha`: is not used by --method ipo"),
        ("bandit --data {}/data.json --method btl --spin-iters 10", "spin-iters`: is not used by --method btl"),
        ("truth score --task {}/tg/task.json --samples {}/samples.jsonl --label mine", "only --out draws"),
        ("mdp train --mdp {}/mdp.json --demos {}/o/none.jsonl --out {}/o/t --lambda 2", "no --prefs are given"),
        ("mdp sample --mdp {}/mdp.json --out {}/o/d --prefs-out {}/o/p", "--prefs"),
        ("mdp sample --mdp {}/mdp.json --out {}/o/d --prefs 0 --prefs-out {}/o/p", "need --prefs N with N ≥ 1"),
        ("mdp sample --mdp {}/mdp.json --out {}/o/d --pair-policy optimal", "--prefs"),
        ("mdp sample --mdp {}/mdp.json --out {}/o/d --prefs 3", "--prefs needs --prefs-out"),
        ("rates --redraw {}/rates/rates.json --seeds 3", "cannot be used with"),
        ("rates --redraw {}/rates/rates.json --full", "cannot be used with"),
        ("rates --redraw {}/rates/rates.json --mdp {}/mdp.json", "cannot be used with"),
        ("rates --redraw {}/rates/rates.json --log2-k 3,4", "cannot be used with"),
        ("sim --redraw {}/sim/small.json --replications 3", "cannot be used with"),
        ("sim --redraw {}/sim/small.json --seed 3", "cannot be used with"),
        ("sim {}/sim.toml --redraw {}/sim/small.json", "cannot be used with"),
        ("truth study --redraw {}/truth/t.json --replications 2", "cannot be used with"),
        ("truth estimate --task {}/tg/task.json --demos {}/tg/demos.jsonl --rlhf-reference ref", "applies only to --method rlhf or dpo"),
        ("truth estimate --task {}/tg/task.json --demos {}/tg/demos.jsonl --method btl --rlhf-reference ref", "applies only to --method rlhf or dpo"),
        ("truth score --task {}/tg/task.json --samples {}/samples.jsonl --estimate-name aihf", "--estimate"),
        ("truth kl-study --out {}/o/kl --redraw --full", "cannot be used with"),
        ("truth kl-study --out {}/o/kl --redraw --replications 3", "cannot be used with"),
        ("mdp solve --mdp {}/horizon.json --stopping span", "solved exactly by backward induction"),
        ("verify --list --full", "cannot be used with"),
        ("verify --list --out {}/o/v", "cannot be used with"),
    ];
    for (l, fragment) in cases {
        let (ok, _, err) = run(f, &line(f, l), None);
        assert!(!ok, "`{l}` succeeded");
        assert!(err.contains(fragment), "`{l}`: no {fragment:?} in {err}");
        assert!(!f.join("o").exists(), "`{l}` wrote output before refusing");
    }
    // The combinations that are not conflicts still work.
    for l in [
        "sample --truth explicit --reward 1,2",
        "sample --truth linear --slope 0.3",
        "sample --mean 1 --sd 2",
        "bandit --data {}/data.json --weighting normalized --demo-weight 2",
        "bandit --data {}/data.json --method aihf --lambda 2 --weighting normalized --beta-pref 2",
        "bandit --data {}/data.json --method spin --spin-iters 50",
        "bandit --data {}/data.json --method all --lambda 2 --ipo-tau 0.5 --alpha 2",
    ] {
        let (ok, _, err) = run(f, &line(f, l), None);
        assert!(ok, "`{l}`: {err}");
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.insert(p);
            }
        }
    }
    out
}

/// The paths of the `wrote PATH` lines of a command's output (both channels).
fn wrote_lines(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| l.strip_prefix("wrote "))
        .map(|rest| PathBuf::from(rest.split(' ').next().unwrap()))
        .collect()
}

#[test]
fn every_command_prints_one_line_per_file_it_wrote() {
    let fx = fixtures();
    let f = &fx.path;
    // Each command writes only under the fresh folder D (a redraw reads a copy put there
    // first); the `wrote` lines must name exactly the files that appeared there, once each.
    let cases: &[(&str, Option<(&str, &str)>)] = &[
        ("sample --out D/x.json", None),
        ("bandit --data {}/data.json --out D/b.json", None),
        ("bandit --data {}/data.json --json --out D/b.json", None),
        ("mdp sample --mdp {}/mdp.json --n 3 --out D/d.jsonl --prefs 2 --prefs-out D/p.jsonl", None),
        ("mdp train --mdp {}/mdp.json --demos {}/demos.jsonl --iters 30 --out D", None),
        ("rates --mdp {}/mdp.json --log2-k 3,4 --seeds 2 --pairs 5 --quiet --out D", None),
        ("rates --redraw D/in/rates.json", Some(("rates/rates.json", "in/rates.json"))),
        ("sim {}/sim.toml --quiet --out D", None),
        ("sim --redraw D/in/small.json", Some(("sim/small.json", "in/small.json"))),
        ("truth gen --out-dir D --vocab 4 --horizon 3 --nnz-per-row 2 --demos 5 --comparisons 5", None),
        ("truth estimate --task {}/tg/task.json --demos {}/tg/demos.jsonl --method sft --policy-out D/pol.json", None),
        ("truth score --task {}/tg/task.json --samples {}/samples.jsonl --star-samples 64 --out D", None),
        ("truth score --task {}/tg/task.json --samples {}/samples.jsonl --star-samples 64 --json --out D", None),
        ("truth export --task {}/tg/task.json --demos {}/tg/demos.jsonl --prefs {}/tg/prefs.jsonl --out D", None),
        ("truth kl-study --replications 10 --quiet --out D", None),
        ("truth study {}/truth.toml --quiet --out D", None),
        ("truth study --redraw D/in/t.json", Some(("truth/t.json", "in/t.json"))),
        ("verify --only static.limit_m0 --quiet --out D", None),
        ("verify --only static.rlhf_bias_floor --quiet --out D", None),
    ];
    for (k, (l, copy)) in cases.iter().enumerate() {
        let d = f.join(format!("w{k}"));
        std::fs::create_dir_all(&d).unwrap();
        if let Some((from, to)) = copy {
            std::fs::create_dir_all(d.join(to).parent().unwrap()).unwrap();
            std::fs::copy(f.join(from), d.join(to)).unwrap();
        }
        let before = files_under(&d);
        let args = line(f, &l.replace('D', d.to_str().unwrap()));
        let (ok, out, err) = run(f, &args, None);
        assert!(ok, "`{l}`: {err}");
        let text = String::from_utf8_lossy(&out).into_owned() + &err;
        let lines = wrote_lines(&text);
        let listed: BTreeSet<PathBuf> = lines.iter().cloned().collect();
        assert_eq!(
            listed.len(),
            lines.len(),
            "`{l}`: a file listed twice: {lines:?}"
        );
        let new: BTreeSet<PathBuf> = files_under(&d).difference(&before).cloned().collect();
        assert!(!new.is_empty(), "`{l}` wrote nothing");
        assert_eq!(listed, new, "`{l}`: `wrote` lines ≠ files written\n{text}");
    }
}

#[test]
fn rates_redraw_draws_beside_its_json_and_not_in_the_default_folder() {
    let fx = fixtures();
    let f = &fx.path;
    let cwd = tempfile::tempdir().unwrap();
    let d = cwd.path().join("elsewhere");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(f.join("rates/rates.json"), d.join("rates.json")).unwrap();
    let (ok, out, err) = run(
        cwd.path(),
        &[
            "rates".into(),
            "--redraw".into(),
            "elsewhere/rates.json".into(),
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(d.join("rates.png").exists() && d.join("rates.svg").exists());
    assert!(
        !cwd.path().join("results").exists(),
        "redraw wrote into results/rates"
    );
    assert!(String::from_utf8_lossy(&out).contains("wrote elsewhere/rates.png"));
    // With --out, there instead.
    let (ok, _, err) = run(
        cwd.path(),
        &line(
            cwd.path(),
            "rates --redraw elsewhere/rates.json --out {}/other",
        ),
        None,
    );
    assert!(ok, "{err}");
    assert!(cwd.path().join("other/rates.png").exists());
}

#[test]
fn rates_refuses_a_grid_too_small_for_a_slope() {
    let cwd = tempfile::tempdir().unwrap();
    let c = cwd.path();
    // (grid options, fragment of the typed error). All are refused before any computation:
    // nothing is written.
    let cases: &[(&str, &str)] = &[
        (
            "--log2-k 5 --seeds 4",
            "a slope needs at least two distinct K, got 1",
        ),
        (
            "--log2-k 5,5,5 --seeds 4",
            "a slope needs at least two distinct K, got 1",
        ),
        ("--log2-k 3,5 --seeds 1", "2 K × 1 seed(s) = 2 runs per fit"),
        ("--log2-k 3,5 --seeds 0", "`seeds`: must be at least 1"),
        ("--log2-k 31,3", "exponents must be at most 30, got 31"),
        (
            "--log2-k 3,5 --seeds 2 --mdp {}/horizon.json",
            "needs a discounted MDP; this one has horizon 3",
        ),
        (
            "--log2-k 3,5 --seeds 2 --mdp {}/bad.json",
            "unknown field `Beta`",
        ),
    ];
    std::fs::write(
        c.join("horizon.json"),
        MDP.replace("0.9}", "1.0, \"horizon\": 3}"),
    )
    .unwrap();
    std::fs::write(
        c.join("bad.json"),
        MDP.replace("0.9}", "0.9, \"Beta\": 0.3}"),
    )
    .unwrap();
    for (opts, fragment) in cases {
        let mut args = vec![
            "rates".to_string(),
            "--quiet".into(),
            "--out".into(),
            "r".into(),
        ];
        args.extend(line(c, opts));
        let (ok, out, err) = run(c, &args, None);
        assert!(!ok, "{opts} succeeded: {}", String::from_utf8_lossy(&out));
        assert!(err.contains(fragment), "{opts}: no {fragment:?} in {err}");
        assert!(
            !String::from_utf8_lossy(&out).contains("PASS"),
            "{opts}: a verdict"
        );
        assert!(!c.join("r").exists(), "{opts}: wrote output");
    }
    // A negative exponent is a value error, not a flag.
    let (ok, _, err) = run(c, &line(c, "rates --log2-k -1,3"), None);
    assert!(!ok && err.contains("invalid value '-1'"), "{err}");
}

#[test]
fn rates_on_the_users_own_mdp() {
    let cwd = tempfile::tempdir().unwrap();
    let c = cwd.path();
    std::fs::write(c.join("mdp.json"), MDP).unwrap();
    let linear = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/mdp/linear.json");
    // (options, S, A, γ recorded, θ dimension recorded).
    let cases: &[(String, usize, usize, f64, usize)] = &[
        ("--mdp mdp.json".into(), 2, 2, 0.9, 4),
        ("--mdp mdp.json --gamma 0.5".into(), 2, 2, 0.5, 4),
        (format!("--mdp {linear}"), 5, 3, 0.8, 2),
    ];
    for (k, (opts, s, a, gamma, dim)) in cases.iter().enumerate() {
        let out = format!("r{k}");
        let l = format!("rates {opts} --log2-k 3,5,7,9 --seeds 3 --pairs 20 --alpha 0.5 --lambda 2 --quiet --out {out}");
        let (ok, stdout, err) = run(c, &line(c, &l), None);
        assert!(ok, "`{l}`: {err}");
        let text = String::from_utf8_lossy(&stdout);
        assert!(
            text.contains(&format!("{s} states, {a} actions, γ = {gamma}")),
            "{text}"
        );
        let r: Value = serde_json::from_str(
            &std::fs::read_to_string(c.join(&out).join("rates.json")).unwrap(),
        )
        .unwrap();
        let cfg = &r["config"];
        assert!(
            cfg["mdp_file"].as_str().unwrap().ends_with(".json"),
            "{cfg}"
        );
        assert_eq!(cfg["n_states"], *s);
        assert_eq!(cfg["n_actions"], *a);
        assert_eq!(cfg["feature_dim"], *dim);
        assert!((cfg["gamma"].as_f64().unwrap() - gamma).abs() < 1e-12);
        assert!((cfg["alpha"].as_f64().unwrap() - 0.5).abs() < 1e-12);
        assert!((cfg["lambda"].as_f64().unwrap() - 2.0).abs() < 1e-12);
        // 4 K × 3 seeds runs on each arm, every average finite and positive.
        for arm in ["main", "control"] {
            let runs = r[arm].as_array().unwrap();
            assert_eq!(runs.len(), 12, "{arm}");
            for p in runs {
                for q in ["e_pol", "e_grad"] {
                    let x = p[q].as_f64().unwrap();
                    assert!(x.is_finite() && x > 0.0, "{arm} {q} = {x}");
                }
            }
        }
        // The α/√K arm decays with K, the constant-step control does not decay as fast (the
        // measured slopes: about −0.5 and about 0 on these MDPs).
        let slope = |f: &str| r[f]["slope"].as_f64().unwrap();
        assert!(slope("fit_pol") < -0.25, "E_pol slope {}", slope("fit_pol"));
        assert!(
            slope("control_fit_pol") > slope("fit_pol") + 0.2,
            "control {} vs main {}",
            slope("control_fit_pol"),
            slope("fit_pol")
        );
    }
}

#[test]
fn hints_name_what_exists_where_the_error_appears() {
    let fx = fixtures();
    let f = &fx.path;
    // On the command line, a DPO without a reference on uncovered actions names the flag.
    std::fs::write(
        f.join("uncovered.json"),
        r#"{"n_actions": 3, "demonstrations": [5, 3, 0], "preferences": [[0, 3, 1], [2, 0, 4], [1, 1, 0]]}"#,
    )
    .unwrap();
    let (ok, _, err) = run(
        f,
        &line(f, "bandit --data {}/uncovered.json --method dpo"),
        None,
    );
    assert!(!ok && err.contains("--ref-smoothing ε"), "{err}");
    // Inside a study, the same failure names the spec's key, which the spec accepts.
    let spec = SIM_SPEC
        .replace("name = \"small\"", "name = \"dpo\"")
        .replace("{ method = \"aihf\" }", "{ method = \"dpo\" }");
    std::fs::write(f.join("dpo.toml"), &spec).unwrap();
    let (ok, _, err) = run(f, &line(f, "sim {}/dpo.toml --quiet --out {}/o/dpo"), None);
    assert!(ok, "{err}");
    let res = std::fs::read_to_string(f.join("o/dpo/dpo.json")).unwrap();
    assert!(
        res.contains("ref_smoothing = ε"),
        "no spec-key hint in the results"
    );
    assert!(
        !res.contains("--ref-smoothing"),
        "a command-line hint inside a study"
    );
    let fixed = spec.replace(
        "{ method = \"dpo\" }",
        "{ method = \"dpo\", ref_smoothing = 0.5 }",
    );
    std::fs::write(f.join("dpo.toml"), fixed).unwrap();
    let (ok, _, err) = run(f, &line(f, "sim {}/dpo.toml --quiet --out {}/o/dpo2"), None);
    assert!(ok, "{err}");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(f.join("o/dpo2/dpo.json")).unwrap()).unwrap();
    let text = v.to_string();
    assert!(
        !text.contains("ref_smoothing = ε"),
        "DPO still fails with a smoothed reference"
    );
}
