//! The Theorem 4.1 rate experiment sharded over processes: `aihf rates --shard I/N` computes
//! a slice of the experiment's runs, `aihf rates merge DIR... --out D` reassembles them into the
//! `rates.json` and figure the unsharded `aihf rates` writes — identical except for timing
//! fields (`seconds`, per run and in all).
//!
//! It follows the three steps of [`super::shard`] for a study with its own loop: the units of
//! work are the experiment's runs ([`rates::jobs`]: every `(K, seed index)` of the theorem's
//! step and of the negative control, in a canonical order that depends on the configuration
//! alone); shard `I` of `N` computes the runs [`Shard::range`] of that list (each run is seeded
//! by the master seed and its own identity, [`rates::Job::seed`], so it gives the same numbers
//! wherever it is computed) and writes them with [`write_shard`] (kind `rates`, the
//! configuration as the spec, one call spanning the runs); the merge checks the manifests with
//! [`check_manifests`] (same configuration hash, version and shard count, every run exactly
//! once) and rebuilds the result with [`rates::assemble`], the code of the unsharded run.
//!
//! Payload: per run, in order, 57 bytes: `control` (u8), `k`, `seed_index`, `seed` (u64
//! little-endian), then `eta`, `e_pol`, `e_grad`, `seconds` as f64 bits (little-endian), so the
//! merge sees every number bit for bit.

use super::shard::{
    check_manifests, fnv1a, read_shards_of_kind, write_shard, CallInfo, Manifest, Shard, FORMAT,
};
use crate::error::{AihfError, Result};
use crate::mdp::rates::{self, Problem, RatesConfig, RatesResult, RunPoint};
use crate::valid::{Check, Valid};
use std::path::{Path, PathBuf};

/// The manifest `kind` of a rates shard.
pub const KIND: &str = "rates";

/// Bytes per run in the payload.
const RECORD: usize = 1 + 3 * 8 + 4 * 8;

/// The identity of a configuration: FNV-1a of its JSON, 16 hex digits.
pub fn config_hash(cfg: &RatesConfig) -> Result<String> {
    let text = serde_json::to_string(cfg).map_err(|e| AihfError::Json {
        context: "rates configuration".into(),
        source: e,
    })?;
    Ok(format!("{:016x}", fnv1a(text.as_bytes())))
}

fn encode(points: &[(bool, RunPoint)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.len() * RECORD);
    for (control, p) in points {
        out.push(u8::from(*control));
        for x in [p.k as u64, p.seed_index as u64, p.seed] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        for x in [p.eta, p.e_pol, p.e_grad, p.seconds] {
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
    }
    out
}

fn decode(bytes: &[u8], file: &Path) -> Result<Vec<(bool, RunPoint)>> {
    if !bytes.len().is_multiple_of(RECORD) {
        return Err(AihfError::data(
            file.display().to_string(),
            format!(
                "the payload's {} bytes are not whole {RECORD}-byte runs",
                bytes.len()
            ),
        ));
    }
    let u = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    Ok(bytes
        .chunks_exact(RECORD)
        .map(|r| {
            let w = |k: usize| u(&r[1 + 8 * k..9 + 8 * k]);
            (
                r[0] == 1,
                RunPoint {
                    k: w(0) as usize,
                    seed_index: w(1) as usize,
                    seed: w(2),
                    eta: f64::from_bits(w(3)),
                    e_pol: f64::from_bits(w(4)),
                    e_grad: f64::from_bits(w(5)),
                    seconds: f64::from_bits(w(6)),
                },
            )
        })
        .collect())
}

/// Computes shard `shard` of the experiment `cfg` on `problem` (from [`rates::setup`], or
/// [`rates::setup_on`] for a user's MDP) and writes `DIR/rates.shard-I-of-N.aihfshard`
/// atomically (a re-run overwrites it). Returns the file's path.
pub fn run_shard(
    cfg: &Valid<RatesConfig>,
    problem: &Problem,
    shard: Shard,
    dir: &Path,
    progress: bool,
) -> Result<PathBuf> {
    let t0 = std::time::Instant::now();
    let all = rates::jobs(cfg);
    let range = shard.range(all.len());
    let points = rates::run_jobs(cfg, problem, &all[range.clone()], progress)?;
    let mut manifest = Manifest {
        format: FORMAT.into(),
        kind: KIND.into(),
        aihf_version: env!("CARGO_PKG_VERSION").into(),
        spec_hash: config_hash(cfg)?,
        spec: serde_json::to_value(cfg).map_err(|e| AihfError::Json {
            context: "rates configuration".into(),
            source: e,
        })?,
        name: "rates".into(),
        seed: cfg.master_seed,
        shard,
        calls: vec![CallInfo {
            label: "rates".into(),
            seed: cfg.master_seed,
            replications: all.len(),
            estimators: 1,
            start: range.start,
            end: range.end,
            elapsed_s: t0.elapsed().as_secs_f64(),
        }],
        threads: rayon::current_num_threads(),
        payload_bytes: 0,
        payload_fnv1a: String::new(),
        // The configuration is the whole input (it is also the manifest's `spec`).
        inputs: serde_json::Value::Null,
    };
    write_shard(dir, &mut manifest, &encode(&points))
}

/// Reads every rates shard in `dirs`, checks that they are the whole of one experiment (the
/// same configuration, version and shard count, every run exactly once, each run where the
/// canonical order puts it), and returns the merged result (its `seconds`: the shards' summed
/// seconds) with the files read.
pub fn merge(dirs: &[PathBuf]) -> Result<(RatesResult, Vec<PathBuf>)> {
    let (ms, payloads) = read_shards_of_kind(dirs, KIND, "aihf rates merge")?;
    let paths: Vec<PathBuf> = ms.iter().map(|(p, _)| p.clone()).collect();
    let order = check_manifests(&ms)?;
    let m0 = &ms[order[0]].1;
    let cfg: RatesConfig =
        serde_json::from_value(m0.spec.clone()).map_err(|e| AihfError::Json {
            context: format!("{}: spec", ms[order[0]].0.display()),
            source: e,
        })?;
    if config_hash(&cfg)? != m0.spec_hash {
        return Err(AihfError::data(
            ms[order[0]].0.display().to_string(),
            "the configuration does not match its hash",
        ));
    }
    let cfg = cfg.checked()?;
    let all = rates::jobs(&cfg);
    let mut points = vec![];
    let mut seconds = 0.0;
    for &k in &order {
        let (path, m) = &ms[k];
        let call = &m.calls[0];
        let got = decode(&payloads[k], path)?;
        let want = &all[call.start..call.end];
        if got.len() != want.len()
            || got.iter().zip(want).any(|((c, p), j)| {
                *c != j.control
                    || p.k != j.k
                    || p.seed_index != j.seed_index
                    || p.seed != j.seed(cfg.master_seed)
            })
        {
            return Err(AihfError::data(
                path.display().to_string(),
                format!(
                    "holds other runs than runs {}..{} of the configuration",
                    call.start, call.end
                ),
            ));
        }
        seconds += call.elapsed_s;
        points.extend(got);
    }
    let res = rates::assemble(&cfg, points, seconds);
    res.check_finite()?;
    Ok((res, paths))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_raw() -> RatesConfig {
        RatesConfig {
            ks: vec![8, 16, 32],
            seeds: 2,
            n_states: 5,
            n_actions: 3,
            n_pairs: 20,
            ..RatesConfig::quick(3)
        }
    }

    fn tiny() -> Valid<RatesConfig> {
        tiny_raw().checked().unwrap()
    }

    /// The result without its timing fields, as JSON.
    fn untimed(r: &RatesResult) -> serde_json::Value {
        let mut v = serde_json::to_value(r).unwrap();
        v["seconds"] = serde_json::Value::Null;
        for key in ["main", "control"] {
            for p in v[key].as_array_mut().unwrap() {
                p["seconds"] = serde_json::Value::Null;
            }
        }
        v
    }

    #[test]
    fn one_and_three_shards_merge_to_the_unsharded_result() {
        let cfg = tiny();
        let whole = rates::run(&cfg, false).unwrap();
        let problem = rates::setup(&cfg).unwrap();
        for n in [1, 3, 5] {
            let dir = tempfile::tempdir().unwrap();
            for i in 0..n {
                run_shard(&cfg, &problem, Shard::new(i, n).unwrap(), dir.path(), false).unwrap();
            }
            // A retried shard overwrites its file: still every run exactly once.
            run_shard(&cfg, &problem, Shard::new(0, n).unwrap(), dir.path(), false).unwrap();
            let (merged, files) = merge(&[dir.path().to_path_buf()]).unwrap();
            assert_eq!(files.len(), n);
            assert_eq!(untimed(&merged), untimed(&whole), "{n} shards");
        }
    }

    #[test]
    fn a_missing_or_foreign_shard_is_refused() {
        let cfg = tiny();
        let problem = rates::setup(&cfg).unwrap();
        let dir = tempfile::tempdir().unwrap();
        run_shard(&cfg, &problem, Shard::new(0, 3).unwrap(), dir.path(), false).unwrap();
        run_shard(&cfg, &problem, Shard::new(2, 3).unwrap(), dir.path(), false).unwrap();
        let e = merge(&[dir.path().to_path_buf()]).unwrap_err().to_string();
        assert!(e.contains("1/3"), "{e}");
        // Shard 1 of another configuration (another seed).
        let other = RatesConfig {
            master_seed: 4,
            ..tiny_raw()
        }
        .checked()
        .unwrap();
        let other_problem = rates::setup(&other).unwrap();
        run_shard(
            &other,
            &other_problem,
            Shard::new(1, 3).unwrap(),
            dir.path(),
            false,
        )
        .unwrap();
        let e = merge(&[dir.path().to_path_buf()]).unwrap_err().to_string();
        assert!(e.contains("another spec"), "{e}");
    }
}
