//! The one training executor (issue "one training executor"): every trainer resumes bit for bit
//! through the pipeline, multi-phase trainers refuse checkpoints, and the executor's own rules
//! (one update per group per step, metric keys per group) hold.
//!
//! Each resume test runs a method three ways through [`pipeline::train`]: uninterrupted; stopped
//! at a step that is not a checkpoint multiple (`stop_at`); resumed from that checkpoint. The
//! metrics lines (without the wall clock) and the final log-probabilities of every task sequence
//! must be identical, which is only possible if the optimisers' moments, the sampler's generator
//! position and the step-seeded libtorch generator are all restored.

use aihf::bandit::Method;
use aihf::neural::checkpoint::CheckpointConfig;
use aihf::neural::crossval::{self, CrossvalConfig};
use aihf::neural::data::SeqData;
use aihf::neural::executor::{Executor, Group, StepCtx, Trainer};
use aihf::neural::model::{Arch, ModelSpec};
use aihf::neural::pipeline::{self, Recipe, Reference, RewardStage, Role, Settings};
use aihf::neural::rl::{Baseline, PolicyStep, Reinforce};
use aihf::neural::train::{SelfPlay, TrainConfig};
use aihf::neural::Dtype;
use tch::{nn, Device, Kind, Tensor};

/// The logged step lines of a metrics file, without the wall-clock field.
fn step_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("step").is_some())
        .map(|mut v| {
            v.as_object_mut().unwrap().remove("elapsed_s");
            v
        })
        .collect()
}

fn ck(path: &std::path::Path, resume: bool, stop_at: Option<usize>) -> Option<CheckpointConfig> {
    Some(CheckpointConfig {
        path: path.to_path_buf(),
        every: 4,
        resume,
        stop_at,
    })
}

/// Trains `recipe` on the cross-validation task (tabular models, exact reference) for 20 steps
/// with the given checkpoint settings; returns the final policy's (or reward model's) scores of
/// every task sequence.
fn run(
    recipe: Recipe,
    batch: Option<usize>,
    metrics: &std::path::Path,
    checkpoint: Option<CheckpointConfig>,
) -> aihf::Result<Vec<f64>> {
    let cfg = CrossvalConfig::default();
    let p = crossval::prepare(&cfg).unwrap();
    let task = &p.task;
    let (vocab, context) = task.vocab_context();
    let spec = ModelSpec {
        arch: Arch::Tabular,
        vocab,
        context,
    };
    let tc = TrainConfig {
        steps: 20,
        lr: 0.05,
        log_every: 1,
        seed: 11,
        batch_size: batch,
        metrics: Some(metrics.to_path_buf()),
        checkpoint,
        ..Default::default()
    };
    let rtc = TrainConfig {
        metrics: None,
        checkpoint: None,
        ..tc.clone()
    };
    let reference = |t: &SeqData, idx: &[usize]| -> aihf::Result<Vec<f64>> {
        Ok(idx
            .iter()
            .map(|&i| task.log_ref[task.index_of(&t.seqs[i].response).unwrap()])
            .collect())
    };
    let settings = Settings {
        hyper: cfg.hyper,
        policy: &tc,
        reward: &rtc,
        reinforce: Reinforce {
            samples_per_prompt: 16,
            max_new_tokens: task.config.horizon,
            eos: None,
            context: context as usize,
            baseline: Baseline::Mean,
            step: PolicyStep::Reinforce,
        },
        self_play: SelfPlay {
            iters: 2,
            samples_per_prompt: 8,
            max_new_tokens: task.config.horizon,
            eos: None,
            with_preferences: false,
            context: context as usize,
        },
        rlhf_reward: RewardStage::Given,
    };
    let policy = spec.build(Role::Policy, Device::Cpu, Dtype::F32, 3)?;
    let mut reward = spec.build(Role::Reward, Device::Cpu, Dtype::F32, 4)?;
    if recipe.method == Method::Rlhf {
        // A fixed, non-zero "trained" reward model: one step of BTL outside the run.
        let once = TrainConfig {
            steps: 5,
            lr: 0.1,
            ..Default::default()
        };
        aihf::neural::train::train_reward(reward.net(), &reward.vs, &p.data, &once, None)?;
    }
    let btl = recipe.method == Method::Btl;
    pipeline::train(
        recipe,
        (!btl).then_some(&policy),
        Some(&mut reward),
        &p.data,
        Reference::Exact(&reference),
        &settings,
        None,
    )?;
    let idx: Vec<usize> = (0..p.all.seqs.len()).collect();
    if btl {
        reward.rewards(&p.all, &idx)
    } else {
        policy.logprobs(&p.all, &idx)
    }
}

/// Uninterrupted, stopped at step 9 (not a multiple of the checkpoint interval 4) and resumed:
/// the same metrics lines and the same final model.
fn assert_resumes(recipe: Recipe, batch: Option<usize>) {
    let threads = tch::get_num_threads();
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let (ma, mb) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let ckp = dir.path().join("run.safetensors");
    let full = run(recipe, batch, &ma, None).unwrap();
    run(recipe, batch, &mb, ck(&ckp, false, Some(9))).unwrap();
    assert_eq!(step_lines(&mb).len(), 9, "{}: stopped at 9", recipe.name());
    let resumed = run(recipe, batch, &mb, ck(&ckp, true, None)).unwrap();
    tch::set_num_threads(threads);
    let (a, b) = (step_lines(&ma), step_lines(&mb));
    assert_eq!(a.len(), 20);
    assert_eq!(a, b, "{}: metrics of the resumed run differ", recipe.name());
    assert_eq!(full, resumed, "{}: final models differ", recipe.name());
    // The run moved: a resume test on a model that does not change would prove nothing.
    assert!(
        a[0]["loss"] != a[19]["loss"] || a[0]["policy_loss"] != a[19]["policy_loss"],
        "{}: the loss never changed",
        recipe.name()
    );
}

#[test]
fn sft_minibatch_resumes_bit_for_bit() {
    assert_resumes(Recipe::new(Method::Sft), Some(32));
}

#[test]
fn btl_reward_minibatch_resumes_bit_for_bit() {
    assert_resumes(Recipe::new(Method::Btl), Some(32));
}

#[test]
fn ipo_and_direct_aihf_resume_bit_for_bit() {
    assert_resumes(Recipe::new(Method::Ipo), None);
    assert_resumes(Recipe::new(Method::DirectAihf), Some(32));
}

#[test]
fn rlhf_reinforce_resumes_bit_for_bit() {
    assert_resumes(Recipe::new(Method::Rlhf), None);
}

#[test]
fn aihf_online_dpo_resumes_bit_for_bit() {
    assert_resumes("aihf-online-dpo".parse().unwrap(), None);
}

/// SPIN and Self-Play AIHF regenerate their pairs each phase: a checkpoint is refused up front
/// (nothing trained, no file written) with a message that says why.
#[test]
fn self_play_refuses_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let ckp = dir.path().join("spin.safetensors");
    for m in [Method::Spin, Method::SelfPlayAihf] {
        let e = run(
            Recipe::new(m),
            None,
            &dir.path().join("m.jsonl"),
            ck(&ckp, false, None),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cannot be checkpointed"), "{m:?}: {e}");
        assert!(!ckp.exists());
    }
}

/// A self-play run has one phase per iteration, numbered on: the metrics steps run 0..40 over
/// two phases of 20, each phase logging its `iteration`.
#[test]
fn self_play_phases_number_steps_on() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("spin.jsonl");
    run(Recipe::new(Method::Spin), None, &m, None).unwrap();
    let lines = step_lines(&m);
    let steps: Vec<u64> = lines.iter().map(|l| l["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, (0..40).collect::<Vec<u64>>());
    assert_eq!(lines[19]["iteration"], 0);
    assert_eq!(lines[20]["iteration"], 1);
}

/// A trainer with two groups that forgets one, or updates one twice, is stopped with an error
/// naming the group; metric keys are per group.
struct TwoGroups<'a> {
    a: &'a nn::VarStore,
    b: &'a nn::VarStore,
    xa: Tensor,
    xb: Tensor,
    cfg: &'a TrainConfig,
    /// 0: both once; 1: skip `b`; 2: `a` twice.
    mode: u8,
}

impl Trainer for TwoGroups<'_> {
    fn label(&self) -> String {
        "two".into()
    }
    fn header(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn data_fingerprint(&self) -> u64 {
        0
    }
    fn groups(&self) -> Vec<Group<'_>> {
        vec![
            Group::from_config("a", self.a, self.cfg),
            Group {
                lr: 2.0 * self.cfg.lr,
                ..Group::from_config("b", self.b, self.cfg)
            },
        ]
    }
    fn step(
        &mut self,
        ctx: &mut StepCtx<'_>,
    ) -> aihf::Result<serde_json::Map<String, serde_json::Value>> {
        ctx.update(0, &self.xa.square().sum(Kind::Float))?;
        match self.mode {
            1 => {}
            2 => {
                ctx.update(0, &self.xa.square().sum(Kind::Float))?;
            }
            _ => {
                ctx.update(1, &self.xb.square().sum(Kind::Float))?;
            }
        }
        Ok(Default::default())
    }
}

#[test]
fn executor_checks_every_group_is_updated_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.jsonl");
    let cfg = TrainConfig {
        steps: 3,
        lr: 0.1,
        schedule: aihf::neural::train::Schedule::Constant,
        log_every: 1,
        metrics: Some(path.clone()),
        ..Default::default()
    };
    let (va, vb) = (
        nn::VarStore::new(Device::Cpu),
        nn::VarStore::new(Device::Cpu),
    );
    let (xa, xb) = (va.root().ones("x", &[2]), vb.root().ones("x", &[2]));
    let make = |mode| TwoGroups {
        a: &va,
        b: &vb,
        xa: xa.shallow_clone(),
        xb: xb.shallow_clone(),
        cfg: &cfg,
        mode,
    };
    let (reports, _) = Executor::new(make(0), &cfg).run().unwrap();
    let lines = step_lines(&path);
    assert_eq!(lines.len(), 3);
    for k in [
        "a_loss",
        "a_lr",
        "a_grad_norm",
        "b_loss",
        "b_lr",
        "b_grad_norm",
    ] {
        assert!(lines[0].get(k).is_some(), "missing {k}: {}", lines[0]);
    }
    // The second group follows the schedule scaled to its own peak.
    let (la, lb) = (
        lines[0]["a_lr"].as_f64().unwrap(),
        lines[0]["b_lr"].as_f64().unwrap(),
    );
    assert!((lb - 2.0 * la).abs() < 1e-15, "a {la}, b {lb}");
    assert_eq!(reports[0].groups.len(), 2);
    let e = Executor::new(make(1), &cfg)
        .run()
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("did not update group `b`"), "{e}");
    let e = Executor::new(make(2), &cfg)
        .run()
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("updated group `a` twice"), "{e}");
}

/// `Recipe` names round-trip, and the online-DPO step is refused where it means nothing.
#[test]
fn recipes_parse_and_refuse_nonsense() {
    for &m in aihf::bandit::METHODS {
        let r: Recipe = m.name().parse().unwrap();
        assert_eq!(r, Recipe::new(m));
        assert_eq!(r.name(), m.name());
    }
    let r: Recipe = "rlhf-online-dpo".parse().unwrap();
    assert_eq!(r.policy_step, PolicyStep::OnlineDpo);
    assert!("sft-online-dpo"
        .parse::<Recipe>()
        .unwrap_err()
        .contains("only rlhf and aihf"));
    assert!("nope"
        .parse::<Recipe>()
        .unwrap_err()
        .contains("unknown method"));
}
