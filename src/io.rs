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

/// A whole input file's bytes ([`read_input_bytes`]): mapped into memory from a regular file,
/// else read into a buffer.
pub enum InputBytes {
    /// The file mapped read-only (no copy into a buffer; its pages come from the page cache).
    Mapped(memmap2::Mmap),
    /// Standard input, a pipe or any file that cannot be mapped, read whole.
    Read(Vec<u8>),
}

impl std::ops::Deref for InputBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            InputBytes::Mapped(m) => m,
            InputBytes::Read(v) => v,
        }
    }
}

/// The bytes of a whole input file, or of standard input when `path` is `-` (once per
/// process, as [`read_input`]), unvalidated: for parsers that check what they read. A regular
/// file is memory-mapped (with its pages populated up front): on a data set of megabytes this
/// saves copying it and taking a page fault per 4 KiB of a fresh buffer (a fifth of `aihf
/// bandit`'s time on a 5 MB file).
pub fn read_input_bytes(path: &Path) -> Result<InputBytes> {
    if is_stdio(path) {
        return read_input(path).map(|s| InputBytes::Read(s.into_bytes()));
    }
    let io_err = |e| AihfError::Io {
        action: "cannot read",
        path: path.to_path_buf(),
        source: e,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let regular = file.metadata().map_err(io_err)?.is_file();
    if regular {
        // SAFETY: the map is private and read-only, and every byte read from it is checked by
        // the parser. If another process truncates the file while it is mapped, reading the
        // lost pages raises SIGBUS: the risk every tool that maps its input takes (ripgrep,
        // for one); a file rewritten in place is read with whatever bytes it then holds.
        if let Ok(m) = unsafe { memmap2::MmapOptions::new().populate().map(&file) } {
            return Ok(InputBytes::Mapped(m));
        }
    }
    let mut v = Vec::new();
    (&file).read_to_end(&mut v).map_err(io_err)?;
    Ok(InputBytes::Read(v))
}

/// The error for input that is not UTF-8, worded as [`read_input`]'s (which `std` words): for
/// callers of [`read_input_bytes`] that find it.
pub fn not_utf8(path: &Path) -> AihfError {
    AihfError::Io {
        action: "cannot read",
        path: if is_stdio(path) {
            PathBuf::from("standard input")
        } else {
            path.to_path_buf()
        },
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ),
    }
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

/// A number as a CSV field that pandas (`read_csv`) and R (`read.csv`) both parse: the shortest
/// representation that round-trips (`0.1`, `1e-12`), `Inf`/`-Inf` for infinities and the empty
/// field (missing, `NaN`/`NA`) for NaN.
///
/// ```
/// assert_eq!(aihf::io::csv_num(0.25), "0.25");
/// assert_eq!(aihf::io::csv_num(1.5e-14), "1.5e-14");
/// assert_eq!(aihf::io::csv_num(f64::NEG_INFINITY), "-Inf");
/// assert_eq!(aihf::io::csv_num(f64::NAN), "");
/// ```
pub fn csv_num(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else if x.is_infinite() {
        if x > 0.0 { "Inf" } else { "-Inf" }.into()
    } else if x != 0.0 && (x.abs() < 1e-4 || x.abs() >= 1e15) {
        // Exponent form: `{}` would write 1e-14 as 0.00000000000001.
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// [`csv_num`] of a JSON number (`null`, which is how NaN and ±∞ are written in JSON, gives the
/// empty field; a string or bool is written as is).
pub fn csv_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.to_string(),
            (None, Some(i), _) => i.to_string(),
            (_, _, Some(f)) => csv_num(f),
            _ => n.to_string(),
        },
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Writes a CSV file atomically: one header row, then `rows` (RFC 4180 quoting by the `csv`
/// crate; every row must have the header's length).
pub fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io_err = |e: csv::Error| AihfError::Io {
        action: "cannot write",
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    w.write_record(header).map_err(io_err)?;
    for (k, r) in rows.iter().enumerate() {
        if r.len() != header.len() {
            return Err(AihfError::Numerical(format!(
                "{}: CSV row {k} has {} fields, the header {}",
                path.display(),
                r.len(),
                header.len()
            )));
        }
        w.write_record(r).map_err(io_err)?;
    }
    let bytes = w.into_inner().map_err(|e| AihfError::Io {
        action: "cannot write",
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    write_atomic(path, &bytes)
}

/// The CSV file beside a JSON results file: `dir/name.json` → `dir/name.csv`.
pub fn csv_beside(json: &Path) -> PathBuf {
    json.with_extension("csv")
}

/// What a results file records about an input file it was computed from: the path as given and
/// the 64-bit FNV-1a ([`crate::seed::fnv1a`]) of its bytes, as 16 hex digits, with its size.
/// Standard input (`-`) cannot be read twice and is recorded without a hash.
pub fn input_record(path: &Path) -> Result<serde_json::Value> {
    if path.as_os_str() == "-" {
        return Ok(record_of(path, &[]));
    }
    let bytes = std::fs::read(path).map_err(|e| AihfError::Io {
        action: "cannot read",
        path: path.to_path_buf(),
        source: e,
    })?;
    Ok(record_of(path, &bytes))
}

/// [`input_record`] of a file already read (`bytes` are its contents; ignored for standard
/// input).
pub fn record_of(path: &Path, bytes: &[u8]) -> serde_json::Value {
    if path.as_os_str() == "-" {
        return serde_json::json!({ "path": "-", "fnv1a": null, "note": "standard input (not hashed)" });
    }
    serde_json::json!({
        "path": path.display().to_string(),
        "fnv1a": format!("{:016x}", crate::seed::fnv1a(bytes, crate::seed::FNV_OFFSET)),
        "bytes": bytes.len(),
    })
}
