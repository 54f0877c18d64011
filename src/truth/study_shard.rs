//! The replicated truth study sharded over processes: `aihf truth study SPEC --shard I/N`
//! computes a slice of every size's replications, `aihf truth study merge DIR... --out D`
//! reassembles them into the `<name>.json`, CSV and figures the unsharded `aihf truth study`
//! writes — identical except for the timing field `seconds`.
//!
//! It follows the three steps of [`crate::sim::shard`] for a study with its own loop: the units
//! of work are the replications `0..R` of every size, in the spec's order (each seeded by the
//! spec's seed, the size's index and its own, [`Setup::replicate`], so it gives the same numbers
//! wherever it is computed); shard `I` of `N` computes replications [`Shard::range`]`(R)` of
//! every size and writes them with [`write_shard`] (kind `truth-study`, the spec as run, one
//! call per size); the merge checks the manifests with [`check_manifests`] (same spec hash,
//! version and shard count, every replication of every size exactly once) and rebuilds the
//! result with [`assemble`], the code of the unsharded run.
//!
//! Payload: `E_{π*}[r*]` and `KL(π*‖π_ref)` of the task as f64 bits (little-endian), then per
//! size, per replication of the shard's range, per method of [`METHODS`] a tag — 0: `KL(π̂‖π*)`
//! as f64 bits; 1: the reason there is none, a u32 length and UTF-8; 2: no such estimator —
//! so the merge sees every number bit for bit.
//!
//! ```
//! use aihf::sim::shard::Shard;
//! use aihf::truth::study::{run, Size, StudySpec, StudySpecFile};
//! use aihf::truth::study_shard::{merge, run_shard};
//! let mut file = StudySpecFile {
//!     name: "doc".into(), seed: 1, replications: 1, vocab: 4, horizon: 2, nnz_per_row: 2,
//!     reward_scale: 1.0, beta: 1.0, lambda: 1.0, ridge: 0.1, support: "task".into(),
//!     level: 0.95, sizes: vec![Size { demos: 20, comparisons: 20 }],
//! };
//! // Checked once, after the overrides: one replication gives no interval.
//! assert!(StudySpec::try_from(file.clone()).unwrap_err().to_string().contains("replications"));
//! file.replications = 5;
//! let spec = StudySpec::try_from(file)?;
//! let dir = tempfile::tempdir()?;
//! for i in 0..3 {
//!     run_shard(&spec, Shard::new(i, 3)?, dir.path(), false, serde_json::Value::Null)?;
//! }
//! let (merged, files) = merge(&[dir.path().to_path_buf()])?;
//! assert_eq!(files.len(), 3);
//! let whole = run(&spec, false)?;
//! assert_eq!(serde_json::to_value(&merged.sizes)?, serde_json::to_value(&whole.sizes)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::study::{assemble, progress_bar, Outcome, Setup, StudyResults, StudySpec, METHODS};
use crate::error::{AihfError, Result};
use crate::sim::shard::{
    check_manifests, fnv1a, read_shards_of_kind, write_shard, CallInfo, Manifest, Shard, FORMAT,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The manifest `kind` of a truth study shard.
pub const KIND: &str = "truth-study";

/// The identity of a spec as run (after overrides): FNV-1a of its JSON, 16 hex digits.
pub fn spec_hash(spec: &StudySpec) -> Result<String> {
    let text = serde_json::to_string(spec).map_err(|e| AihfError::Json {
        context: "truth study spec".into(),
        source: e,
    })?;
    Ok(format!("{:016x}", fnv1a(text.as_bytes())))
}

fn spec_json(spec: &StudySpec) -> Result<serde_json::Value> {
    serde_json::to_value(spec).map_err(|e| AihfError::Json {
        context: "truth study spec".into(),
        source: e,
    })
}

/// The label of size `si` in the manifest (checked on merge).
fn label(spec: &StudySpec, si: usize) -> String {
    let s = spec.sizes[si];
    format!("size {si}: N = {}, M = {}", s.demos, s.comparisons)
}

fn encode(star: (f64, f64), outcomes: &[Vec<Outcome>]) -> Result<Vec<u8>> {
    let mut out = vec![];
    out.extend_from_slice(&star.0.to_bits().to_le_bytes());
    out.extend_from_slice(&star.1.to_bits().to_le_bytes());
    for o in outcomes.iter().flatten() {
        for m in METHODS {
            match o.get(m) {
                Some(Ok(kl)) => {
                    out.push(0);
                    out.extend_from_slice(&kl.to_bits().to_le_bytes());
                }
                Some(Err(msg)) => {
                    out.push(1);
                    let n = u32::try_from(msg.len()).map_err(|_| {
                        AihfError::Numerical("shard payload: a message exceeds u32".into())
                    })?;
                    out.extend_from_slice(&n.to_le_bytes());
                    out.extend_from_slice(msg.as_bytes());
                }
                None => out.push(2),
            }
        }
    }
    Ok(out)
}

/// A cursor over a payload whose errors name the file.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    file: &'a Path,
}

impl Reader<'_> {
    fn bad(&self, what: &str) -> AihfError {
        AihfError::data(
            self.file.display().to_string(),
            format!("corrupt shard payload: {what}"),
        )
    }

    fn take(&mut self, k: usize) -> Result<&[u8]> {
        let s = self
            .bytes
            .get(self.at..self.at + k)
            .ok_or_else(|| self.bad("truncated"))?;
        self.at += k;
        Ok(s)
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    }

    fn outcome(&mut self) -> Result<Outcome> {
        let mut o = BTreeMap::new();
        for m in METHODS {
            match self.take(1)?[0] {
                0 => {
                    o.insert(m.to_string(), Ok(f64::from_bits(self.u64()?)));
                }
                1 => {
                    let b = self.take(4)?;
                    let n = u32::from_le_bytes(b.try_into().unwrap_or([0; 4])) as usize;
                    let msg = String::from_utf8(self.take(n)?.to_vec())
                        .map_err(|_| self.bad("a message is not UTF-8"))?;
                    o.insert(m.to_string(), Err(msg));
                }
                2 => {}
                _ => return Err(self.bad("unknown tag")),
            }
        }
        Ok(o)
    }
}

/// A decoded payload: `π*`'s two scores as f64 bits, and per size its range's outcomes.
type Decoded = ((u64, u64), Vec<Vec<Outcome>>);

/// Decodes a payload: `π*`'s scores and, per call (size), its range's outcomes.
fn decode(bytes: &[u8], calls: &[CallInfo], file: &Path) -> Result<Decoded> {
    let mut r = Reader { bytes, at: 0, file };
    let star = (r.u64()?, r.u64()?);
    let mut out = Vec::with_capacity(calls.len());
    for c in calls {
        out.push(
            (c.start..c.end)
                .map(|_| r.outcome())
                .collect::<Result<Vec<_>>>()?,
        );
    }
    if r.at != bytes.len() {
        return Err(r.bad("trailing bytes"));
    }
    Ok((star, out))
}

/// Computes shard `shard` of the study `spec` — replications [`Shard::range`]`(R)` of every
/// size — and writes `DIR/<name>.shard-I-of-N.aihfshard` atomically (a re-run overwrites it).
/// `inputs` (the spec file's record) is carried to the merged results. Returns the file's path.
pub fn run_shard(
    spec: &StudySpec,
    shard: Shard,
    dir: &Path,
    progress: bool,
    inputs: serde_json::Value,
) -> Result<PathBuf> {
    let t0 = Instant::now();
    let setup = Setup::new(spec)?;
    let range = shard.range(spec.replications);
    let bar = progress_bar(spec, range.len() * spec.sizes.len(), progress);
    let mut outcomes = Vec::with_capacity(spec.sizes.len());
    let mut calls = Vec::with_capacity(spec.sizes.len());
    // The setup's time counts in the first size's.
    let mut mark = t0;
    for si in 0..spec.sizes.len() {
        outcomes.push(setup.replicate_range(spec, si, range.clone(), &bar)?);
        let now = Instant::now();
        calls.push(CallInfo {
            label: label(spec, si),
            seed: spec.seed,
            replications: spec.replications,
            estimators: METHODS.len(),
            start: range.start,
            end: range.end,
            elapsed_s: (now - mark).as_secs_f64(),
        });
        mark = now;
    }
    bar.finish_and_clear();
    let mut manifest = Manifest {
        format: FORMAT.into(),
        kind: KIND.into(),
        aihf_version: env!("CARGO_PKG_VERSION").into(),
        spec_hash: spec_hash(spec)?,
        spec: spec_json(spec)?,
        name: spec.name.clone(),
        seed: spec.seed,
        shard,
        calls,
        threads: rayon::current_num_threads(),
        payload_bytes: 0,
        payload_fnv1a: String::new(),
        inputs,
    };
    let star = (setup.star_true_reward, setup.star_kl_to_ref);
    write_shard(dir, &mut manifest, &encode(star, &outcomes)?)
}

/// Reads every truth study shard in `dirs`, checks that they are the whole of one study (the
/// same spec, version and shard count, every replication of every size exactly once), and
/// returns the merged results (`seconds`: the shards' summed seconds; `inputs`: the spec file
/// the shards recorded) with the files read.
pub fn merge(dirs: &[PathBuf]) -> Result<(StudyResults, Vec<PathBuf>)> {
    let (ms, payloads) = read_shards_of_kind(dirs, KIND, "aihf truth study merge")?;
    let order = check_manifests(&ms)?;
    let (p0, m0) = &ms[order[0]];
    let spec: StudySpec = serde_json::from_value(m0.spec.clone()).map_err(|e| AihfError::Json {
        context: format!("{}: spec", p0.display()),
        source: e,
    })?;
    if spec_hash(&spec)? != m0.spec_hash {
        return Err(AihfError::data(
            p0.display().to_string(),
            "the manifest's spec does not match its hash",
        ));
    }
    // check_manifests made every shard list m0's calls: they must be the spec's sizes.
    if !m0
        .calls
        .iter()
        .map(|c| c.label.clone())
        .eq((0..spec.sizes.len()).map(|si| label(&spec, si)))
    {
        return Err(AihfError::data(
            p0.display().to_string(),
            "its runs are not the sizes of its spec",
        ));
    }
    let mut outcomes: Vec<Vec<Outcome>> = vec![vec![]; spec.sizes.len()];
    let mut star = None;
    let mut seconds = 0.0;
    for &k in &order {
        let (path, m) = &ms[k];
        let (s, blocks) = decode(&payloads[k], &m.calls, path)?;
        if *star.get_or_insert(s) != s {
            return Err(AihfError::data(
                path.display().to_string(),
                "its task's π* scores differ from the other shards': another task",
            ));
        }
        for (all, block) in outcomes.iter_mut().zip(blocks) {
            all.extend(block);
        }
        seconds += m.calls.iter().map(|c| c.elapsed_s).sum::<f64>();
    }
    let star = star.map_or((f64::NAN, f64::NAN), |(a, b)| {
        (f64::from_bits(a), f64::from_bits(b))
    });
    let mut res = assemble(&spec, star, &outcomes, seconds);
    res.inputs = m0.inputs.clone();
    Ok((res, ms.into_iter().map(|(p, _)| p).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(start: usize, end: usize) -> CallInfo {
        CallInfo {
            label: "size 0: N = 1, M = 1".into(),
            seed: 1,
            replications: end,
            estimators: METHODS.len(),
            start,
            end,
            elapsed_s: 0.0,
        }
    }

    #[test]
    fn payload_round_trips_every_outcome_bit_for_bit() {
        let mut a = Outcome::new();
        a.insert("aihf".into(), Ok(1.0 / 3.0));
        a.insert("sft".into(), Ok(5e-324));
        a.insert(
            "btl".into(),
            Err("btl does not exist: bigram (3, 0) π".into()),
        );
        // `irl`, `rlhf_sft`, `rlhf_ref` absent: an estimator the study did not report.
        let mut b = Outcome::new();
        for m in METHODS {
            b.insert(m.to_string(), Ok(-0.0));
        }
        let star = (0.25, f64::MIN_POSITIVE);
        let blocks = vec![vec![a, b.clone()], vec![b]];
        let bytes = encode(star, &blocks).unwrap();
        let calls = [call(1, 3), call(4, 5)];
        let (s, back) = decode(&bytes, &calls, Path::new("x")).unwrap();
        assert_eq!(s, (star.0.to_bits(), star.1.to_bits()));
        assert_eq!(back, blocks);
        let bits = |o: &Outcome| -> Vec<Option<u64>> {
            o.values()
                .map(|v| v.as_ref().ok().map(|x| x.to_bits()))
                .collect()
        };
        assert_eq!(bits(&back[0][1]), bits(&blocks[0][1]), "−0 kept its sign");
        // A truncated payload, or one with bytes left over, is refused.
        assert!(decode(&bytes[..bytes.len() - 1], &calls, Path::new("x")).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        let e = decode(&longer, &calls, Path::new("x")).unwrap_err();
        assert!(e.to_string().contains("trailing bytes"), "{e}");
    }
}
