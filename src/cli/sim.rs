//! `aihf sim FILE`: filled in by the studies issue.
use clap::Args as ClapArgs;
use std::path::PathBuf;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Study spec file.
    pub spec: PathBuf,
}

pub fn run(_a: Args) -> anyhow::Result<()> {
    anyhow::bail!("studies are not built yet")
}
