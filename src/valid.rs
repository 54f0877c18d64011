//! Settings checked once, at construction (linfa's `Params → ValidParams`; STYLE.md §2): a
//! [`Valid<T>`] is a `T` that passed [`Check::check`], and the functions that run an
//! experiment take `&Valid<T>`, so an unchecked value cannot reach them and none of them checks
//! again. The raw `T` stays the type that is parsed, built field by field and recorded in
//! results files; [`Valid<T>`] serialises exactly as `T`.
//!
//! ```
//! use aihf::mdp::algorithm1::Options;
//! use aihf::valid::Check;
//! let bad = Options { iterations: 0, ..Options::default() };
//! assert!(bad.checked().unwrap_err().to_string().contains("iterations"));
//! let ok = Options::default().checked().unwrap();
//! assert_eq!(ok.iterations, Options::default().iterations); // reads through to the settings
//! ```

use crate::error::Result;
use serde::Serialize;
use std::ops::Deref;

/// Settings whose fields can be checked; the error names the offending field.
pub trait Check {
    /// Checks every field (sizes, ranges, consistency between fields).
    fn check(&self) -> Result<()>;

    /// Consumes the settings and returns them checked ([`Valid::new`]).
    fn checked(self) -> Result<Valid<Self>>
    where
        Self: Sized,
    {
        Valid::new(self)
    }
}

/// A `T` that passed [`Check::check`]. Only [`Valid::new`] (or [`Check::checked`]) makes one,
/// and it gives read-only access ([`Deref`]): changing a setting means
/// [`Valid::into_inner`], the change, and a new check.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Valid<T>(T);

impl<T: Check> Valid<T> {
    /// Checks `value` ([`Check::check`]) and wraps it.
    pub fn new(value: T) -> Result<Self> {
        value.check()?;
        Ok(Valid(value))
    }
}

impl<T> Valid<T> {
    /// The settings, unchecked again (to change one and check anew).
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Valid<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> AsRef<T> for Valid<T> {
    fn as_ref(&self) -> &T {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AihfError;

    #[derive(Clone, Debug, PartialEq, Serialize)]
    struct Positive {
        x: f64,
    }

    impl Check for Positive {
        fn check(&self) -> Result<()> {
            crate::error::check_positive("x", self.x)
        }
    }

    #[test]
    fn only_values_that_pass_the_check_are_wrapped() {
        let e = Positive { x: -1.0 }.checked().unwrap_err();
        assert!(
            matches!(&e, AihfError::Param { name, .. } if name == "x"),
            "{e}"
        );
        let v = Valid::new(Positive { x: 2.0 }).unwrap();
        assert_eq!(v.x.to_bits(), 2.0f64.to_bits());
        assert_eq!(v.into_inner(), Positive { x: 2.0 });
    }

    #[test]
    fn a_valid_value_serialises_exactly_as_the_raw_one() {
        let raw = Positive { x: 0.25 };
        let v = raw.clone().checked().unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            serde_json::to_string(&raw).unwrap()
        );
    }
}
