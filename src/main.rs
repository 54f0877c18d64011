//! The `aihf` command line. Library errors become a message on stderr and exit status 1;
//! usage errors exit with status 2 (clap).

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
