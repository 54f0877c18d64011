//! Claims of SPEC §1 registered in `aihf verify`.
use crate::verify::Claim;

/// The static-layer claims.
pub fn claims() -> Vec<Claim> {
    vec![]
}
