//! What the sharded-run tests share (`mod common;` in each): the `aihf` binary with the
//! environment's shard variables removed, so a test run inside a Slurm array or a Kubernetes
//! Indexed Job computes what the test asks for, not the job's shard.

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
