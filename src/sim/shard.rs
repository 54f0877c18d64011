//! Sharded studies: one study split over `N` processes (`aihf sim SPEC --shard I/N`, or the
//! index and count a cluster engine sets), each computing a slice of every Monte Carlo run's
//! replications, and a merge (`aihf sim merge DIR... --out D`) that reassembles them and writes
//! the results JSON and figures the unsharded run writes — identical except for timing fields.
//!
//! # How it works
//! A study is a fixed sequence of Monte Carlo runs ("calls": one per cell), whose number, order,
//! labels, seeds and replication counts depend on the spec alone, never on results (true of
//! every study of [`super::studies`]; a new study must keep it so). Replication `k` of a call
//! draws from its own generator seeded by `(call seed, k)` (see [`super::engine`]), so any
//! subset of replications can be computed anywhere. Shard `I` of `N` computes replications
//! `[I·R/N, (I+1)·R/N)` of every call ([`Shard::range`]) and writes them, bit for bit (f64 as
//! its 8 bytes), to one file `<name>.shard-<I>-of-<N>.aihfshard` in its output folder, written
//! to a temporary sibling and renamed ([`crate::io::write_atomic`]): a killed shard leaves no
//! file or the previous whole one, and a re-run (a retried Kubernetes index) overwrites it.
//! The file's first line is the manifest (JSON): format, `aihf` version, the spec and its
//! FNV-1a hash, the shard index and count, and per call its label, seed, replication count and
//! range, followed by the binary payload (its length and FNV-1a hash are in the manifest).
//!
//! The merge reads every `*.aihfshard` file of the folders given, checks that all come from the
//! same spec (hash), version and shard count, that no shard index appears twice, and that for
//! every call the ranges tile `0..R` exactly once; then it runs the study again with the
//! replications taken from the shards instead of computed ([`Source::Replay`]), so the
//! statistics, figures and tables go through exactly the code of the unsharded run.
//!
//! # Another study type
//! Anything that runs replications through [`super::studies`]' `mc` entry point shards for
//! free. A study with its own loop (the rates experiment, the replicated `truth study`) implements
//! the same three steps: enumerate its units of work from the spec alone, compute the units of
//! [`Shard::range`] and write them with [`write_shard`] (its own `kind` in the manifest and its
//! own payload codec), and on merge read them with [`read_shards_of_kind`], check the manifests
//! with [`check_manifests`] and rebuild the result from the units in order. The command takes
//! its shard from [`Shard::choose`] (`--shard`, `--no-shard`, the environment).
//! `crate::sim::rates_shard` and `crate::truth::study_shard` are the two such studies.

use super::engine::{Failure, Replication};
use super::spec::{Spec, SpecFile};
use crate::error::{AihfError, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The format tag of a shard file's manifest.
pub const FORMAT: &str = "aihf-shard/1";

/// The extension of shard files.
pub const EXTENSION: &str = "aihfshard";

/// Shard `index` of `count` (0-based, as Slurm array indices from 0 and Kubernetes'
/// `JOB_COMPLETION_INDEX` are).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard's 0-based index `I`, `I < count`.
    pub index: usize,
    /// Number of shards `N ≥ 1` the study is split into.
    pub count: usize,
}

impl Shard {
    /// Checks `index < count` and `count ≥ 1`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(AihfError::param(
                "shard",
                format!("{index}/{count}: the index must be in 0..count and count at least 1"),
            ));
        }
        Ok(Shard { index, count })
    }

    /// Parses `I/N`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            AihfError::param(
                "shard",
                format!("`{s}` is not I/N (0-based shard index I of N shards, e.g. 0/8)"),
            )
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Shard::new(i, n)
    }

    /// The shard from the environment, and where it came from:
    /// `AIHF_SHARD=I/N`; else Slurm's `SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN` (0 if
    /// unset) of `SLURM_ARRAY_TASK_COUNT` (a contiguous array such as `--array=0-7`); else
    /// Kubernetes' `JOB_COMPLETION_INDEX` (Indexed Jobs) of `AIHF_SHARD_COUNT` (Kubernetes does
    /// not export the completion count: set it to `spec.completions`). `None` when none is set.
    pub fn from_env() -> Result<Option<(Self, String)>> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// The shard a command runs, and where it came from: `--shard I/N` when given (`flag`),
    /// none with `--no-shard`, else the environment's ([`Shard::from_env`]).
    pub fn choose(flag: Option<&str>, no_shard: bool) -> Result<Option<(Self, String)>> {
        match (flag, no_shard) {
            (Some(s), _) => Ok(Some((Shard::parse(s)?, "--shard".to_string()))),
            (None, true) => Ok(None),
            (None, false) => Shard::from_env(),
        }
    }

    /// [`Shard::from_env`] with the variables given by `get` (testable).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<(Self, String)>> {
        let num = |k: &str| -> Result<Option<usize>> {
            match get(k) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| {
                    AihfError::param(k, format!("`{v}` is not a non-negative integer"))
                }),
            }
        };
        if let Some(s) = get("AIHF_SHARD") {
            return Ok(Some((Shard::parse(&s)?, "AIHF_SHARD".into())));
        }
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let count = num("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| {
                AihfError::param(
                    "SLURM_ARRAY_TASK_COUNT",
                    "is not set but SLURM_ARRAY_TASK_ID is (pass --shard I/N)",
                )
            })?;
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = id.checked_sub(min).ok_or_else(|| {
                AihfError::param("SLURM_ARRAY_TASK_ID", "is below SLURM_ARRAY_TASK_MIN")
            })?;
            return Ok(Some((
                Shard::new(index, count)?,
                "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT".into(),
            )));
        }
        if let Some(index) = num("JOB_COMPLETION_INDEX")? {
            let count = num("AIHF_SHARD_COUNT")?.ok_or_else(|| {
                AihfError::param(
                    "AIHF_SHARD_COUNT",
                    "is not set but JOB_COMPLETION_INDEX is: set it to the Job's completions",
                )
            })?;
            return Ok(Some((
                Shard::new(index, count)?,
                "JOB_COMPLETION_INDEX/AIHF_SHARD_COUNT".into(),
            )));
        }
        Ok(None)
    }

    /// This shard's replications of a run of `total`: `[I·R/N, (I+1)·R/N)` (the shards tile
    /// `0..R`; sizes differ by at most one).
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        let at = |i: usize| ((i as u128 * total as u128) / self.count as u128) as usize;
        at(self.index)..at(self.index + 1)
    }

    /// The file name of this shard of study `name`.
    pub fn file_name(&self, name: &str) -> String {
        format!("{name}.shard-{}-of-{}.{EXTENSION}", self.index, self.count)
    }
}

/// 64-bit FNV-1a.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The hash identifying a spec (as run, after command-line overrides): FNV-1a of its JSON.
pub fn spec_hash(spec: &Spec) -> Result<String> {
    let text = serde_json::to_string(spec).map_err(|e| AihfError::Json {
        context: "spec".into(),
        source: e,
    })?;
    Ok(format!("{:016x}", fnv1a(text.as_bytes())))
}

/// One Monte Carlo run's replications computed by a shard.
#[derive(Clone, Debug)]
pub struct Block {
    /// The run, and the replication range `start..end` this block holds.
    pub call: CallInfo,
    /// Replications `call.start..call.end`, in order.
    pub reps: Vec<Replication>,
}

/// The identity of one Monte Carlo run of a study and the range a shard holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallInfo {
    /// The run's label (the study's cell label, or its name for a single-run study); it must
    /// match on merge.
    pub label: String,
    /// The run's seed: replication `k` draws from `rep_seed(seed, k)`.
    pub seed: u64,
    /// Total replications `R` of the run (over all shards).
    pub replications: usize,
    /// Estimators per replication: the entries of each [`Replication`] in the payload.
    pub estimators: usize,
    /// First replication index this shard holds.
    pub start: usize,
    /// One past the last replication index this shard holds (`start..end`, possibly empty).
    pub end: usize,
    /// Seconds this shard spent on the run (a timing field).
    pub elapsed_s: f64,
}

impl CallInfo {
    fn same_run(&self, o: &CallInfo) -> bool {
        self.label == o.label
            && self.seed == o.seed
            && self.replications == o.replications
            && self.estimators == o.estimators
    }
}

/// The manifest: the first line of a shard file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// The format tag, [`FORMAT`]; other values are rejected on read.
    pub format: String,
    /// What the payload holds (`sim`: Monte Carlo replications).
    pub kind: String,
    /// The `aihf` crate version that wrote the shard; all shards of a merge must agree.
    pub aihf_version: String,
    /// [`spec_hash`] of `spec` (16 hex digits): the identity of the run being sharded.
    pub spec_hash: String,
    /// The spec as run (after command-line overrides), as JSON; the merge re-runs it.
    pub spec: serde_json::Value,
    /// The study's name (the shard file is named after it).
    pub name: String,
    /// The study's master seed.
    pub seed: u64,
    /// Which shard of how many this file is.
    pub shard: Shard,
    /// Every Monte Carlo run of the study, in the study's order, with this shard's range.
    pub calls: Vec<CallInfo>,
    /// Worker threads of the shard (a timing field).
    pub threads: usize,
    /// Length in bytes of the binary payload after the manifest line (set by [`write_shard`]).
    pub payload_bytes: u64,
    /// FNV-1a of the payload, 16 hex digits (set by [`write_shard`], checked on read).
    pub payload_fnv1a: String,
    /// The spec file the shard was computed from, with its FNV-1a hash (as in the results'
    /// `inputs`), so a merged run records it too; `null` in shards written before it existed.
    #[serde(default)]
    pub inputs: serde_json::Value,
}

/// Where a study's replications come from.
pub enum Source {
    /// Computed (the unsharded run).
    Compute,
    /// Only this shard's slice is computed; the blocks are collected for the shard file.
    Shard {
        /// The shard to compute.
        shard: Shard,
        /// The blocks computed so far, one per Monte Carlo run, in the study's order.
        blocks: Mutex<Vec<Block>>,
    },
    /// Taken, call by call, from merged shards.
    Replay {
        /// The runs still to replay, in the study's order: the run's identity, its `R`
        /// replications in index order, and the shards' summed seconds on it.
        calls: Mutex<std::collections::VecDeque<(CallInfo, Vec<Replication>, f64)>>,
    },
}

impl Source {
    /// A shard source.
    pub fn shard(shard: Shard) -> Self {
        Source::Shard {
            shard,
            blocks: Mutex::new(vec![]),
        }
    }
}

fn put_u32(out: &mut Vec<u8>, x: usize) -> Result<()> {
    let x = u32::try_from(x)
        .map_err(|_| AihfError::Numerical("shard payload: a length exceeds u32".into()))?;
    out.extend_from_slice(&x.to_le_bytes());
    Ok(())
}

/// Encodes blocks: per replication, per estimator, a tag (0 policy, 1 no estimator, 2 other
/// failure) then the policy's length and f64 bits (little-endian) or the message's UTF-8.
pub fn encode(blocks: &[Block]) -> Result<Vec<u8>> {
    let mut out = vec![];
    for b in blocks {
        for rep in &b.reps {
            for r in rep {
                match r {
                    Ok(p) => {
                        out.push(0);
                        put_u32(&mut out, p.len())?;
                        for x in p {
                            out.extend_from_slice(&x.to_bits().to_le_bytes());
                        }
                    }
                    Err(f) => {
                        let (tag, msg) = match f {
                            Failure::NoEstimator(m) => (1, m),
                            Failure::Other(m) => (2, m),
                        };
                        out.push(tag);
                        put_u32(&mut out, msg.len())?;
                        out.extend_from_slice(msg.as_bytes());
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Decodes the payload of `calls` (see [`encode`]).
pub fn decode(bytes: &[u8], calls: &[CallInfo], file: &Path) -> Result<Vec<Vec<Replication>>> {
    let bad = |what: &str| {
        AihfError::data(
            file.display().to_string(),
            format!("corrupt shard payload: {what}"),
        )
    };
    let mut at = 0usize;
    let mut take = |k: usize| -> Result<&[u8]> {
        let s = bytes.get(at..at + k).ok_or_else(|| bad("truncated"))?;
        at += k;
        Ok(s)
    };
    let mut out = vec![];
    for c in calls {
        let mut reps = Vec::with_capacity(c.end - c.start);
        for _ in c.start..c.end {
            let mut rep: Replication = Vec::with_capacity(c.estimators);
            for _ in 0..c.estimators {
                let tag = take(1)?[0];
                let len =
                    u32::from_le_bytes(take(4)?.try_into().map_err(|_| bad("length"))?) as usize;
                if tag == 0 {
                    let raw = take(8 * len)?;
                    let p = raw
                        .chunks_exact(8)
                        .map(|b| f64::from_bits(u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))))
                        .collect();
                    rep.push(Ok(p));
                } else {
                    let msg = String::from_utf8(take(len)?.to_vec())
                        .map_err(|_| bad("a message is not UTF-8"))?;
                    rep.push(Err(match tag {
                        1 => Failure::NoEstimator(msg),
                        2 => Failure::Other(msg),
                        _ => return Err(bad("unknown tag")),
                    }));
                }
            }
            reps.push(rep);
        }
        out.push(reps);
    }
    if at != bytes.len() {
        return Err(bad("trailing bytes"));
    }
    Ok(out)
}

/// Writes a shard file atomically: the manifest line, then the payload. Returns its path.
pub fn write_shard(dir: &Path, manifest: &mut Manifest, payload: &[u8]) -> Result<PathBuf> {
    manifest.payload_bytes = payload.len() as u64;
    manifest.payload_fnv1a = format!("{:016x}", fnv1a(payload));
    let mut bytes = serde_json::to_vec(manifest).map_err(|e| AihfError::Json {
        context: "shard manifest".into(),
        source: e,
    })?;
    bytes.push(b'\n');
    bytes.extend_from_slice(payload);
    let path = dir.join(manifest.shard.file_name(&manifest.name));
    crate::io::write_atomic(&path, &bytes)?;
    Ok(path)
}

/// Reads a shard file: its manifest and payload (length and hash checked).
pub fn read_shard(path: &Path) -> Result<(Manifest, Vec<u8>)> {
    let bytes = std::fs::read(path).map_err(|e| AihfError::Io {
        action: "cannot read",
        path: path.to_path_buf(),
        source: e,
    })?;
    let nl = bytes.iter().position(|&b| b == b'\n').ok_or_else(|| {
        AihfError::data(
            path.display().to_string(),
            "not a shard file (no manifest line)",
        )
    })?;
    let m: Manifest = serde_json::from_slice(&bytes[..nl]).map_err(|e| AihfError::Json {
        context: format!("{}: manifest", path.display()),
        source: e,
    })?;
    if m.format != FORMAT {
        return Err(AihfError::data(
            path.display().to_string(),
            format!("format `{}`, expected `{FORMAT}`", m.format),
        ));
    }
    let payload = bytes[nl + 1..].to_vec();
    if payload.len() as u64 != m.payload_bytes
        || format!("{:016x}", fnv1a(&payload)) != m.payload_fnv1a
    {
        return Err(AihfError::data(
            path.display().to_string(),
            "the payload does not match its manifest (length or FNV-1a): a damaged or partial file",
        ));
    }
    Ok((m, payload))
}

/// The shard files in `dirs` (not recursive), sorted by path.
pub fn find_shards(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for d in dirs {
        let rd = std::fs::read_dir(d).map_err(|e| AihfError::Io {
            action: "cannot list",
            path: d.clone(),
            source: e,
        })?;
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == EXTENSION) && p.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(AihfError::param(
            "merge",
            format!("no *.{EXTENSION} files in {}", fmt_paths(dirs)),
        ));
    }
    Ok(out)
}

/// Shard files read: each path with its manifest (what [`check_manifests`] takes), and the
/// payloads in the same order.
pub type ShardSet = (Vec<(PathBuf, Manifest)>, Vec<Vec<u8>>);

/// Every shard file in `dirs` ([`find_shards`]) read ([`read_shard`]): its path with its
/// manifest, and its payload. A shard of another kind than `kind` is refused, naming `command`,
/// the merge that reads `kind`.
pub fn read_shards_of_kind(dirs: &[PathBuf], kind: &str, command: &str) -> Result<ShardSet> {
    let mut ms = vec![];
    let mut payloads = vec![];
    for p in find_shards(dirs)? {
        let (m, pl) = read_shard(&p)?;
        if m.kind != kind {
            return Err(AihfError::data(
                p.display().to_string(),
                format!("a `{}` shard; `{command}` merges `{kind}` shards", m.kind),
            ));
        }
        ms.push((p, m));
        payloads.push(pl);
    }
    Ok((ms, payloads))
}

fn fmt_paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks that the manifests come from one run split into shards: the same kind, spec hash,
/// version and shard count; every shard index exactly once; the same calls; and, per call,
/// ranges that tile `0..R` exactly once. Returns the manifests' order by shard index.
pub fn check_manifests(ms: &[(PathBuf, Manifest)]) -> Result<Vec<usize>> {
    let (p0, m0) = &ms[0];
    let err = |p: &Path, reason: String| Err(AihfError::data(p.display().to_string(), reason));
    for (p, m) in ms {
        if m.kind != m0.kind {
            return err(
                p,
                format!("kind `{}`, but {} has `{}`", m.kind, p0.display(), m0.kind),
            );
        }
        if m.spec_hash != m0.spec_hash {
            return err(
                p,
                format!(
                    "made from another spec (hash {}, but {} has {}): shards of different runs",
                    m.spec_hash,
                    p0.display(),
                    m0.spec_hash
                ),
            );
        }
        if m.aihf_version != m0.aihf_version {
            return err(
                p,
                format!(
                    "made by aihf {}, but {} by {}",
                    m.aihf_version,
                    p0.display(),
                    m0.aihf_version
                ),
            );
        }
        if m.shard.count != m0.shard.count {
            return err(
                p,
                format!(
                    "is shard {}/{}, but {} is of {} shards",
                    m.shard.index,
                    m.shard.count,
                    p0.display(),
                    m0.shard.count
                ),
            );
        }
        if m.calls.len() != m0.calls.len()
            || m.calls.iter().zip(&m0.calls).any(|(a, b)| !a.same_run(b))
        {
            return err(
                p,
                format!("lists other Monte Carlo runs than {}", p0.display()),
            );
        }
    }
    let n = m0.shard.count;
    let mut by_index: Vec<Option<usize>> = vec![None; n];
    for (k, (p, m)) in ms.iter().enumerate() {
        if let Some(j) = by_index[m.shard.index] {
            return err(
                p,
                format!(
                    "shard {}/{n} is also in {}: every replication must be present once",
                    m.shard.index,
                    ms[j].0.display()
                ),
            );
        }
        by_index[m.shard.index] = Some(k);
    }
    let missing: Vec<String> = (0..n)
        .filter(|&i| by_index[i].is_none())
        .map(|i| format!("{i}/{n}"))
        .collect();
    if !missing.is_empty() {
        return Err(AihfError::param(
            "merge",
            format!(
                "shards {} are missing (found {} of {n})",
                missing.join(", "),
                n - missing.len()
            ),
        ));
    }
    let order: Vec<usize> = by_index.into_iter().flatten().collect();
    for (c, call) in m0.calls.iter().enumerate() {
        let mut next = 0;
        for &k in &order {
            let r = &ms[k].1.calls[c];
            if r.start != next || r.end < r.start {
                return err(
                    &ms[k].0,
                    format!(
                        "run `{}`: holds replications {}..{}, expected to start at {next}",
                        call.label, r.start, r.end
                    ),
                );
            }
            next = r.end;
        }
        if next != call.replications {
            return Err(AihfError::param(
                "merge",
                format!(
                    "run `{}`: the shards hold replications 0..{next} of {}",
                    call.label, call.replications
                ),
            ));
        }
    }
    Ok(order)
}

/// Reads and checks the shards in `dirs`; returns the spec and a replay source.
pub fn load_for_merge(dirs: &[PathBuf]) -> Result<(Spec, Source, Vec<PathBuf>, serde_json::Value)> {
    let (ms, payloads) = read_shards_of_kind(dirs, "sim", "aihf sim merge")?;
    let paths: Vec<PathBuf> = ms.iter().map(|(p, _)| p.clone()).collect();
    let order = check_manifests(&ms)?;
    let m0 = &ms[0].1;
    let file: SpecFile = serde_json::from_value(m0.spec.clone()).map_err(|e| AihfError::Json {
        context: format!("{}: spec", ms[0].0.display()),
        source: e,
    })?;
    let spec = Spec::try_from(file)?;
    if spec_hash(&spec)? != m0.spec_hash {
        return Err(AihfError::data(
            ms[0].0.display().to_string(),
            "the manifest's spec does not match its hash",
        ));
    }
    let mut calls: Vec<(CallInfo, Vec<Replication>, f64)> = m0
        .calls
        .iter()
        .map(|c| (c.clone(), Vec::with_capacity(c.replications), 0.0))
        .collect();
    for &k in &order {
        let blocks = decode(&payloads[k], &ms[k].1.calls, &ms[k].0)?;
        for (c, reps) in blocks.into_iter().enumerate() {
            calls[c].1.extend(reps);
            calls[c].2 += ms[k].1.calls[c].elapsed_s;
        }
    }
    let inputs = m0.inputs.clone();
    Ok((
        spec,
        Source::Replay {
            calls: Mutex::new(calls.into()),
        },
        paths,
        inputs,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_tile_the_replications_exactly_once() {
        for total in [0usize, 1, 2, 7, 10, 1000, 10_001] {
            for n in 1..=9 {
                let mut next = 0;
                for i in 0..n {
                    let r = Shard::new(i, n).unwrap().range(total);
                    assert_eq!(r.start, next, "total {total}, {i}/{n}");
                    assert!(r.len() <= total / n + 1);
                    next = r.end;
                }
                assert_eq!(next, total);
            }
        }
    }

    #[test]
    fn shard_from_flag_and_environment() {
        assert_eq!(Shard::parse("2/5").unwrap(), Shard { index: 2, count: 5 });
        for bad in ["5/5", "1/0", "x/2", "3", "-1/4"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(a, _)| *a == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let s = |r: Result<Option<(Shard, String)>>| r.unwrap().map(|x| x.0);
        assert_eq!(s(Shard::from_vars(env(&[]))), None);
        assert_eq!(
            s(Shard::from_vars(env(&[
                ("SLURM_ARRAY_TASK_ID", "4"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
                ("SLURM_ARRAY_TASK_MIN", "2")
            ]))),
            Some(Shard { index: 2, count: 3 })
        );
        assert_eq!(
            s(Shard::from_vars(env(&[
                ("JOB_COMPLETION_INDEX", "0"),
                ("AIHF_SHARD_COUNT", "4")
            ]))),
            Some(Shard { index: 0, count: 4 })
        );
        // An index without a count is an error, not a silent unsharded run.
        assert!(Shard::from_vars(env(&[("JOB_COMPLETION_INDEX", "1")])).is_err());
        assert!(Shard::from_vars(env(&[("SLURM_ARRAY_TASK_ID", "1")])).is_err());
        // The explicit variable wins.
        assert_eq!(
            s(Shard::from_vars(env(&[
                ("AIHF_SHARD", "1/2"),
                ("JOB_COMPLETION_INDEX", "0"),
                ("AIHF_SHARD_COUNT", "4")
            ]))),
            Some(Shard { index: 1, count: 2 })
        );
    }

    #[test]
    fn payload_round_trips_bit_for_bit() {
        let call = CallInfo {
            label: "c".into(),
            seed: 3,
            replications: 2,
            estimators: 3,
            start: 0,
            end: 2,
            elapsed_s: 0.0,
        };
        let reps: Vec<Replication> = vec![
            vec![
                Ok(vec![0.1, 1.0 / 3.0, f64::MIN_POSITIVE]),
                Err(Failure::NoEstimator("no BTL: {2} never wins".into())),
                Err(Failure::Other("π did not converge".into())),
            ],
            vec![Ok(vec![]), Ok(vec![-0.0]), Ok(vec![5e-324])],
        ];
        let blocks = vec![Block {
            call: call.clone(),
            reps: reps.clone(),
        }];
        let bytes = encode(&blocks).unwrap();
        let back = decode(&bytes, std::slice::from_ref(&call), Path::new("x")).unwrap();
        assert_eq!(back.len(), 1);
        for (a, b) in back[0].iter().zip(&reps) {
            for (x, y) in a.iter().zip(b) {
                match (x, y) {
                    (Ok(p), Ok(q)) => assert_eq!(
                        p.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        q.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                    ),
                    (x, y) => assert_eq!(x, y),
                }
            }
        }
        assert!(decode(&bytes[..bytes.len() - 1], &[call], Path::new("x")).is_err());
    }
}
