//! Tabular MDPs (SPEC §2): filled in by the MDP issue.
pub mod claims;
