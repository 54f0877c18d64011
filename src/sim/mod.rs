//! Monte Carlo studies of the static estimators (SPEC §4): filled in by the studies issue.
pub mod claims;
