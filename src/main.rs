//! The `aihf` command line. Library errors become a message on stderr and exit status 1;
//! usage errors exit with status 2 (clap).

mod cli;

fn main() {
    // Behave like a Unix filter: `aihf ... | head` ends quietly instead of panicking on a closed
    // pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // glibc maps every allocation above 128 KiB on its own and unmaps it when freed, so each
    // large buffer (a data set's records, the solver's per-pair arrays) is page-faulted in
    // afresh, 4 KiB at a time: on a 5 MB data set a few thousand faults, a sixth of `aihf
    // bandit`'s time. Serving them from the heap and keeping freed memory for reuse faults each
    // page in once.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
    let args = cli::parse();
    if let Err(e) = cli::run(args) {
        eprintln!("error: {}", chain_message(&e));
        std::process::exit(1);
    }
}

/// The error and its causes, `: `-separated, each cause once: a message that already ends with
/// its cause's text (the crate's errors include their I/O or libtorch cause) is not repeated.
fn chain_message(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if msg.ends_with(&s) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&s);
    }
    msg
}
