//! `aihf sim FILE [--out DIR]`: run a Monte Carlo study from a spec file in `sims/`, write
//! `DIR/<name>.json` (seed, spec, version, results, figure data) atomically, then draw the
//! figures from that JSON. `aihf sim --redraw DIR/<name>.json` redraws without recomputing.
//! `aihf sim FILE --shard I/N` (or a cluster engine's index, see `aihf::sim::shard`) computes
//! one shard into `DIR/<name>.shard-I-of-N.aihfshard`; `aihf sim merge DIR... --out D` merges
//! the shards into the results and figures of the unsharded run.

use aihf::sim::figures::{redraw, write_and_draw};
use aihf::sim::spec::Spec;
use aihf::sim::studies::{merge, run as run_study, run_shard_with_inputs, RunOpts, StudyResults};
use clap::{Args as ClapArgs, Subcommand};
use std::path::{Path, PathBuf};

#[derive(ClapArgs, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<SimCommand>,
    /// Study spec file (`sims/*.toml` or `.json`); `-` reads standard input (JSON when it
    /// starts with `{`, else TOML).
    #[arg(required_unless_present = "redraw", conflicts_with = "redraw")]
    pub spec: Option<PathBuf>,
    /// Output folder for `<name>.json` and the figures (default `out/sims`; with `--redraw`,
    /// beside the results file; with a shard, the folder of the shard file).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override the spec's replication count.
    #[arg(long)]
    pub replications: Option<usize>,
    /// Override the spec's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads (default: one per core). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bars.
    #[arg(long, alias = "no-progress")]
    pub quiet: bool,
    /// Redraw the figures of an existing results JSON (into `--out` if given, else beside it;
    /// `-` reads standard input and needs `--out`).
    #[arg(
        long,
        value_name = "RESULTS_JSON",
        conflicts_with_all = ["replications", "seed", "threads", "quiet", "no_shard"]
    )]
    pub redraw: Option<PathBuf>,
    #[command(flatten)]
    pub sharding: super::ShardArgs,
}

#[derive(Subcommand, Debug)]
pub enum SimCommand {
    /// Merge shard files (`*.aihfshard`) into the results JSON and figures of the unsharded
    /// run; checks that every replication is present exactly once and from the same spec.
    Merge(MergeArgs),
}

#[derive(ClapArgs, Debug)]
pub struct MergeArgs {
    /// Folders holding the shard files.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Output folder for `<name>.json` and the figures.
    #[arg(long)]
    pub out: PathBuf,
    /// Worker threads of the statistics (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

fn report(res: &StudyResults, out: &std::path::Path) -> anyhow::Result<()> {
    let (json, figs) = write_and_draw(res, out)?;
    for n in &res.notes {
        println!("{n}");
    }
    println!(
        "{}: {} solves in {:.2} s on {} threads: {:.1} µs wall per solve, {:.1} core-µs per solve",
        res.name,
        res.solves,
        res.elapsed_s,
        res.threads,
        res.wall_us_per_solve,
        res.core_us_per_solve
    );
    super::wrote(&json, false);
    for f in figs {
        super::wrote(&f, false);
    }
    Ok(())
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(SimCommand::Merge(m)) = a.command {
        return merge_shards(&m);
    }
    if let Some(r) = &a.redraw {
        return redraw_results(r, a.out.as_deref());
    }
    let path = a
        .spec
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("a spec file is required"))?;
    // Parse and validate everything before any computation.
    let spec = load_spec(path, a.replications, a.seed)?;
    check_threads(a.threads)?;
    let shard = a.sharding.choose()?;
    let ro = RunOpts {
        threads: a.threads,
        progress: !a.quiet,
    };
    let out = a.out.unwrap_or_else(|| PathBuf::from("out/sims"));
    let inputs = || -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::json!({ "spec": aihf::io::input_record(path)? }))
    };
    if let Some((sh, from)) = shard {
        eprintln!("shard {}/{} (from {from})", sh.index, sh.count);
        let t = std::time::Instant::now();
        let file = run_shard_with_inputs(&spec, &ro, sh, &out, inputs()?)?;
        println!(
            "{}: shard {}/{} in {:.2} s",
            spec.name(),
            sh.index,
            sh.count,
            t.elapsed().as_secs_f64()
        );
        super::wrote(&file, false);
        return Ok(());
    }
    let mut res = run_study(&spec, &ro)?;
    res.inputs = inputs()?;
    report(&res, &out)
}

/// `aihf sim merge`: the shards' replications assembled into the unsharded results.
fn merge_shards(m: &MergeArgs) -> anyhow::Result<()> {
    check_threads(m.threads)?;
    let ro = RunOpts {
        threads: m.threads,
        progress: false,
    };
    let (res, files) = merge(&m.dirs, &ro)?;
    println!("merged {} shard files", files.len());
    report(&res, &m.out)
}

/// `aihf sim --redraw FILE`: the figures of a results JSON, into `out` or beside it.
fn redraw_results(r: &Path, out: Option<&Path>) -> anyhow::Result<()> {
    if aihf::io::is_stdio(r) && out.is_none() {
        return Err(aihf::error::AihfError::param(
            "out",
            "--redraw - (standard input) needs --out: there is no folder beside it",
        )
        .into());
    }
    for p in redraw(r, out)? {
        super::wrote(&p, false);
    }
    Ok(())
}

/// The spec file with the command line's overrides, validated.
fn load_spec(path: &Path, replications: Option<usize>, seed: Option<u64>) -> anyhow::Result<Spec> {
    Ok(Spec::from_file(path)?.with_overrides(replications, seed)?)
}

fn check_threads(threads: Option<usize>) -> anyhow::Result<()> {
    if threads == Some(0) {
        anyhow::bail!("invalid option `--threads`: must be at least 1");
    }
    Ok(())
}
