//! The crate's one error type. Library code never panics on user input: every check that can
//! fail on data, parameters or files returns one of these variants, and the binary turns them
//! into a message and a non-zero exit.

use std::path::PathBuf;

/// Every fallible operation of the crate returns this error.
#[derive(Debug, thiserror::Error)]
pub enum AihfError {
    /// A data set (demonstrations, preferences, trajectories, JSONL records) is malformed.
    /// `at` says where (a JSON path, a line number, an action index).
    #[error("invalid data at {at}: {reason}")]
    Data {
        /// Where the problem is: a JSON path, a line number, an action index.
        at: String,
        /// What is wrong there.
        reason: String,
    },

    /// A parameter is out of its domain (`β ≤ 0`, `λ < 0`, a NaN, a shape mismatch...).
    #[error("invalid parameter `{name}`: {reason}")]
    Param {
        /// The parameter's name as the user spells it (`beta`, `lambda`, ...).
        name: String,
        /// Why its value is rejected.
        reason: String,
    },

    /// The estimator has no maximiser on this data; `witness` is a set of actions (0-based)
    /// that shows why.
    #[error("{estimator} does not exist on this data: {reason}")]
    NoEstimator {
        /// The estimator's name (e.g. `"BTL MLE"`).
        estimator: String,
        /// Why no maximiser exists (e.g. an action that is never preferred).
        reason: String,
        /// Actions (0-based indices) that witness the non-existence.
        witness: Vec<usize>,
    },

    /// An iterative solver stopped before reaching its tolerance.
    #[error(
        "{solver} did not converge: gradient norm {grad_norm:.3e} > tolerance {tol:.3e} after {iterations} iterations"
    )]
    NotConverged {
        /// The solver's name.
        solver: String,
        /// Gradient norm (or residual) at the last iterate.
        grad_norm: f64,
        /// The tolerance it had to reach.
        tol: f64,
        /// Iterations performed before stopping.
        iterations: usize,
    },

    /// An MDP failed validation (rows of `P` that are not distributions, bad `γ`...).
    #[error("invalid MDP: {0}")]
    Mdp(String),

    /// An experiment spec file is malformed or out of range.
    #[error("invalid spec{}: {reason}", field.as_ref().map(|f| format!(" field `{f}`")).unwrap_or_default())]
    Spec {
        /// The offending field when one is known.
        field: Option<String>,
        /// What is wrong.
        reason: String,
    },

    /// A computation produced a non-finite number where a finite one was required.
    #[error("numerical failure: {0}")]
    Numerical(String),

    /// File I/O failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What failed, as a phrase (`"cannot read"`, `"cannot write"`, ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// JSON (de)serialisation failed.
    #[error("JSON error in {context}: {source}")]
    Json {
        /// What was being (de)serialised (a file path or a description).
        context: String,
        /// The underlying serde_json error.
        source: serde_json::Error,
    },

    /// Drawing a figure failed.
    #[error("plotting failed for {path}: {reason}")]
    Plot {
        /// The figure file being drawn.
        path: PathBuf,
        /// What the plotting backend reported.
        reason: String,
    },

    /// The neural layer failed (NaN loss, missing CUDA, a bad checkpoint...).
    #[error("neural: {0}")]
    Neural(String),

    /// libtorch failed while doing `what`; the libtorch error is kept as the source.
    #[cfg(feature = "neural")]
    #[error("neural: {what}: {source}")]
    Torch {
        /// The operation that failed (e.g. loading a checkpoint).
        what: String,
        /// The libtorch error.
        #[source]
        source: tch::TchError,
    },
}

/// Crate-wide result alias.
pub type Result<T, E = AihfError> = std::result::Result<T, E>;

impl AihfError {
    /// A parameter error.
    pub fn param(name: impl Into<String>, reason: impl Into<String>) -> Self {
        AihfError::Param {
            name: name.into(),
            reason: reason.into(),
        }
    }

    /// A data error at `at`.
    pub fn data(at: impl Into<String>, reason: impl Into<String>) -> Self {
        AihfError::Data {
            at: at.into(),
            reason: reason.into(),
        }
    }

    /// A spec error naming `field`.
    pub fn spec(field: impl Into<String>, reason: impl Into<String>) -> Self {
        AihfError::Spec {
            field: Some(field.into()),
            reason: reason.into(),
        }
    }
}

/// The hints of library messages name the command-line option that fixes the failure
/// (`--ridge`); a study spec spells the same setting as a key. Each pair is (hint as the library
/// writes it, the same hint inside a spec), so that [`spec_hints`] can name only what a spec
/// accepts.
pub const SPEC_SPELLINGS: [(&str, &str); 3] = [
    (
        "--ref-smoothing ε",
        "the estimator key `ref_smoothing = ε` in the spec",
    ),
    ("--ridge", "the key `ridge` in the spec"),
    ("--support task", "`support = \"task\"` in the spec"),
];

/// A library message as shown inside a study (`aihf sim`, `aihf truth study`): its hints name
/// the spec's keys instead of command-line options the spec does not have.
///
/// ```
/// let m = aihf::error::spec_hints("actions {2} never win (use --ridge to regularise)");
/// assert_eq!(m, "actions {2} never win (use the key `ridge` in the spec to regularise)");
/// ```
pub fn spec_hints(msg: &str) -> String {
    SPEC_SPELLINGS
        .iter()
        .fold(msg.to_string(), |m, (cli, spec)| m.replace(cli, spec))
}

/// Checks that `x` is finite and strictly positive (temperatures such as `β`).
pub fn check_positive(name: &str, x: f64) -> Result<()> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(AihfError::param(
            name,
            format!("must be finite and > 0, got {x}"),
        ))
    }
}

/// Checks that `x` is finite and non-negative (weights such as `λ`).
pub fn check_nonneg(name: &str, x: f64) -> Result<()> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(AihfError::param(
            name,
            format!("must be finite and >= 0, got {x}"),
        ))
    }
}
