//! Subcommands, one file each.

mod bandit;
mod mdp;
#[cfg(feature = "neural")]
mod neural;
mod sample;
mod sim;
pub(crate) mod truth;
mod truth_score;
mod verify;

use clap::{Parser, Subcommand};

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
