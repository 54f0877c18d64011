use clap::Subcommand;
#[derive(Subcommand, Debug)]
pub enum NeuralCommand { Crossval }
pub fn run(_c: NeuralCommand) -> anyhow::Result<()> { Ok(()) }
