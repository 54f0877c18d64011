//! Output files are written atomically: to a temporary file in the same folder, then renamed,
//! so an interrupted run never leaves a torn or half-written result.
//!
//! The path `-` means standard input ([`read_input`]) or standard output ([`write_output`])
//! wherever the command line names a file (never a folder); a command reads standard input at
//! most once ([`at_most_one_stdio`]).

use crate::error::{AihfError, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Writes `bytes` to `path` atomically (temporary file + rename), creating parent folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| AihfError::Io {
        action: "cannot create folder",
        path: dir.to_path_buf(),
        source: e,
    })?;
    let tmp = tmp_path(path);
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    res.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        AihfError::Io {
            action: "cannot write",
            path: path.to_path_buf(),
            source: e,
        }
    })
}

/// The path that stands for standard input or output.
pub const STDIO: &str = "-";

/// Whether `path` is `-` (standard input or output).
pub fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == STDIO
}

/// Set once standard input has been read: it can be read only once per process.
static STDIN_TAKEN: AtomicBool = AtomicBool::new(false);

/// Reads a whole text file, or standard input when `path` is `-` (once per process: a second
/// `-` is a typed error, since standard input would already be exhausted).
pub fn read_input(path: &Path) -> Result<String> {
    if is_stdio(path) {
        if STDIN_TAKEN.swap(true, Ordering::SeqCst) {
            return Err(AihfError::param(
                STDIO,
                "standard input was already read: at most one input may be `-`",
            ));
        }
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| AihfError::Io {
                action: "cannot read",
                path: PathBuf::from("standard input"),
                source: e,
            })?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| AihfError::Io {
        action: "cannot read",
        path: path.to_path_buf(),
        source: e,
    })
}

/// Writes `bytes` to standard output when `path` is `-`, else atomically to the file
/// ([`write_atomic`]).
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    if !is_stdio(path) {
        return write_atomic(path, bytes);
    }
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| AihfError::Io {
            action: "cannot write",
            path: PathBuf::from("standard output"),
            source: e,
        })
}

/// Checks that at most one of a command's file options is `-`: `options` pairs each option's
/// name (`--data`) with its value. Standard input can be read only once, and two outputs on
/// standard output would be interleaved.
pub fn at_most_one_stdio(options: &[(&str, Option<&Path>)]) -> Result<()> {
    let dashes: Vec<&str> = options
        .iter()
        .filter(|(_, p)| p.is_some_and(is_stdio))
        .map(|(n, _)| *n)
        .collect();
    if dashes.len() > 1 {
        return Err(AihfError::param(
            dashes.join(", "),
            "at most one of these may be `-` (standard input or output)",
        ));
    }
    Ok(())
}

/// Serialises `value` as pretty JSON and writes it atomically, or to standard output when
/// `path` is `-` ([`write_output`]).
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| AihfError::Json {
        context: path.display().to_string(),
        source: e,
    })?;
    if is_stdio(path) {
        text.push('\n');
    }
    write_output(path, text.as_bytes())
}

/// Reads and parses a JSON file (standard input when `path` is `-`).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = read_input(path)?;
    serde_json::from_str(&text).map_err(|e| AihfError::Json {
        context: path.display().to_string(),
        source: e,
    })
}

/// The temporary sibling used by [`write_atomic`] (hidden, unique per process).
pub fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}
