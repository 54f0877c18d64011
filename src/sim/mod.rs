//! Monte Carlo studies of the static estimators (SPEC §4).
//!
//! - [`engine`]: replications of (draw data from `r*` → fit every estimator), parallel and
//!   reproducible from one seed whatever the thread count;
//! - [`summary`]: bias, variance, MSE, TV, KL with intervals; paired comparisons; existence;
//! - [`spec`]: the spec files of `sims/` (TOML or JSON), validated before any computation;
//! - [`studies`]: Figure 9, the authors' 3-action example, the variance sweep, the A.2.3
//!   situations, consistency, one file each behind the [`studies::Study`] trait; each writes a
//!   results JSON with its figures' data;
//! - [`figures`]: drawing from that JSON (redrawable without recomputing);
//! - [`shard`]: one study split over many processes and merged bit-identically;
//! - [`sample`]: one data set drawn from a ground truth (`aihf sample`), with the studies'
//!   sampler;
//! - [`claims`]: the studies' claims in `aihf verify`.
pub mod claims;
pub mod engine;
pub mod figures;
pub mod rates_shard;
pub mod sample;
pub mod shard;
pub mod spec;
pub mod studies;
pub mod summary;
