//! `aihf truth study SPEC [--out DIR]`: the replicated estimator study from a spec file; writes
//! `DIR/<name>.json`, `<name>.csv` and the figures drawn from the JSON. `--redraw` redraws them
//! from a results JSON. `--shard I/N` (or a cluster engine's index, see `aihf::sim::shard`)
//! computes one shard into `DIR/<name>.shard-I-of-N.aihfshard`; `aihf truth study merge DIR...
//! --out D` merges the shards into the results and figures of the unsharded run.

use aihf::sim::shard::Shard;
use aihf::truth::study::{self, StudyResults, StudySpec, StudySpecFile};
use aihf::truth::study_shard;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct StudyArgs {
    #[command(subcommand)]
    pub command: Option<StudyCommand>,
    /// Spec file (sims/truth_*.toml); `-` reads standard input.
    #[arg(required_unless_present = "redraw", conflicts_with = "redraw")]
    pub spec: Option<PathBuf>,
    /// Output folder (default out/truth; with a shard, the folder of the shard file).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override the spec's replication count.
    #[arg(long)]
    pub replications: Option<usize>,
    /// No progress bar.
    #[arg(long, alias = "no-progress")]
    pub quiet: bool,
    /// Redraw the figures of an existing results JSON (into --out if given, else beside it;
    /// `-` reads standard input and needs --out).
    #[arg(
        long,
        value_name = "RESULTS_JSON",
        conflicts_with_all = ["replications", "quiet", "no_shard"]
    )]
    pub redraw: Option<PathBuf>,
    #[command(flatten)]
    pub sharding: super::ShardArgs,
}

#[derive(Subcommand, Debug)]
pub enum StudyCommand {
    /// Merge truth study shard files (`*.aihfshard`) into the results JSON, CSV and figures of
    /// the unsharded run; checks that every replication is present exactly once and from the
    /// same spec.
    Merge(MergeArgs),
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Folders holding the shard files.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Output folder for `<name>.json`, `<name>.csv` and the figures.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `truth study` (whole, one shard, a merge or a redraw).
pub fn run(a: StudyArgs) -> anyhow::Result<()> {
    if let Some(StudyCommand::Merge(m)) = &a.command {
        let (res, files) = study_shard::merge(&m.dirs)?;
        println!("merged {} shard files", files.len());
        return report(&res, &m.out);
    }
    if let Some(r) = &a.redraw {
        return redraw(r, a.out.as_deref());
    }
    let path = a
        .spec
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("a spec file is required"))?;
    // Parse, apply the overrides, then check once: nothing is computed before.
    let mut file = StudySpecFile::from_file(path)?;
    if let Some(r) = a.replications {
        file.replications = r;
    }
    let spec = StudySpec::try_from(file)?;
    let shard = a.sharding.choose()?;
    let out = a.out.unwrap_or_else(|| PathBuf::from("out/truth"));
    let inputs = serde_json::json!({ "spec": aihf::io::input_record(path)? });
    if let Some((sh, from)) = shard {
        return run_shard(&spec, sh, &from, &out, !a.quiet, inputs);
    }
    let mut res = study::run(&spec, !a.quiet)?;
    res.inputs = inputs;
    report(&res, &out)
}

fn redraw(results: &Path, out: Option<&Path>) -> anyhow::Result<()> {
    if aihf::io::is_stdio(results) && out.is_none() {
        return Err(aihf::error::AihfError::param(
            "out",
            "--redraw - (standard input) needs --out: there is no folder beside it",
        )
        .into());
    }
    for p in study::redraw(results, out)? {
        super::wrote(&p, false);
    }
    Ok(())
}

fn run_shard(
    spec: &StudySpec,
    sh: Shard,
    from: &str,
    out: &Path,
    progress: bool,
    inputs: serde_json::Value,
) -> anyhow::Result<()> {
    eprintln!("shard {}/{} (from {from})", sh.index, sh.count);
    let t = std::time::Instant::now();
    let file = study_shard::run_shard(spec, sh, out, progress, inputs)?;
    println!(
        "{}: shard {}/{} in {:.2} s",
        spec.name,
        sh.index,
        sh.count,
        t.elapsed().as_secs_f64()
    );
    super::wrote(&file, false);
    Ok(())
}

/// Prints the summary, writes the JSON, CSV and figures, and prints what was written.
fn report(res: &StudyResults, out: &Path) -> anyhow::Result<()> {
    for l in study::summary_lines(res) {
        println!("{l}");
    }
    for p in study::write_and_draw(res, out)? {
        super::wrote(&p, false);
    }
    println!(
        "{} replications × {} sizes in {:.2} s",
        res.spec.replications,
        res.spec.sizes.len(),
        res.seconds
    );
    Ok(())
}
