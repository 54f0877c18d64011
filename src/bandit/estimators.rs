//! The estimators (filled in below).
