//! Monte Carlo studies of the static estimators (SPEC §4).
pub mod claims;
pub mod engine;
mod prefit;
