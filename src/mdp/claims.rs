//! Claims of SPEC §2 registered in `aihf verify`.
use crate::verify::Claim;

/// The MDP claims.
pub fn claims() -> Vec<Claim> {
    vec![]
}
