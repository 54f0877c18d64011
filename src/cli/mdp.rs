//! `aihf mdp ...` and `aihf rates`: filled in by the MDP issue.
use clap::{Args as ClapArgs, Subcommand};

#[derive(Subcommand, Debug)]
pub enum MdpCommand {
    /// Not built yet.
    Solve,
}

#[derive(ClapArgs, Debug)]
pub struct RatesArgs {}

pub fn run(_c: MdpCommand) -> anyhow::Result<()> {
    anyhow::bail!("the MDP layer is not built yet")
}

pub fn run_rates(_a: RatesArgs) -> anyhow::Result<()> {
    anyhow::bail!("the MDP layer is not built yet")
}
