//! `aihf sim FILE [--out DIR]`: run a Monte Carlo study from a spec file in `sims/`, write
//! `DIR/<name>.json` (seed, spec, version, results, figure data) atomically, then draw the
//! figures from that JSON. `aihf sim --redraw DIR/<name>.json` redraws without recomputing.

use aihf::sim::figures::{redraw, write_and_draw};
use aihf::sim::spec::Spec;
use aihf::sim::studies::{run as run_study, RunOpts};
use clap::Args as ClapArgs;
use std::path::PathBuf;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Study spec file (`sims/*.toml` or `.json`).
    #[arg(required_unless_present = "redraw", conflicts_with = "redraw")]
    pub spec: Option<PathBuf>,
    /// Output folder for `<name>.json` and the figures (default `out/sims`; with `--redraw`,
    /// beside the results file).
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
    #[arg(long)]
    pub quiet: bool,
    /// Redraw the figures of an existing results JSON (into `--out` if given, else beside it).
    #[arg(long, value_name = "RESULTS_JSON")]
    pub redraw: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if let Some(r) = &a.redraw {
        for p in redraw(r, a.out.as_deref())? {
            println!("{}", p.display());
        }
        return Ok(());
    }
    let path = a
        .spec
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("a spec file is required"))?;
    // Parse and validate everything before any computation.
    let mut spec = Spec::from_file(path)?;
    if let Some(r) = a.replications {
        spec.set_replications(r);
    }
    if let Some(s) = a.seed {
        spec.set_seed(s);
    }
    spec.validate()?;
    if a.threads == Some(0) {
        anyhow::bail!("invalid option `--threads`: must be at least 1");
    }
    let ro = RunOpts {
        threads: a.threads,
        progress: !a.quiet,
    };
    let res = run_study(&spec, &ro)?;
    let out = a.out.unwrap_or_else(|| PathBuf::from("out/sims"));
    let (json, figs) = write_and_draw(&res, &out)?;
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
    println!("wrote {}", json.display());
    for f in figs {
        println!("wrote {}", f.display());
    }
    Ok(())
}
