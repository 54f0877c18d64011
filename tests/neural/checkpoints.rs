//! Optimiser and checkpoints.

use super::*;

/// The toolkit's AdamW (whose state checkpoints hold) takes the same steps as libtorch's AdamW,
/// with weight decay, a changing learning rate and 60 steps.
#[test]
fn adamw_matches_libtorch_adamw() {
    use aihf::neural::optim::AdamW;
    use tch::nn::OptimizerConfig;
    let make = || {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().ones("w", &[3, 4]);
        let b = vs.root().zeros("b", &[3]);
        (vs, w, b)
    };
    let (vs1, w1, b1) = make();
    let (vs2, w2, b2) = make();
    tch::manual_seed(11);
    let x = Tensor::randn([16, 4], (Kind::Float, Device::Cpu));
    let y = Tensor::randn([16, 3], (Kind::Float, Device::Cpu));
    let loss = |w: &Tensor, b: &Tensor| (x.matmul(&w.tr()) + b - &y).square().mean(Kind::Float);
    let mut theirs = nn::adamw(0.9, 0.999, 0.01).build(&vs1, 0.05).unwrap();
    let mut ours = AdamW::new(&vs2, 0.01).unwrap();
    for k in 0..60 {
        let lr = 0.05 / (1.0 + k as f64 / 10.0);
        theirs.set_lr(lr);
        theirs.zero_grad();
        loss(&w1, &b1).backward();
        theirs.step();
        ours.zero_grad();
        loss(&w2, &b2).backward();
        ours.step(lr).unwrap();
    }
    let d = (&w1 - &w2).abs().max().double_value(&[]) + (&b1 - &b2).abs().max().double_value(&[]);
    let moved = (&w1 - 1.0).abs().max().double_value(&[]);
    assert!(moved > 0.1, "the test must move the parameters: {moved}");
    assert!(d < 1e-6, "AdamW differs from libtorch's by {d}");
}

fn ck(
    path: &std::path::Path,
    every: usize,
    resume: bool,
    stop_at: Option<usize>,
) -> Option<aihf::neural::checkpoint::CheckpointConfig> {
    Some(aihf::neural::checkpoint::CheckpointConfig {
        path: path.to_path_buf(),
        every,
        resume,
        stop_at,
    })
}

/// Minibatch DPO (records drawn by the run's generator) stopped at step 17 and resumed logs the
/// same metrics, bit for bit, as the uninterrupted run, and ends at the same policy.
#[test]
fn resumed_dpo_equals_the_uninterrupted_run() {
    let threads = tch::get_num_threads();
    tch::set_num_threads(1);
    let cfg = CrossvalConfig::default();
    let p = crossval::prepare(&cfg).unwrap();
    let (vocab, context) = p.task.vocab_context();
    let spec = ModelSpec {
        arch: Arch::Transformer(TransformerConfig::default()),
        vocab,
        context,
    };
    let dir = tempfile::tempdir().unwrap();
    let run = |metrics: &std::path::Path,
               checkpoint: Option<aihf::neural::checkpoint::CheckpointConfig>,
               lr: f64|
     -> aihf::error::Result<Vec<f64>> {
        aihf::neural::manual_seed(5);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = model::policy(&vs.root(), &spec)?;
        model::init_weights(&vs, 5)?;
        let tc = TrainConfig {
            steps: 40,
            lr,
            batch_size: Some(64),
            log_every: 1,
            seed: 5,
            metrics: Some(metrics.to_path_buf()),
            checkpoint,
            ..Default::default()
        };
        train::train_policy(
            net.as_ref(),
            &vs,
            &p.data,
            train::Objective::Dpo,
            Some(&p.ref_logp),
            &cfg.hyper,
            &tc,
            None,
        )?;
        let idx: Vec<usize> = (0..p.all.seqs.len()).collect();
        train::logprobs(net.as_ref(), &p.all, &idx, Device::Cpu)
    };
    let (ma, mb) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let ckp = dir.path().join("run.safetensors");
    let full = run(&ma, None, 0.01).unwrap();
    run(&mb, ck(&ckp, 5, false, Some(17)), 0.01).unwrap();
    assert_eq!(step_lines(&mb).len(), 17);
    // Another configuration is refused, naming what differs.
    let e = run(&dir.path().join("c.jsonl"), ck(&ckp, 5, true, None), 0.02)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("another configuration") && e.contains("lr"),
        "{e}"
    );
    let resumed = run(&mb, ck(&ckp, 5, true, None), 0.01).unwrap();
    tch::set_num_threads(threads);
    let (a, b) = (step_lines(&ma), step_lines(&mb));
    assert_eq!(a.len(), 40);
    assert_eq!(a, b, "metrics of the resumed run differ");
    assert_eq!(full, resumed, "final log-probabilities differ");
    // Only the checkpoint and the metrics are left: no temporary files.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.jsonl", "b.jsonl", "run.safetensors"]);
}

/// AIHF's Algorithm 1 (two models, two optimisers, sampling) resumed from a checkpoint logs the
/// same metrics as the uninterrupted run.
#[test]
fn resumed_aihf_equals_the_uninterrupted_run() {
    use aihf::neural::rl::{self, Baseline, Reinforce};
    let threads = tch::get_num_threads();
    tch::set_num_threads(1);
    let (cfg, p, spec) = tabular_task();
    let task = &p.task;
    let context = spec.context;
    let reference = |t: &SeqData, idx: &[usize]| lookup(task, t, idx, &task.log_ref);
    let dir = tempfile::tempdir().unwrap();
    let run = |metrics: &std::path::Path,
               checkpoint: Option<aihf::neural::checkpoint::CheckpointConfig>| {
        let pvs = nn::VarStore::new(Device::Cpu);
        let policy = model::policy(&pvs.root(), &spec).unwrap();
        let rvs = nn::VarStore::new(Device::Cpu);
        let reward = model::reward(&rvs.root(), &spec).unwrap();
        let rl = Reinforce {
            samples_per_prompt: 32,
            max_new_tokens: task.config.horizon,
            eos: None,
            context: context as usize,
            baseline: Baseline::Greedy,
            step: aihf::neural::rl::PolicyStep::Reinforce,
        };
        let tc = TrainConfig {
            steps: 30,
            lr: 0.05,
            log_every: 1,
            seed: 8,
            metrics: Some(metrics.to_path_buf()),
            checkpoint,
            ..Default::default()
        };
        let rtc = TrainConfig {
            metrics: None,
            checkpoint: None,
            tag: serde_json::Value::Null,
            ..tc.clone()
        };
        rl::train_aihf(
            policy.as_ref(),
            &pvs,
            reward.as_ref(),
            &rvs,
            &p.data,
            &reference,
            &rl,
            &cfg.hyper,
            &tc,
            &rtc,
            None,
        )
    };
    let (ma, mb) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let ckp = dir.path().join("aihf.safetensors");
    run(&ma, None).unwrap();
    let part = run(&mb, ck(&ckp, 4, false, Some(13))).unwrap();
    assert_eq!(part.steps, 13);
    run(&mb, ck(&ckp, 4, true, None)).unwrap();
    tch::set_num_threads(threads);
    let (a, b) = (step_lines(&ma), step_lines(&mb));
    assert_eq!(a.len(), 30);
    assert_eq!(a, b, "metrics of the resumed AIHF run differ");
}

/// A NaN stops the run with its step number and leaves the last good checkpoint, which resumes;
/// a torn or missing checkpoint is a clear error, not a panic.
#[test]
fn nan_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ckp = dir.path().join("x.safetensors");
    let vs = nn::VarStore::new(Device::Cpu);
    let x = vs.root().ones("x", &[3]);
    let cfg = |checkpoint| TrainConfig {
        steps: 40,
        lr: 0.01,
        log_every: 1,
        checkpoint,
        ..Default::default()
    };
    let h = serde_json::json!({"test": "nan"});
    let metrics = dir.path().join("m.jsonl");
    let mut c0 = cfg(ck(&ckp, 10, false, None));
    c0.metrics = Some(metrics.clone());
    let mut sink = train::sink(&c0, h.clone()).unwrap();
    let e = train::optimise(&vs, &c0, "nan", 0, &mut sink, &h, 1, None, |step, _, _| {
        let bad = if step == 25 { f64::INFINITY } else { 1.0 };
        Ok(StepOut {
            loss: (&x * bad).sum(Kind::Float) + x.square().sum(Kind::Float),
            metrics: Default::default(),
        })
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("at step 25"), "{e}");
    assert!(e.contains("last good checkpoint (step 20)"), "{e}");
    drop(sink);
    assert_eq!(
        step_lines(&metrics).len(),
        25,
        "steps 0..24 logged before the stop"
    );
    // The kept checkpoint resumes at step 20 (a resumed process starts from a fresh model); the
    // lines of steps 20..24 are replaced, so every step appears once.
    let vs = nn::VarStore::new(Device::Cpu);
    let x = vs.root().ones("x", &[3]);
    let mut c = cfg(ck(&ckp, 10, true, None));
    c.metrics = Some(metrics.clone());
    let mut sink = train::sink(&c, h.clone()).unwrap();
    train::optimise(&vs, &c, "ok", 0, &mut sink, &h, 1, None, |_, _, _| {
        Ok(StepOut {
            loss: x.square().sum(Kind::Float),
            metrics: Default::default(),
        })
    })
    .unwrap();
    drop(sink);
    let lines = step_lines(&metrics);
    let steps: Vec<u64> = lines.iter().map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, (0..40).collect::<Vec<u64>>());
    // Other data (fingerprint) is refused.
    let mut sink = None;
    let e = train::optimise(
        &vs,
        &c,
        "other",
        0,
        &mut sink,
        &h,
        2,
        None,
        |_, _, _| unreachable!(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("another configuration") && e.contains("data_fnv1a"),
        "{e}"
    );
    // A torn file and a missing one.
    let bytes = std::fs::read(&ckp).unwrap();
    std::fs::write(&ckp, &bytes[..bytes.len() / 2]).unwrap();
    let mut sink = None;
    let e = train::optimise(
        &vs,
        &c,
        "torn",
        0,
        &mut sink,
        &h,
        1,
        None,
        |_, _, _| unreachable!(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("x.safetensors"), "{e}");
    std::fs::remove_file(&ckp).unwrap();
    let e = train::optimise(
        &vs,
        &c,
        "missing",
        0,
        &mut sink,
        &h,
        1,
        None,
        |_, _, _| unreachable!(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no checkpoint"), "{e}");
}

/// The CLI: `--stop-at` then `--resume` ends where the uninterrupted run ends; resuming with
/// other settings exits 1 with the reason; RLHF needs a reward model.
#[test]
fn cli_checkpoint_resume_and_rl_methods() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    aihf()
        .args([
            "neural",
            "gen-task",
            "--demos",
            "200",
            "--comparisons",
            "200",
            "--seed",
            "2",
            "--out-dir",
        ])
        .arg(d)
        .assert()
        .success();
    let base = |extra: &[&str]| {
        let mut c = aihf();
        c.args([
            "neural",
            "train",
            "--arch",
            "tabular",
            "--vocab",
            "4",
            "--context",
            "4",
            "--steps",
            "30",
            "--threads",
            "1",
            "--seed",
            "3",
            "--batch-size",
            "32",
        ])
        .arg("--demos")
        .arg(d.join("demos.jsonl"))
        .arg("--prefs")
        .arg(d.join("prefs.jsonl"))
        .args(extra);
        c
    };
    let report = |o: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let ckp = d.join("ck.safetensors");
    let ckp = ckp.to_str().unwrap();
    let full = base(&["--method", "dpo"]).assert().success();
    base(&[
        "--method",
        "dpo",
        "--checkpoint",
        ckp,
        "--checkpoint-every",
        "7",
        "--stop-at",
        "12",
    ])
    .assert()
    .success();
    base(&[
        "--method",
        "dpo",
        "--checkpoint",
        ckp,
        "--resume",
        "--lr",
        "0.002",
    ])
    .assert()
    .code(1)
    .stderr(predicates::str::contains("another configuration"));
    let resumed = base(&["--method", "dpo", "--checkpoint", ckp, "--resume"])
        .assert()
        .success();
    let (a, b) = (report(full.get_output()), report(resumed.get_output()));
    assert_eq!(a["report"]["final_loss"], b["report"]["final_loss"]);
    assert_eq!(
        a["report"]["final_grad_norm"],
        b["report"]["final_grad_norm"]
    );
    base(&["--method", "dpo", "--resume"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("--resume needs --checkpoint"));
    // Settings that change no shape (attention heads, dropout) are part of the identity too.
    let ckt = d.join("t.safetensors");
    let ckt = ckt.to_str().unwrap();
    let tf = |extra: &[&str]| {
        let mut c = aihf();
        c.args([
            "neural",
            "train",
            "--method",
            "sft",
            "--arch",
            "transformer",
            "--vocab",
            "4",
            "--context",
            "4",
            "--width",
            "8",
            "--steps",
            "6",
            "--threads",
            "1",
            "--checkpoint",
            ckt,
        ])
        .arg("--demos")
        .arg(d.join("demos.jsonl"))
        .args(extra);
        c
    };
    tf(&["--heads", "2", "--stop-at", "3"]).assert().success();
    tf(&["--heads", "4", "--resume"]).assert().code(1).stderr(
        predicates::prelude::PredicateBooleanExt::and(
            predicates::str::contains("another configuration"),
            predicates::str::contains("heads"),
        ),
    );
    tf(&["--heads", "2", "--dropout", "0.5", "--resume"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("dropout"));
    tf(&["--heads", "2", "--resume"]).assert().success();
    // RLHF: a BTL reward model first, then REINFORCE against it; AIHF saves both models.
    base(&["--method", "rlhf", "--max-new-tokens", "3"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("--reward-model"));
    let rm = d.join("rm.safetensors");
    base(&["--method", "btl", "--save", rm.to_str().unwrap()])
        .assert()
        .success();
    let out = aihf()
        .args([
            "neural",
            "train",
            "--arch",
            "tabular",
            "--vocab",
            "4",
            "--context",
            "4",
            "--steps",
            "10",
            "--threads",
            "1",
            "--method",
            "rlhf",
            "--max-new-tokens",
            "3",
            "--samples-per-prompt",
            "16",
            "--reward-model",
            rm.to_str().unwrap(),
        ])
        .arg("--demos")
        .arg(d.join("demos.jsonl"))
        .assert()
        .success();
    // The last metrics line is step 9 of 10, its objective is reward − β·KL (β = 1) computed
    // from its own two fields, and at most 16 distinct responses were sampled.
    let last = &report(out.get_output())["report"]["last"];
    assert_eq!(last["step"], 9);
    let (r, kl, obj) = (
        last["reward"].as_f64().unwrap(),
        last["kl"].as_f64().unwrap(),
        last["objective"].as_f64().unwrap(),
    );
    assert!(
        (obj - (r - kl)).abs() < 1e-9,
        "objective {obj} vs {r} − {kl}"
    );
    let distinct = last["distinct_samples"].as_u64().unwrap();
    assert!((1..=16).contains(&distinct), "{distinct}");
    let rw = d.join("aihf-r.safetensors");
    let out = aihf()
        .args([
            "neural",
            "train",
            "--arch",
            "tabular",
            "--vocab",
            "4",
            "--context",
            "4",
            "--steps",
            "10",
            "--threads",
            "1",
            "--method",
            "aihf",
            "--max-new-tokens",
            "3",
            "--samples-per-prompt",
            "16",
            "--save-reward",
            rw.to_str().unwrap(),
        ])
        .arg("--demos")
        .arg(d.join("demos.jsonl"))
        .arg("--prefs")
        .arg(d.join("prefs.jsonl"))
        .assert()
        .success();
    let rep = report(out.get_output());
    assert_eq!(rep["report"]["steps"], 10);
    assert!(rep["report"]["final_reward_loss"]
        .as_f64()
        .unwrap()
        .is_finite());
    // The saved reward model loads into the same architecture, and AIHF's reward steps moved it
    // away from its (zero) tabular initialisation.
    let spec = ModelSpec {
        arch: Arch::Tabular,
        vocab: 4,
        context: 4,
    };
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _net = model::reward(&vs.root(), &spec).unwrap();
    vs.load(&rw).unwrap();
    let moved: f64 = vs
        .variables()
        .values()
        .map(|t| t.abs().sum(Kind::Double).double_value(&[]))
        .sum();
    assert!(
        moved > 1e-3,
        "the saved reward model is still zero: {moved}"
    );
}
