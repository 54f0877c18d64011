//! The `aihf` command line. Library errors become a message on stderr and exit status 1;
//! usage errors exit with status 2 (clap).

mod cli;

use clap::Parser;

fn main() {
    // Behave like a Unix filter: `aihf ... | head` ends quietly instead of panicking on a closed
    // pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
