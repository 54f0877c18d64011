//! Tests of the neural layer (feature `neural`), one module per concern: run them with
//! `scripts/torch-env.sh cargo test --features neural --test neural`.
//!
//! Golden numbers are derived by hand in the comments, or computed independently in f64 by
//! `aihf::math` (not libtorch), or by the exact layer (`aihf::bandit::fit`).
#![cfg(feature = "neural")]

use aihf::bandit::{fit, Method, Options};
use aihf::math::{log_sigmoid, log_softmax, tv};
use aihf::neural::crossval::{self, CrossvalConfig, ModelKind};
use aihf::neural::data::{read_demos, read_prefs, ByteTokenizer, Demo, Pref, ReadOptions, SeqData};
use aihf::neural::model::{self, Arch, ModelSpec, TransformerConfig};
use aihf::neural::task::{EnumTask, TaskConfig};
use aihf::neural::train::{self, Hyper, SelfPlay, StepOut, TrainConfig};
use aihf::neural::{loss, Dtype};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use tch::{nn, Device, Kind, Tensor};

fn t(v: &[f64]) -> Tensor {
    Tensor::from_slice(v).to_kind(Kind::Float)
}

fn scalar(x: &Tensor) -> f64 {
    x.double_value(&[])
}

/// The default cross-validation task and data, and a tabular model spec for it.
fn tabular_task() -> (CrossvalConfig, crossval::Prepared, ModelSpec) {
    let cfg = CrossvalConfig::default();
    let p = crossval::prepare(&cfg).unwrap();
    let (vocab, context) = p.task.vocab_context();
    let spec = ModelSpec {
        arch: Arch::Tabular,
        vocab,
        context,
    };
    (cfg, p, spec)
}

/// Scores table sequences `idx` by an enumerable task's per-sequence `table` (its exact reward or
/// `log π_ref`): a scorer for the RL trainers.
fn lookup(
    task: &EnumTask,
    t: &SeqData,
    idx: &[usize],
    table: &[f64],
) -> aihf::error::Result<Vec<f64>> {
    Ok(idx
        .iter()
        .map(|&i| table[task.index_of(&t.seqs[i].response).unwrap()])
        .collect())
}

/// Splits a command line into arguments (for `assert_cmd`): `words("neural train --steps 5")`.
fn words(s: &str) -> Vec<&str> {
    s.split_whitespace().collect()
}

fn aihf() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("aihf").unwrap()
}

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

mod checkpoints;
mod cli;
mod data;
mod ground_truth;
mod losses;
mod models;
mod trainers;
