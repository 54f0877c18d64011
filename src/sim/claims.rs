//! Claims of the Monte Carlo studies registered in `aihf verify`.
use crate::verify::Claim;

/// The study claims.
pub fn claims() -> Vec<Claim> {
    vec![]
}
