//! The registry of claims that `aihf verify` runs: every layer's `claims()`, in report order.
//!
//! It sits above the layers (they depend on [`crate::verify`]'s claim types, never on this
//! module), so the dependencies point one way: `verify` (types) → layers → `registry` → `cli`.
//! [`report`] runs a selection of them and renders `aihf verify`'s table and report files.
//!
//! ```
//! let claims = aihf::registry::registry();
//! assert!(claims.iter().any(|c| c.id == "mdp.theorem_4_1_rate_20b"));
//! // Every id is unique.
//! let mut ids: Vec<_> = claims.iter().map(|c| c.id).collect();
//! ids.sort();
//! ids.dedup();
//! assert_eq!(ids.len(), claims.len());
//! ```

use crate::verify::Claim;

pub mod report;

/// Every registered claim, in report order.
pub fn registry() -> Vec<Claim> {
    let mut v = crate::bandit::claims::claims();
    v.extend(crate::sim::claims::claims());
    v.extend(crate::mdp::claims::claims());
    v.extend(crate::truth::claims::claims());
    v.extend(crate::truth::klstudy::claims());
    #[cfg(feature = "neural")]
    v.extend(crate::neural::claims::claims());
    v
}

/// The registered claims whose id contains `only` (all of them for `None`), in report order.
pub fn select(only: Option<&str>) -> Vec<Claim> {
    registry()
        .into_iter()
        .filter(|c| only.is_none_or(|s| c.id.contains(s)))
        .collect()
}
