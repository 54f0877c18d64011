//! Subcommands, one file each.

mod bandit;
mod mdp;
#[cfg(feature = "neural")]
mod neural;
mod sample;
mod sim;
pub(crate) mod truth;
mod truth_score;
mod truth_study;
mod verify;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::Path;

/// Numerical checks of the AIHF paper: exact estimators, MDPs, studies and the claims report.
#[derive(Parser, Debug)]
#[command(name = "aihf", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Solve the one-step estimators (SFT, BTL, RLHF, AIHF, DPO family) on a data set.
    Bandit(bandit::Args),
    /// Write a data set drawn from a ground-truth reward.
    Sample(sample::Args),
    /// Run the registry of claims and write the report (the main job).
    Verify(verify::Args),
    /// Tabular MDPs: solve, sample, train (Algorithm 1).
    #[command(subcommand)]
    Mdp(mdp::MdpCommand),
    /// The Theorem 4.1 rate experiment.
    Rates(mdp::RatesArgs),
    /// Run a Monte Carlo study from a spec file in sims/.
    Sim(sim::Args),
    /// Sequence-level ground truth on the Markov task: gen, estimate, study (SPEC §3.2).
    #[command(subcommand)]
    Truth(truth::TruthCommand),
    /// The neural layer (built with `--features neural`).
    #[cfg(feature = "neural")]
    #[command(subcommand)]
    Neural(neural::NeuralCommand),
}

/// The command tree with the conventions every subcommand shares applied to every option that
/// takes a value: a negative number is a value, not a flag (`--beta -1` reaches the validator
/// and gets its typed error), and so is a list or a real number that starts with `-`
/// (`--reward -1,0.5`, `--ridge -1e-3`, which clap's negative-number test does not recognise).
pub fn command() -> clap::Command {
    fn conventions(cmd: clap::Command) -> clap::Command {
        cmd.mut_args(|a| {
            if a.is_positional() || !a.get_action().takes_values() {
                return a;
            }
            let real = a.get_value_parser().type_id() == std::any::TypeId::of::<f64>();
            let list = a.get_value_delimiter().is_some();
            a.allow_negative_numbers(true)
                .allow_hyphen_values(real || list)
        })
        .mut_subcommands(conventions)
    }
    conventions(Cli::command())
}

/// Parses the process's arguments with [`command`]'s conventions (exits on a usage error).
pub fn parse() -> Cli {
    Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit())
}

/// Prints the line of a file a command wrote (`wrote PATH`): on standard error when standard
/// output carries data, else on standard output. Nothing for `-` (no file was written).
pub(crate) fn wrote(path: &Path, stdout_is_data: bool) {
    if aihf::io::is_stdio(path) {
        return;
    }
    if stdout_is_data {
        eprintln!("wrote {}", path.display());
    } else {
        println!("wrote {}", path.display());
    }
}

/// Dispatches a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Bandit(a) => bandit::run(a),
        Command::Sample(a) => sample::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Mdp(c) => mdp::run(c),
        Command::Rates(a) => mdp::run_rates(a),
        Command::Sim(a) => sim::run(a),
        Command::Truth(c) => truth::run(c),
        #[cfg(feature = "neural")]
        Command::Neural(c) => neural::run(c),
    }
}

/// `--shard I/N` and `--no-shard`, the same flags on `sim`, `rates` and `truth study`.
#[derive(clap::Args, Debug)]
pub struct ShardArgs {
    /// Compute only shard I of N (0-based) of the work (every Monte Carlo run's, every size's
    /// replications, or the experiment's runs) and write it as a shard file
    /// `<name>.shard-I-of-N.aihfshard` into the output folder; merge the shards with the
    /// command's `merge`. Default: AIHF_SHARD=I/N, or Slurm's
    /// SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, or Kubernetes' JOB_COMPLETION_INDEX with
    /// AIHF_SHARD_COUNT, when set.
    #[arg(long, value_name = "I/N", conflicts_with = "redraw")]
    pub shard: Option<String>,
    /// Ignore the shard variables of the environment (compute everything).
    #[arg(long, conflicts_with = "shard")]
    pub no_shard: bool,
}

impl ShardArgs {
    /// The shard to compute, and where the choice came from ([`aihf::sim::shard::Shard::choose`]).
    pub fn choose(&self) -> anyhow::Result<Option<(aihf::sim::shard::Shard, String)>> {
        Ok(aihf::sim::shard::Shard::choose(
            self.shard.as_deref(),
            self.no_shard,
        )?)
    }
}
