//! The replicated estimator study of `aihf truth study SPEC.toml --out D` (issue 11, part 3):
//! one Markov task per spec, `R` fresh data sets per size `(N, M)`, every estimator solved exactly
//! ([`Estimator::all`]) and scored by its exact `KL(π̂‖π*)`; per size and method the mean with a
//! t interval, and the paired difference `KL(π̂_m‖π*) − KL(π̂_AIHF‖π*)` with its interval
//! (replications where either estimator does not exist are dropped and counted). Results are
//! written as JSON first; the figures are drawn from that JSON ([`draw`]), so `--redraw`
//! reproduces them without recomputing.
//!
//! The spec file is a [`StudySpecFile`] (parsed), checked once into a [`StudySpec`] (the only
//! spec [`run`] takes). A run is [`Setup::new`] (the task, from the spec alone), then
//! [`Setup::replicate`] per size and replication (each seeded by the spec's seed and its own
//! indices), then [`assemble`]: the same three steps make the sharded run of
//! [`super::study_shard`].

use super::data::{sample_records, TaskSpec};
use super::estimate::{Estimator, Options, Support};
use crate::error::{AihfError, Result};
use crate::markov::MarkovTask;
use crate::plot::{render_line, LineChart, Series, Style};
use crate::stats::{paired, summarize, Summary};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The estimators compared (DPO's two forms equal RLHF's by identity and are not repeated).
pub const METHODS: [&str; 6] = ["sft", "irl", "btl", "rlhf_sft", "rlhf_ref", "aihf"];

/// One data size of the sweep.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Size {
    /// Number `N` of demonstrations `y ∼ π*` per data set.
    pub demos: usize,
    /// Number `M` of BTL-labelled comparison pairs per data set.
    pub comparisons: usize,
}

fn one() -> f64 {
    1.0
}
fn level() -> f64 {
    0.95
}
fn task_support() -> String {
    "task".into()
}

/// A study spec file (`sims/truth_*.toml`) as written: parsed (unknown fields refused), not yet
/// checked. Command-line overrides (`--replications`) are applied to it, then
/// [`StudySpec::try_from`] checks it once; [`run`] and the shards take only the checked
/// [`StudySpec`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StudySpecFile {
    /// Study name; the results are written to `D/<name>.json`.
    pub name: String,
    /// Master seed of the task and of every replicated data set.
    pub seed: u64,
    /// Replications `R` (fresh data sets) per size.
    pub replications: usize,
    /// Vocabulary size `V` of the Markov task.
    pub vocab: usize,
    /// Horizon `H` (response length) of the Markov task.
    pub horizon: usize,
    /// Nonzero reward entries per row of the task's random reward.
    pub nnz_per_row: usize,
    /// Scale of the reward entries, each `scale · N(0, 1)` (default 1).
    #[serde(default = "one")]
    pub reward_scale: f64,
    /// KL temperature `β > 0` of the task (default 1).
    #[serde(default = "one")]
    pub beta: f64,
    /// AIHF's `λ`.
    #[serde(default = "one")]
    pub lambda: f64,
    /// Ridge on `w` for every likelihood estimator (0: none; non-existence is then counted).
    #[serde(default)]
    pub ridge: f64,
    /// `task` (oracle sparsity) or `full`.
    #[serde(default = "task_support")]
    pub support: String,
    /// Confidence level of every interval.
    #[serde(default = "level")]
    pub level: f64,
    /// The data sizes `(N, M)` of the sweep.
    pub sizes: Vec<Size>,
}

impl StudySpecFile {
    /// Reads a TOML spec (`-`: standard input); a syntax error or an unknown field names the
    /// file. Nothing is checked yet: see [`StudySpec::try_from`].
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = crate::io::read_input(path)?;
        toml::from_str(&text).map_err(|e| AihfError::Spec {
            field: None,
            reason: format!("{}: {e}", path.display()),
        })
    }

    fn check_counts(&self) -> Result<()> {
        if self.replications < 2 {
            return Err(AihfError::spec(
                "replications",
                "need at least 2 for an interval",
            ));
        }
        if self.sizes.is_empty() {
            return Err(AihfError::spec("sizes", "need at least one size"));
        }
        Ok(())
    }

    fn check_reals(&self) -> Result<()> {
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(AihfError::spec(
                "level",
                format!("must be in (0, 1), got {}", self.level),
            ));
        }
        if !(self.beta.is_finite() && self.beta > 0.0) {
            return Err(AihfError::spec(
                "beta",
                format!("must be > 0, got {}", self.beta),
            ));
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return Err(AihfError::spec(
                "lambda",
                format!("must be ≥ 0, got {}", self.lambda),
            ));
        }
        if !(self.ridge.is_finite() && self.ridge >= 0.0) {
            return Err(AihfError::spec(
                "ridge",
                format!("must be ≥ 0, got {}", self.ridge),
            ));
        }
        Ok(())
    }

    fn parse_support(&self) -> Result<Support> {
        match self.support.as_str() {
            "task" => Ok(Support::Task),
            "full" => Ok(Support::Full),
            s => Err(AihfError::spec(
                "support",
                format!("`{s}` is not task or full"),
            )),
        }
    }
}

/// A checked study spec: every field in range and the support parsed. The only way to make one
/// is [`StudySpec::try_from`] a [`StudySpecFile`] (also how a results JSON or a shard manifest
/// is read back), so the runner is never handed an unchecked spec. Its fields are read through
/// `Deref` (read only); it serialises exactly as the file it came from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "StudySpecFile", into = "StudySpecFile")]
pub struct StudySpec {
    file: StudySpecFile,
    support_kind: Support,
}

impl TryFrom<StudySpecFile> for StudySpec {
    type Error = AihfError;

    /// Checks every field's range; errors name the field.
    fn try_from(file: StudySpecFile) -> Result<Self> {
        file.check_counts()?;
        file.check_reals()?;
        let support_kind = file.parse_support()?;
        Ok(StudySpec { file, support_kind })
    }
}

impl From<StudySpec> for StudySpecFile {
    fn from(s: StudySpec) -> Self {
        s.file
    }
}

impl std::ops::Deref for StudySpec {
    type Target = StudySpecFile;

    fn deref(&self) -> &StudySpecFile {
        &self.file
    }
}

impl StudySpec {
    /// Reads a TOML spec and checks it ([`StudySpecFile::from_file`], then
    /// [`StudySpec::try_from`]); errors name the file or the field.
    pub fn from_file(path: &Path) -> Result<Self> {
        StudySpecFile::from_file(path)?.try_into()
    }

    /// The reward support of every fit.
    pub fn support(&self) -> Support {
        self.support_kind
    }
}

/// A [`Summary`] as JSON: non-finite numbers (a sample of one has no interval) are `null`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Stat {
    /// Sample size (replications) summarised.
    pub n: usize,
    /// Sample mean; `None` when not finite (e.g. no sample).
    pub mean: Option<f64>,
    /// Sample standard deviation; `None` when not finite (fewer than two samples).
    pub sd: Option<f64>,
    /// Lower end of the t interval at the spec's `level`; `None` when undefined.
    pub lo: Option<f64>,
    /// Upper end of the t interval at the spec's `level`; `None` when undefined.
    pub hi: Option<f64>,
}

impl From<Summary> for Stat {
    fn from(s: Summary) -> Self {
        let f = |x: f64| x.is_finite().then_some(x);
        Stat {
            n: s.n,
            mean: f(s.mean),
            sd: f(s.sd),
            lo: f(s.lo),
            hi: f(s.hi),
        }
    }
}

/// One method at one size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MethodResult {
    /// `KL(π̂‖π*)` over the replications where the estimator exists.
    pub kl_to_star: Stat,
    /// Replications where it does not exist (or its KL is infinite).
    pub failures: usize,
    /// `KL(π̂_m‖π*) − KL(π̂_AIHF‖π*)`, paired by replication.
    pub minus_aihf: Stat,
    /// Replications dropped from the pairing.
    pub dropped: usize,
    /// The first error met, if any.
    pub first_error: Option<String>,
}

/// One size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SizeResult {
    /// The data size `(N, M)`.
    pub size: Size,
    /// Results keyed by method name (those of [`METHODS`]).
    pub methods: BTreeMap<String, MethodResult>,
}

/// Everything the study writes (`D/<name>.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StudyResults {
    /// The spec the study ran.
    pub spec: StudySpec,
    /// Version of `aihf` (`CARGO_PKG_VERSION`) that produced the results.
    pub version: String,
    /// `E_{π*}[r*]` and `KL(π*‖π_ref)` of the task.
    pub star_true_reward: f64,
    /// `KL(π*‖π_ref)` of the task (nats); `star_true_reward` is `E_{π*}[r*]`.
    pub star_kl_to_ref: f64,
    /// Results per size, in the spec's order.
    pub sizes: Vec<SizeResult>,
    /// Wall-clock seconds of the study.
    pub seconds: f64,
    /// The spec file read, with its FNV-1a hash (`{"spec": {"path", "fnv1a", "bytes"}}`, set by
    /// `aihf truth study`; `null` for a spec built in code).
    #[serde(default)]
    pub inputs: serde_json::Value,
}

/// One replication's outcome: per method, `KL(π̂‖π*)` or why there is none (the estimator does
/// not exist, or its KL is infinite).
pub type Outcome = BTreeMap<String, std::result::Result<f64, String>>;

/// What every replication of a study shares: the task drawn from the spec's seed, its exact
/// truth and the estimator options. Built from the spec alone, so every shard builds the same.
pub struct Setup {
    task: MarkovTask,
    truth: super::report::Truth,
    opts: Options,
    /// `E_{π*}[r*]` of the task.
    pub star_true_reward: f64,
    /// `KL(π*‖π_ref)` of the task (nats).
    pub star_kl_to_ref: f64,
}

impl Setup {
    /// Draws the task of `spec` and solves its truth.
    pub fn new(spec: &StudySpec) -> Result<Self> {
        let task = TaskSpec::random(
            spec.vocab,
            spec.horizon,
            spec.nnz_per_row,
            spec.reward_scale,
            spec.beta,
            spec.seed,
        )?
        .task()?;
        let truth = super::report::Truth::new(&task)?;
        let star = truth.score(&truth.star)?;
        Ok(Setup {
            task,
            truth,
            opts: Options {
                lambda: spec.lambda,
                ridge: spec.ridge,
                support: spec.support(),
            },
            star_true_reward: star.true_reward,
            star_kl_to_ref: star.kl_to_ref,
        })
    }

    /// Replication `r` of size `si`: its own data set (seeded by the spec's seed, `si` and `r`
    /// alone, so it is the same wherever it is computed), every estimator of [`METHODS`] scored.
    pub fn replicate(&self, spec: &StudySpec, si: usize, r: usize) -> Result<Outcome> {
        let size = spec.sizes[si];
        let seed = spec
            .seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(((si as u64) << 32) | r as u64);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let rec = sample_records(&self.task, size.demos, size.comparisons, &mut rng)?;
        let est = Estimator::new(&self.task, &rec, self.opts)?;
        let mut out = BTreeMap::new();
        for (name, fit) in est.all() {
            if !METHODS.contains(&name.as_str()) {
                continue;
            }
            let v = match fit {
                Ok(f) => {
                    let mu = f.policy.marginals();
                    let kl = f.policy.kl_to(&mu, &self.truth.star)?;
                    if kl.is_finite() {
                        Ok(kl)
                    } else {
                        Err("KL(π̂‖π*) is infinite".to_string())
                    }
                }
                Err(e) => Err(crate::error::spec_hints(&e.to_string())),
            };
            out.insert(name, v);
        }
        Ok(out)
    }

    /// Replications `reps` of size `si`, in parallel, returned in index order (the results do
    /// not depend on the thread count).
    pub fn replicate_range(
        &self,
        spec: &StudySpec,
        si: usize,
        reps: std::ops::Range<usize>,
        bar: &ProgressBar,
    ) -> Result<Vec<Outcome>> {
        let outcomes: Vec<Result<Outcome>> = reps
            .into_par_iter()
            .map(|r| {
                let o = self.replicate(spec, si, r);
                bar.inc(1);
                o
            })
            .collect();
        // The first error in replication order, whatever the thread count.
        outcomes.into_iter().collect()
    }
}

/// The study's progress bar over `total` replications (hidden unless `progress`).
pub fn progress_bar(spec: &StudySpec, total: usize, progress: bool) -> ProgressBar {
    if !progress {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(total as u64);
    b.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b.set_message(format!("truth study {}", spec.name));
    b
}

/// The statistics of one size from its replications' outcomes, in replication order.
pub fn summarize_size(spec: &StudySpec, size: Size, reps: &[Outcome]) -> SizeResult {
    let col = |m: &str| -> Vec<Option<f64>> {
        reps.iter()
            .map(|r| r.get(m).and_then(|x| x.as_ref().ok().copied()))
            .collect()
    };
    let aihf = col("aihf");
    let mut methods = BTreeMap::new();
    for m in METHODS {
        let c = col(m);
        let ok: Vec<f64> = c.iter().flatten().copied().collect();
        let (minus_aihf, dropped) = paired(&c, &aihf, spec.level);
        let first_error = reps
            .iter()
            .find_map(|r| r.get(m).and_then(|x| x.as_ref().err().cloned()));
        methods.insert(
            m.to_string(),
            MethodResult {
                kl_to_star: summarize(&ok, spec.level).into(),
                failures: c.len() - ok.len(),
                minus_aihf: minus_aihf.into(),
                dropped,
                first_error,
            },
        );
    }
    SizeResult { size, methods }
}

/// The results of `spec` from every size's outcomes (in the spec's order) and `π*`'s scores
/// (`E[r*]`, `KL(π*‖π_ref)`); `inputs` is left `null` for the caller.
pub fn assemble(
    spec: &StudySpec,
    star: (f64, f64),
    outcomes: &[Vec<Outcome>],
    seconds: f64,
) -> StudyResults {
    StudyResults {
        spec: spec.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        star_true_reward: star.0,
        star_kl_to_ref: star.1,
        sizes: spec
            .sizes
            .iter()
            .zip(outcomes)
            .map(|(size, reps)| summarize_size(spec, *size, reps))
            .collect(),
        seconds,
        inputs: serde_json::Value::Null,
    }
}

/// Runs the study (replications in parallel; the results do not depend on the thread count).
pub fn run(spec: &StudySpec, progress: bool) -> Result<StudyResults> {
    let t0 = Instant::now();
    let setup = Setup::new(spec)?;
    let bar = progress_bar(spec, spec.replications * spec.sizes.len(), progress);
    let outcomes = (0..spec.sizes.len())
        .map(|si| setup.replicate_range(spec, si, 0..spec.replications, &bar))
        .collect::<Result<Vec<_>>>()?;
    bar.finish_and_clear();
    let star = (setup.star_true_reward, setup.star_kl_to_ref);
    Ok(assemble(spec, star, &outcomes, t0.elapsed().as_secs_f64()))
}

/// Writes `out/<name>.json` and draws the figures from it; returns every path written.
pub fn write_and_draw(res: &StudyResults, out: &Path) -> Result<Vec<PathBuf>> {
    let json = out.join(format!("{}.json", res.spec.name));
    crate::io::write_json(&json, res)?;
    let mut paths = vec![json.clone()];
    paths.extend(redraw(&json, None)?);
    Ok(paths)
}

/// Redraws the figures of a results JSON (into `out`, default beside it).
pub fn redraw(results: &Path, out: Option<&Path>) -> Result<Vec<PathBuf>> {
    let res: StudyResults = crate::io::read_json(results)?;
    let dir = out
        .map(Path::to_path_buf)
        .or_else(|| results.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    // The tidy CSV (`<name>.csv`), like the figures from the JSON alone.
    let csv = dir.join(format!("{}.csv", res.spec.name));
    crate::io::write_csv(
        &csv,
        &super::report::csv::STUDY_HEADER,
        &super::report::csv::study_rows(&res),
    )?;
    let mut paths = vec![csv];
    paths.extend(draw(&res, &dir)?);
    Ok(paths)
}

/// The sweep figures: mean `KL(π̂‖π*)` with intervals against `N` (at the first size's `M`) and
/// against `M` (at the first size's `N`), and the paired differences to AIHF.
pub fn draw(res: &StudyResults, dir: &Path) -> Result<Vec<PathBuf>> {
    let first = res.spec.sizes[0];
    let mut paths = Vec::new();
    type XOf = Box<dyn Fn(&Size) -> Option<f64>>;
    let axes: [(&str, &str, XOf); 2] = [
        (
            "n",
            "demonstrations N",
            Box::new(move |s: &Size| {
                (s.comparisons == first.comparisons).then_some(s.demos as f64)
            }),
        ),
        (
            "m",
            "preference pairs M",
            Box::new(move |s: &Size| (s.demos == first.demos).then_some(s.comparisons as f64)),
        ),
    ];
    for (tag, label, x_of) in axes {
        let mut pts: Vec<(f64, &SizeResult)> = res
            .sizes
            .iter()
            .filter_map(|s| x_of(&s.size).map(|x| (x, s)))
            .collect();
        // Lines join sizes in order of x, whatever the spec's order.
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        if pts.len() < 2 {
            continue;
        }
        for (kind, y_label, y_log) in [
            ("kl", "mean KL(π̂‖π*)", true),
            ("minus_aihf", "KL(π̂‖π*) − KL(π̂_AIHF‖π*) (paired)", false),
        ] {
            let mut series = Vec::new();
            for m in METHODS {
                if kind == "minus_aihf" && m == "aihf" {
                    continue;
                }
                let mut points = Vec::new();
                let mut err = Vec::new();
                for (x, s) in &pts {
                    let r = &s.methods[m];
                    let sm = if kind == "kl" {
                        &r.kl_to_star
                    } else {
                        &r.minus_aihf
                    };
                    if let Some(mean) = sm.mean.filter(|&m| !y_log || m > 0.0) {
                        points.push((*x, mean));
                        let lo = sm.lo.unwrap_or(mean);
                        let lo = if y_log { lo.max(mean * 1e-3) } else { lo };
                        err.push((lo, sm.hi.unwrap_or(mean)));
                    }
                }
                if !points.is_empty() {
                    series.push(Series {
                        name: m.to_string(),
                        points,
                        err: Some(err),
                        style: Style::LinePoints,
                        key: None,
                        lighten: 0.0,
                    });
                }
            }
            let chart = LineChart::new(
                format!(
                    "{}: V = {}, H = {}, {} replications",
                    res.spec.name, res.spec.vocab, res.spec.horizon, res.spec.replications
                ),
                label,
                y_label,
                (true, y_log),
                series,
            );
            paths.extend(render_line(
                &chart,
                &dir.join(format!("{}_{kind}_vs_{tag}", res.spec.name)),
            )?);
        }
    }
    Ok(paths)
}

/// A JSON summary line per size for the command line.
pub fn summary_lines(res: &StudyResults) -> Vec<String> {
    let mut out = Vec::new();
    let v = |x: Option<f64>| x.unwrap_or(f64::NAN);
    for s in &res.sizes {
        let a = &s.methods["rlhf_sft"].minus_aihf;
        let b = &s.methods["rlhf_ref"].minus_aihf;
        out.push(format!(
            "N = {:>6}, M = {:>6}: KL(π̂‖π*) aihf {:.4} [{:.4}, {:.4}], rlhf_sft {:.4}, rlhf_ref {:.4}, btl {:.4}, irl {:.4}, sft {:.4}; rlhf_sft − aihf {:+.4} [{:+.4}, {:+.4}]; rlhf_ref − aihf {:+.4} [{:+.4}, {:+.4}]; failures {}",
            s.size.demos,
            s.size.comparisons,
            v(s.methods["aihf"].kl_to_star.mean),
            v(s.methods["aihf"].kl_to_star.lo),
            v(s.methods["aihf"].kl_to_star.hi),
            v(s.methods["rlhf_sft"].kl_to_star.mean),
            v(s.methods["rlhf_ref"].kl_to_star.mean),
            v(s.methods["btl"].kl_to_star.mean),
            v(s.methods["irl"].kl_to_star.mean),
            v(s.methods["sft"].kl_to_star.mean),
            v(a.mean),
            v(a.lo),
            v(a.hi),
            v(b.mean),
            v(b.lo),
            v(b.hi),
            serde_json::to_string(
                &s.methods
                    .iter()
                    .map(|(k, v)| (k.clone(), v.failures))
                    .collect::<BTreeMap<_, _>>()
            )
            .unwrap_or_default()
        ));
    }
    out
}
